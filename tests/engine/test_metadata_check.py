"""A glm_nb.json that contradicts its model.onnx is refused at load, naming the field, before ONNX Runtime runs."""

from __future__ import annotations

import json
import shutil

import pytest

from glm_nb.engine import Engine, convert
from glm_nb.engine import engine as engine_module
from glm_nb.engine.metadata import METADATA_FILE, ModelMetadata
from glm_nb.engine.metadata_check import disagreements, read_graph
from glm_nb.errors import ModelLoadError


def edited_copy(model, tmp_path, **changes):
    """A copy of `model`'s converted folder whose glm_nb.json has `changes` applied."""
    out = shutil.copytree(model.out, tmp_path / "model")
    meta = json.loads((out / METADATA_FILE).read_text())
    meta.update(changes)
    (out / METADATA_FILE).write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_a_conversion_agrees_with_its_own_graph(fixture, request):
    out = request.getfixturevalue(fixture).out
    assert disagreements(ModelMetadata.load(out), read_graph(out / "model.onnx")) == []


def test_an_int4_conversion_agrees_with_its_own_graph(tiny, tmp_path):
    out = convert(tiny.src, tmp_path / "int4", precision="int4", progress=False)
    assert disagreements(ModelMetadata.load(out), read_graph(out / "model.onnx")) == []


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("num_layers", 3, "num_layers is 3 there but 2 in the graph"),
        ("num_kv_heads", 4, "num_kv_heads is 4 there but 2 in the graph"),
        ("head_dim", 64, "head_dim is 64 there but 32 in the graph"),
        ("vocab_size", 421, "vocab_size is 421 there but 420 in the graph"),
        ("max_length", 4096, "max_length is 4096 there but 256 in the graph"),
        ("precision", "int4", "precision is 'int4' there but 'fp32' in the graph"),
        ("compute_dtype", "bf16", "compute_dtype is 'bf16' there but 'fp32' in the graph"),
        ("rotary", "rotary_embedding", "rotary is 'rotary_embedding' there but 'gqa' in the graph"),
        ("stop_ids", [0, 420], "stop_ids / pad_id hold 420, not a token id of the graph's vocabulary"),
    ],
)
def test_an_edited_field_is_named_with_what_to_do(tiny, tmp_path, field, value, says):
    out = edited_copy(tiny, tmp_path, **{field: value})
    with pytest.raises(ModelLoadError) as caught:
        Engine.load(out, device="cpu")
    message = str(caught.value)
    assert says in message and f"{METADATA_FILE} does not describe the model.onnx" in message
    assert (
        f"`glm-nb convert CHECKPOINT -o {out}`" in message
        and f"names {tiny.src.resolve()} as the checkpoint" in message
    )
    assert message.count(" there but ") <= 1  # only the edited field, not a cascade of others


def test_an_edited_input_or_output_list_is_named(tiny, tmp_path):
    meta = json.loads((tiny.out / METADATA_FILE).read_text())
    inputs = {k: v for k, v in meta["inputs"].items() if k != "logits_index"}
    outputs = {**meta["outputs"], "topk_values": [1, ["batch", "num_logits", 64]]}
    out = edited_copy(tiny, tmp_path, inputs=inputs, outputs=outputs)
    with pytest.raises(ModelLoadError) as caught:
        Engine.load(out, device="cpu")
    assert "inputs lacks the graph's logits_index int64 [batch, num_logits]" in str(caught.value)
    assert "outputs lists topk_values, which the graph does not have" in str(caught.value)


def test_an_input_list_that_is_not_a_mapping_is_named(tiny, tmp_path):
    out = edited_copy(tiny, tmp_path, inputs=["input_ids"])
    with pytest.raises(ModelLoadError, match="inputs is list, not a mapping of names"):
        Engine.load(out, device="cpu")


def test_the_json_of_another_conversion_is_refused(tiny, tiny_hd16, tmp_path):
    other = json.loads((tiny_hd16.out / METADATA_FILE).read_text())
    out = edited_copy(tiny, tmp_path, **other)
    with pytest.raises(
        ModelLoadError, match="head_dim is 16 there but 32 in the graph.*rotary is 'rotary_embedding'"
    ):
        Engine.load(out, device="cpu")


def test_the_check_runs_before_a_session_is_made(tiny, tmp_path, monkeypatch):
    out = edited_copy(tiny, tmp_path, num_kv_heads=4)
    monkeypatch.setattr(engine_module, "_open_session", lambda *a, **k: pytest.fail("a session was made first"))
    with pytest.raises(ModelLoadError, match="num_kv_heads"):
        Engine.load(out, device="cpu")
