"""int4 on the CPU: which MatMulNBits form to use, by speed and by what it costs in accuracy.

Speed: the random GLM-4-shaped checkpoint of cpu_decode.py (hidden 512, 8 layers, vocab 32000), converted to int4
in each form, prompt 32 tokens, 128 new tokens, greedy, 2 threads, interleaved rounds (each round starts at the
next form), median decode tok/s, and the median per-round ratio to the default form (block 32, zero points).

Accuracy: random weights say nothing about quantization error, so it is measured on nano-GLM's trained weights
(the bundled checkpoint): every position of 60 corpus dialogs is scored by the fp32 graph and by each int4 form;
the table gives top-1 agreement with fp32, the mean |logit difference| and the mean KL(fp32 || int4).

    python benchmarks/cpu_int4_variants.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_decode  # noqa: E402  (its checkpoint, threads and timed engine)

from glm_nb.engine import Engine, Generator, SamplingParams, convert  # noqa: E402
from glm_nb.nano import checkpoint_path  # noqa: E402
from glm_nb.nano.corpus import corpus_text  # noqa: E402

DEFAULT = "block 32, zero points"
FORMS = {  # name -> convert() options
    DEFAULT: {"int4_block_size": 32},
    "block 32, symmetric": {"int4_block_size": 32, "int4_symmetric": True},
    "block 128, zero points": {"int4_block_size": 128},
    "block 128, symmetric": {"int4_block_size": 128, "int4_symmetric": True},
    "block 32, zero points, accuracy level 1": {"int4_block_size": 32, "int4_accuracy_level": 1},
}


def speeds(root: Path, rounds: int) -> dict[str, list[float]]:
    glm, _ = cpu_decode.make_checkpoints(root)
    engines = {
        name: cpu_decode.GlmNb(convert(glm, root / f"form{i}", precision="int4", progress=False, **options), 256)
        for i, (name, options) in enumerate(FORMS.items())
    }
    prompt = [int(t) for t in np.random.default_rng(0).integers(100, 30000, size=32)]
    names, rates = list(engines), {name: [] for name in engines}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(0.5)  # the previous engine's spinning threads leave the cores first (cpu_decode.py)
            rates[name].append(engines[name].run(prompt, 128)[1])
    return rates


def errors(root: Path) -> dict[str, tuple[float, float, float]]:
    """name -> (top-1 agreement, mean |dlogit|, mean KL) against fp32 on nano-GLM."""
    fp32 = Engine.load(convert(checkpoint_path(), root / "nano-fp32", progress=False), device="cpu")
    reference = Generator(fp32, SamplingParams(), max_length=1024)
    dialogs = []
    for text in corpus_text(7, 60):
        ids = fp32.tokenizer.encode(text)[:500]
        dialogs.append((ids, reference.score(ids)))
    out = {}
    for i, (name, options) in enumerate(FORMS.items()):
        model = convert(checkpoint_path(), root / f"nano{i}", precision="int4", progress=False, **options)
        scorer = Generator(Engine.load(model, device="cpu"), SamplingParams(), max_length=1024)
        agree = positions = 0
        diffs, kls = [], []
        for ids, ref in dialogs:
            got = scorer.score(ids)  # [T, V]
            agree += int((got.argmax(-1) == ref.argmax(-1)).sum())
            positions += len(ids)
            diffs.append(float(np.abs(got - ref).mean()))
            p_ref, p_got = _log_softmax(ref), _log_softmax(got)
            kls.append(float((np.exp(p_ref) * (p_ref - p_got)).sum(-1).mean()))
        out[name] = (agree / positions, float(np.mean(diffs)), float(np.mean(kls)))
    return out


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rates = speeds(Path(tmp), args.rounds)
        quality = errors(Path(tmp))
    base = rates[DEFAULT]
    print(f"int4 on the CPU, {cpu_decode.THREADS} threads, {args.rounds} interleaved rounds (decode: random GLM-4 "
          "shape of cpu_decode.py; error: nano-GLM's trained weights against fp32)")  # fmt: skip
    print(f"{'form':42} {'decode tok/s':>12} {'x default':>10} {'top-1 agree':>12} {'mean |dlogit|':>14} {'KL':>8}")
    for name in FORMS:
        ratio = statistics.median(r / b for r, b in zip(rates[name], base, strict=True))
        agree, diff, kl = quality[name]
        print(f"{name:42} {statistics.median(rates[name]):12.1f} {ratio:10.2f} {agree:12.4f} {diff:14.4f} {kl:8.5f}")


if __name__ == "__main__":
    main()
