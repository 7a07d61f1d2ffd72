"""CPU decode benchmark: glm-nb (fp32, int4) against transformers `generate` and onnxruntime-genai.

One random GLM-4-shaped checkpoint (hidden 512, 8 layers, 8 heads, 2 KV heads, head_dim 64, intermediate
1408, vocab 32000), prompt 32 tokens, 128 new tokens, greedy, 2 threads. Engines run in interleaved rounds
(one generation each per round, each round starting at the next engine) and the table shows medians, so machine
noise hits every row alike.

Decode at batch 1 reads every weight once per token: the table gives the bytes a glm-nb row's graph reads per
token (its initializers, less the embedding table, of which a step reads one row) and the bandwidth that makes.

onnxruntime-genai's model builder knows the old ChatGLM but not Glm4ForCausalLM; the script tries it on the
GLM checkpoint (and reports its refusal), then runs genai on a Llama checkpoint of the same shape as a proxy
(same matmuls; GLM adds two norms per layer and q/k/v biases), clearly labelled.

    pip install -e '.[bench]'   # onnxruntime-genai, for its row
    python benchmarks/cpu_decode.py [--rounds 5] [--new-tokens 128] [--long-context 2000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper
from transformers import Glm4Config, Glm4ForCausalLM, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from glm_nb.engine import Engine, Generator, SamplingParams, convert  # noqa: E402
from glm_nb.engine.run import generate  # noqa: E402

from tiny_checkpoint import write_tokenizer  # noqa: E402

SHAPE = dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2, head_dim=64,
             intermediate_size=1408, vocab_size=32000, max_position_embeddings=4096, pad_token_id=0,
             eos_token_id=[1, 2, 3])  # fmt: skip
THREADS = 2
# Before each timed run: the engine run before it leaves threads spinning for a while (ONNX Runtime's intra-op pool,
# torch's OpenMP team), and on 2 cores they take a core from the next engine's first steps. Without the pause, glm-nb
# fp32's TTFT read 26.1 ms against genai's 11.7 (genai always follows transformers, glm-nb always follows genai);
# with it, 8.7 against 10.8, and decode rates move by a few percent.
QUIET_S = 0.5
GENAI = "onnxruntime-genai fp32 (Llama proxy, same shape)"


def make_checkpoints(root: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    glm = Glm4ForCausalLM(Glm4Config(**SHAPE, partial_rotary_factor=0.5, attention_bias=True)).eval()
    glm.save_pretrained(root / "glm")
    write_tokenizer(root / "glm")
    llama = LlamaForCausalLM(LlamaConfig(**SHAPE)).eval()
    llama.save_pretrained(root / "llama")
    write_tokenizer(root / "llama")
    return root / "glm", root / "llama"


def bytes_per_token(model_dir: Path) -> int:
    """Bytes of weights a decode step reads: every initializer but the embedding table and the rotary caches
    (a step reads one row of each)."""
    model = onnx.load(model_dir / "model.onnx", load_external_data=False)
    total = 0
    for t in model.graph.initializer:
        if any(part in t.name for part in ("embed_tokens", "cos_cache", "sin_cache")):
            continue
        total += int(np.prod(t.dims, dtype=np.int64)) * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    return total


class GlmNb:
    def __init__(self, model: Path, max_length: int):
        self.engine = Engine.load(model, device="cpu", threads=THREADS)
        self.max_length = max_length

    def run(self, prompt: list[int], new: int) -> tuple[float, float]:
        gen = Generator(self.engine, SamplingParams(max_new_tokens=new), max_length=self.max_length, stop_ids=())
        r = generate(gen, prompt)
        assert len(r.token_ids) == new
        return r.ttft_ms, r.decode_tok_s


class Transformers:
    def __init__(self, ckpt: Path):
        torch.set_num_threads(THREADS)
        self.model = Glm4ForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32).eval()

    def run(self, prompt: list[int], new: int) -> tuple[float, float]:
        stamps: list[float] = []

        class Clock:  # a streamer that only records when each token arrives
            def put(self, value):
                stamps.append(time.perf_counter())

            def end(self):
                pass

        start = time.perf_counter()
        with torch.inference_mode():
            self.model.generate(torch.tensor([prompt]), max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                streamer=Clock(), pad_token_id=0)  # fmt: skip
        first, last = stamps[1], stamps[-1]  # stamps[0] is the prompt itself
        return 1000 * (first - start), (new - 1) / (last - first)


class GenaiProxy:
    def __init__(self, model_dir: Path):
        import onnxruntime_genai as og

        # Same thread count as the other rows (genai's own default differs, which skews a loaded machine).
        config_path = model_dir / "genai_config.json"
        genai_config = json.loads(config_path.read_text())
        genai_config["model"]["decoder"].setdefault("session_options", {})["intra_op_num_threads"] = THREADS
        config_path.write_text(json.dumps(genai_config, indent=2))
        self.og = og
        config = og.Config(str(model_dir))
        config.clear_providers()
        self.model = og.Model(config)

    def run(self, prompt: list[int], new: int) -> tuple[float, float]:
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(prompt) + new, do_sample=False)
        gen = self.og.Generator(self.model, params)
        start = time.perf_counter()
        gen.append_tokens(prompt)
        gen.generate_next_token()
        first = time.perf_counter()
        n = 1
        while n < new:
            gen.generate_next_token()
            n += 1
        last = time.perf_counter()
        return 1000 * (first - start), (new - 1) / (last - first)


def genai_build(src: Path, out: Path, precision: str = "fp32") -> str | None:
    """Run genai's builder; return None on success or its error's last line."""
    if importlib.util.find_spec("onnxruntime_genai") is None:
        return "onnxruntime-genai is not installed (pip install -e '.[bench]')"
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(src), "-o", str(out),
           "-p", precision, "-e", "cpu", "-c", str(out.parent / "genai-cache")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode == 0 and (out / "genai_config.json").exists():
        return None
    lines = [ln for ln in (done.stderr + done.stdout).splitlines() if "Error" in ln or "not supported" in ln]
    return lines[-1].strip()[:200] if lines else f"exit {done.returncode}, no genai_config.json written"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--long-context", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(100, 30000, size=32)]
    long_prompt = [int(t) for t in rng.integers(100, 30000, size=args.long_context)]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        glm_ckpt, llama_ckpt = make_checkpoints(root)
        max_len = args.long_context + args.new_tokens + 8
        folders = {"glm-nb fp32": convert(glm_ckpt, root / "fp32", progress=False),
                   "glm-nb int4": convert(glm_ckpt, root / "int4", precision="int4", progress=False)}  # fmt: skip
        step_bytes = {name: bytes_per_token(folder) for name, folder in folders.items()}
        rows: dict[str, object] = {
            **{name: GlmNb(folder, max_len) for name, folder in folders.items()},
            "transformers fp32 (eager generate)": Transformers(glm_ckpt),
        }
        notes = []
        refusal = genai_build(glm_ckpt, root / "genai-glm")
        notes.append(f"onnxruntime-genai builder on Glm4ForCausalLM: {refusal or 'built (unexpected)'}")
        proxy_error = genai_build(llama_ckpt, root / "genai-llama")
        if proxy_error is None:
            rows[GENAI] = GenaiProxy(root / "genai-llama")
        else:
            notes.append(f"onnxruntime-genai Llama proxy failed to build: {proxy_error}")

        results: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
        long_results: list[float] = []
        for engine in rows.values():  # warm-up, not timed
            engine.run(prompt, 8)
        names = list(rows)
        for r in range(args.rounds):
            # Each round starts at the next engine: a run's place in the round shifts its speed by ~5% on this
            # machine (measured with identical sessions), so every engine takes every place in turn.
            for name in names[r % len(names) :] + names[: r % len(names)]:
                time.sleep(QUIET_S)
                results[name].append(rows[name].run(prompt, args.new_tokens))
            time.sleep(QUIET_S)
            long_results.append(rows["glm-nb fp32"].run(long_prompt, args.new_tokens)[1])

    med = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for name, rs in results.items()}
    hf = med["transformers fp32 (eager generate)"][1]
    genai = med[GENAI][1] if GENAI in med else None
    print(f"\nCPU decode, {THREADS} threads, prompt 32, {args.new_tokens} new tokens, greedy, "
          f"{args.rounds} interleaved rounds, medians")  # fmt: skip
    print(f"{'engine':<50} {'TTFT ms':>9} {'decode tok/s':>13} {'x transformers':>15} {'x genai':>9} "
          f"{'MB/token':>9} {'GB/s':>6}")  # fmt: skip
    for name, (ttft, tok_s) in med.items():
        vs_genai = f"{tok_s / genai:.2f}" if genai else "n/a"
        mb = f"{step_bytes[name] / 1e6:.1f}" if name in step_bytes else ""
        gbs = f"{tok_s * step_bytes[name] / 1e9:.1f}" if name in step_bytes else ""
        print(f"{name:<50} {ttft:>9.1f} {tok_s:>13.1f} {tok_s / hf:>15.2f} {vs_genai:>9} {mb:>9} {gbs:>6}")
    print("MB/token: the weights a decode step reads; GB/s: those bytes times the decode rate")
    if genai:
        # Per round, so drift between rounds cancels out.
        vs = [g[1] / p[1] for g, p in zip(results["glm-nb fp32"], results[GENAI])]
        print(f"glm-nb fp32 / genai per round: median {statistics.median(vs):.2f}, range {min(vs):.2f}-{max(vs):.2f}")
    # Each round's long run against the same round's short run, so drift between rounds cancels out.
    ratios = [long / short[1] for long, short in zip(long_results, results["glm-nb fp32"])]
    print(f"\nglm-nb fp32 decode at {args.long_context} tokens of context: {statistics.median(long_results):.1f} tok/s "
          f"= {statistics.median(ratios):.2f}x its speed at 32 (median of per-round ratios; "
          f"range {min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
