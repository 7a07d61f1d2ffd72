"""Sampling functions: pure, numpy, transformers' semantics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from glm_nb.engine.sampling import (
    MaskedSampling,
    SamplingParams,
    apply_banned,
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    likely_ids,
    make_rng,
    sample,
)
from glm_nb.engine.topk_sampling import covers
from glm_nb.errors import GenerationError


def test_greedy_takes_the_argmax_per_row():
    logits = np.array([[0.1, 3.0, 0.2], [5.0, 1.0, 0.0]], np.float32)
    assert sample(logits, SamplingParams(), make_rng(0)).tolist() == [1, 0]


def test_top_k_keeps_exactly_the_k_largest():
    out = apply_top_k(np.array([[1.0, 4.0, 3.0, 2.0]], np.float32), 2)
    assert np.isinf(out[0, [0, 3]]).all() and out[0, 1] == 4.0 and out[0, 2] == 3.0


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = np.array([[0.5, 0.3, 0.15, 0.05]])
    out = apply_top_p(np.log(probs).astype(np.float32), 0.75)
    assert np.isfinite(out[0, :2]).all() and np.isinf(out[0, 2:]).all()
    # The most likely token survives even when p is tiny.
    assert np.isfinite(apply_top_p(np.log(probs).astype(np.float32), 0.01)[0, 0])


def test_repetition_penalty_follows_transformers_sign_rule():
    logits = np.array([[2.0, -2.0, 1.0]], np.float32)
    out = apply_repetition_penalty(logits, [[0, 1]], 2.0)
    assert out.tolist() == [[1.0, -4.0, 1.0]]
    assert logits.tolist() == [[2.0, -2.0, 1.0]]  # input untouched


def test_sampling_follows_the_distribution():
    logits = np.log(np.array([[0.7, 0.2, 0.1]], np.float32))
    rng = make_rng(0)
    draws = [int(sample(logits, SamplingParams(temperature=1.0), rng)[0]) for _ in range(4000)]
    freq = np.bincount(draws, minlength=3) / len(draws)
    assert np.abs(freq - [0.7, 0.2, 0.1]).max() < 0.03


def test_low_temperature_sharpens():
    logits = np.array([[1.0, 0.0]], np.float32)
    rng = make_rng(1)
    draws = [int(sample(logits, SamplingParams(temperature=0.05), rng)[0]) for _ in range(200)]
    assert sum(draws) == 0


@pytest.mark.parametrize("params", [SamplingParams(), SamplingParams(temperature=1.0), SamplingParams(top_k=2)])
def test_banned_ids_are_never_drawn(params):
    logits = np.array([[9.0, 8.0, 0.0, 1.0], [0.0, 9.0, 8.5, 1.0]], np.float32)
    banned = MaskedSampling.of(params, frozenset({0, 1}))
    rng = make_rng(0)

    draws = {int(t) for _ in range(200) for t in sample(logits, banned, rng)}

    assert sample(logits, SamplingParams(), rng).tolist() == [0, 1]  # what greedy draws unbanned
    assert draws and not draws & {0, 1}


def test_apply_banned_leaves_its_input_alone_and_ignores_ids_beyond_the_vocabulary():
    logits = np.array([[1.0, 2.0, 3.0]], np.float32)

    out = apply_banned(logits, frozenset({1, 99}))

    assert out[0, 0] == 1.0 and np.isneginf(out[0, 1]) and out[0, 2] == 3.0
    assert logits.tolist() == [[1.0, 2.0, 3.0]]


def test_masked_sampling_keeps_the_settings_and_adds_to_the_bans():
    params = SamplingParams(temperature=0.7, top_k=5, seed=3, max_new_tokens=9)

    masked = MaskedSampling.of(MaskedSampling.of(params, frozenset({1})), frozenset({2}))

    assert dataclasses.asdict(params) == {k: v for k, v in dataclasses.asdict(masked).items() if k != "banned_ids"}
    assert masked.banned_ids == {1, 2}
    assert "banned_ids" not in dataclasses.asdict(params)  # what a notebook records of the settings is unchanged


@pytest.mark.parametrize("banned", [{1}, frozenset({-1}), frozenset({True})])
def test_banned_ids_must_be_a_frozenset_of_token_ids(banned):
    with pytest.raises(ValueError, match="banned_ids must be a frozenset of token ids"):
        MaskedSampling(banned_ids=banned)


def test_a_device_top_k_never_decides_a_draw_with_banned_ids():
    assert covers(SamplingParams(), 8)
    assert not covers(MaskedSampling(banned_ids=frozenset({3})), 8)  # a banned id may fill the whole top k


@pytest.mark.parametrize(
    "bad",
    [
        dict(temperature=-1),
        dict(top_p=0),
        dict(top_p=1.5),
        dict(top_k=-1),
        dict(max_new_tokens=0),
    ],
)
def test_invalid_parameters_are_rejected_with_the_valid_range(bad):
    with pytest.raises(ValueError, match="must be"):
        SamplingParams(**bad)


@pytest.mark.parametrize("temperature", [1e-38, 1e-44, 1e-50])
def test_a_tiny_temperature_samples_the_argmax_rather_than_overflowing(temperature):
    logits = np.array([[1.0, 5.0, 3.0, 4.0], [-2.0, -3.0, -1.0, -9.0]], np.float32)
    rng = make_rng(0)
    # 5 / 1e-40 overflowed to inf, the softmax to NaN, and the draw fell to token 0.
    draws = [sample(logits, SamplingParams(temperature=temperature, top_p=0.9), rng).tolist() for _ in range(20)]
    assert draws == [[1, 2]] * 20


# -- the draw without sorting the vocabulary -------------------------------------------------------------------------
def _masked_row_draw(logits, params, rng):
    """The definition `sample` must keep: mask the whole row, then invert the CDF. Weights are exp in float32 summed
    in float64, as `sample` computes them: a cut at p = 0.99 over ~3,000 probabilities moves with the rounding of
    the exp (float64 weights here drew one token of 180 differently under numpy 1.26, whose float32 exp rounds
    otherwise than numpy 2's), and in float32 sums with the rounding of the sum."""
    masked = apply_top_k(apply_temperature(logits, params.temperature), params.top_k)
    weights = np.exp(masked, dtype=np.float32).astype(np.float64)
    if params.top_p < 1.0:  # apply_top_p's rule over these weights: the most likely first, ties to the lower id
        order = np.argsort(-masked, axis=1, kind="stable")
        probs = np.take_along_axis(weights, order, axis=1) / weights.sum(axis=1, keepdims=True)
        drop = np.zeros_like(probs, dtype=bool)
        np.put_along_axis(drop, order, (np.cumsum(probs, axis=1) - probs) >= params.top_p, axis=1)
        drop[np.arange(len(order)), order[:, 0]] = False
        weights = np.where(drop, 0.0, weights)
    cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(cdf.shape[0])[:, None]
    return np.minimum((cdf < u * cdf[:, -1:]).sum(axis=1), cdf.shape[1] - 1)


@pytest.mark.parametrize(
    "settings",
    [
        dict(temperature=1.0),
        dict(temperature=0.6, top_p=0.8),  # the chat preset
        dict(temperature=0.6, top_p=0.95, top_k=40),  # the Z1 preset
        dict(temperature=0.95, top_p=0.7),  # Rumination's
        dict(temperature=1.3, top_p=0.3),
        dict(temperature=0.9, top_k=7),
        dict(temperature=2.0, top_p=0.99),
    ],
)
def test_sample_draws_what_masking_the_whole_row_draws(settings):
    params = SamplingParams(**settings)
    for seed in range(30):
        for scale in (0.5, 3.0, 12.0):  # nearly flat to sharply peaked
            logits = np.random.default_rng(seed).normal(scale=scale, size=(2, 3000)).astype(np.float32)
            logits[:, ::5] = np.round(logits[:, ::5])  # ties, which go to the lower id
            want = _masked_row_draw(logits, params, make_rng(seed))
            assert sample(logits, params, make_rng(seed)).tolist() == want.tolist(), (seed, scale)


def test_top_p_sorts_only_the_tokens_that_can_reach_its_cut():
    rng = np.random.default_rng(3)
    for _ in range(20):
        scaled = apply_temperature(rng.normal(scale=4.0, size=(1, 50_000)).astype(np.float32), 0.6)[0]
        total = np.exp(scaled.astype(np.float64)).sum()
        ids = likely_ids(scaled, 0.8, total)
        assert np.exp(scaled[ids].astype(np.float64)).sum() >= 0.8 * total  # the cut falls inside
        assert np.all(scaled[np.setdiff1d(np.arange(scaled.size), ids)] < scaled[ids].min())  # the most likely
        assert len(ids) < scaled.size // 10


@pytest.mark.parametrize(
    "params", [SamplingParams(), SamplingParams(temperature=0.7, top_p=0.8), SamplingParams(temperature=0.7, top_k=5)]
)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_logits_that_overflowed_are_refused_with_what_to_do(params, bad):
    logits = np.random.default_rng(0).normal(size=(2, 50)).astype(np.float32)
    logits[1, 3] = bad
    with pytest.raises(GenerationError, match=r"row 1\): its computation overflowed.*bf16 or fp32"):
        sample(logits, params, make_rng(0))


def test_a_row_with_every_token_banned_says_so():
    params = MaskedSampling(temperature=0.7, top_p=0.8, banned_ids=frozenset(range(10)))
    with pytest.raises(GenerationError, match="Every token of row 0 is banned"):
        sample(np.zeros((1, 10), np.float32), params, make_rng(0))
