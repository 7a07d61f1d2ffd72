"""A memory-mapped reader of `.safetensors` files that hands out one tensor at a time as numpy.

Why our own reader: numpy has no bfloat16, and the `safetensors` package's numpy backend refuses bf16 files;
GLM-4-0414 checkpoints are bf16. We map the file, read the JSON header, and widen bf16 to fp32 one tensor at a
time, so converting a 9B checkpoint never holds more than one tensor (plus its converted copy) in memory.

File layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, N bytes of
JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the raw data,
offsets relative to the end of the header.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError

__all__ = ["SafetensorsFile", "LazyTensor", "bf16_to_fp32"]

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": np.uint16,  # widened by bf16_to_fp32
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_MAX_HEADER = 100 * 1024 * 1024


def bf16_to_fp32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 stored as uint16 -> float32 (exact: bf16 is the top half of an fp32)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


class LazyTensor:
    """A tensor left in the mapped file: `shape`, and slicing (`t[a:b]`, `t[:, a:b]`) that reads and widens
    only the slice. Lets the converter stream a 150k x 4096 embedding in chunks instead of widening it whole."""

    def __init__(self, path: Path, offset: int, dtype: str, shape: tuple[int, ...]):
        self.path, self.offset, self.dtype, self.shape = path, offset, dtype, shape

    def __getitem__(self, index) -> np.ndarray:
        array = np.memmap(self.path, dtype=_DTYPES[self.dtype], mode="r", offset=self.offset, shape=self.shape)
        part = array[index]
        return bf16_to_fp32(part) if self.dtype == "BF16" else np.array(part)


def _count(value: Any) -> bool:
    """A non-negative whole number as JSON gives it (not a bool, a float or a string)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class SafetensorsFile:
    """One `.safetensors` file, memory-mapped. `tensor(name)` returns a read-only array (bf16 widened to fp32)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                raw_len = f.read(8)
                if len(raw_len) < 8:
                    raise CheckpointError(self._damaged("it is shorter than a safetensors header"))
                (header_len,) = struct.unpack("<Q", raw_len)
                if header_len > min(_MAX_HEADER, size - 8):
                    raise CheckpointError(self._damaged("its header length is impossible"))
                header = json.loads(f.read(header_len))
        except OSError as e:
            raise CheckpointError(f"Cannot read {self.path}: {e}. Check the file exists and is readable.") from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(self._damaged("its JSON header does not parse")) from e
        if not isinstance(header, dict):
            raise CheckpointError(self._damaged("its header is not a JSON object"))
        header.pop("__metadata__", None)
        self._data_start = 8 + header_len
        self._entries: dict[str, dict] = header
        data_size = size - self._data_start
        for name, entry in header.items():
            self._check_entry(name, entry, data_size)
        ranges = sorted((e["data_offsets"][0], e["data_offsets"][1], name) for name, e in header.items())
        for (_, end, before), (begin, _, name) in zip(ranges, ranges[1:]):
            if begin < end:
                raise CheckpointError(self._damaged(f"tensors {before!r} and {name!r} share bytes"))

    def _check_entry(self, name: str, entry: Any, data_size: int) -> None:
        """Each tensor's dtype, shape and byte range must agree, as transformers' loader requires: offsets that
        overlap another tensor or a shape larger than its bytes would read the wrong weights."""
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise CheckpointError(self._damaged(f"tensor {name!r} lacks its dtype, shape or offsets"))
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise CheckpointError(
                f"{self.path}: tensor {name!r} is stored as {dtype!r}, which glm-nb cannot read (it reads "
                f"{', '.join(_DTYPES)}). An FP8 or otherwise quantized checkpoint cannot be converted: convert the "
                "original bf16 checkpoint (such as THUDM/GLM-4-9B-0414) instead."
            )
        if not (isinstance(shape, list) and all(_count(n) for n in shape)):
            raise CheckpointError(self._damaged(f"tensor {name!r} has the shape {shape!r}"))
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(n) for n in offsets)):
            raise CheckpointError(self._damaged(f"tensor {name!r} has the offsets {offsets!r}"))
        begin, end = offsets
        if end > data_size:
            raise CheckpointError(
                self._damaged(f"tensor {name!r} ends at byte {end} but only {data_size} data bytes are there")
            )
        expected = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize  # BF16 is stored as uint16
        if end - begin != expected:
            raise CheckpointError(
                self._damaged(
                    f"tensor {name!r} of shape {shape} in {dtype} needs {expected} bytes, its offsets "
                    f"give {end - begin}"
                )
            )

    def _damaged(self, why: str) -> str:
        return (
            f"{self.path} is damaged or truncated ({why}). Download the checkpoint again "
            "(an interrupted download leaves truncated shards)."
        )

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entries[name]["shape"])

    def dtype(self, name: str) -> str:
        return self._entries[name]["dtype"]

    def lazy(self, name: str) -> LazyTensor:
        entry = self._entries[name]
        return LazyTensor(
            self.path, self._data_start + entry["data_offsets"][0], entry["dtype"], tuple(entry["shape"])
        )

    def tensor(self, name: str) -> np.ndarray:
        """The tensor as numpy; bf16 becomes fp32, other dtypes are a read-only view of the mapped file.

        Each call maps only this tensor's bytes; the mapping goes away with the returned array, so pages read
        during a conversion do not pile up in the process's resident memory.
        """
        entry = self._entries[name]
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        dtype = _DTYPES[entry["dtype"]]
        if end == begin:
            return np.zeros(shape, dtype=np.float32 if entry["dtype"] == "BF16" else dtype)
        array = np.memmap(self.path, dtype=dtype, mode="r", offset=self._data_start + begin, shape=shape)
        if entry["dtype"] == "BF16":
            return bf16_to_fp32(array)
        return array
