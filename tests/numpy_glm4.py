"""A plain numpy forward pass of GLM-4 (FORMAT.md "One decoder layer"), for checking graphs whose weights are
not the checkpoint's (int4: the dequantized weights). Full-sequence, no cache, float64 for a clean reference."""

from __future__ import annotations

import numpy as np

from glm_nb.engine.rope import inverse_frequencies
from glm_nb.models import Glm4Spec


def _rms(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def _rotate(x, cos, sin, rot):
    """Interleaved partial rotary on x [heads, S, D]: pairs (2i, 2i+1) of the first `rot` dims."""
    out = x.copy()
    even, odd = x[..., 0:rot:2], x[..., 1:rot:2]
    out[..., 0:rot:2] = even * cos - odd * sin
    out[..., 1:rot:2] = odd * cos + even * sin
    return out


def forward(spec: Glm4Spec, weights: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """Logits [S, V] for token ids. `weights` maps HF names to float arrays (linear weights [out, in])."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    s, n = spec, len(ids)
    eps, d, rot = s.rms_norm_eps, s.head_dim, s.rotary_dim
    inv_freq, scale = inverse_frequencies(spec)
    angles = np.outer(np.arange(n), inv_freq.astype(np.float64))
    cos, sin = np.cos(angles) * scale, np.sin(angles) * scale
    mask = np.triu(np.full((n, n), -np.inf), 1)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(s.num_layers):
        p = f"model.layers.{i}."
        h = _rms(x, w[p + "input_layernorm.weight"], eps)
        q, k, v = (h @ w[p + f"self_attn.{t}_proj.weight"].T + w[p + f"self_attn.{t}_proj.bias"] for t in "qkv")
        q = _rotate(q.reshape(n, s.num_heads, d).transpose(1, 0, 2), cos, sin, rot)
        k = _rotate(k.reshape(n, s.num_kv_heads, d).transpose(1, 0, 2), cos, sin, rot)
        v = v.reshape(n, s.num_kv_heads, d).transpose(1, 0, 2)
        group = s.num_heads // s.num_kv_heads
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        att = q @ k.transpose(0, 2, 1) / np.sqrt(d) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        a = (att @ v).transpose(1, 0, 2).reshape(n, -1) @ w[p + "self_attn.o_proj.weight"].T
        x = x + _rms(a, w[p + "post_self_attn_layernorm.weight"], eps)
        h = _rms(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = np.split(h @ w[p + "mlp.gate_up_proj.weight"].T, 2, axis=-1)
        m = (up * gate / (1 + np.exp(-gate))) @ w[p + "mlp.down_proj.weight"].T
        x = x + _rms(m, w[p + "post_mlp_layernorm.weight"], eps)
    return _rms(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T
