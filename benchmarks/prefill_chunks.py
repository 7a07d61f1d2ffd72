"""A long prompt read in one call against chunks of it (Generator.prefill_chunk): time to the first token and the
memory the prefill takes, on the CPU.

A random GLM-4-shaped checkpoint (hidden 512, 4 layers, 16 heads of 32, 2 KV heads, intermediate 1408, vocab
32000), a prompt of `--tokens` random ids, 2 threads. Each run is a fresh process (so that its peak RSS is its own):
it loads the model, then reads the prompt and draws the first token; the table gives the median time and the peak
RSS above what the loaded model held (Linux: /proc/self/clear_refs restarts the peak), over interleaved rounds.

    python benchmarks/prefill_chunks.py [--tokens 8000] [--chunks 0 512 1024] [--rounds 3]   # 0: one call
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = """
import json, sys, time
import numpy as np
from glm_nb.engine import Engine, Generator, SamplingParams
folder, tokens, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
engine = Engine.load(folder, device="cpu", threads=2)
gen = Generator(engine, SamplingParams(max_new_tokens=2), max_length=tokens + 8, stop_ids=(),
                prefill_chunk=chunk or tokens)
ids = np.random.default_rng(0).integers(10, 30000, tokens).tolist()
def kib(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))
open("/proc/self/clear_refs", "w").write("5")  # the peak RSS starts again from the current RSS (Linux)
before = kib("VmRSS:")
start = time.perf_counter()
gen.set_prompt(ids)
gen.generate_next_token()
seconds = time.perf_counter() - start
grown = kib("VmHWM:") - before
print(json.dumps({"seconds": seconds, "grown_kib": grown, "calls": gen.stats.forward_calls}))
"""


def make_model(root: Path, tokens: int) -> Path:
    import torch
    from transformers import Glm4Config, Glm4ForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from glm_nb.engine import convert

    from tiny_checkpoint import write_tokenizer

    torch.manual_seed(0)
    config = Glm4Config(hidden_size=512, num_hidden_layers=4, num_attention_heads=16, num_key_value_heads=2,
                        head_dim=32, intermediate_size=1408, vocab_size=32000, max_position_embeddings=tokens + 64,
                        pad_token_id=0, eos_token_id=[1, 2, 3], partial_rotary_factor=0.5,
                        attention_bias=True)  # fmt: skip
    Glm4ForCausalLM(config).eval().save_pretrained(root / "glm")
    write_tokenizer(root / "glm")
    return convert(root / "glm", root / "onnx", progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=8000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 512, 1024], help="0: the whole prompt at once")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_model(Path(tmp), args.tokens)
        runs: dict[int, list[dict]] = {c: [] for c in args.chunks}
        for r in range(args.rounds):
            order = args.chunks[r % len(args.chunks) :] + args.chunks[: r % len(args.chunks)]
            for chunk in order:
                command = [sys.executable, "-c", RUN, str(folder), str(args.tokens), str(chunk)]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                runs[chunk].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.tokens}-token prompt, 2 threads, median of {args.rounds}")
    print("| prefill | calls | first token s | memory the prefill took |")
    print("|---|---|---|---|")
    for chunk, results in runs.items():
        seconds = statistics.median(x["seconds"] for x in results)
        grown = statistics.median(x["grown_kib"] for x in results) / 1024
        label = "one call" if chunk == 0 else f"chunks of {chunk}"
        print(f"| {label} | {results[0]['calls']} | {seconds:.2f} | {grown:.0f} MiB |")


if __name__ == "__main__":
    main()
