"""ONNX Runtime's CPU GroupQueryAttention alone, at decode: what one layer's attention costs per token.

The node is the one the engine builds for the cpu_decode.py shape (8 query heads, 2 KV heads, head_dim 64, packed
QKV, interleaved rotary inside the kernel), fed one new token over a shared-buffer KV cache of `--max-length`
rows that already holds `context - 1` tokens. Rounds interleave the configurations; the table shows medians.
Idle threads do not spin (the sessions would steal each other's cores), so a call also pays the wake-up.

`--scales 1` adds rows whose softmax scale is 1, as if 1/sqrt(head_dim) were folded into the q projection: MLAS then
multiplies q by the keys with its one-row kernel instead of packing the keys first (its shortcut needs alpha = 1).

    python benchmarks/gqa_cpu.py [--contexts 32 500 2000] [--threads 1 2] [--rounds 9] [--scales model 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HEADS, KV_HEADS, HEAD_DIM, ROTARY_HALF = 8, 2, 64, 16


def session(max_length: int, threads: int, scale: float = HEAD_DIM**-0.5) -> ort.InferenceSession:
    rng = np.random.default_rng(0)
    caches = [numpy_helper.from_array(rng.random((max_length, ROTARY_HALF), np.float32), n) for n in ("cos", "sin")]
    node = helper.make_node(
        "GroupQueryAttention", ["qkv", "", "", "past_key", "past_value", "seqlens_k", "total", "cos", "sin"],
        ["out", "present_key", "present_value"], domain="com.microsoft", num_heads=HEADS, kv_num_heads=KV_HEADS,
        scale=scale, do_rotary=1, rotary_interleaved=1,
    )  # fmt: skip

    def kv(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, KV_HEADS, max_length, HEAD_DIM])

    inputs = [helper.make_tensor_value_info("qkv", TensorProto.FLOAT, [1, 1, (HEADS + 2 * KV_HEADS) * HEAD_DIM]),
              kv("past_key"), kv("past_value"), helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [1]),
              helper.make_tensor_value_info("total", TensorProto.INT32, [])]  # fmt: skip
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, HEADS * HEAD_DIM]),
               kv("present_key"), kv("present_value")]  # fmt: skip
    graph = helper.make_graph([node], "gqa", inputs, outputs, caches)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    # Several sessions live side by side here: threads spinning idle in one would steal the cores of the next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class Case:
    """One decode step at `context` tokens, its inputs bound once (the KV buffers as both past and present)."""

    def __init__(self, context: int, threads: int, max_length: int, scale: float = HEAD_DIM**-0.5):
        rng = np.random.default_rng(1)
        self.session = session(max_length, threads, scale)
        self.keep = [rng.random((1, KV_HEADS, max_length, HEAD_DIM), np.float32) for _ in range(2)]
        self.binding = self.session.io_binding()
        for array, past, present in zip(self.keep, ("past_key", "past_value"), ("present_key", "present_value")):
            value = ort.OrtValue.ortvalue_from_numpy(array)
            self.binding.bind_ortvalue_input(past, value)
            self.binding.bind_ortvalue_output(present, value)
        self.keep.append(rng.random((1, 1, (HEADS + 2 * KV_HEADS) * HEAD_DIM), np.float32))
        self.binding.bind_cpu_input("qkv", self.keep[-1])
        self.binding.bind_cpu_input("seqlens_k", np.array([context - 1], np.int32))
        self.binding.bind_cpu_input("total", np.array(context, np.int32))
        self.binding.bind_output("out")

    def time_us(self, calls: int = 100) -> float:
        for _ in range(10):
            self.session.run_with_iobinding(self.binding)
        start = time.perf_counter()
        for _ in range(calls):
            self.session.run_with_iobinding(self.binding)
        return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", type=int, nargs="+", default=[32, 500, 2000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--max-length", type=int, default=2136)
    parser.add_argument("--scales", nargs="+", default=["model"],
                        help="softmax scales: 'model' (1/sqrt(head_dim), as the engine builds) and/or numbers")  # fmt: skip
    args = parser.parse_args()
    scales = {name: HEAD_DIM**-0.5 if name == "model" else float(name) for name in args.scales}
    cases = {(c, t, name): Case(c, t, args.max_length, scale)
             for c in args.contexts for t in args.threads for name, scale in scales.items()}  # fmt: skip
    times: dict[tuple[int, int, str], list[float]] = {key: [] for key in cases}
    for _ in range(args.rounds):
        for key, case in cases.items():
            times[key].append(case.time_us())
    print(f"GroupQueryAttention (CPU), {HEADS} q heads / {KV_HEADS} KV heads, head_dim {HEAD_DIM}, one new token; "
          f"median of {args.rounds} interleaved rounds, µs per call")  # fmt: skip
    print("| context | scale | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in args.threads) + " |")
    print("|---|---|" + "---|" * len(args.threads))
    for c in args.contexts:
        for name in scales:
            row = " | ".join(f"{statistics.median(times[(c, t, name)]):.1f}" for t in args.threads)
            print(f"| {c} | {name} | {row} |")


if __name__ == "__main__":
    main()
