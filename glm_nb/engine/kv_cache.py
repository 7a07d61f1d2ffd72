"""The KV cache: one preallocated buffer per layer and per K/V, living on the execution device.

    key[i], value[i]: [B, Nkv, max_len, D]   (compute dtype)

Each buffer is bound through IOBinding as both `past_key_values.i.*` (input) and `present.i.*` (output) of the
graph. GroupQueryAttention sees the same pointer on both sides and writes the new rows in place, so a decode
step allocates and copies nothing, and its cost does not grow with the buffer's length. Rows past a sequence's
length may hold stale values: the kernel reads only up to `seqlens_k + 1`, and later tokens overwrite them.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto

from .metadata import ModelMetadata

__all__ = ["KVCache", "ORT_ELEMENT_TYPES"]

ORT_ELEMENT_TYPES = {"fp32": np.float32, "fp16": np.float16, "bf16": TensorProto.BFLOAT16}
_STORAGE = {"fp32": np.float32, "fp16": np.float16, "bf16": np.uint16}  # same-size numpy dtype for raw copies


class KVCache:
    def __init__(self, meta: ModelMetadata, batch_size: int, max_length: int, device: str, device_id: int = 0):
        self.shape = (batch_size, meta.num_kv_heads, max_length, meta.head_dim)
        element_type = ORT_ELEMENT_TYPES[meta.compute_dtype]
        # On a GPU the buffers start zeroed: attention kernels load whole tiles past a sequence's end and multiply
        # the masked rows by zero, and fresh device memory may hold NaN patterns (0 x NaN = NaN). The CPU kernel
        # reads only up to seqlens_k, so the CPU skips the memset. Bytes only: update_inplace copies raw bytes.
        zeros = None if device == "cpu" else np.zeros(self.shape, _STORAGE[meta.compute_dtype])
        self.keys: list[ort.OrtValue] = []
        self.values: list[ort.OrtValue] = []
        for _ in range(meta.num_layers):
            for store in (self.keys, self.values):
                value = ort.OrtValue.ortvalue_from_shape_and_type(list(self.shape), element_type, device, device_id)
                if zeros is not None:
                    value.update_inplace(zeros)
                store.append(value)
        self.nbytes = 2 * meta.num_layers * int(np.prod(self.shape)) * (4 if meta.compute_dtype == "fp32" else 2)

    def bind(self, binding: ort.IOBinding) -> None:
        """Bind every layer's buffer as both past input and present output of `binding`."""
        for i, (k, v) in enumerate(zip(self.keys, self.values)):
            binding.bind_ortvalue_input(f"past_key_values.{i}.key", k)
            binding.bind_ortvalue_input(f"past_key_values.{i}.value", v)
            binding.bind_ortvalue_output(f"present.{i}.key", k)
            binding.bind_ortvalue_output(f"present.{i}.value", v)
