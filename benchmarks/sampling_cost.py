"""What one sampled token costs on the host at GLM-4's vocabulary (151,552 tokens), and how often a graph's top-64
output decides the draw without copying the logits row.

`sample` is timed against the whole-row masking it replaced (temperature, then top-k and top-p as masks over the
whole row, which sorts all 151,552 logits for top-p, then the inverse-CDF draw over the row), with the presets
glm-nb uses: chat (temperature 0.6, top-p 0.8), Z1 (0.6, top-k 40, top-p 0.95), Rumination (0.95, top-p 0.7) and
temperature alone. Rows are synthetic, three kinds: logits falling with the log of a token's rank (slope 2, a
confident step; slope 1.2, a hesitant one) plus noise, shuffled over the vocabulary, and flat Gaussian noise (the
worst case, a random model). Interleaved rounds, medians; both draws must pick the same tokens.

The last columns: the share of rows whose draw `sample_top_p` decides from the 64 largest logits (the CUDA
conversion's top-k output), so that a decode step copies 128 numbers instead of the row (592 KiB); alone, and with
the row's exp-sum that graphs converted since 2026-11-29 output beside them. Temperature alone draws the top-64
first on such graphs (the same distribution in an order they can decide; topk_sampling.py).

    python benchmarks/sampling_cost.py [--rounds 7] [--rows 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from glm_nb.engine.sampling import SamplingParams, apply_temperature, apply_top_k, apply_top_p, make_rng, sample
from glm_nb.engine.topk_sampling import sample_temperature, sample_top_p, temperature_only, top_p_only

VOCAB = 151_552
TOP_K = 64
PRESETS = {
    "chat (T 0.6, top-p 0.8)": SamplingParams(temperature=0.6, top_p=0.8),
    "Z1 (T 0.6, top-k 40, top-p 0.95)": SamplingParams(temperature=0.6, top_k=40, top_p=0.95),
    "Rumination (T 0.95, top-p 0.7)": SamplingParams(temperature=0.95, top_p=0.7),
    "temperature 1.0 alone": SamplingParams(temperature=1.0),
}


def rows(kind: str, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        if kind == "flat":
            row = rng.normal(scale=3.0, size=VOCAB)
        else:
            slope = {"confident": 2.0, "hesitant": 1.2}[kind]
            row = rng.permutation(-slope * np.log(np.arange(1, VOCAB + 1)) + rng.normal(scale=0.5, size=VOCAB))
        out.append(row.astype(np.float32)[None])
    return out


def whole_row(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> np.ndarray:
    """The draw before: every step masks and sorts the whole row."""
    masked = apply_top_p(apply_top_k(apply_temperature(logits, params.temperature), params.top_k), params.top_p)
    probs = np.exp(masked.astype(np.float64))
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(cdf.shape[0])[:, None]
    return np.minimum((cdf < u * cdf[:, -1:]).sum(axis=1), cdf.shape[1] - 1)


def time_draws(draw, batch: list[np.ndarray], params: SamplingParams) -> tuple[float, list[int]]:
    picks = []
    start = time.perf_counter()
    for i, logits in enumerate(batch):
        picks.append(int(draw(logits, params, make_rng(i))[0]))
    return (time.perf_counter() - start) / len(batch) * 1e3, picks


def decided_share(batch: list[np.ndarray], params: SamplingParams) -> tuple[str, str]:
    """The share of rows whose draw the top-64 decides: alone (graphs converted before the exp-sum output), and with
    the graph's exp-sum of the row (logits_expsum)."""
    alone = temperature_only(params)  # drawn candidates first, so that the top-k can decide (topk_sampling.py)
    if not top_p_only(params) and not alone:
        share = "static" if 0 < params.top_k <= TOP_K else "never"
        return share, share
    decided = [0, 0]
    for i, logits in enumerate(batch):
        ids = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
        values = np.take_along_axis(logits, ids, axis=1)
        expsum = np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, dtype=np.float32)
        for n, row_sum in enumerate((None, expsum)):
            decide = sample_temperature if alone else sample_top_p
            top = decide(values, ids, params, make_rng(i), VOCAB, row_sum)
            if top is not None:
                assert top.tolist() == sample(logits, params, make_rng(i), first=ids if alone else None).tolist()
                decided[n] += 1
    return tuple(f"{d / len(batch):.0%}" for d in decided)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, default=40, help="rows of each kind per round")
    args = parser.parse_args()
    print(f"| rows | preset | sample ms | whole-row ms | speed-up | top-{TOP_K} decides | with exp-sum |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("confident", "hesitant", "flat"):
        batch = rows(kind, args.rows)
        for name, params in PRESETS.items():
            new, old = [], []
            for _ in range(args.rounds):
                for draw, times in ((sample, new), (whole_row, old)):
                    ms, picks = time_draws(draw, batch, params)
                    times.append(ms)
                    if draw is sample:
                        want = picks
                    elif picks != want:
                        mismatched = sum(a != b for a, b in zip(picks, want))
                        print(f"  ({kind}, {name}: {mismatched} of {len(picks)} draws differ by rounding)")
            a, b = statistics.median(new), statistics.median(old)
            alone, summed = decided_share(batch, params)
            print(f"| {kind} | {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x | {alone} | {summed} |")


if __name__ == "__main__":
    main()
