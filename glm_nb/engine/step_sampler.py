"""`StepSampler`: one token id per row from the step just run, and what that copies from the device.

A graph with a top-k tail (topk_sampling.py) leaves three small outputs besides the logits: `topk_values` and
`topk_ids` [B, 1, k] and `logits_expsum` [B, 1, 1]. On CUDA reading each is a device-to-host copy and a sync, so a
step reads only what its draw needs, each at most once (`_TopKReadback`):
    greedy                          values and ids (banned ids or a penalty or not)
    top-k sampling (top_k < k)      values and ids
    top-p or temperature alone      values and ids; the exp-sum only when the values alone do not decide
and the whole logits row only when the top-k cannot decide: top_k >= k, or a penalty below 1, which raises logits
(nothing of the top-k is read for these), or a row whose draw the tokens outside could change. Greedy needs the
values too: ONNX Runtime's CUDA TopK on a wide row (RadixTopK) lists tied values in its threads' order, not the lower
id first as its CPU kernel does, so the argmax is the lowest id among the candidates equal to the largest (and
undecided when every candidate ties, as a token outside may too).

A NaN or an infinity among the candidates' values sends the step to the whole row, whose draw raises
`GenerationError`. On a half-precision (fp16) graph, whose logits may overflow, every step reads the exp-sum too: a
NaN or an infinity anywhere in the row makes it non-finite, so the row is refused even when the candidates look fine.
"""

from __future__ import annotations

import numpy as np

from .sampling import SamplingParams, sample
from .step_runner import StepBuffers
from .topk_sampling import lower, lowers, sample_greedy, sample_temperature, sample_top_k, sample_top_p

__all__ = ["StepSampler"]


class _TopKReadback:
    """The top-k outputs of one step, each copied to the host the first time it is asked for."""

    def __init__(self, buf: StepBuffers):
        self._buf = buf
        self._read: dict[str, np.ndarray] = {}

    def _copy(self, name: str) -> np.ndarray:
        if name not in self._read:
            self._read[name] = getattr(self._buf, name).numpy()  # one device-to-host copy
        return self._read[name]

    @property
    def has_expsum(self) -> bool:
        return self._buf.expsum is not None

    def values(self) -> np.ndarray:
        return self._copy("topk_values")[:, 0]  # [B, k] float32

    def ids(self) -> np.ndarray:
        return self._copy("topk_ids")[:, 0]  # [B, k] int64

    def expsum(self) -> np.ndarray | None:
        return self._copy("expsum")[:, 0, 0] if self.has_expsum else None  # [B] float32

    def finite(self) -> bool:
        """False when the row holds a NaN or an infinity (by the exp-sum, or the values on a graph without it)."""
        summed = self.expsum() if self.has_expsum else self.values().max(axis=1)
        return bool(np.isfinite(summed).all())


class StepSampler:
    """Picks the next ids from a `StepRunner`'s buffers: from the graph's top-k when that decides the draw exactly
    (readback "auto"), else from the whole logits row."""

    def __init__(self, buf: StepBuffers, top_k: int, vocab_size: int, readback: str, guard_overflow: bool):
        """guard_overflow: read the exp-sum every step, to refuse logits that overflowed (fp16 graphs)."""
        self.buf = buf
        self.top_k = top_k
        self.vocab_size = vocab_size
        self.readback = readback
        self.guard_overflow = guard_overflow

    def next_ids(
        self, params: SamplingParams, rng: np.random.Generator, previous: list[list[int]]
    ) -> tuple[np.ndarray, bool]:
        """One id per row [B] int64, and whether the top-k decided it (no logits row read). `previous`: each row's
        tokens so far, which a repetition penalty lowers."""
        first = None
        if self.top_k and self.readback == "auto" and self._may_decide(params):
            top = _TopKReadback(self.buf)
            picks = self._from_top_k(top, params, rng, previous)
            if picks is not None:
                return picks, True
            if not params.greedy and params.top_k == 0 and params.top_p >= 1.0:
                first = top.ids()  # temperature alone walks the candidates first, decided here or not
        return sample(self.buf.last_logits(), params, rng, previous, first), False

    def _may_decide(self, params: SamplingParams) -> bool:
        """False for settings the top-k never decides, so that none of it is copied: a penalty below 1 raises
        logits; the top_k-th candidate (greedy: the first) must lie above the k-th, where tokens outside may tie."""
        cut = 1 if params.greedy else params.top_k
        return params.repetition_penalty >= 1.0 and cut < self.top_k

    def _from_top_k(
        self, top: _TopKReadback, params: SamplingParams, rng: np.random.Generator, previous: list[list[int]]
    ) -> np.ndarray | None:
        """The draw from the top-k, or None (`rng` untouched) when the whole row must decide."""
        if self.guard_overflow and not top.finite():
            return None
        values, ids = top.values(), top.ids()
        lowered = lower(values, ids, params, previous) if lowers(params) else None
        if params.greedy:
            return sample_greedy(values, ids, lowered)
        if params.top_k:
            return sample_top_k(values, ids, params, rng, lowered)
        decide = sample_top_p if params.top_p < 1.0 else sample_temperature
        summed = top.expsum() if self.guard_overflow else None  # copied already; else the values' loose bound first
        picks = decide(values, ids, params, rng, self.vocab_size, summed, lowered)
        if picks is None and summed is None and top.has_expsum:
            picks = decide(values, ids, params, rng, self.vocab_size, top.expsum(), lowered)
        return picks
