"""Rotary position tables for GLM-4: plain and YaRN, computed exactly as transformers 5.x does.

GLM-4 rotates only the first `rotary_dim = head_dim * partial_rotary_factor` dims of each head, in
*interleaved* pairs (2i, 2i+1) by frequency i (FORMAT.md, "One decoder layer"). ONNX Runtime's
GroupQueryAttention / RotaryEmbedding take half-width caches: cos[p, i] = cos(p * inv_freq[i]) * attention_factor,
shape [max_len, rotary_dim / 2].

YaRN follows transformers' `_compute_yarn_parameters` (modeling_rope_utils.py): blend of interpolated
(/factor) and original frequencies over a linear ramp between the correction dims for beta_fast / beta_slow,
and cos/sin multiplied by `attention_factor = 0.1 ln(factor) + 1` unless the config gives one.
"""

from __future__ import annotations

import math

import numpy as np

from ..models import Glm4Spec

__all__ = ["inverse_frequencies", "cos_sin_cache"]


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn(inv_base: np.ndarray, dim: int, base: float, params: dict, max_pos: int) -> tuple[np.ndarray, float]:
    factor = params.get("factor") or max_pos / params["original_max_position_embeddings"]
    original = params["original_max_position_embeddings"]
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        mscale, mscale_all = params.get("mscale"), params.get("mscale_all_dim")
        if mscale and mscale_all:
            attention_factor = _yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all)
        else:
            attention_factor = _yarn_mscale(factor)
    beta_fast = params.get("beta_fast") or 32
    beta_slow = params.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if params.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # as transformers: avoid a zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1)
    extrapolation = 1 - ramp  # 1 = keep the original frequency, 0 = interpolate
    inv = (inv_base / factor) * (1 - extrapolation) + inv_base * extrapolation
    return inv.astype(np.float32), float(attention_factor)


def inverse_frequencies(spec: Glm4Spec) -> tuple[np.ndarray, float]:
    """(inv_freq [rotary_dim / 2] float32, attention_factor) for this model's rotary embedding."""
    dim = spec.rotary_dim
    base = spec.rope.theta
    # Same op order and dtype as torch: base ** (arange(0, dim, 2).float() / dim), in float32.
    exponents = np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)
    pos_freqs = np.power(np.float32(base), exponents, dtype=np.float32)
    inv_base = (np.float32(1.0) / pos_freqs).astype(np.float32)
    if spec.rope.rope_type == "yarn":
        return _yarn(inv_base, dim, base, spec.rope.scaling, spec.max_position_embeddings)
    return inv_base, 1.0


def cos_sin_cache(spec: Glm4Spec, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-width cos and sin caches, [max_len, rotary_dim / 2] float32, attention factor folded in."""
    inv_freq, attention_factor = inverse_frequencies(spec)
    positions = np.arange(max_len, dtype=np.float32)
    freqs = np.outer(positions, inv_freq).astype(np.float32)  # [max_len, rot/2]
    cos = (np.cos(freqs) * np.float32(attention_factor)).astype(np.float32)
    sin = (np.sin(freqs) * np.float32(attention_factor)).astype(np.float32)
    return cos, sin
