"""Sampling from a device-side top-k instead of the whole logits row.

A graph converted with `top_k_output=k` also outputs `topk_values` [B, K, k] float32 and `topk_ids` [B, K, k]
int64: the k largest logits of each picked row, computed where the model runs. A decode step then copies
2 x k numbers per row to the host instead of the whole vocabulary row (151,552 floats, 592 KiB, for GLM-4).

When is that exact? Greedy is top-1: the lowest id among the candidates equal to the largest (a CUDA TopK lists
tied values in any order). Top-k sampling with `top_k < k` and no repetition penalty keeps the same tokens as
sampling over the full row, and temperature and top-p only look at the kept tokens. The candidates are put back in
vocabulary order before the draw, so `sample`'s inverse-CDF draw picks the same token from the same random number as
it would over the full row (up to float rounding of the cumulative sums); `covers` says when. Both need the cut
(greedy's largest, top-k's top_k-th largest, temperature-scaled in float32) strictly above the k-th largest value,
scaled alike: a token outside at that value is kept by `apply_top_k` (ties at the cut stay) and may have a lower id
than a candidate, so such a row falls back to the whole row. With top_k >= k the whole row decides.

Top-p without top-k (the chat presets: temperature 0.6, top-p 0.8) is decided step by step: `sample_top_p` bounds
the probability of the tokens outside the candidates and samples from the candidates when top-p keeps the same
tokens whatever that mass is; else it returns None, having drawn nothing, and the caller reads the whole row. Each
token outside is at most the k-th largest, which alone bounds their mass loosely (151,488 tokens at that value).
A graph converted since the top-k tail also outputs `logits_expsum` [B, K, 1], the whole row's sum of
exp(logit - row max), bounds it tightly: see `_outside_mass`.

Banned ids and a repetition penalty of at least 1 only lower logits (transformers' and GLM's penalty divides a
positive logit by it and multiplies a negative one): every token outside the candidates stays at or below the k-th
largest, `m`. So `lower` applies them to the candidates alone, and each decider goes on as above, with two more
conditions: the lowered candidates' largest is still at least `m` (it is the row's largest, which `apply_temperature`
shifts by), and a candidate the draw may keep lies strictly above `m` (at `m`, an outside token of a lower id may tie
with it: greedy and top-k fall back, top-p too; temperature alone walks the candidates first, so ties do not matter).
Top-p checks the second without lowering too: the temperature's float scaling can tie a kept candidate with a token
outside. The tokens outside weigh no more than before, in units where the lowered largest weighs 1:
`_outside_mass(below=)`.

Temperature alone (top-k and top-p off: OpenAI's defaults, so what `glm-nb serve` gets from most clients) keeps
every token, and a draw in vocabulary order needs every token's weight. So on a graph with a top-k output the draw
walks the candidates first, then the rest (each part in vocabulary order, `sampling.draw_first`): the same
distribution, and a draw that lands among the candidates whatever the rest weighs is decided by them alone
(`sample_temperature`). Seeded draws with temperature alone, also with banned ids or a penalty of at least 1 (the
same walk over the lowered logits), thus differ between graphs with and without a top-k, and between readback "auto"
and "logits" on a top-k graph. A penalty below 1 never reads the top-k, so its draws walk vocabulary order under
either readback; greedy, top-k and top-p draws are the same under both.
"""

from __future__ import annotations

import math

import numpy as np

from .sampling import SamplingParams, apply_temperature, draw, first_cdf, sample, top_p_of

__all__ = [
    "covers",
    "lower",
    "lowers",
    "sample_greedy",
    "sample_top_k",
    "top_p_only",
    "sample_top_p",
    "temperature_only",
    "sample_temperature",
]

_ROUNDING = 1e-6  # relative slack on the row's exp-sum, so that float rounding never decides a draw here
_F32 = 2.0**-24  # float32's unit roundoff


def covers(params: SamplingParams, k: int) -> bool:
    """True when the k largest logits of a row may decide greedy or top-k sampling exactly, with nothing lowered
    (`lowers`): the cut (greedy's first, top-k's top_k-th) is among the first k - 1 candidates, so that it can lie
    above the k-th. `sample_top_k` and `sample_greedy` still fall back when a row's cut ties with the k-th."""
    if k < 2 or lowers(params):
        return False
    if params.greedy:
        return True
    return 0 < params.top_k < k


def lowers(params: SamplingParams) -> bool:
    """True when `params` ban ids or penalize repeats: `lower` then changes the candidates."""
    return params.repetition_penalty != 1.0 or bool(getattr(params, "banned_ids", None))


def lower(values: np.ndarray, ids: np.ndarray, params: SamplingParams, previous: list[list[int]]) -> np.ndarray:
    """The candidates' logits `values` [B, k] (vocabulary `ids` [B, k]) after `params`' banned ids (-inf) and
    repetition penalty over each row's `previous` tokens: [B, k] float32, the same floats `sample` computes for
    them over the whole row (apply_banned, then apply_repetition_penalty)."""
    out = np.array(values, dtype=np.float32)
    banned = getattr(params, "banned_ids", None)
    if banned:
        out[np.isin(ids, np.fromiter(banned, np.int64))] = -np.inf
    penalty = params.repetition_penalty
    if penalty != 1.0:
        for row, tokens in enumerate(previous):
            seen = np.isin(ids[row], np.asarray(tokens, dtype=np.int64))
            picked = out[row, seen]
            out[row, seen] = np.where(picked > 0, picked / penalty, picked * penalty)
    return out


def sample_greedy(values: np.ndarray, ids: np.ndarray, lowered: np.ndarray | None = None) -> np.ndarray | None:
    """The argmax of each whole row, ties to the lower id, from its k largest logits `values` [B, k] and their `ids`
    in any order (CUDA's TopK does not list ties lower id first), and the same `lowered` (`lower`) when the settings
    ban ids or penalize; None when a value is NaN or infinite, or a row's largest lowered candidate is not above the
    k-th largest logit, where a token outside (of a lower id) may be the argmax."""
    lowered = values if lowered is None else lowered
    if not np.isfinite(values).all():
        return None  # the whole row's draw says what went wrong
    picks = []
    for row_values, row_ids, row_lowered in zip(values, ids, lowered):
        best = row_lowered.max()
        if not best > row_values.min():
            return None
        picks.append(int(row_ids[row_lowered == best].min()))
    return np.array(picks, np.int64)


def sample_top_k(
    values: np.ndarray,
    ids: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    lowered: np.ndarray | None = None,
) -> np.ndarray | None:
    """One token id per row from candidates `values` [B, k] (float) and their vocabulary `ids` [B, k] -> int64 [B].

    The settings are greedy or have 0 < top_k <= k (`covers`, with `lowered` (`lower`) when they ban ids or
    penalize). None, with `rng` untouched, when a value is NaN or infinite, or a row's top_k-th largest (lowered)
    candidate, temperature-scaled, is not above the k-th largest logit (scaled alike): a token outside may then tie
    with the cut, and the whole row keeps it (`apply_top_k` keeps ties at the cut)."""
    lowered = values if lowered is None else lowered
    if not np.isfinite(values).all():
        return None  # the whole row's draw says what went wrong
    cut = 1 if params.greedy else params.top_k
    for row_values, row_lowered in zip(values, lowered):
        scaled, edge = _framed(row_values, row_lowered, params.temperature)
        if scaled is None or not np.partition(scaled, -cut)[-cut] > edge:
            return None
    values, params = lowered, _plain_params(params)
    order = np.argsort(ids, axis=1, kind="stable")  # vocabulary order, as the full row has them
    ids = np.take_along_axis(ids, order, axis=1)
    values = np.take_along_axis(np.asarray(values, dtype=np.float32), order, axis=1)
    picks = sample(values, params, rng)  # positions among the candidates
    return ids[np.arange(ids.shape[0]), picks].astype(np.int64)


def _plain_params(params: SamplingParams) -> SamplingParams:
    """`params` with neither a penalty nor banned ids: what is left to apply to candidates already lowered."""
    return SamplingParams(params.temperature, params.top_k, params.top_p, 1.0, params.seed, params.max_new_tokens)


def _framed(values: np.ndarray, lowered: np.ndarray, temperature: float) -> tuple[np.ndarray | None, float]:
    """One row's `lowered` candidates scaled as `apply_temperature` scales them over the whole row, and the k-th
    largest logit `values` had, scaled alike: every token outside is at or below it. (None, edge) when the lowered
    candidates' largest is below that logit, so that the row's largest, which the scaling shifts by, is unknown."""
    edge = np.float32(values.min())
    if not lowered.max() >= edge:  # the bounds alone would mostly refuse such a row; this keeps the floats exact
        return None, 0.0
    scaled = apply_temperature(np.append(lowered.astype(np.float32), edge)[None], temperature)[0]
    return scaled[:-1], float(scaled[-1])


def top_p_only(params: SamplingParams) -> bool:
    """True for settings `sample_top_p` may decide from the candidates: top-p with neither top-k, a penalty nor
    banned ids."""
    return _plain(params) and params.top_p < 1.0


def sample_top_p(
    values: np.ndarray,
    ids: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    vocab_size: int,
    expsum: np.ndarray | None = None,
    lowered: np.ndarray | None = None,
) -> np.ndarray | None:
    """One token id per row from the k largest logits `values` [B, k] and their `ids` when they decide top-p's cut
    for every row (see the module's docstring); None, with `rng` untouched, when one row needs its whole logits.
    `expsum` [B]: each whole row's sum of exp(logit - its largest), when the graph outputs it. `lowered` [B, k]:
    the candidates after banned ids and the penalty (`lower`), when the settings have them."""
    values = np.asarray(values, dtype=np.float32)
    lowered = values if lowered is None else lowered
    sums = _row_sums(values, expsum)
    if sums is None:
        return None
    rows = []
    for row_values, row_lowered, row_ids, row_sum in zip(values, lowered, ids, sums):
        row_ids = np.asarray(row_ids, dtype=np.int64)
        kept = _kept_by_top_p(row_values, row_lowered, row_ids, params, vocab_size, row_sum)
        if kept is None:
            return None
        rows.append(kept)
    u = rng.random(len(rows))  # the one uniform number per row that `sample` draws
    return np.array([kept_ids[draw(kept, x)] for (kept, kept_ids), x in zip(rows, u)], np.int64)


def temperature_only(params: SamplingParams) -> bool:
    """True for settings that keep every token (no top-k, top-p, penalty or banned ids), which `sample_temperature`
    may decide from the candidates."""
    return _plain(params) and params.top_p >= 1.0


def _plain(params: SamplingParams) -> bool:
    """Sampled, with neither top-k, a penalty nor banned ids: what the candidates may decide, top-p or not."""
    return not lowers(params) and not params.greedy and params.top_k == 0


def _row_sums(values: np.ndarray, expsum: np.ndarray | None) -> list[float | None] | None:
    """Each row's exp-sum (None without the graph's), or None when a value is NaN or infinite: the whole row's draw
    then says what went wrong."""
    if not np.isfinite(values.max(axis=1)).all() or (expsum is not None and not np.isfinite(expsum).all()):
        return None
    return [None] * len(values) if expsum is None else [float(x) for x in expsum]


def sample_temperature(
    values: np.ndarray,
    ids: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    vocab_size: int,
    expsum: np.ndarray | None = None,
    lowered: np.ndarray | None = None,
) -> np.ndarray | None:
    """One token id per row from the k largest logits `values` [B, k] and their `ids`, drawn as
    `sample(logits, params, rng, previous, first=ids)` draws over the whole row, when that draw lands on the same
    candidate whatever the tokens outside weigh (between 0 and `_outside_mass`); None, with `rng` as it was, when a
    row needs its whole logits. `expsum` [B]: each whole row's sum of exp(logit - its largest), when the graph
    outputs it. `lowered` [B, k]: the candidates after banned ids and the penalty (`lower`)."""
    values = np.asarray(values, dtype=np.float32)
    lowered = values if lowered is None else lowered
    sums = _row_sums(values, expsum)
    if sums is None:
        return None
    state = rng.bit_generator.state
    u = rng.random(len(values))  # the one uniform number per row that `sample` draws
    picks = []
    for row_values, row_lowered, row_ids, row_sum, x in zip(values, lowered, ids, sums, u):
        order = np.argsort(row_ids, kind="stable")
        scaled, _ = _framed(row_values, row_lowered[order], params.temperature)
        if scaled is None:
            rng.bit_generator.state = state
            return None
        cdf = first_cdf(scaled)
        inside = float(cdf[-1])
        below = float(row_values.max()) - float(row_lowered.max())
        outside = _outside_mass(row_values - row_values.max(), vocab_size, params.temperature, row_sum, below)
        # The row's exp-sum lies in [inside, inside + outside]; the draw's target is x times it. Decided when the
        # whole range falls on one candidate (beyond the last one, past `inside`, is the rest of the row).
        low, high = x * inside * (1 - _ROUNDING), x * (inside + outside) * (1 + _ROUNDING)
        at = int(np.searchsorted(cdf, low, side="left"))  # < k: low < inside
        if at != int(np.searchsorted(cdf, high, side="left")):
            rng.bit_generator.state = state
            return None
        picks.append(int(np.asarray(row_ids)[order][at]))
    return np.array(picks, np.int64)


def _kept_by_top_p(
    values: np.ndarray,
    lowered: np.ndarray,
    ids: np.ndarray,
    params: SamplingParams,
    vocab_size: int,
    expsum: float | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The scaled logits and ids (vocabulary order) top-p keeps of one row, or None when the tokens outside the
    candidates could change them. The row's exp-sum (at the temperature) lies between the candidates' own and that
    plus `_outside_mass`; the kept set only grows with the sum, so equal sets at both ends decide it, when every
    kept candidate lies above the tokens outside (a tie with one of a lower id would put it first)."""
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    scaled, edge = _framed(values, lowered[order], params.temperature)
    if scaled is None:
        return None
    inside = np.exp(scaled, dtype=np.float32).sum(dtype=np.float64)
    below = float(values.max()) - float(lowered.max())
    outside = _outside_mass(values - values.max(), vocab_size, params.temperature, expsum, below)
    low, high = inside * (1 - _ROUNDING), (inside + outside) * (1 + _ROUNDING)
    if inside < (params.top_p + _ROUNDING) * high:  # the cut may fall outside the candidates
        return None
    kept = top_p_of(scaled, ids, params.top_p, low)
    if not np.array_equal(kept, top_p_of(scaled, ids, params.top_p, high)):
        return None
    kept_scaled = scaled[np.searchsorted(ids, kept)]
    if vocab_size > len(ids) and not kept_scaled.min() > edge:
        return None
    return kept_scaled, kept


def _outside_mass(
    shifted: np.ndarray, vocab_size: int, temperature: float, expsum: float | None, below: float = 0.0
) -> float:
    """An upper bound on the exp-sum, at `temperature`, of the vocab_size - k tokens outside the candidates, whose
    logits less the row's largest are `shifted` (all <= 0), in the units of `apply_temperature` (largest = 1).

    With only the candidates: n tokens outside, each weighing at most the smallest candidate's x = exp(min shifted),
    hold at most n x^(1/T). With the graph's `expsum` (the whole row's sum at temperature 1) the tokens outside
    weigh s = expsum - the candidates' own at temperature 1, and their weights y_j <= x, sum(y_j) <= s give at
    temperature T: for T <= 1, y^(1/T) = y y^(1/T - 1) <= y x^(1/T - 1), so at most s x^(1/T - 1) (a confident
    row's tail is tiny at 1 and tinier at 0.6); for T > 1, y^(1/T) is concave, so at most n (s / n)^(1/T). `expsum`
    is a float32 sum of V terms <= 1, on the device in an order unknown here: its rounding error is below V times
    float32's unit roundoff of the sum (the worst case of any order), and each term's own below a few units; `s`
    takes on twice that.

    `below`: how far the row's largest logit after banned ids and a penalty lies below the largest before (>= 0).
    The tokens outside only got lower, so each bound holds for them, in units exp(below / T) times larger."""
    n = vocab_size - shifted.shape[0]
    if n <= 0:
        return 0.0
    smallest = float(shifted.min())  # log x at temperature 1
    inv_t = 1.0 / max(float(np.float32(temperature)), 1e-300)
    bound = n * _exp((smallest + below) * inv_t)  # n x^(1/T), 0 once it underflows
    if expsum is None:
        return bound
    inside = float(np.exp(shifted.astype(np.float64)).sum())
    s = max(expsum * (1 + 2 * vocab_size * _F32) - inside, 0.0)
    if inv_t >= 1.0:
        tight = s * _exp((smallest + below) * inv_t - smallest)
    else:
        tight = n * _exp(inv_t * (math.log(s / n) + below)) if s > 0 else 0.0
    return min(bound, tight)


def _exp(x: float) -> float:
    """math.exp, infinite rather than an OverflowError past float64's range (an upper bound stays one)."""
    return math.exp(x) if x < 709.0 else math.inf
