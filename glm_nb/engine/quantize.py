"""int4 block quantization in the layout of ONNX Runtime's `com.microsoft.MatMulNBits`.

For a linear layer y = x @ W.T with W: [N, K] (the Hugging Face layout), each row of W is cut into blocks of
`block_size` along K. Per block: asymmetric 4-bit, the range widened to include 0,
    scale = (max - min) / 15,  zero_point = round(-min / scale),  q = clip(round(w / scale) + zero_point, 0, 15)
and dequantization is w' = (q - zero_point) * scale. Packing (MatMulNBits' documented layout): B is uint8
[N, k_blocks, block_size / 2], two values a byte, the even element in the low nibble; zero points are packed the
same way per row, [N * ceil(k_blocks / 2)]; scales are [N * k_blocks].

Symmetric (`symmetric=True`): scale = max|w| / 7, q = clip(round(w / scale), -8, 7) + 8 and no zero points, which
MatMulNBits then takes as 8. The form ONNX Runtime's compact weight-only CUDA kernels (fpA_intB) accept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Int4Weight", "quantize_int4", "dequantize_int4"]


@dataclass(frozen=True)
class Int4Weight:
    packed: np.ndarray  # uint8 [N, k_blocks, block_size // 2]
    scales: np.ndarray  # float32 [N * k_blocks]
    zero_points: np.ndarray | None  # uint8 [N * ceil(k_blocks / 2)]; None: symmetric, every zero point 8
    n: int
    k: int
    block_size: int


def _pack_nibbles(values: np.ndarray) -> np.ndarray:
    """uint8 values 0..15, last axis even-length -> bytes (even index low nibble)."""
    return (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)


def quantize_int4(weight: np.ndarray, block_size: int = 32, symmetric: bool = False) -> Int4Weight:
    """Quantize W [N, K] (float) to MatMulNBits int4 blocks."""
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, got {block_size}")
    n, k = weight.shape
    k_blocks = -(-k // block_size)
    w = np.zeros((n, k_blocks * block_size), dtype=np.float32)
    w[:, :k] = weight
    w = w.reshape(n, k_blocks, block_size)
    if symmetric:
        scale = np.abs(w).max(axis=2) / 7.0
        scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
        q = (np.clip(np.round(w / scale[..., None]), -8, 7) + 8).astype(np.uint8)
        return Int4Weight(_pack_nibbles(q), scale.reshape(-1), None, n, k, block_size)
    lo = np.minimum(w.min(axis=2), 0.0)
    hi = np.maximum(w.max(axis=2), 0.0)
    scale = (hi - lo) / 15.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)  # an all-zero block: any scale works
    zero_point = np.clip(np.round(-lo / scale), 0, 15).astype(np.uint8)  # [N, k_blocks]
    q = np.clip(np.round(w / scale[..., None]) + zero_point[..., None], 0, 15).astype(np.uint8)
    zp = zero_point if k_blocks % 2 == 0 else np.pad(zero_point, ((0, 0), (0, 1)))
    return Int4Weight(
        packed=_pack_nibbles(q),
        scales=scale.reshape(-1),
        zero_points=_pack_nibbles(zp).reshape(-1),
        n=n,
        k=k,
        block_size=block_size,
    )


def dequantize_int4(q: Int4Weight) -> np.ndarray:
    """The float32 W [N, K] that MatMulNBits computes with (the reference for tests)."""
    low = q.packed & 0x0F
    high = q.packed >> 4
    values = np.stack([low, high], axis=-1).reshape(q.n, -1, q.block_size).astype(np.float32)
    k_blocks = values.shape[1]
    if q.zero_points is None:
        zp = np.full((q.n, k_blocks), 8.0, dtype=np.float32)
    else:
        zp_bytes = q.zero_points.reshape(q.n, -1)
        zp = np.stack([zp_bytes & 0x0F, zp_bytes >> 4], axis=-1).reshape(q.n, -1)[:, :k_blocks].astype(np.float32)
    scales = q.scales.reshape(q.n, k_blocks)
    w = (values - zp[..., None]) * scales[..., None]
    return w.reshape(q.n, -1)[:, : q.k]
