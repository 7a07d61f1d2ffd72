"""A small ONNX graph builder that streams initializers to one external-data file as they are added.

The graph proto stays tiny (every weight is an external reference), and each weight is written and dropped
before the next one is read, so peak memory is about one tensor whatever the model's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["GraphWriter", "to_bf16_bits", "ONNX_DTYPES"]

ONNX_DTYPES = {
    "fp32": TensorProto.FLOAT,
    "fp16": TensorProto.FLOAT16,
    "bf16": TensorProto.BFLOAT16,
}
_NUMPY_TO_ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.uint8): TensorProto.UINT8,
}
_SMALL = 1 << 20  # tensors below 1 MiB are aligned to 64 bytes, larger ones to a 4 KiB page (mmap friendly)


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even like torch's `.to(torch.bfloat16)`."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


class GraphWriter:
    """Collects nodes, inputs and outputs; writes initializers straight to `<model>.data` next to the model."""

    def __init__(self, folder: Path, model_file: str = "model.onnx"):
        self.folder = folder
        self.model_file = model_file
        self.data_file = model_file + ".data"
        self._data: BinaryIO = open(folder / self.data_file, "wb")
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.initializers: list[TensorProto] = []
        self._counter = 0

    # -- values -------------------------------------------------------------------------------------------------
    def input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, name: str, elem_type: int, shape: list) -> str:
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def weight(self, name: str, array: np.ndarray, onnx_type: int | None = None) -> str:
        """Append `array` to the data file as initializer `name`. `onnx_type` overrides (bf16 given as uint16 bits)."""
        array = np.ascontiguousarray(array)
        elem_type = onnx_type if onnx_type is not None else _NUMPY_TO_ONNX[array.dtype]
        if array.nbytes < 64:  # scalars and tiny shape tensors stay inline
            tensor = helper.make_tensor(name, elem_type, array.shape, array.tobytes(), raw=True)
            self.initializers.append(tensor)
            return name
        align = 64 if array.nbytes < _SMALL else 4096
        offset = self._data.seek(0, 2)
        offset += (-offset) % align
        self._data.seek(offset)
        self._data.write(memoryview(array).cast("B"))
        return self._external(name, array.shape, elem_type, offset, array.nbytes)

    def weight_stream(self, name: str, shape: tuple[int, ...], onnx_type: int, chunks) -> str:
        """Write initializer `name` from consecutive C-order chunks (never the whole tensor in memory)."""
        offset = self._reserve()
        length = 0
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk)
            self._data.write(memoryview(chunk).cast("B"))
            length += chunk.nbytes
        return self._external(name, shape, onnx_type, offset, length)

    def weight_stream_columns(self, name: str, shape: tuple[int, int], onnx_type: int, blocks) -> str:
        """Write a [rows, cols] initializer from column blocks `(first_col, array[rows, n])`, each placed with
        one seek per row: a transposed weight is built from row blocks of its source, read contiguously."""
        rows, cols = shape
        offset = self._reserve()
        itemsize = None
        for first, block in blocks:
            block = np.ascontiguousarray(block)
            itemsize = block.itemsize
            for r in range(rows):
                self._data.seek(offset + (r * cols + first) * itemsize)
                self._data.write(memoryview(block[r]).cast("B"))
        length = rows * cols * (itemsize or 0)
        self._data.seek(offset + length)
        return self._external(name, shape, onnx_type, offset, length)

    def _reserve(self) -> int:
        offset = self._data.seek(0, 2)
        offset += (-offset) % 4096
        self._data.seek(offset)
        return offset

    def _external(self, name: str, shape, onnx_type: int, offset: int, length: int) -> str:
        tensor = TensorProto(name=name, data_type=onnx_type, dims=shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.data_file), ("offset", str(offset)), ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        self.initializers.append(tensor)
        return name

    def constant(self, name: str, values, dtype=np.int64) -> str:
        return self.weight(name, np.asarray(values, dtype=dtype))

    # -- nodes --------------------------------------------------------------------------------------------------
    def node(self, op: str, inputs: list[str], n_out: int = 1, *, name: str, domain: str = "", **attrs) -> list[str]:
        """Add one node named `name`; its outputs are `name/out0`, ... (or '' for skipped optional outputs)."""
        outputs = [f"{name}/out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain or None, **attrs))
        return outputs

    def rename_output(self, produced: str, final: str) -> None:
        """Make the node that produced `produced` write graph output `final` instead."""
        for node in reversed(self.nodes):
            for i, out in enumerate(node.output):
                if out == produced:
                    node.output[i] = final
                    return
        raise KeyError(produced)

    # -- finish -------------------------------------------------------------------------------------------------
    def save(self, graph_name: str, metadata: dict[str, str]) -> Path:
        self._data.close()
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
            producer_name="glm-nb",
        )
        model.ir_version = 10
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        path = self.folder / self.model_file
        onnx.save_model(model, str(path))
        return path

    def abort(self) -> None:
        if not self._data.closed:
            self._data.close()
