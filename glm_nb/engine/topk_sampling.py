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
"""

from __future__ import annotations

import numpy as np

from .sampling import MaskedSampling, SamplingParams, sample

__all__ = ["covers", "sample_top_k"]


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
