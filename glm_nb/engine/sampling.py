"""Token sampling as pure functions over a batch of logits [B, V] (float32, numpy).

Order, as in transformers' logits processors: banned tokens, repetition penalty, temperature, top-k, top-p, then a
draw. Temperature 0 means greedy. Every function returns a new array and never touches its input.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import GenerationError, SamplingError

__all__ = [
    "SamplingParams",
    "MaskedSampling",
    "apply_banned",
    "apply_repetition_penalty",
    "apply_temperature",
    "apply_top_k",
    "apply_top_p",
    "check_finite",
    "draw",
    "draw_first",
    "first_cdf",
    "kept_ids",
    "likely_ids",
    "sample",
    "make_rng",
    "top_p_of",
]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    repetition_penalty: float = 1.0  # 1 = off; > 1 discourages tokens already in the sequence
    seed: int | None = None
    max_new_tokens: int = 512

    def __post_init__(self):
        for name in ("temperature", "top_p", "repetition_penalty"):
            value = getattr(self, name)  # a string or None was a bare TypeError from math.isfinite
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise SamplingError(f"{name} must be a finite number, got {value!r}")
        for name in ("top_k", "seed", "max_new_tokens"):
            value = getattr(self, name)  # max_new_tokens=2.5 ran three tokens; None was a bare TypeError
            if (value is not None or name == "max_new_tokens") and (
                isinstance(value, bool) or not isinstance(value, numbers.Integral)
            ):
                raise SamplingError(f"{name} must be a whole number, got {value!r}")
        if self.seed is not None and self.seed < 0:
            raise SamplingError(f"seed must be >= 0 (or None for a fresh one each time), got {self.seed}")
        if self.temperature < 0:
            raise SamplingError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise SamplingError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise SamplingError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise SamplingError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.max_new_tokens < 1:
            raise SamplingError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_k == 1


@dataclass(frozen=True)
class MaskedSampling(SamplingParams):
    """Sampling settings that never draw `banned_ids` (their logits -inf). A chat backend samples so until a
    request's min_tokens are generated, the stop tokens banned (vLLM's min_tokens). Its own class, not a field of
    SamplingParams, so the settings a user gives and a notebook records stay as they were."""

    banned_ids: frozenset[int] = frozenset()

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.banned_ids, frozenset) or not all(_token_id(t) for t in self.banned_ids):
            raise SamplingError(f"banned_ids must be a frozenset of token ids (ints >= 0), got {self.banned_ids!r}")

    @classmethod
    def of(cls, params: SamplingParams, banned: frozenset[int]) -> MaskedSampling:
        """`params` with `banned` banned too (besides any it bans already)."""
        values = {f.name: getattr(params, f.name) for f in dataclasses.fields(SamplingParams)}
        return cls(**values, banned_ids=frozenset(banned | getattr(params, "banned_ids", frozenset())))


def _token_id(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def make_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def apply_banned(logits: np.ndarray, banned: frozenset[int]) -> np.ndarray:
    """The logits with every banned token's set to -inf (ids beyond the vocabulary are ignored)."""
    out = logits.copy()
    ids = np.fromiter((t for t in banned if t < out.shape[1]), np.int64)
    out[:, ids] = -np.inf
    return out


def apply_repetition_penalty(logits: np.ndarray, previous: list[list[int]], penalty: float) -> np.ndarray:
    """CTRL-style penalty (as transformers): a seen token's logit is divided by `penalty` if positive, else
    multiplied by it."""
    out = logits.copy()
    if penalty == 1.0:
        return out
    for row, tokens in enumerate(previous):
        seen = np.unique(np.asarray(tokens, dtype=np.int64))
        seen = seen[seen < out.shape[1]]
        values = out[row, seen]
        out[row, seen] = np.where(values > 0, values / penalty, values * penalty)
    return out


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Logits divided by `temperature`, each row shifted first so that its largest logit is 0 (no probability
    changes). The shift keeps a tiny temperature finite: the largest logits stay 0 and the rest go to -inf at worst,
    where an unshifted 5 / 1e-40 overflows to inf and the softmax to NaN."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    divisor = np.float32(temperature)
    if divisor == 0:  # > 0 but below float32's range: only the largest logits keep any probability
        return np.where(shifted < 0, -np.inf, 0).astype(logits.dtype)
    with np.errstate(over="ignore"):
        shifted /= divisor
    return shifted


def apply_top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest logits of each row (ties at the k-th value kept too), the rest -inf."""
    if k <= 0 or k >= logits.shape[1]:
        return logits.copy()
    kth = np.partition(logits, -k, axis=1)[:, -k][:, None]
    return np.where(logits < kth, -np.inf, logits).astype(logits.dtype)


def apply_top_p(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus: keep the smallest set of most likely tokens whose probability reaches p (at least one)."""
    if p >= 1.0:
        return logits.copy()
    order = np.argsort(-logits, axis=1, kind="stable")
    sorted_logits = np.take_along_axis(logits, order, axis=1)
    probs = _softmax(sorted_logits)
    before = np.cumsum(probs, axis=1) - probs  # probability mass strictly before each token
    drop_sorted = before >= p
    drop_sorted[:, 0] = False
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=1)
    return np.where(drop, -np.inf, logits).astype(logits.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def sample(
    logits: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    previous: list[list[int]] | None = None,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """One token id per row of `logits` [B, V] -> int64 [B].

    The same draw as masking the row with `apply_top_k` and `apply_top_p` and inverting the cumulative
    distribution of what is left, without sorting the whole vocabulary: top-p sorts only the tokens that can reach
    the cut (`likely_ids`), and the draw runs over the kept tokens alone. At GLM-4's 151,552-token vocabulary a
    draw with top-p 0.8 took ~33 ms that way, longer than a decode step on a GPU (benchmarks/sampling_cost.py).

    `first` [B, k]: when every token is kept (temperature alone), the draw walks these ids (a graph's top-k) before
    the rest, each part in vocabulary order: the same distribution, in an order the top-k alone can often decide
    (`draw_first`, topk_sampling.sample_temperature)."""
    logits = np.asarray(logits, dtype=np.float32)
    if isinstance(params, MaskedSampling) and params.banned_ids:
        logits = apply_banned(logits, params.banned_ids)
    if previous is not None and params.repetition_penalty != 1.0:
        logits = apply_repetition_penalty(logits, previous, params.repetition_penalty)
    check_finite(logits)
    if params.greedy:
        return logits.argmax(axis=1).astype(np.int64)
    scaled = apply_temperature(logits, params.temperature)  # each row's largest is 0
    u = rng.random(scaled.shape[0])  # one uniform number per row, reproducible from the seed
    picks = []
    for n, (row, x) in enumerate(zip(scaled, u)):
        ids = kept_ids(row, params)
        if ids is not None:
            picks.append(ids[draw(row[ids], x)])
        else:
            picks.append(draw(row, x) if first is None else draw_first(row, first[n], x))
    return np.array(picks, np.int64)


def check_finite(logits: np.ndarray) -> None:
    """Refuse rows no token can be drawn from: a NaN or an infinity (a half-precision graph that overflowed), or
    every token banned. Each row's largest value decides, one pass over the row."""
    top = logits.max(axis=1)
    if np.isfinite(top).all():
        return
    row = int(np.flatnonzero(~np.isfinite(top))[0])
    if top[row] == -np.inf:
        raise GenerationError(
            f"Every token of row {row} is banned (-inf), so none can be drawn; ban fewer ids (min_tokens bans the "
            "stop tokens until it is reached)."
        )
    raise GenerationError(
        f"The model's logits hold {'NaN' if np.isnan(top[row]) else 'infinity'} (row {row}): its computation "
        "overflowed. A half-precision graph does so on some prompts; load the model in bf16 or fp32 (precision=...)."
    )


def kept_ids(scaled: np.ndarray, params: SamplingParams) -> np.ndarray | None:
    """The ids (ascending) that top-k and top-p keep of one row of temperature-scaled logits whose largest is 0;
    None when they keep every token."""
    size = scaled.shape[0]
    ids = None
    if 0 < params.top_k < size:
        kth = np.partition(scaled, -params.top_k)[-params.top_k]
        ids = np.flatnonzero(scaled >= kth)  # ties with the k-th value kept, as apply_top_k does
    if params.top_p >= 1.0:
        return ids
    total = _exp(scaled if ids is None else scaled[ids]).sum(dtype=np.float64)
    if ids is None:
        ids = likely_ids(scaled, params.top_p, total)
    return top_p_of(scaled[ids], ids, params.top_p, total)


def likely_ids(scaled: np.ndarray, p: float, total: float, margin: float = 1e-4) -> np.ndarray:
    """Ids (ascending) of a set of the most likely tokens of a row that holds at least p + margin of the
    probability, so that top-p's cut falls inside it: every token outside is below a threshold t where even the
    whole vocabulary at t would hold less than 1 - p - margin of the row's exp-sum `total` (at least 1, as the row's
    largest value is 0)."""
    room = 1.0 - p - margin
    if room <= 0:
        return np.arange(scaled.shape[0])
    threshold = math.log(room * total / scaled.shape[0])
    return np.flatnonzero(scaled >= threshold)


def top_p_of(values: np.ndarray, ids: np.ndarray, p: float, total: float) -> np.ndarray:
    """Of candidates `values` (scaled logits) with ascending `ids`, the ids (ascending) top-p keeps when the whole
    row's exp-sum is `total`: the most likely first, ties to the lower id, while the mass before a token is < p."""
    order = np.argsort(-values, kind="stable")
    probs = _exp(values[order]) / total
    keep = (np.cumsum(probs) - probs) < p
    keep[0] = True
    return np.sort(ids[order[keep]])


def draw(kept: np.ndarray, u: float) -> int:
    """Inverse-CDF draw: the position among `kept` (the kept tokens' scaled logits, in vocabulary order) of the first
    whose cumulative weight reaches u of the total. The tokens dropped weigh 0, so this is the draw over the masked
    row."""
    cdf = _exp(kept).cumsum(dtype=np.float64)
    return min(int(np.searchsorted(cdf, u * cdf[-1], side="left")), len(cdf) - 1)


def draw_first(row: np.ndarray, first: np.ndarray, u: float) -> int:
    """Inverse-CDF draw over a whole row of scaled logits that walks the ids `first` (ascending among themselves)
    before the rest (ascending): the id of the first token whose cumulative weight reaches u of the row's. The
    weights of `first` are summed as `first_cdf` sums them, so that a draw decided from them alone agrees."""
    first = np.unique(np.asarray(first, dtype=np.int64))
    weights = _exp(row)
    cdf = weights[first].cumsum(dtype=np.float64)  # = first_cdf(row[first]): the same float32 weights, same order
    weights[first] = 0  # the rest's cumulative weight, in vocabulary order, in one pass over the row
    rest = weights.cumsum(dtype=np.float64)
    inside = float(cdf[-1])
    target = u * (inside + float(rest[-1]))
    if target <= inside or rest[-1] == 0:
        return int(first[min(int(np.searchsorted(cdf, target, side="left")), len(cdf) - 1)])
    at = int(np.searchsorted(rest, target - inside, side="left"))  # a weight of 0 never reaches a target > 0
    return at if at < len(rest) else int(np.flatnonzero(weights)[-1])  # past the end only by rounding


def first_cdf(values: np.ndarray) -> np.ndarray:
    """The cumulative weights (float64) of scaled logits `values`, in their order."""
    return _exp(values).cumsum(dtype=np.float64)


def _exp(scaled: np.ndarray) -> np.ndarray:
    """exp of scaled logits (all <= 0) in float32, summed by the callers in float64: float64's exp is ~8x slower
    over a 151k-token row."""
    return np.exp(scaled, dtype=np.float32)
