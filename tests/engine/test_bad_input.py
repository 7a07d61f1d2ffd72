"""Bad input gets a GlmError that says what to do, and nothing half-written is left behind."""

from __future__ import annotations

import errno
import json
import re
import shutil

import numpy as np
import pytest

from glm_nb.engine import Engine, Generator, SamplingParams, convert, open_model
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
    with pytest.raises(ConversionError, match="disk full.*nothing was written") as caught:
        convert(tiny.src, out, precision="int4", progress=False)
    assert isinstance(caught.value.__cause__, OSError)
    assert sorted(p.name for p in out.iterdir()) == before
    assert json.loads((out / "glm_nb.json").read_text())["precision"] == "fp32"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_a_full_disk_says_how_much_the_model_needs_and_how_much_is_free(tiny, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("glm_nb.engine.conversion.shutil.copy2", full)
    with pytest.raises(ConversionError) as caught:
        convert(tiny.src, tmp_path / "out", precision="fp32", progress=False)
    message = str(caught.value)
    assert f"The disk holding {tmp_path} has no room for the model (full:" in message and "No space left" in message
    needed = re.search(r"The fp32 model needs about ([\d.]+) GB there and ([\d.]+) GB is free", message)
    assert needed and float(needed.group(2)) > 0, message
    assert "--precision int4 (about" in message and "another disk" in message
    assert_nothing_written(tmp_path)


def test_a_disk_without_room_for_the_model_is_said_before_anything_is_written(tiny, tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(
        "glm_nb.engine.conversion.shutil.disk_usage", lambda path: real(path)._replace(free=1000)
    )  # 1 kB free: the tiny model takes more
    monkeypatch.setattr("glm_nb.engine.conversion.build_glm4_graph", _never_called)
    with pytest.raises(ConversionError) as caught:
        convert(tiny.src, tmp_path / "out", precision="fp32", progress=False)
    message = str(caught.value)
    assert "has no room for the model (not enough free space)" in message and "0.0 GB is free" in message
    assert_nothing_written(tmp_path)


def _never_called(*args, **kwargs):
    raise AssertionError("the conversion started writing")


def test_corrupted_model_onnx(tiny, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny.out, broken)
    (broken / "model.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelLoadError, match="convert the checkpoint again"):
        Engine.load(broken, device="cpu")


def test_loading_a_folder_that_is_not_a_converted_model(tiny):
    with pytest.raises(ModelLoadError, match="glm-nb convert") as e:
        Engine.load(tiny.src, device="cpu")
    assert f"-o {tiny.src}`" not in str(e.value)  # convert refuses to write into the checkpoint itself
    assert f"-o {tiny.src}-onnx`" in str(e.value) and "open_model()" in str(e.value)


def test_half_precision_model_without_cuda_says_what_to_convert_instead(tiny, tmp_path):
    out = convert(tiny.src, tmp_path / "fp16", precision="fp16", progress=False)
    with pytest.raises(ModelLoadError, match="--precision fp32"):
        Engine.load(out, device="cpu")


def test_asking_for_cuda_without_it_gives_an_install_that_leaves_a_working_onnxruntime(tiny, monkeypatch):
    """onnxruntime and onnxruntime-gpu share one module: the advice must remove both before installing the GPU
    build (removing the CPU wheel alone deletes files the GPU wheel wrote)."""
    import glm_nb.engine.engine as engine_module
    import glm_nb.engine.loading as loading_module

    monkeypatch.setattr(engine_module.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(loading_module, "cuda_usable", lambda: False)
    for load in (lambda: Engine.load(tiny.out, device="cuda"), lambda: open_model(tiny.src, device="cuda")):
        with pytest.raises(ModelLoadError) as e:
            load()
        assert "`pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'onnxruntime-gpu>=1.23'`" in str(e.value)
        assert "device='cpu'" in str(e.value)


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
        ({"temperature": "0.7"}, "temperature must be a finite number, got '0.7'"),  # a bare TypeError before
        ({"top_p": None}, "top_p must be a finite number, got None"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be a whole number, got 2.5"),  # it ran three tokens
        ({"max_new_tokens": None}, "max_new_tokens must be a whole number, got None"),
    ],
)
def test_sampling_settings_a_draw_cannot_use_are_refused(options, reason):
    with pytest.raises(SamplingError, match=reason):
        SamplingParams(**options)


ROPE = {"partial_rotary_factor": 0.5, "rope_theta": 10000.0, "rope_type": "default"}  # the tiny checkpoint's


def _edit_config(src, **changes):
    config = json.loads((src / "config.json").read_text())
    for key, value in changes.items():
        if value is ...:
            config.pop(key, None)
        else:
            config[key] = value
    (src / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, reason",
    [
        (dict(hidden_size=...), "config.json has no 'hidden_size'"),
        (dict(num_hidden_layers="2"), "num_hidden_layers must be a whole number"),
        (dict(num_hidden_layers=0), "num_hidden_layers must be a whole number of at least 1"),
        (dict(vocab_size=None), "config.json has no 'vocab_size'"),
        (dict(num_key_value_heads=3), "must be a multiple of num_key_value_heads"),
        (dict(max_position_embeddings="256"), "max_position_embeddings must be a whole number"),
        (dict(rope_parameters={**ROPE, "partial_rotary_factor": -0.5}), "partial_rotary_factor must be a number of"),
        (dict(rope_parameters={**ROPE, "partial_rotary_factor": 2.0}), "at most 1, got 2.0; restore config.json"),
        (dict(rope_parameters={**ROPE, "rope_theta": 0}), "rope_theta must be a number"),
        (dict(rope_parameters=..., rope_theta="abc"), "rope_theta must be a number"),
        (dict(rope_scaling=[1]), "rope_scaling must be an object"),
        (dict(rope_parameters={**ROPE, "rope_type": "yarn"}), "config.json has no 'factor'"),
        (dict(rope_parameters={**ROPE, "rope_type": "yarn", "factor": 0.5}), "factor must be a number of at least 1"),
        (dict(vocab_size=100), "'model.embed_tokens.weight' has the shape"),
        (dict(intermediate_size=80), "'model.layers.0.mlp.gate_up_proj.weight' has the shape"),
        (dict(head_dim=16), "'model.layers.0.self_attn.q_proj.weight' has the shape"),
    ],
)
def test_a_config_with_a_missing_wrong_or_mismatched_field_names_it(tiny, tmp_path, changes, reason):
    src = copy_checkpoint(tiny, tmp_path)
    _edit_config(src, **changes)
    with pytest.raises(CheckpointError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def _edit_header(src, edit):
    import struct

    raw = (src / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    (src / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


K = "model.layers.0.self_attn.k_proj.weight"


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h[K].update(data_offsets=[0, 16384]), "share bytes"),
        (lambda h: h[K].update(data_offsets=[100, 50]), "needs .* bytes, its offsets give -50"),
        (lambda h: h[K].update(data_offsets=[-100, 4]), "has the offsets"),
        (lambda h: h[K].update(dtype="BF16"), "needs .* bytes"),
        (lambda h: h[K].pop("shape"), "lacks its dtype, shape or offsets"),
        (lambda h: h[K].update(shape="64"), "has the shape '64'"),
        (lambda h: h.update({K: [1]}), "lacks its dtype, shape or offsets"),
    ],
)
def test_a_safetensors_header_whose_offsets_shapes_and_dtypes_disagree_is_damaged(tiny, tmp_path, edit, reason):
    src = copy_checkpoint(tiny, tmp_path)
    _edit_header(src, edit)
    with pytest.raises(CheckpointError, match=reason):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_an_index_from_another_download_or_without_a_weight_map_is_refused(tmp_path):
    from tiny_checkpoint import make_tiny_checkpoint

    src = make_tiny_checkpoint(tmp_path / "sharded", max_shard_size="40KB")
    index = src / "model.safetensors.index.json"
    original = json.loads(index.read_text())
    shards = sorted(set(original["weight_map"].values()))
    swapped = {name: shards[0] if f != shards[0] else shards[1] for name, f in original["weight_map"].items()}
    for content, reason in (
        ({**original, "weight_map": swapped}, "which does not hold it"),
        ({"metadata": {}}, "has no weight_map"),
        ({"weight_map": {K: "../elsewhere/model.safetensors"}}, "has no weight_map"),
        ([], "has no weight_map"),
    ):
        index.write_text(json.dumps(content))
        with pytest.raises(CheckpointError, match=reason):
            convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_the_output_is_never_a_folder_that_holds_the_checkpoint_or_other_files(tiny, tmp_path):
    earlier = convert(tiny.src, tmp_path / "model", progress=False)
    inside = shutil.copytree(tiny.src, earlier / "ckpt")
    with pytest.raises(ConversionError, match="is inside the output"):
        convert(inside, earlier, progress=False)
    assert (inside / "config.json").exists()
    shutil.rmtree(inside)

    (earlier / "precious.txt").write_text("mine")
    with pytest.raises(ConversionError, match="not a glm-nb model folder"):
        convert(tiny.src, earlier, progress=False)
    assert (earlier / "precious.txt").exists()

    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "glm_nb.json").write_text("garbage")
    with pytest.raises(ConversionError, match="not a glm-nb model folder"):
        convert(tiny.src, fake, progress=False)

    (earlier / "precious.txt").unlink()
    assert convert(tiny.src, earlier, progress=False) == earlier  # an earlier conversion is still replaced


@pytest.mark.parametrize(
    "file, content, reason",
    [
        ("tokenizer.json", "{bad", "cannot be read as a tokenizer"),
        ("tokenizer.json", '{"a": 1}', "cannot be read as a tokenizer"),
        ("generation_config.json", "[1]", "is not a JSON object"),
        ("generation_config.json", '{"eos_token_id": "17"}', "eos_token_id must be a token id"),
        ("generation_config.json", '{"eos_token_id": [[0, 7]]}', "eos_token_id must be a token id"),
        ("generation_config.json", '{"eos_token_id": true}', "eos_token_id must be a token id"),
        ("generation_config.json", '{"eos_token_id": [1000000]}', "eos_token_id must be a token id"),
    ],
)
def test_a_bad_tokenizer_or_stop_id_is_reported_before_the_graph_is_built(tiny, tmp_path, monkeypatch, file,
                                                                           content, reason):  # fmt: skip
    from glm_nb.engine import conversion

    src = copy_checkpoint(tiny, tmp_path)
    (src / file).write_text(content)
    monkeypatch.setattr(conversion, "build_glm4_graph", lambda *a, **k: pytest.fail("the graph was built first"))
    with pytest.raises(CheckpointError, match=reason):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    "file, content, reason",
    [
        ("tokenizer_config.json", "{bad", "chat template .* cannot be read"),
        ("tokenizer_config.json", b"\xff\xfe", "chat template .* cannot be read"),
        ("glm_nb.json", "[1]", "is damaged"),
        ("glm_nb.json", b"\xff", "is damaged"),
    ],
)
def test_a_converted_folder_with_a_damaged_file_is_a_load_error(tiny, tmp_path, file, content, reason):
    out = shutil.copytree(tiny.out, tmp_path / "model")
    (out / file).unlink(missing_ok=True)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    if isinstance(content, bytes):
        (out / file).write_bytes(content)
    else:
        (out / file).write_text(content)
    with pytest.raises(ModelLoadError, match=reason):
        Engine.load(out, device="cpu")


def test_a_quantized_checkpoint_or_integer_weights_are_refused_with_what_to_convert_instead(tiny, tmp_path):
    src = copy_checkpoint(tiny, tmp_path)
    _edit_config(src, quantization_config={"quant_method": "gptq", "bits": 4})
    with pytest.raises(CheckpointError, match="is a gptq checkpoint.*Convert the unquantized checkpoint"):
        convert(src, tmp_path / "out", progress=False)
    _edit_config(src, quantization_config=...)

    def as_int8(header):  # an fp32 tensor relabelled I8 with a shape of the same byte count stays consistent
        rows, cols = header[K]["shape"]
        header[K].update(dtype="I8", shape=[rows, cols * 4])

    _edit_header(src, as_int8)
    with pytest.raises(CheckpointError, match=f"{K!r} is stored as I8, not as floating point"):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_an_fp8_checkpoint_is_refused_with_what_to_convert_instead(tiny, tmp_path):
    src = copy_checkpoint(tiny, tmp_path)
    _edit_header(src, lambda header: header[K].update(dtype="F8_E4M3"))

    with pytest.raises(CheckpointError, match="stored as 'F8_E4M3'.*convert the original bf16 checkpoint"):
        convert(src, tmp_path / "out", progress=False)

    assert_nothing_written(tmp_path)


def test_without_an_index_model_safetensors_is_read_and_a_stray_file_beside_it_ignored(tiny, tmp_path):
    from safetensors.numpy import save_file

    src = copy_checkpoint(tiny, tmp_path)
    stray = {K: np.full((4, 4), 7.0, dtype=np.float32), "model.norm.weight": np.zeros(3, dtype=np.float32)}
    save_file(stray, str(src / "old-finetune.safetensors"))  # sorts before model.safetensors
    convert(src, tmp_path / "out", progress=False)  # the stray shapes would fail the shape check if read
    reference = Generator(Engine.load(tiny.out, device="cpu"), SamplingParams(max_new_tokens=4))
    again = Generator(Engine.load(tmp_path / "out", device="cpu"), SamplingParams(max_new_tokens=4))
    reference.append_tokens([[1, 2, 3]])
    again.append_tokens([[1, 2, 3]])
    np.testing.assert_array_equal(reference.last_logits(), again.last_logits())


def test_shards_without_their_index_are_read_together_unless_two_hold_the_same_tensor(tmp_path):
    from safetensors.numpy import save_file

    from tiny_checkpoint import make_tiny_checkpoint

    src = make_tiny_checkpoint(tmp_path / "sharded", max_shard_size="40KB")
    (src / "model.safetensors.index.json").unlink()
    convert(src, tmp_path / "out", progress=False)  # a lost index: the shards hold each tensor once
    shutil.rmtree(tmp_path / "out")
    save_file({K: np.zeros((4, 4), dtype=np.float32)}, str(src / "zz-copy.safetensors"))
    with pytest.raises(CheckpointError, match=f"both hold {K!r}.*Remove the stray copy"):
        convert(src, tmp_path / "out", progress=False)
    assert_nothing_written(tmp_path)


def test_an_empty_generators_last_token_and_fractional_ids_or_settings_are_refused(tiny):
    gen = Generator(tiny.engine)
    with pytest.raises(GenerationError, match="No tokens yet"):
        _ = gen.last_token
    with pytest.raises(GenerationError, match="whole numbers; got 1.7"):
        gen.append_tokens([1.7])
    assert gen.tokens == []
    for options in ({"top_k": 1.5}, {"seed": 1.5}):
        with pytest.raises(SamplingError, match=f"{next(iter(options))} must be a whole number"):
            SamplingParams(**options)
