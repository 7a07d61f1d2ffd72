"""What one sampled token costs on the host at GLM-4's vocabulary (151,552 tokens), and how often a graph's top-64
output decides the draw without copying the logits row.

`sample` is timed against the whole-row masking it replaced (temperature, then top-k and top-p as masks over the
whole row, which sorts all 151,552 logits for top-p, then the inverse-CDF draw over the row), with the presets
glm-nb uses: chat (temperature 0.6, top-p 0.8), Z1 (0.6, top-k 40, top-p 0.95), Rumination (0.95, top-p 0.7) and
temperature alone. Rows are synthetic, three kinds: logits falling with the log of a token's rank (slope 2, a
confident step; slope 1.2, a hesitant one) plus noise, shuffled over the vocabulary, and flat Gaussian noise (the
worst case, a random model). Interleaved rounds, medians; both draws must pick the same tokens.

The last columns: the share of rows whose draw the engine's `StepSampler` decides from the 64 largest logits (the
CUDA conversion's top-k output), so that a decode step copies 128 numbers instead of the row (592 KiB); alone, and
with the row's exp-sum that graphs converted since 2026-11-29 output beside them. Temperature alone draws the top-64
first on such graphs (the same distribution in an order they can decide; topk_sampling.py). The presets with a
repetition penalty (1.1, over `PREVIOUS`: a few of the row's likely tokens among random ones, as a reply repeats
common words) and with banned ids (serve's `min_tokens`, which bans the stop ids, here the row's 2nd and 5th most
likely tokens) lower candidates first; they are decided from the top-64 only where that is provably exact.

    python benchmarks/sampling_cost.py [--rounds 7] [--rows 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from glm_nb.engine.sampling import (
    MaskedSampling,
    SamplingParams,
    apply_banned,
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    make_rng,
    sample,
)
from glm_nb.engine.step_sampler import StepSampler

VOCAB = 151_552
TOP_K = 64
PRESETS = {
    "chat (T 0.6, top-p 0.8)": SamplingParams(temperature=0.6, top_p=0.8),
    "Z1 (T 0.6, top-k 40, top-p 0.95)": SamplingParams(temperature=0.6, top_k=40, top_p=0.95),
    "Rumination (T 0.95, top-p 0.7)": SamplingParams(temperature=0.95, top_p=0.7),
    "temperature 1.0 alone": SamplingParams(temperature=1.0),
    "greedy, repetition penalty 1.1": SamplingParams(temperature=0.0, repetition_penalty=1.1),
    "chat, repetition penalty 1.1": SamplingParams(temperature=0.6, top_p=0.8, repetition_penalty=1.1),
    "chat, stop ids banned (min_tokens)": SamplingParams(temperature=0.6, top_p=0.8),  # banned per row: `masked`
}
BANNED_RANKS = (1, 4)  # the row's 2nd and 5th most likely tokens stand in for the stop ids min_tokens bans
PREVIOUS_LIKELY_RANKS = (0, 2, 6, 20)  # the reply so far holds some of the row's likely tokens...
PREVIOUS_RANDOM = 200  # ...among random ones


def previous_tokens(logits: np.ndarray, seed: int) -> list[list[int]]:
    """The tokens a reply holds before this step: some of the row's likely ones among random ones."""
    ranked = np.argsort(-logits[0], kind="stable")
    random = np.random.default_rng(seed).integers(0, VOCAB, PREVIOUS_RANDOM)
    return [[*(int(ranked[r]) for r in PREVIOUS_LIKELY_RANKS), *map(int, random)]]


def masked(logits: np.ndarray, name: str, params: SamplingParams) -> SamplingParams:
    """The preset's settings for this row: the min_tokens preset bans two of its likely tokens."""
    if "banned" not in name:
        return params
    ranked = np.argsort(-logits[0], kind="stable")
    return MaskedSampling.of(params, frozenset(int(ranked[r]) for r in BANNED_RANKS))


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


def whole_row(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator, previous) -> np.ndarray:
    """The draw before: every step masks and sorts the whole row."""
    if isinstance(params, MaskedSampling):
        logits = apply_banned(logits, params.banned_ids)
    if params.repetition_penalty != 1.0:
        logits = apply_repetition_penalty(logits, previous, params.repetition_penalty)
    if params.greedy:
        return logits.argmax(axis=1)
    cut = apply_top_p(apply_top_k(apply_temperature(logits, params.temperature), params.top_k), params.top_p)
    probs = np.exp(cut.astype(np.float64))
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(cdf.shape[0])[:, None]
    return np.minimum((cdf < u * cdf[:, -1:]).sum(axis=1), cdf.shape[1] - 1)


def time_draws(draw, batch: list[np.ndarray], name: str, params: SamplingParams) -> tuple[float, list[int]]:
    settings = [(masked(logits, name, params), previous_tokens(logits, i)) for i, logits in enumerate(batch)]
    picks = []
    start = time.perf_counter()
    for i, (logits, (row_params, previous)) in enumerate(zip(batch, settings)):
        picks.append(int(draw(logits, row_params, make_rng(i), previous)[0]))
    return (time.perf_counter() - start) / len(batch) * 1e3, picks


class _Copied:
    """A host array standing in for a step's device output (`.numpy()` is the copy a CUDA step makes)."""

    def __init__(self, array: np.ndarray):
        self._array = array

    def numpy(self) -> np.ndarray:
        return self._array


class _TopKStep:
    """What a top-k graph's step leaves for `StepSampler`: the top-64 (values, ids), the exp-sum, the logits."""

    def __init__(self, logits: np.ndarray, with_expsum: bool):
        ids = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]  # ONNX TopK's order: ties to the lower id
        self.topk_ids = _Copied(ids[:, None])
        self.topk_values = _Copied(np.take_along_axis(logits, ids, axis=1)[:, None])
        expsum = np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, dtype=np.float32)
        self.expsum = _Copied(expsum[:, None, None]) if with_expsum else None
        self._logits = logits

    def last_logits(self) -> np.ndarray:
        return self._logits


def decided_share(batch: list[np.ndarray], name: str, params: SamplingParams) -> tuple[str, str]:
    """The share of rows whose draw the engine's StepSampler decides from the top-64 (no logits row read): alone
    (graphs converted before the exp-sum output), and with the graph's exp-sum of the row (logits_expsum). Each
    decided draw must be the token the whole row's draw gives."""
    decided = [0, 0]
    for i, logits in enumerate(batch):
        row_params, previous = masked(logits, name, params), previous_tokens(logits, i)
        for n, with_expsum in enumerate((False, True)):
            step = _TopKStep(logits, with_expsum)
            sampler = StepSampler(step, TOP_K, VOCAB, readback="auto", guard_overflow=False)
            picks, from_top_k = sampler.next_ids(row_params, make_rng(i), previous)
            first = step.topk_ids.numpy()[:, 0] if row_params.top_p >= 1.0 and not row_params.top_k else None
            assert picks.tolist() == sample(logits, row_params, make_rng(i), previous, first).tolist()
            decided[n] += from_top_k
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
                    ms, picks = time_draws(draw, batch, name, params)
                    times.append(ms)
                    if draw is sample:
                        want = picks
                    elif picks != want:
                        mismatched = sum(a != b for a, b in zip(picks, want))
                        print(f"  ({kind}, {name}: {mismatched} of {len(picks)} draws differ by rounding)")
            a, b = statistics.median(new), statistics.median(old)
            alone, summed = decided_share(batch, name, params)
            print(f"| {kind} | {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x | {alone} | {summed} |")


if __name__ == "__main__":
    main()
