"""Sampling from a device-side top-k instead of the whole logits row.

A graph converted with `top_k_output=k` also outputs `topk_values` [B, K, k] float32 and `topk_ids` [B, K, k]
int64: the k largest logits of each picked row, computed where the model runs. A decode step then copies
2 x k numbers per row to the host instead of the whole vocabulary row (151,552 floats, 592 KiB, for GLM-4).

When is that exact? Greedy is top-1. Top-k sampling with `top_k <= k` and no repetition penalty keeps the same
tokens as sampling over the full row, and temperature and top-p only look at the kept tokens. The candidates are
put back in vocabulary order before the draw, so `sample`'s inverse-CDF draw picks the same token from the same
random number as it would over the full row (up to float rounding of the cumulative sums). Everything else
(no top_k, top_k > k, a repetition penalty, which can move a token across the cut, banned tokens, which can
empty the candidates) needs the whole row: `covers` says which. One corner differs: ties with the k-th largest
value beyond the k candidates are dropped here, kept by `apply_top_k`.

Top-p without top-k (the chat presets: temperature 0.6, top-p 0.8) is decided step by step: `sample_top_p` bounds
the probability of the tokens outside the candidates (each is at most the k-th largest) and samples from the
candidates when top-p keeps the same tokens whatever that mass is, which a confident model's step usually allows;
else it returns None, having drawn nothing, and the caller reads the whole row.
"""

from __future__ import annotations

import numpy as np

from .sampling import MaskedSampling, SamplingParams, apply_temperature, draw, sample, top_p_of

__all__ = ["covers", "sample_top_k", "top_p_only", "sample_top_p"]

_ROUNDING = 1e-6  # relative slack on the row's exp-sum, so that float rounding never decides a draw here


def covers(params: SamplingParams, k: int) -> bool:
    """True when sampling from the k largest logits of a row equals sampling from the whole row."""
    if k < 1 or params.repetition_penalty != 1.0 or isinstance(params, MaskedSampling):
        return False
    if params.greedy:
        return True
    return 0 < params.top_k <= k


def sample_top_k(values: np.ndarray, ids: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> np.ndarray:
    """One token id per row from candidates `values` [B, k] (float) and their vocabulary `ids` [B, k] -> int64 [B].

    The caller checks `covers(params, k)` first; a repetition penalty is not applied here."""
    order = np.argsort(ids, axis=1, kind="stable")  # vocabulary order, as the full row has them
    ids = np.take_along_axis(ids, order, axis=1)
    values = np.take_along_axis(np.asarray(values, dtype=np.float32), order, axis=1)
    picks = sample(values, params, rng)  # positions among the candidates
    return ids[np.arange(ids.shape[0]), picks].astype(np.int64)


def top_p_only(params: SamplingParams) -> bool:
    """True for settings `sample_top_p` may decide from the candidates: top-p with neither top-k, a penalty nor
    banned ids."""
    plain = params.repetition_penalty == 1.0 and not isinstance(params, MaskedSampling)
    return plain and not params.greedy and params.top_k == 0 and params.top_p < 1.0


def sample_top_p(
    values: np.ndarray, ids: np.ndarray, params: SamplingParams, rng: np.random.Generator, vocab_size: int
) -> np.ndarray | None:
    """One token id per row from the k largest logits `values` [B, k] and their `ids` when they decide top-p's cut
    for every row (see the module's docstring); None, with `rng` untouched, when one row needs its whole logits."""
    values = np.asarray(values, dtype=np.float32)
    if not np.isfinite(values.max(axis=1)).all():
        return None  # NaN or infinity: the whole row's draw says what went wrong
    rows = []
    for row_values, row_ids in zip(values, ids):
        kept = _kept_by_top_p(row_values, np.asarray(row_ids, dtype=np.int64), params, vocab_size)
        if kept is None:
            return None
        rows.append(kept)
    u = rng.random(len(rows))  # the one uniform number per row that `sample` draws
    return np.array([kept_ids[draw(kept, x)] for (kept, kept_ids), x in zip(rows, u)], np.int64)


def _kept_by_top_p(
    values: np.ndarray, ids: np.ndarray, params: SamplingParams, vocab_size: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The scaled logits and ids (vocabulary order) top-p keeps of one row, or None when the tokens outside the
    candidates could change them. Outside the candidates are vocab_size - k tokens, none above the smallest
    candidate, so the row's exp-sum lies between the candidates' own and that plus (vocab_size - k) times the
    smallest's weight. The kept set only grows with the sum, so equal sets at both ends decide it."""
    order = np.argsort(ids, kind="stable")
    ids, scaled = ids[order], apply_temperature(values[order][None], params.temperature)[0]
    inside = np.exp(scaled, dtype=np.float32).sum(dtype=np.float64)
    outside = (vocab_size - len(ids)) * float(np.exp(scaled.min(), dtype=np.float64))
    low, high = inside * (1 - _ROUNDING), (inside + outside) * (1 + _ROUNDING)
    if inside < (params.top_p + _ROUNDING) * high:  # the cut may fall outside the candidates
        return None
    kept = top_p_of(scaled, ids, params.top_p, low)
    if not np.array_equal(kept, top_p_of(scaled, ids, params.top_p, high)):
        return None
    return scaled[np.searchsorted(ids, kept)], kept
