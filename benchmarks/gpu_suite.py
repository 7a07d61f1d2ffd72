"""GLM-4-9B-shaped decode on one GPU, everything measured in one device call of at most 8 minutes (issue 3).

    python3 benchmarks/gpu_suite.py --out "$OUT"      # on the GPU machine: see benchmarks/device/README.md
    python3 benchmarks/gpu_suite.py --small           # the same code paths on the CPU with a tiny shape

What runs, each step in a child process (gpu_suite_tasks.py) with a deadline of its own, so that a crash, a hang or
an out-of-memory prints its error in that row and the suite goes on:
1. a random bf16 checkpoint of the GLM-4-9B-0414 config (FORMAT.md) at the real width, `--layers` of its 40 layers,
   written straight to safetensors;
2. on the GPU, alone: device-to-device copy bandwidth, then transformers' bf16 sdpa `generate` on the same weights
   (the peer; its decode is bound by Python launches, so nothing else runs beside it);
3. conversions to bf16, int4 (fp16 compute), fp16 and int4 (bf16 compute), in parallel processes while the disk
   holds them (each model is deleted once measured);
4. each converted model in one ONNX Runtime session with CUDA graphs enabled: time to first token for a 1k prompt,
   then decode tok/s (1 / median step time) after 128, 2k and 8k tokens of context, with graphs on and the
   device top-k read back, graphs on and the whole logits row read back (128 only), and graphs off (the same
   session, run option gpu_graph_id -1); logits checked finite after each long prefill and decode;
5. one table.

The ceiling at context c is the measured copy bandwidth (bytes read + written per second) over the bytes a decode
step reads: every weight but the embedding table, counted from the converted model, plus the KV cache up to c.
"40L est." scales a reduced-depth run to the full 40 layers at the same fraction of its ceiling. Peak GPU memory
is the device's used memory (NVML) while a child runs, minus what was in use before it.

Output: the table on stdout and in OUT/gpu_suite.txt, raw numbers in OUT/gpu_suite.json, child logs in
OUT/gpu_suite.log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gpu_suite_table import render_table  # a sibling module (the script's folder is on sys.path)

TASKS = Path(__file__).with_name("gpu_suite_tasks.py")
GIB = 2**30
_RESERVE_S = 10  # seconds kept back from the budget to print the table
_DISK_RESERVE = 4 * GIB


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    full_layers: int  # the real model's depth
    contexts: tuple[int, ...]  # decode is measured after prompts of these lengths
    ttft_prompt: int
    decode_tokens: int  # timed decode steps per measurement
    warmup: int  # untimed decode steps first (a CUDA graph is captured during these)
    top_k: int  # the converted graphs' top-k output

    @property
    def max_length(self) -> int:
        need = max(self.contexts) + self.warmup + self.decode_tokens + 16
        return -(-need // 256) * 256

    def params(self, layers: int | None = None) -> int:
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        layer = h * (2 * q + 2 * kv + 3 * self.intermediate) + q + 2 * kv + 4 * h
        return (self.layers if layers is None else layers) * layer + 2 * self.vocab * h + h

    def task_args(self) -> dict:
        keys = ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab")
        return {k: getattr(self, k) for k in keys} | {"max_position": self.max_length}


NINE_B = Shape(4096, 20, 32, 2, 128, 13696, 151552, 40, (128, 2048, 8192), 1024, 64, 8, 64)
SMALL = Shape(64, 2, 4, 2, 32, 96, 512, 2, (16, 64, 128), 32, 8, 4, 8)


@dataclass(frozen=True)
class Variant:
    label: str
    precision: str
    int4_compute: str = "fp32"
    block_size: int = 32  # int4 only
    int4_kernel: str = "auto"  # int4 on CUDA only: Engine.load's int4_kernel
    symmetric: bool = False  # int4 only: no zero points (what ORT's compact fpA_intB kernels take)

    @property
    def compute(self) -> str:
        return self.int4_compute if self.precision == "int4" else self.precision

    @property
    def key(self) -> str:
        """The name --precisions takes: bf16, int4-fp16, int4-fp16-b128, int4-fp16-sym, int4-fp16-sym-fpa, ..."""
        if self.precision != "int4":
            return self.precision
        block = f"-b{self.block_size}" if self.block_size != 32 else ""
        sym = "-sym" if self.symmetric else ""
        return f"int4-{self.compute}{block}{sym}" + ("-fpa" if self.int4_kernel == "fpa_intb" else "")

    def disk_bytes(self, shape: Shape) -> int:
        """A generous estimate of the converted model's size (int4: ~0.6 byte a weight; the embedding stays float)."""
        embed = shape.vocab * shape.hidden
        width = 4 if self.compute == "fp32" else 2
        per_weight = 0.6 if self.precision == "int4" else width
        return int(per_weight * (shape.params() - embed) + width * embed)


GPU_VARIANTS = (
    Variant("bf16", "bf16"),
    Variant("int4 fp16 b32", "int4", "fp16"),
    Variant("int4 fp16 b128", "int4", "fp16", 128),
    Variant("int4 fp16 b32 symmetric", "int4", "fp16", symmetric=True),
    # ONNX Runtime's weight-only kernels: the onnxruntime-gpu wheel's compact build takes only this form.
    Variant("int4 fp16 b32 symmetric · fpA_intB", "int4", "fp16", symmetric=True, int4_kernel="fpa_intb"),
    Variant("fp16", "fp16"),
    Variant("int4 bf16 b32", "int4", "bf16"),
    Variant("int4 bf16 b128", "int4", "bf16", 128),
)
DEFAULT_GPU = ("bf16", "int4-fp16", "int4-fp16-b128", "int4-fp16-sym", "int4-fp16-sym-fpa")  # fp16 = bf16's pace
CPU_VARIANTS = (Variant("fp32", "fp32"), Variant("int4 (fp32 compute)", "int4", "fp32"))


@dataclass
class Outcome:
    ok: bool
    value: dict = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    peak_bytes: int | None = None


class Child:
    """One gpu_suite_tasks.py process: started now, awaited later; stdout and stderr go to a log file."""

    def __init__(self, task: str, args: dict, log: Path):
        self.task, self.log, self.started = task, log, time.monotonic()
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        with open(log, "w") as f:
            self.proc = subprocess.Popen(
                [sys.executable, str(TASKS), task, json.dumps(args)], stdout=f, stderr=subprocess.STDOUT, env=env
            )

    def wait(self, timeout: float) -> Outcome:
        try:
            self.proc.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return Outcome(False, error=f"timed out after {time.monotonic() - self.started:.0f} s (budget)")
        seconds = time.monotonic() - self.started
        lines = self.log.read_text(errors="replace").splitlines()
        results = [line[len("RESULT ") :] for line in lines if line.startswith("RESULT ")]
        if self.proc.returncode == 0 and results:
            return Outcome(True, json.loads(results[-1]), seconds=seconds)
        tail = [line for line in lines if line.strip() and not line.startswith("[")][-3:]
        return Outcome(False, error=f"exit {self.proc.returncode}: {' | '.join(tail)[-400:]}", seconds=seconds)


class GpuMemory:
    """Used memory of GPU 0, polled through NVML every 20 ms while something runs; None where NVML is missing."""

    def __init__(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml, self._handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # no NVML (CPU machine, or the nvidia-ml-py package is missing)
            self._nvml = self._handle = None

    def describe(self) -> str:
        if self._nvml is None:
            return "no NVIDIA GPU visible through NVML"
        name = self._nvml.nvmlDeviceGetName(self._handle)
        total = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).total / GIB
        return f"{name} ({total:.0f} GiB), driver {self._nvml.nvmlSystemGetDriverVersion()}"

    def _used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    @contextmanager
    def peak(self, outcome_box: list) -> Iterator[None]:
        """Appends the peak used bytes above the starting level to `outcome_box` when the block ends."""
        if self._nvml is None:
            yield
            outcome_box.append(None)
            return
        base, peak, stop = self._used(), [0], threading.Event()

        def poll() -> None:
            while not stop.wait(0.02):
                peak[0] = max(peak[0], self._used())

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            outcome_box.append(max(peak[0] - base, 0))


class Suite:
    def __init__(self, shape: Shape, variants: tuple[Variant, ...], work: Path, budget_s: float):
        self.shape, self.variants, self.work = shape, variants, work
        self.deadline = time.monotonic() + budget_s
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.memory = GpuMemory()
        self.checkpoint = work / "checkpoint"
        self.converting: dict[str, Child] = {}
        self.pending = list(variants)
        self.disk_in_use = 0
        self.disk_budget = 0
        self.results: dict = {"shape": asdict(self.shape), "gpu": self.memory.describe(), "variants": {}}

    # -- children -------------------------------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.deadline - time.monotonic() - _RESERVE_S

    def run_child(self, task: str, args: dict, cap: float, name: str | None = None) -> Outcome:
        """Run one task to the end (within `cap` seconds and the budget), measuring GPU memory meanwhile."""
        if self.remaining() < 5:
            return Outcome(False, error="skipped: out of time budget")
        box: list = []
        with self.memory.peak(box):
            outcome = Child(task, args, self.logs / f"{name or task}.log").wait(min(cap, self.remaining()))
        outcome.peak_bytes = box[0]
        print(f"  {name or task}: {'ok' if outcome.ok else outcome.error} ({outcome.seconds:.0f} s)", flush=True)
        return outcome

    def _model_dir(self, v: Variant) -> Path:
        return self.work / f"model-{v.key}"

    def start_conversions(self) -> None:
        """Start conversions in order while their estimated sizes fit the disk (always at least one)."""
        while self.pending:
            v = self.pending[0]
            need = v.disk_bytes(self.shape)
            if self.disk_in_use and self.disk_in_use + need > self.disk_budget:
                return
            args = dict(checkpoint=str(self.checkpoint), out=str(self._model_dir(v)), precision=v.precision,
                        int4_compute=v.int4_compute, block_size=v.block_size, symmetric=v.symmetric,
                        max_length=self.shape.max_length,
                        top_k=self.shape.top_k)  # fmt: skip
            self.converting[v.label] = Child("convert", args, self.logs / f"convert-{v.key}.log")
            self.disk_in_use += need
            self.pending.pop(0)

    # -- phases ---------------------------------------------------------------------------------------------------
    def run(self) -> dict:
        s = self.shape
        print(f"checkpoint: {s.layers} of {s.full_layers} layers, {s.params() / 1e6:,.0f} M parameters", flush=True)
        ckpt = self.run_child("checkpoint", {"folder": str(self.checkpoint), "shape": s.task_args()}, cap=300)
        self.results["checkpoint"] = asdict(ckpt)
        if not ckpt.ok:
            return self.results
        self.disk_budget = shutil.disk_usage(self.work).free - _DISK_RESERVE
        gpu = s.hidden >= 1024  # the real shape: buffers worth timing
        bw_args = {"bytes": (2 * GIB) if gpu else (64 << 20), "repeats": 10}
        self.results["bandwidth"] = asdict(self.run_child("bandwidth", bw_args, cap=90))
        hf_args = dict(checkpoint=str(self.checkpoint), vocab=s.vocab, contexts=list(s.contexts),
                       ttft_prompt=s.ttft_prompt, decode_tokens=s.decode_tokens)  # fmt: skip
        hf = self.run_child("transformers", hf_args, cap=180)
        self.results["transformers"] = asdict(hf)
        # Conversions start only now: transformers' decode is bound by its Python launches, and with four
        # conversion processes beside it, it ran at 13.5 tok/s (20 layers, H200), far below its published pace.
        self.start_conversions()
        if hf.ok:  # what its decode step reads: every weight but the embedding, in its dtype
            width = 2 if hf.value["dtype"] == "bf16" else 4
            self.results["transformers_bytes"] = {
                "dtype": hf.value["dtype"],
                "weights_read": width * (s.params() - s.vocab * s.hidden),
                "per_layer": width * (s.params(1) - s.params(0)),
            }
        for v in self.variants:
            self.results["variants"][v.label] = self.measure(v)
        return self.results

    def measure(self, v: Variant) -> dict:
        self.start_conversions()
        child = self.converting.get(v.label)
        if child is None:
            return {"convert": asdict(Outcome(False, error="skipped: not converted"))}
        conversion = child.wait(self.remaining())
        took = f"{conversion.value['seconds']:.0f} s" if conversion.ok else conversion.error
        print(f"  convert {v.label}: {took}", flush=True)
        entry = {"convert": asdict(conversion), "compute": v.compute}
        if conversion.ok:
            s = self.shape
            args = dict(model=str(self._model_dir(v)), label=v.label, vocab=s.vocab, contexts=list(s.contexts),
                        ttft_prompt=s.ttft_prompt, decode_tokens=s.decode_tokens, warmup=s.warmup,
                        max_length=s.max_length, int4_kernel=v.int4_kernel)  # fmt: skip
            entry["engine"] = asdict(self.run_child("engine", args, cap=240, name=f"engine-{v.key}"))
        shutil.rmtree(self._model_dir(v), ignore_errors=True)
        self.disk_in_use -= v.disk_bytes(self.shape)
        return entry

    def collect_logs(self, path: Path) -> None:
        with open(path, "w") as out:
            for log in sorted(self.logs.glob("*.log")):
                out.write(f"===== {log.name}\n{log.read_text(errors='replace')}\n")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny shape on the CPU (exercises the code paths)")
    parser.add_argument("--layers", type=int, default=NINE_B.layers, help="decoder layers at the real width (of 40)")
    parser.add_argument(
        "--precisions", default=None, help=f"comma-separated keys (default {','.join(DEFAULT_GPU)}; see GPU_VARIANTS)"
    )
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything (the table included)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary folder, removed)")
    parser.add_argument(
        "--out", default=os.environ.get("OUT") or "/tmp/glm-nb-gpu-suite-out", help="where results are written"
    )
    return parser.parse_args(argv)


def _variants(args: argparse.Namespace) -> tuple[Variant, ...]:
    variants = CPU_VARIANTS if args.small else GPU_VARIANTS
    if not args.precisions and args.small:
        return variants
    wanted = [w.strip() for w in args.precisions.split(",")] if args.precisions else list(DEFAULT_GPU)
    keys = {v.key: v for v in variants}
    unknown = set(wanted) - set(keys)
    if unknown:
        raise SystemExit(f"unknown precision(s) {', '.join(sorted(unknown))}; choose from {', '.join(keys)}")
    return tuple(keys[k] for k in wanted)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    shape = SMALL if args.small else replace(NINE_B, layers=args.layers)
    work = (
        Path(args.work) if args.work else Path(os.environ.get("TMPDIR", "/tmp")) / f"glm-nb-gpu-suite-{os.getpid()}"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suite = Suite(shape, _variants(args), work, args.budget)
    try:
        results = suite.run()
    finally:
        suite.collect_logs(out / "gpu_suite.log")
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    table = render_table(results)
    print("\n" + table)
    (out / "gpu_suite.txt").write_text(table + "\n")
    (out / "gpu_suite.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
