"""Check that onnxruntime's CUDA provider really runs here: versions, the provider a one-node session ends up on,
the card. Exits non-zero, saying what to check, when it fell back to the CPU (onnxruntime-gpu does so silently)."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

CUDA = "CUDAExecutionProvider"


def _one_node_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "check", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model.SerializeToString()


def main() -> int:
    print(f"onnxruntime {ort.__version__} from {ort.__file__}; providers: {', '.join(ort.get_available_providers())}")
    if CUDA not in ort.get_available_providers():
        print("error: this onnxruntime has no CUDA provider: is the GPU wheel first on PYTHONPATH?", file=sys.stderr)
        return 1
    session = ort.InferenceSession(_one_node_model(), providers=[CUDA, "CPUExecutionProvider"])
    used = session.get_providers()
    y = session.run(None, {"x": np.ones(4, np.float16)})[0]
    print(f"session providers: {', '.join(used)}; 1 + 1 = {y[0]}")
    if used[0] != CUDA:
        print("error: the CUDA provider did not start (it fell back to the CPU); check LD_LIBRARY_PATH holds the "
              "CUDA 13 cuBLAS / cuDNN / runtime libraries (the nvidia-* packages)", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
