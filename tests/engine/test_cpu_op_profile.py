"""benchmarks/cpu_op_profile.py: glm-nb's decode step profiled as the Generator binds it, counted op type by op type."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import onnx
import onnxruntime as ort

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _script():
    sys.path.insert(0, str(BENCHMARKS))  # it imports cpu_decode from beside it
    try:
        spec = importlib.util.spec_from_file_location("cpu_op_profile", BENCHMARKS / "cpu_op_profile.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_profile_counts_every_node_of_a_decode_step(tiny, tmp_path):
    profile = _script()
    session, step = profile.glm_step(tiny.out, context=12, profile_prefix=str(tmp_path / "glm"), buffer=64)
    for _ in range(5):
        step()
    table = profile.by_op(session.end_profiling())
    # What ONNX Runtime runs after its own fusions, node for node: an optimized copy of the same graph.
    options = profile.options(None)
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(tiny.out / "model.onnx"), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(tmp_path / "optimized.onnx", load_external_data=False)
    nodes = Counter(n.op_type for n in optimized.graph.node)
    assert {op: count for op, (_, count) in table.items()} == dict(nodes)
    assert nodes["GroupQueryAttention"] == table["GroupQueryAttention"][1] > 0
    assert table["MatMul"][1] == nodes["MatMul"] and all(us > 0 for us, _ in table.values())
