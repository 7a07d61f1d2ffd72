"""Bad input gets a GlmError that says what to do, and nothing half-written is left behind."""

from __future__ import annotations

import json
import shutil

import pytest

from glm_nb.engine import Engine, Generator, SamplingParams, convert
from glm_nb.errors import (
    CheckpointError,
    ConversionError,
    GenerationError,
    GlmError,
    ModelLoadError,
    SamplingError,
)


def copy_checkpoint(tiny, tmp_path):
    dst = tmp_path / "ckpt"
    shutil.copytree(tiny.src, dst)
    return dst


def assert_nothing_written(tmp_path):
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_folder_without_config_json(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        convert(tmp_path / "empty", tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_another_architecture(tiny, tmp_path):
    src = copy_checkpoint(tiny, tmp_path)
    config = json.loads((src / "config.json").read_text())
    config.update(architectures=["LlamaForCausalLM"], model_type="llama")
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="LlamaForCausalLM model, not Glm4ForCausalLM"):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_missing_shard(tmp_path):
    from tiny_checkpoint import make_tiny_checkpoint

    src = make_tiny_checkpoint(tmp_path / "sharded", max_shard_size="40KB")
    shard = sorted(src.glob("model-*.safetensors"))[1]
    shard.unlink()
    with pytest.raises(CheckpointError, match=f"missing shard.*{shard.name}"):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_truncated_safetensors(tiny, tmp_path):
    src = copy_checkpoint(tiny, tmp_path)
    weights = src / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.*Download the checkpoint again"):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_unknown_precision(tiny, tmp_path):
    with pytest.raises(ConversionError, match="choose one of fp32, fp16, bf16, int4"):
        convert(tiny.src, tmp_path / "out", precision="int3", progress=False)
    assert_nothing_written(tmp_path)


def test_failure_midway_keeps_an_existing_output_and_leaves_no_partial_folder(tiny, tmp_path, monkeypatch):
    out = convert(tiny.src, tmp_path / "out", progress=False)
    before = sorted(p.name for p in out.iterdir())

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("glm_nb.engine.conversion.shutil.copy2", explode)
    with pytest.raises(OSError, match="disk full"):
        convert(tiny.src, out, precision="int4", progress=False)
    assert sorted(p.name for p in out.iterdir()) == before
    assert json.loads((out / "glm_nb.json").read_text())["precision"] == "fp32"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_corrupted_model_onnx(tiny, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny.out, broken)
    (broken / "model.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelLoadError, match="convert the checkpoint again"):
        Engine.load(broken, device="cpu")


def test_loading_a_folder_that_is_not_a_converted_model(tiny):
    with pytest.raises(ModelLoadError, match="glm-nb convert"):
        Engine.load(tiny.src, device="cpu")


def test_half_precision_model_without_cuda_says_what_to_convert_instead(tiny, tmp_path):
    out = convert(tiny.src, tmp_path / "fp16", precision="fp16", progress=False)
    with pytest.raises(ModelLoadError, match="--precision fp32"):
        Engine.load(out, device="cpu")


def test_every_error_is_a_glm_error():
    assert all(issubclass(e, GlmError) for e in (CheckpointError, ConversionError, ModelLoadError))


def test_unknown_int4_kernel_names_the_choices(tiny):
    with pytest.raises(ModelLoadError, match="auto, fpa_intb, stock"):
        Engine.load(tiny.out, device="cpu", int4_kernel="fast")


@pytest.mark.parametrize("ids", [[5, -1], [5, 10**6]])
def test_a_token_id_outside_the_vocabulary_is_refused_before_the_graph_runs(tiny, ids):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=2))
    with pytest.raises(GenerationError, match=f"Token id {ids[1]} is outside this model's vocabulary"):
        gen.set_prompt(ids)
    assert gen.tokens == []  # nothing was appended
    gen.set_prompt([5, 6])  # and the generator still works
    gen.generate_next_token()
    assert len(gen.tokens) == 3


def test_an_empty_prompt_says_so(tiny):
    with pytest.raises(GenerationError, match="The prompt is empty"):
        Generator(tiny.engine).set_prompt([])


def test_a_sampling_setting_out_of_range_is_a_glm_error_and_a_value_error():
    with pytest.raises(SamplingError, match=r"top_p must be in \(0, 1\]") as caught:
        SamplingParams(top_p=1.5)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, GlmError)


def test_an_output_folder_of_other_files_or_the_checkpoint_itself_is_never_replaced(tiny, tmp_path):
    src = copy_checkpoint(tiny, tmp_path)
    before = sorted(p.name for p in src.iterdir())
    with pytest.raises(ConversionError, match="is the checkpoint folder itself"):
        convert(src, src, progress=False)
    assert sorted(p.name for p in src.iterdir()) == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ConversionError, match="not a glm-nb model folder"):
        convert(src, other, progress=False)
    assert (other / "keep.txt").read_text() == "mine"
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(ConversionError, match="not a glm-nb model folder"):
        convert(src, tmp_path / "a_file", progress=False)
    assert (tmp_path / "a_file").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    done = convert(src, tmp_path / "empty", progress=False)  # an empty folder, then an earlier conversion, are fine
    assert convert(src, done, progress=False) == done and (done / "glm_nb.json").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"max_length": 0}, "max_length must be between 2 and the checkpoint's max_position_embeddings"),
        ({"max_length": 10**8}, r"max_position_embeddings \(256\), got 100000000"),
        ({"precision": "int4", "int4_block_size": 24}, "int4_block_size must be a power of two"),
    ],
)
def test_options_out_of_range_are_refused_before_anything_is_written(tiny, tmp_path, options, reason):
    with pytest.raises(ConversionError, match=reason):
        convert(tiny.src, tmp_path / "out", progress=False, **options)
    assert_nothing_written(tmp_path)


def test_an_output_that_cannot_be_written_is_a_conversion_error(tiny, tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConversionError, match="choose a folder you can write to"):
        convert(tiny.src, tmp_path / "a_file" / "model", progress=False)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"temperature": float("nan")}, "temperature must be a finite number"),
        ({"top_p": float("inf")}, "top_p must be a finite number"),
        ({"repetition_penalty": float("nan")}, "repetition_penalty must be a finite number"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_sampling_settings_a_draw_cannot_use_are_refused(options, reason):
    with pytest.raises(SamplingError, match=reason):
        SamplingParams(**options)
