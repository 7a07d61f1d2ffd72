"""int4 (MatMulNBits) conversion: quantization round trip and logits against a numpy reference that uses the
dequantized weights."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from glm_nb.engine import Engine, Generator, convert
from glm_nb.engine.quantize import dequantize_int4, quantize_int4
from glm_nb.models import Checkpoint

import numpy_glm4

PROMPT = [7, 30, 111, 42, 9, 250, 3, 77, 15, 100, 2, 64]


def test_quantize_round_trip_error_is_within_half_a_step():
    w = np.random.default_rng(0).normal(size=(48, 96)).astype(np.float32)
    q = quantize_int4(w, block_size=32)
    assert q.packed.shape == (48, 3, 16) and q.scales.shape == (48 * 3,) and q.zero_points.shape == (48 * 2,)
    err = np.abs(dequantize_int4(q) - w).reshape(48, 3, 32)
    assert (err <= q.scales.reshape(48, 3, 1) / 2 + 1e-6).all()


def test_symmetric_quantization_has_no_zero_points_and_the_same_error_bound():
    w = np.random.default_rng(2).normal(size=(48, 96)).astype(np.float32)
    q = quantize_int4(w, block_size=32, symmetric=True)
    assert q.zero_points is None and q.packed.shape == (48, 3, 16)
    err = np.abs(dequantize_int4(q) - w).reshape(48, 3, 32)
    assert (err <= q.scales.reshape(48, 3, 1) / 2 + 1e-6).all()
    blocks = w.reshape(48, 3, 32)
    assert np.allclose(q.scales.reshape(48, 3), np.abs(blocks).max(axis=2) / 7)  # max |w| lands on a code: +-7


def test_quantize_pads_k_that_is_not_a_multiple_of_the_block():
    w = np.random.default_rng(1).normal(size=(4, 40)).astype(np.float32)
    q = quantize_int4(w, block_size=32)
    assert dequantize_int4(q).shape == (4, 40)
    assert np.abs(dequantize_int4(q) - w).max() < 0.5


def _dequantized_weights(ckpt: Checkpoint, lm_head: bool, symmetric: bool = False) -> dict[str, np.ndarray]:
    weights = {}
    for name in ckpt._where:
        t = np.asarray(ckpt.tensor(name), np.float32)
        linear = name.endswith("proj.weight") or (lm_head and name == "lm_head.weight")
        weights[name] = dequantize_int4(quantize_int4(t, 32, symmetric)) if linear else t
    # The graph quantizes q, k, v as one packed matrix; blocks run along K, so per-row results are identical.
    return weights


@pytest.mark.parametrize("accuracy_level", [0, 4])
def test_int4_logits_match_numpy_reference_on_dequantized_weights(tiny, tmp_path, accuracy_level):
    out = convert(tiny.src, tmp_path / "int4", precision="int4", progress=False)
    if accuracy_level != 4:  # level 4 quantizes activations to int8 on CPU; level 0 computes in fp32
        model = onnx.load(str(out / "model.onnx"), load_external_data=False)
        for node in model.graph.node:
            for attr in node.attribute:
                if node.op_type == "MatMulNBits" and attr.name == "accuracy_level":
                    attr.i = accuracy_level
        onnx.save_model(model, str(out / "model.onnx"))
    ours = Generator(Engine.load(out, device="cpu"), max_length=64).score(PROMPT)
    ckpt = Checkpoint(tiny.src)
    ref = numpy_glm4.forward(ckpt.spec, _dequantized_weights(ckpt, lm_head=True), PROMPT)
    tol = 1e-3 if accuracy_level == 0 else 0.05 * np.abs(ref).max()
    assert np.abs(ours - ref).max() <= tol
    fp32_ref = numpy_glm4.forward(ckpt.spec, {n: ckpt.tensor(n) for n in ckpt._where}, PROMPT)
    assert np.abs(ours - fp32_ref).max() > 1e-3  # really quantized: differs from the float model


def test_symmetric_int4_graph_has_no_zero_points_and_matches_its_numpy_reference(tiny, tmp_path):
    out = convert(tiny.src, tmp_path / "sym", precision="int4", int4_symmetric=True, int4_accuracy_level=0,
                  progress=False)  # fmt: skip
    model = onnx.load(str(out / "model.onnx"), load_external_data=False)
    nbits = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert nbits and all(len(n.input) == 3 for n in nbits)  # A, B, scales: zero points default to 8
    ours = Generator(Engine.load(out, device="cpu"), max_length=64).score(PROMPT)
    ckpt = Checkpoint(tiny.src)
    ref = numpy_glm4.forward(ckpt.spec, _dequantized_weights(ckpt, lm_head=True, symmetric=True), PROMPT)
    assert np.abs(ours - ref).max() <= 1e-3
    asym = numpy_glm4.forward(ckpt.spec, _dequantized_weights(ckpt, lm_head=True), PROMPT)
    assert np.abs(ours - asym).max() > 1e-3  # not the asymmetric weights


def test_numpy_reference_itself_matches_the_fp32_engine(tiny):
    ckpt = Checkpoint(tiny.src)
    ref = numpy_glm4.forward(ckpt.spec, {n: ckpt.tensor(n) for n in ckpt._where}, PROMPT)
    ours = Generator(tiny.engine, max_length=64).score(PROMPT)
    assert np.abs(ours - ref).max() <= 1e-4


def test_int4_lm_head_can_stay_float(tiny, tmp_path):
    out = convert(tiny.src, tmp_path / "int4f", precision="int4", int4_lm_head=False, progress=False)
    ops = {n.name: n.op_type for n in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.node}
    assert ops["lm_head"] == "MatMul"
    assert ops["layers.0.mlp.down_proj"] == "MatMulNBits"
