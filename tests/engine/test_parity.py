"""fp32 parity of the engine with transformers' Glm4ForCausalLM (the ground truth), DESIGN.md "How we measure"."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch

import glm_nb
from glm_nb.engine import Engine, Generator, SamplingParams

from tiny_checkpoint import load_reference, make_tiny_checkpoint

TOL = 1e-4
PROMPT = [7, 30, 111, 42, 9, 250, 3, 77, 15, 100, 2, 64]


def reference_logits(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def decode_parity(tm, steps: int = 32) -> float:
    """Greedy-decode `steps` tokens with the engine; compare prefill and every step's logits with transformers."""
    gen = Generator(tm.engine, SamplingParams(max_new_tokens=steps), max_length=128)
    gen.append_tokens(PROMPT)
    worst = 0.0
    for _ in range(steps):
        seq = gen.tokens
        gen.generate_next_token()
        ours = gen._steps.buf.logits.numpy()[0, 0]
        ref = reference_logits(tm.reference, seq)[-1]
        worst = max(worst, float(np.abs(ours - ref).max()))
    return worst


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_prefill_logits_match_transformers_at_every_position(fixture, request):
    tm = request.getfixturevalue(fixture)
    ours = Generator(tm.engine, max_length=64).score(PROMPT)
    ref = reference_logits(tm.reference, PROMPT)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= TOL


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_each_of_32_decode_steps_matches_transformers(fixture, request):
    assert decode_parity(request.getfixturevalue(fixture), steps=32) <= TOL


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_greedy_tokens_equal_transformers_generate_for_64_tokens(fixture, request):
    tm = request.getfixturevalue(fixture)
    with torch.no_grad():
        ref = tm.reference.generate(
            torch.tensor([PROMPT]), max_new_tokens=64, min_new_tokens=64, do_sample=False, eos_token_id=None,
            pad_token_id=0,
        )[0, len(PROMPT) :].tolist()  # fmt: skip
    # transformers ran without stop ids; so do we
    gen = Generator(tm.engine, SamplingParams(max_new_tokens=64), max_length=128, stop_ids=())
    gen.append_tokens(PROMPT)
    while not gen.is_done():
        gen.generate_next_token()
    assert gen.tokens[len(PROMPT) :] == ref


def test_sharded_bf16_checkpoint_converts_and_matches(tmp_path):
    src = make_tiny_checkpoint(tmp_path / "bf16", dtype="bf16", max_shard_size="40KB", seed=3)
    assert (src / "model.safetensors.index.json").exists()
    out = glm_nb.convert(src, tmp_path / "bf16.onnx", progress=False)
    ours = Generator(Engine.load(out, device="cpu"), max_length=64).score(PROMPT)
    ref = reference_logits(load_reference(src), PROMPT)  # transformers widens the same bf16 weights to fp32
    assert np.abs(ours - ref).max() <= TOL


def test_yarn_matches_transformers_past_the_original_context(tmp_path):
    rope = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64, "rope_theta": 10000.0,
            "partial_rotary_factor": 0.5}  # fmt: skip
    src = make_tiny_checkpoint(tmp_path / "yarn", rope_parameters=rope, max_position_embeddings=256, seed=4)
    model = load_reference(src)
    assert model.model.rotary_emb.attention_scaling > 1.0  # transformers really applies YaRN here
    out = glm_nb.convert(src, tmp_path / "yarn.onnx", progress=False)
    ids = [int(t) for t in np.random.default_rng(0).integers(10, 400, size=150)]
    ours = Generator(Engine.load(out, device="cpu"), max_length=256).score(ids)
    ref = reference_logits(model, ids)
    assert np.abs(ours[64:] - ref[64:]).max() <= TOL


def test_negative_control_wrong_rotary_layout_fails_parity(tiny, tmp_path):
    """The parity check must be able to fail: flip GQA to non-interleaved rotary and it has to notice."""
    model = onnx.load(str(tiny.out / "model.onnx"), load_external_data=False)
    for node in model.graph.node:
        for attr in node.attribute:
            if node.op_type == "GroupQueryAttention" and attr.name == "rotary_interleaved":
                attr.i = 0
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny.out.iterdir():
        if f.name != "model.onnx":
            shutil.copy(f, broken / f.name)
    onnx.save_model(model, str(broken / "model.onnx"))
    ours = Generator(Engine.load(broken, device="cpu"), max_length=64).score(PROMPT)
    assert np.abs(ours - reference_logits(tiny.reference, PROMPT)).max() > 100 * TOL
