"""Where a GPU decode step's time goes, kernel by kernel, for a GLM-4-9B-width model of a few layers (issue 3).

    python3 benchmarks/gpu_profile.py --out "$OUT"     # on the GPU machine, after `source benchmarks/device/setup_ort.sh`
    python3 benchmarks/gpu_profile.py --small          # the same code paths on the CPU (no kernels to record)

1. a random bf16 checkpoint at the real width (FORMAT.md) with `--layers` layers;
2. conversions to each variant (bf16; int4 with fp16 or bf16 compute at block sizes 32 and 128), in parallel
   processes; some variants also change how the session is made (ORT_ENABLE_XQA=0, the int4 kernels);
3. per variant: decode tok/s after a 128-token prompt with CUDA graphs on and off, then the CUDA kernels of
   `--steps` decode steps, graphs off and on, recorded by torch's profiler (CUPTI sees every kernel of the process,
   ONNX Runtime's included), summed per kernel name: calls and microseconds per step, and the GPU's busy time
   against the wall time of a step (busy < wall: the GPU waits on the host);
4. the same GEMV shapes through torch (cuBLAS) as a yardstick of what a bf16 matrix-vector product attains.

Output: OUT/gpu_profile.txt (tables) and OUT/gpu_profile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gpu_suite_tasks as tasks  # noqa: E402

BF16 = dict(precision="bf16", top_k_output=64)
INT4 = dict(precision="int4", int4_compute="fp16", top_k_output=64)
NO_XQA = {"ORT_ENABLE_XQA": "0"}  # GroupQueryAttention decodes with flash-decoding instead of the XQA kernel
STOCK, FPA = dict(int4_kernel="stock"), dict(int4_kernel="fpa_intb")
VARIANTS = {  # label -> (glm_nb.convert options, environment while the session is created, Engine.load options)
    "bf16": (BF16, {}, {}),
    "bf16 · ORT_ENABLE_XQA=0": (BF16, NO_XQA, {}),
    "int4-fp16 b32 · stock": (INT4, {}, STOCK),
    "int4-fp16 b32 · fpA_intB": (INT4, {}, FPA),
    "int4-fp16 b128 · fpA_intB": (INT4 | dict(int4_block_size=128), {}, FPA),
    "int4-bf16 b128 · fpA_intB": (INT4 | dict(int4_compute="bf16", int4_block_size=128), {}, FPA),
    # ONNX Runtime's wheel has the compact fpA_intB build: fp16, block 32, no zero points, no bias
    "int4-fp16 b32 sym · stock": (INT4 | dict(int4_symmetric=True), {}, STOCK),
    "int4-fp16 b32 sym · fpA_intB": (INT4 | dict(int4_symmetric=True), {}, FPA),
}
SMALL_VARIANTS = {
    "fp32": (dict(precision="fp32", top_k_output=8), {}, {}),
    "int4 b32": (dict(precision="int4"), {}, {}),
}
PROMPT = 128


def _convert(args: tuple[str, str, dict, int]) -> float:
    from glm_nb.engine import convert

    src, out, options, max_length = args
    start = time.perf_counter()
    convert(src, out, max_length=max_length, progress=False, **options)
    return time.perf_counter() - start


def _kernel_table(prof, steps: int) -> tuple[list[dict], float]:
    """Kernels (and memcpys) of the recorded steps, summed per name, per step; and the GPU busy µs per step."""
    import torch

    per_name: dict[str, list[float]] = defaultdict(list)
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            per_name[event.name].append(event.time_range.elapsed_us())
    rows = [
        {"kernel": name, "calls": len(times) / steps, "us": sum(times) / steps, "us_per_call": statistics.mean(times)}
        for name, times in per_name.items()
    ]
    rows.sort(key=lambda r: -r["us"])
    return rows, sum(r["us"] for r in rows)


def _profile(gen, steps: int, profiled: bool) -> dict:
    """Wall µs per decode step (median) and, when `profiled`, the kernels of `steps` more steps."""
    walls = []
    for _ in range(steps):
        t = time.perf_counter()
        gen.generate_next_token()
        walls.append(time.perf_counter() - t)
    result = {"wall_us": 1e6 * statistics.median(walls)}
    if profiled:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                gen.generate_next_token()
        result["kernels"], result["busy_us"] = _kernel_table(prof, steps)
    return result


def measure(folder: Path, steps: int, cuda: bool, env: dict[str, str], load: dict) -> dict:
    from glm_nb.engine import Engine, Generator, SamplingParams

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # kernels read their switches when the session creates them
    try:
        engine = Engine.load(folder, device="cuda" if cuda else "cpu", cuda_graph=cuda, **load)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    rng = np.random.default_rng(0)
    out = {"provider": engine.provider}
    for graph in (False, True):
        gen = Generator(engine, SamplingParams(max_new_tokens=10**9), max_length=PROMPT + 4 * steps + 64,
                        stop_ids=(), cuda_graph=graph)  # fmt: skip
        gen.set_prompt(rng.integers(2, engine.metadata.vocab_size - 1, PROMPT).tolist())
        for _ in range(8):  # prefill, then warm-up steps (a graph is captured here)
            gen.generate_next_token()
        out["graphs on" if graph else "graphs off"] = _profile(gen, steps, profiled=cuda)
    return out


def gemv_reference(shapes: list[tuple[int, int]]) -> list[dict]:
    """bf16 y = x W^T for x [1, K] through torch (cuBLAS): µs and GB/s of weight read, median of 50."""
    import torch

    rows = []
    for n, k in shapes:
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        times = []
        for i in range(60):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            torch.nn.functional.linear(x, w)
            end.record()
            end.synchronize()
            if i >= 10:
                times.append(begin.elapsed_time(end) * 1e3)
        us = statistics.median(times)
        rows.append({"n": n, "k": k, "us": us, "gb_s": 2 * n * k / us / 1e3})
    return rows


def render(results: dict) -> str:
    lines = [f"glm-nb GPU decode profile · {results['device']} · {results['layers']} layers at the real width"]
    for label, r in results["variants"].items():
        if "error" in r:
            lines.append(f"\n## {label}: {r['error']}")
            continue
        lines.append(f"\n## {label} (converted in {r['convert_s']:.0f} s, weights read per step "
                     f"{r['weights_read'] / 1e9:.2f} GB)")  # fmt: skip
        for mode in ("graphs off", "graphs on"):
            m = r[mode]
            busy = f", GPU busy {m['busy_us']:.0f} µs" if "busy_us" in m else ""
            lines.append(f"{mode}: wall {m['wall_us']:.0f} µs/step ({1e6 / m['wall_us']:.1f} tok/s){busy}")
        for mode in ("graphs on", "graphs off"):  # the first that recorded kernels (CUPTI may miss graph nodes)
            kernels = r[mode].get("kernels", [])
            if kernels:
                lines.append(f"kernels per step, {mode} (top 30 of {len(kernels)}):")
                lines.append(f"{'µs':>8} {'calls':>6} {'µs/call':>8}  kernel")
                for k in kernels[:30]:
                    lines.append(f"{k['us']:8.1f} {k['calls']:6.1f} {k['us_per_call']:8.2f}  {k['kernel'][:150]}")
                break
    if results.get("gemv"):
        lines.append("\ntorch bf16 GEMV (cuBLAS), x [1, K] · W[N, K]^T:")
        for g in results["gemv"]:
            lines.append(f"  N {g['n']:6d} K {g['k']:6d}: {g['us']:7.1f} µs, {g['gb_s']:6.0f} GB/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=os.environ.get("OUT") or "/tmp/glm-nb-gpu-profile-out")
    parser.add_argument("--work", default="/tmp/glm-nb-gpu-profile")
    parser.add_argument("--only", default=None, help="comma-separated labels of VARIANTS to run (default: all)")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    cuda = "CUDAExecutionProvider" in ort.get_available_providers() and not args.small
    if cuda:
        import torch

        torch.cuda.init()  # before ONNX Runtime touches the device, so CUPTI sees its kernels
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.small:
        shape = dict(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32, intermediate=96, vocab=512)
        variants = SMALL_VARIANTS
    else:
        shape = dict(hidden=4096, layers=args.layers, heads=32, kv_heads=2, head_dim=128, intermediate=13696,
                     vocab=151552)  # fmt: skip
        variants = VARIANTS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        unknown = set(wanted) - set(variants)
        if unknown:
            raise SystemExit(f"unknown variant(s) {', '.join(sorted(unknown))}; choose from {', '.join(variants)}")
        variants = {label: variants[label] for label in wanted}
    max_length = 1024
    tasks.write_checkpoint({"folder": str(work / "checkpoint"), "shape": shape | {"max_position": max_length}})
    results = {"device": "CPU", "layers": shape["layers"], "variants": {}}
    folders = {}  # one conversion per distinct set of options
    for options, *_ in variants.values():
        key = json.dumps(options, sort_keys=True)
        folders.setdefault(key, work / f"model-{len(folders)}")
    with ProcessPoolExecutor(len(folders), mp_context=get_context("spawn")) as pool:
        futures = {key: pool.submit(_convert, (str(work / "checkpoint"), str(folder), json.loads(key), max_length))
                   for key, folder in folders.items()}  # fmt: skip
        seconds = {key: f.result() for key, f in futures.items()}
    for label, (options, env, load) in variants.items():
        key = json.dumps(options, sort_keys=True)
        folder = folders[key]
        try:
            sizes = tasks._initializer_bytes(folder)
            read = sum(n for name, n in sizes.items() if not name.startswith(("model.embed_tokens", "rotary.")))
            results["variants"][label] = {"convert_s": seconds[key], "weights_read": read}
            results["variants"][label] |= measure(folder, args.steps, cuda, env, load)
        except Exception as e:  # one variant failing must not hide the others
            results["variants"][label] = {"error": f"{type(e).__name__}: {str(e)[:400]}"}
        print(f"{label}: done", flush=True)
    if cuda:
        import torch

        results["device"] = torch.cuda.get_device_name()
        h, i, v = shape["hidden"], shape["intermediate"], shape["vocab"]
        qkv = (shape["heads"] + 2 * shape["kv_heads"]) * shape["head_dim"]
        results["gemv"] = gemv_reference([(qkv, h), (h, h), (2 * i, h), (h, i), (v, h)])
    text = render(results)
    print(text)
    (out / "gpu_profile.txt").write_text(text + "\n")
    (out / "gpu_profile.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
