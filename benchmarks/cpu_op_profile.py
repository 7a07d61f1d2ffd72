"""Where a CPU decode step goes, op type by op type: glm-nb's fp32 graph against onnxruntime-genai's.

The checkpoints of benchmarks/cpu_decode.py (GLM-4 shape, and genai's Llama proxy of the same shape), each graph
run alone through IOBinding with its KV buffers bound as both past and present (as both engines run them), one
decode step at a fixed context repeated under ONNX Runtime's profiler, 2 threads. Prints the step time measured
without the profiler, then the profiler's microseconds a step per op type (the profiler adds a few µs a node).
It answers what the two graphs spend differently: the weight products are the same bytes through the same
kernels, and GLM-4 adds two norms a layer, q/k/v biases and the split of its packed gate/up.

    pip install -e '.[bench]'
    python benchmarks/cpu_op_profile.py [--steps 300] [--context 40] [--precision fp32|int4]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_decode import SHAPE, THREADS, genai_build, make_checkpoints  # noqa: E402

from glm_nb.engine import Engine, Generator, SamplingParams, convert  # noqa: E402

BUFFER = 2136  # the KV buffer length cpu_decode gives glm-nb (2,000 of context and 128 new tokens, and a margin)


def options(profile_prefix: str | None) -> ort.SessionOptions:
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = THREADS, 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.log_severity_level = 3
    if profile_prefix:
        o.enable_profiling, o.profile_file_prefix = True, profile_prefix
    return o


def glm_step(folder: Path, context: int, profile_prefix: str | None, buffer: int = BUFFER):
    """glm-nb's own decode binding (Generator), on a session made with `options`; returns (session, step)."""
    engine = Engine.load(folder, device="cpu", threads=THREADS)
    session = ort.InferenceSession(
        str(folder / "model.onnx"), options(profile_prefix), providers=["CPUExecutionProvider"]
    )
    object.__setattr__(engine, "session", session)  # the Generator binds to the profiled session
    gen = Generator(engine, SamplingParams(max_new_tokens=10**6), max_length=buffer, stop_ids=())
    gen.append_tokens(list(range(100, 100 + context - 1)))
    gen.generate_next_token()  # prefill, then one token pending: every further run is the same decode step
    return session, lambda: session.run_with_iobinding(gen._steps.decode, gen._steps.decode_options)


def genai_step(folder: Path, context: int, profile_prefix: str | None):
    """genai's graph with the inputs genai binds: input_ids, attention_mask, shared past/present KV buffers."""
    session = ort.InferenceSession(
        str(folder / "model.onnx"), options(profile_prefix), providers=["CPUExecutionProvider"]
    )
    binding = session.io_binding()
    kv = [ort.OrtValue.ortvalue_from_numpy(np.zeros((1, SHAPE["num_key_value_heads"], BUFFER, SHAPE["head_dim"]),
                                                    np.float32)) for _ in range(2 * SHAPE["num_hidden_layers"])]  # fmt: skip
    for i, value in enumerate(kv):
        name = f"{i // 2}.{('key', 'value')[i % 2]}"
        binding.bind_ortvalue_input(f"past_key_values.{name}", value)
        binding.bind_ortvalue_output(f"present.{name}", value)
    binding.bind_cpu_input("input_ids", np.array([[5]], np.int64))
    binding.bind_cpu_input("attention_mask", np.ones((1, context), np.int64))
    logits = np.zeros((1, 1, SHAPE["vocab_size"]), np.float32)
    binding.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(logits))
    run_options = ort.RunOptions()
    return session, lambda: session.run_with_iobinding(binding, run_options)


def by_op(profile: str) -> dict[str, tuple[float, int]]:
    """µs a run and nodes a run, per op type, from an ONNX Runtime profile."""
    events = json.loads(Path(profile).read_text())
    runs = max(1, sum(1 for e in events if e.get("name") == "model_run"))
    time_us, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"].get("op_name", "?")
            time_us[op] += e["dur"]
            count[op] += 1
    return {op: (time_us[op] / runs, count[op] // runs) for op in time_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--context", type=int, default=40)
    parser.add_argument(
        "--precision", choices=("fp32", "int4"), default="fp32", help="glm-nb's graph (genai's: fp32)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        glm_ckpt, llama_ckpt = make_checkpoints(root)
        glm = convert(glm_ckpt, root / args.precision, precision=args.precision, progress=False)
        graphs = {f"glm-nb {args.precision}": (glm_step, glm)}
        error = genai_build(llama_ckpt, root / "genai")
        if error is None:
            graphs["genai fp32 (Llama proxy)"] = (genai_step, root / "genai")
        else:
            print("note: no genai row:", error)
        # Step time without the profiler: both graphs in one process, alternating in blocks of 50 runs.
        steps = {name: make(folder, args.context, None)[1] for name, (make, folder) in graphs.items()}
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(max(1, args.steps // 50)):
            for name, step in steps.items():
                for _ in range(50):
                    start = time.perf_counter()
                    step()
                    times[name].append(time.perf_counter() - start)
        print(f"CPU decode step at context {args.context}, {THREADS} threads (median, no profiler):")
        for name, ts in times.items():
            print(f"  {name:<28} {1e6 * statistics.median(ts):8.0f} µs")
        tables = {}
        for name, (make, folder) in graphs.items():
            session, step = make(folder, args.context, str(root / name.split()[0]))
            for _ in range(args.steps):
                step()
            tables[name] = by_op(session.end_profiling())
    ops = sorted(
        {op for t in tables.values() for op in t}, key=lambda op: -max(t.get(op, (0, 0))[0] for t in tables.values())
    )
    print("\nµs a step per op type under the profiler (nodes a step):")
    print(f"  {'op':<36}" + "".join(f"{name:>30}" for name in tables))
    for op in ops:
        cells = [f"{t[op][0]:.1f} ({t[op][1]})" if op in t else "-" for t in tables.values()]
        print(f"  {op:<36}" + "".join(f"{c:>30}" for c in cells))
    totals = [f"{sum(v[0] for v in t.values()):.1f} ({sum(v[1] for v in t.values())})" for t in tables.values()]
    print(f"  {'all kernels':<36}" + "".join(f"{c:>30}" for c in totals))


if __name__ == "__main__":
    main()
