"""open_model: which conversion a checkpoint gets for the device it will run on, and when CUDA graphs are used."""

from __future__ import annotations

import errno
import json
import pickle
import shutil
import sys
import types
import warnings

import numpy as np
import pytest

import glm_nb
from glm_nb.engine import Engine, Generator, SamplingParams, loading
from glm_nb.engine import engine as engine_module
from glm_nb.engine.loading import ConversionChoice, conversion_for, converted_path, open_model
from glm_nb.errors import ConversionError, GenerationError, MaxLengthError, ModelLoadError, PromptTooLongError

from tiny_checkpoint import make_tiny_checkpoint


def test_the_cpu_gets_fp32_and_int4_with_fp32_activations():
    assert conversion_for(False) == ConversionChoice("fp32")
    assert conversion_for(False, "int4") == ConversionChoice("int4", "fp32", 0)


def test_a_gpu_gets_bf16_int4_on_fp16_and_a_device_top_k():
    assert conversion_for(True) == ConversionChoice("bf16", "fp32", 64)
    assert conversion_for(True, "int4") == ConversionChoice("int4", "fp16", 64, int4_block_size=128)
    assert conversion_for(True, "int4").key == "int4-fp16-b128-top64"
    assert conversion_for(True, "fp16").precision == "fp16"


def test_each_choice_has_its_own_cache_entry(tiny):
    keys = {conversion_for(cuda, p).key for cuda in (False, True) for p in (None, "int4", "fp16")}
    assert len(keys) == 6
    assert conversion_for(False).key == "fp32"  # the CPU keys of earlier versions: their caches stay valid
    assert conversion_for(False, "int4").key == "int4"
    assert len({converted_path(tiny.src, key, None) for key in keys}) == 6


def test_open_model_on_the_cpu_converts_fp32_without_graphs(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))
    engine = open_model(tiny.src, device="cpu", progress=False)
    assert engine.metadata.precision == "fp32" and not engine.cuda_graph
    assert engine.folder == converted_path(tiny.src, "fp32", None)
    again = open_model(engine.folder, progress=False)  # a converted folder loads as it is
    assert again.folder == engine.folder and not again.cuda_graph


def test_auto_without_a_working_cuda_provider_stays_on_the_cpu(tiny, tmp_path, monkeypatch):
    """The GPU wheel lists CUDA even on a machine without a GPU: auto must not convert for CUDA there, nor ask
    onnxruntime for the CUDA provider (open_model and Engine.load decide from the same probe)."""
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))
    monkeypatch.setattr(engine_module, "_CUDA_USABLE", None)
    probes = []
    monkeypatch.setattr(engine_module, "_probe_cuda", lambda: probes.append(1) or False)
    listed = engine_module.ort.get_available_providers
    monkeypatch.setattr(engine_module.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *listed()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # onnxruntime warns when asked for a provider it lacks
        engine = open_model(tiny.src, progress=False)
    assert engine.metadata.precision == "fp32" and engine.provider == "CPUExecutionProvider"
    assert not engine.cuda_graph and probes == [1]  # probed once, then remembered


def test_an_unknown_device_is_refused(tiny):
    with pytest.raises(ModelLoadError, match="Unknown device"):
        open_model(tiny.src, device="tpu")


@pytest.mark.parametrize(
    ("device", "precision", "says"),
    [("cpu", "fp16", "'fp32' or 'int4'"), ("auto", "bf16", "'fp32' or 'int4'"), ("cuda", None, "device='cpu'")],
)
def test_what_cannot_run_here_is_refused_before_converting(tiny, tmp_path, monkeypatch, device, precision, says):
    """The README's "fp16 / bf16 need CUDA": refused at once, not after minutes of converting a 9B model."""
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))
    monkeypatch.setattr(engine_module, "_CUDA_USABLE", False)  # no usable GPU, also on a machine with one

    with pytest.raises(ModelLoadError, match=says):
        open_model(tiny.src, device=device, precision=precision, progress=False)

    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())  # nothing converted


def test_a_new_graph_format_gets_its_own_cache_entry_instead_of_an_old_conversion(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))
    first = open_model(tiny.src, device="cpu").folder
    monkeypatch.setattr(loading, "FORMAT_VERSION", loading.FORMAT_VERSION + 1)  # as after an upgrade of glm-nb
    again = open_model(tiny.src, device="cpu").folder  # converted afresh, not "converted by another version"
    assert again == converted_path(tiny.src, "fp32", None) != first
    assert (first / "glm_nb.json").exists() and (again / "glm_nb.json").exists()


def test_a_hub_id_is_downloaded_then_opened(tiny, tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, allow_patterns: str(tiny.src))
    engine = open_model("THUDM/GLM-4-9B-0414", device="cpu")
    assert engine.folder == converted_path(tiny.src, "fp32", None)
    with pytest.raises(ModelLoadError, match="not a hub id"):
        open_model(tmp_path / "no-such-folder", device="cpu")


def test_a_cache_that_cannot_be_written_says_to_set_glm_nb_cache(tiny, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "afile" / "cache"))  # under a file: never writable
    with pytest.raises(ConversionError, match="Set GLM_NB_CACHE to a folder you can write to") as e:
        open_model(tiny.src, device="cpu", progress=False)
    assert "choose a folder" not in str(e.value)


@pytest.mark.parametrize("source, package, hub", [("huggingface", "huggingface_hub", "Hugging Face"),
                                                  ("modelscope", "modelscope", "ModelScope")])  # fmt: skip
def test_a_failed_download_from_either_hub_says_what_to_do(source, package, hub, monkeypatch):
    def unreachable(repo_id, allow_patterns):
        raise ConnectionError("the network is unreachable")

    monkeypatch.setitem(sys.modules, package, types.SimpleNamespace(snapshot_download=unreachable))

    with pytest.raises(ModelLoadError) as e:
        open_model("ZhipuAI/GLM-4-9B-0414", source=source, device="cpu")

    assert str(e.value).startswith(f"Could not download ZhipuAI/GLM-4-9B-0414 from {hub} (ConnectionError: the ")
    assert "pass its folder instead" in str(e.value)


@pytest.mark.parametrize("threads", [-2, 2.5, "4", True])
def test_a_thread_count_onnx_runtime_would_misread_is_refused_before_converting(tiny, threads, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))

    with pytest.raises(ModelLoadError, match=r"threads must be a whole number of CPU threads, 1 or more"):
        open_model(tiny.src, device="cpu", threads=threads, progress=False)
    with pytest.raises(ModelLoadError, match=r"threads must be a whole number"):
        Engine.load(tiny.out, device="cpu", threads=threads)

    assert list(tmp_path.iterdir()) == []  # refused before a conversion that can take minutes


def test_a_converted_folder_asked_for_another_precision_says_so_rather_than_running_its_own(tiny):
    with pytest.raises(ModelLoadError) as e:
        open_model(tiny.out, device="cpu", precision="int4")

    assert str(e.value).startswith(f"{tiny.out} is a converted fp32 model, so it cannot run in int4")
    assert open_model(tiny.out, device="cpu", precision="fp32").metadata.precision == "fp32"


def test_a_cache_on_a_disk_without_room_says_to_set_glm_nb_cache(tiny, tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr("glm_nb.engine.conversion.shutil.disk_usage", lambda path: real(path)._replace(free=1000))
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))

    with pytest.raises(ConversionError) as e:
        open_model(tiny.src, device="cpu", progress=False)

    assert "has no room for the model (not enough free space)" in str(e.value)
    assert "set GLM_NB_CACHE" in str(e.value)  # not only "-o", an option open_model and `generate` do not have


def test_a_cache_disk_filling_up_while_converting_says_what_the_model_needs_and_what_clearing_frees(
    tiny, cache, monkeypatch
):
    unused = glm_nb.convert(tiny.src, cache / "hd32-fp32-0123456789ab", progress=False)  # named by no checkpoint
    size = sum(f.stat().st_size for f in unused.iterdir())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("glm_nb.engine.conversion.shutil.copy2", full)  # the disk fills up after the graph
    with pytest.raises(ConversionError) as e:
        open_model(tiny.src, device="cpu", progress=False)

    message = str(e.value)  # not "cannot write into the cache": how much room, and where it can come from
    assert "has no room for the model (full: [Errno 28] No space left on device)" in message
    assert "The fp32 model needs about" in message and "set GLM_NB_CACHE" in message
    assert message.endswith(f"`glm-nb cache clear` frees {size / 1e6:.1f} MB there (1 conversion no longer used).")


def test_a_failed_download_of_an_id_that_may_be_a_mistyped_folder_says_there_is_no_such_folder(tmp_path, monkeypatch):
    def unreachable(repo_id, allow_patterns):
        raise ConnectionError("offline")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=unreachable))
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ModelLoadError) as e:
        open_model("models/glm4", device="cpu")

    assert str(e.value).endswith(f"(Nor is there a local folder 'models/glm4' in {tmp_path}.)")


def test_a_converted_folder_opened_with_a_smaller_max_length_gets_that_context_and_kv_cache(tiny):
    engine = open_model(tiny.out, device="cpu", max_length=64)  # converted for 256

    gen = Generator(engine)

    assert engine.metadata.max_length == 64 and "· context 64" in engine.describe()
    assert gen.max_length == 64 and gen.cache.shape[2] == 64  # the KV buffers: [batch, kv, 64, head_dim]
    with pytest.raises(GenerationError, match="max_length 65 exceeds"):
        Generator(engine, max_length=65)


def test_a_capped_engine_keeps_the_length_its_graph_was_converted_for(tiny):
    assert open_model(tiny.out, device="cpu", max_length=64).graph_max_length == 256
    assert tiny.engine.graph_max_length == tiny.engine.metadata.max_length == 256


def test_a_generator_longer_than_a_capped_engine_says_to_open_the_model_again_not_to_convert(tiny):
    engine = open_model(tiny.out, device="cpu", max_length=64)  # converted for 256

    with pytest.raises(GenerationError) as within:
        Generator(engine, max_length=65)
    with pytest.raises(GenerationError) as beyond:
        Generator(engine, max_length=257)

    assert "open the model again with max_length=65 or more" in str(within.value)
    assert "its conversion holds up to 256" in str(within.value) and "convert" not in str(within.value)
    assert (
        "converted for (256): give at most that, or for more than the checkpoint's max_position_embeddings (256), "
        "enable YaRN" in str(beyond.value)
    )


@pytest.mark.parametrize(
    ("cap", "generator_length", "prompt", "says"),
    [
        (64, 16, 20, "create the Generator with max_length up to 64"),
        (64, None, 100, "open the model again with max_length=101 or more and create the Generator with as much"),
        (64, None, 300, "for more than the checkpoint's max_position_embeddings (256), enable YaRN"),
        (None, 16, 300, "for more than the checkpoint's max_position_embeddings (256), enable YaRN"),
    ],
)
def test_a_prompt_too_long_says_what_gives_a_context_that_holds_it(tiny, cap, generator_length, prompt, says):
    engine = open_model(tiny.out, device="cpu", max_length=cap)  # converted for 256
    gen = Generator(engine, max_length=generator_length)

    with pytest.raises(PromptTooLongError) as e:
        gen.set_prompt([i % 400 for i in range(prompt)])

    assert says in str(e.value)
    if cap is not None and prompt < 256:
        assert "convert" not in str(e.value)


@pytest.mark.parametrize("recorded", [True, False])
def test_a_prompt_past_a_short_conversion_says_to_convert_for_more(tiny, tmp_path, recorded):
    folder = glm_nb.convert(tiny.src, tmp_path / "m", max_length=64, progress=False)  # the checkpoint has 256
    if not recorded:  # an older glm-nb's: glm_nb.json did not record the checkpoint's max_position_embeddings
        meta = json.loads((folder / "glm_nb.json").read_text())
        del meta["source"]["max_position_embeddings"]
        (folder / "glm_nb.json").write_text(json.dumps(meta))
    gen = Generator(open_model(folder, device="cpu"))

    with pytest.raises(PromptTooLongError) as e:
        gen.set_prompt(list(range(100)))

    allows = ", if the checkpoint's max_position_embeddings allows" * (not recorded)
    assert str(e.value).endswith(f"or convert the model with --max-length 101 or more{allows}.")


@pytest.mark.parametrize(
    ("converted_for", "asked", "recorded", "says", "needs_yarn"),
    [
        (None, 257, True, "past the checkpoint's max_position_embeddings (256) converting again cannot help", True),
        (64, 200, True, "`glm-nb convert CHECKPOINT -o FOLDER --max-length 200` and open that folder", False),
        (64, 257, True, "past the checkpoint's max_position_embeddings (256) converting again cannot help", True),
        (None, 257, False, "--max-length 257` (the checkpoint's max_position_embeddings permitting)", None),
    ],
)
def test_a_converted_folder_opened_with_more_than_it_was_converted_for_says_what_gives_more(
    tiny, tmp_path, converted_for, asked, recorded, says, needs_yarn
):
    folder = glm_nb.convert(tiny.src, tmp_path / "m", max_length=converted_for, progress=False)
    if not recorded:  # an older glm-nb's: glm_nb.json did not record the checkpoint's max_position_embeddings
        meta = json.loads((folder / "glm_nb.json").read_text())
        del meta["source"]["max_position_embeddings"]
        (folder / "glm_nb.json").write_text(json.dumps(meta))

    with pytest.raises(ModelLoadError) as e:
        open_model(folder, device="cpu", max_length=asked)

    most = converted_for or 256
    assert f"{folder} was converted for sequences of at most {most} tokens" in str(e.value) and says in str(e.value)
    assert (e.value.asked, e.value.most, e.value.needs_yarn) == (asked, most, needs_yarn)
    assert open_model(folder, device="cpu", max_length=most).metadata.max_length == most  # all of it is fine


@pytest.mark.parametrize("max_length", [0, 1, -5, 2.5, "64", True])
def test_a_max_length_that_is_no_context_is_refused_before_converting(tiny, tmp_path, monkeypatch, max_length):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path))

    with pytest.raises(ModelLoadError, match=r"max_length must be a whole number of tokens, 2 or more"):
        open_model(tiny.src, device="cpu", max_length=max_length, progress=False)
    with pytest.raises(ModelLoadError, match=r"max_length must be a whole number of tokens"):
        Engine.load(tiny.out, device="cpu", max_length=max_length)
    with pytest.raises(GenerationError, match=r"max_length must be a whole number of tokens, 2 or more"):
        Generator(tiny.engine, max_length=max_length)  # 1 token: no room for a new one, as open_model has it

    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def conversions(monkeypatch) -> list[int | None]:
    """The max_length of each conversion open_model makes in this test (None: the checkpoint's full length)."""
    made = []

    def counted(src, out, *, max_length=None, **options):
        made.append(max_length)
        return glm_nb.convert(src, out, max_length=max_length, **options)

    monkeypatch.setattr(loading, "convert", counted)
    return made


def test_a_checkpoint_is_converted_once_at_full_length_and_every_max_length_reuses_it(tiny, cache, conversions):
    first = open_model(tiny.src, device="cpu", max_length=32, progress=False)
    second = open_model(tiny.src, device="cpu", max_length=16, progress=False)
    full = open_model(tiny.src, device="cpu", progress=False)

    assert conversions == [None]  # one conversion, at the checkpoint's max_position_embeddings (256)
    assert first.folder == second.folder == full.folder == converted_path(tiny.src, "fp32", None)
    assert (first.metadata.max_length, second.metadata.max_length, full.metadata.max_length) == (32, 16, 256)
    assert Generator(first).max_length == 32 and Generator(second).cache.shape[2] == 16


def _logits(engine, ids: list[int], steps: int) -> np.ndarray:
    """Prefill logits of `ids`, then those of `steps` greedy decode steps: [len(ids) + steps, V]."""
    gen = Generator(engine, SamplingParams(max_new_tokens=steps), stop_ids=())
    rows = [gen.score(ids)]
    for _ in range(steps):
        gen.generate_next_token()
        rows.append(gen.last_logits())
    return np.concatenate(rows)


@pytest.mark.parametrize("model", ["tiny", "tiny_hd16", "yarn"])
def test_a_full_length_conversion_capped_to_n_gives_the_logits_of_one_made_for_n(model, request, cache, tmp_path):
    """What makes reuse exact: the conversions differ only in the rotary caches' rows, whose first N are equal (GQA
    rotary for tiny, com.microsoft.RotaryEmbedding for tiny_hd16, YaRN frequencies for yarn)."""
    if model == "yarn":
        rope = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5}  # fmt: skip
        src = make_tiny_checkpoint(tmp_path / "yarn", rope_parameters=rope, max_position_embeddings=64, seed=4)
    else:
        src = request.getfixturevalue(model).src
    made_for_32 = Engine.load(glm_nb.convert(src, tmp_path / "n32", max_length=32, progress=False), "cpu", threads=1)
    ids = [int(t) for t in np.random.default_rng(0).integers(10, 400, size=24)]

    capped = open_model(src, device="cpu", max_length=32, threads=1, progress=False)

    assert capped.folder == converted_path(src, "fp32", None)  # the full-length conversion, capped
    assert _logits(capped, ids, steps=7).tobytes() == _logits(made_for_32, ids, steps=7).tobytes()


def test_an_earlier_conversion_for_a_length_serves_up_to_it_and_a_longer_one_converts(tiny, cache, conversions):
    earlier = glm_nb.convert(tiny.src, converted_path(tiny.src, "fp32", 64), max_length=64, progress=False)

    assert open_model(tiny.src, device="cpu", max_length=64, progress=False).folder == earlier
    assert open_model(tiny.src, device="cpu", max_length=40, progress=False).folder == earlier
    assert conversions == []  # a cache from an earlier glm-nb is not converted again
    longer = open_model(tiny.src, device="cpu", max_length=65, progress=False)
    assert conversions == [None] and longer.folder == converted_path(tiny.src, "fp32", None)
    assert open_model(tiny.src, device="cpu", max_length=40, progress=False).folder == longer.folder


@pytest.mark.parametrize("damage", ["glm_nb.json", "model.onnx"])
def test_a_damaged_conversion_in_the_cache_is_converted_again(tiny, cache, conversions, damage, capsys):
    folder = open_model(tiny.src, device="cpu", progress=False).folder
    if damage == "glm_nb.json":
        (folder / damage).write_text('{"name": "hd32", "prec')  # cut short
    else:
        (folder / damage).unlink()

    again = open_model(tiny.src, device="cpu", progress=False)  # was: "convert again", which open_model never did

    assert again.folder == folder and again.metadata.max_length == 256 and conversions == [None, None]
    assert f"glm-nb: {folder} is damaged" in capsys.readouterr().err


def test_more_than_the_checkpoint_allows_is_refused_before_converting(tiny, cache, conversions):
    with pytest.raises(ConversionError, match=r"max_position_embeddings \(256\), got 257\. For a longer context"):
        open_model(tiny.src, device="cpu", max_length=257, progress=False)

    assert conversions == []


def _hub_fetching(monkeypatch, src, config_fails: bool = False) -> list:
    """A Hugging Face hub whose only repo is `src`; returns the allow_patterns of each snapshot_download."""
    fetched = []

    def snapshot_download(repo_id, allow_patterns):
        fetched.append(allow_patterns)
        if config_fails and allow_patterns == ["config.json"]:
            raise OSError("no network")
        return str(src)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    return fetched


def test_more_than_a_hub_checkpoint_allows_is_refused_from_its_config_before_the_download(tiny, cache, monkeypatch):
    fetched = _hub_fetching(monkeypatch, tiny.src)

    with pytest.raises(MaxLengthError, match=r"max_position_embeddings \(256\), got 300\. For a longer context"):
        open_model("THUDM/GLM-4-9B-0414", device="cpu", max_length=300, progress=False)

    assert fetched == [["config.json"]]  # the weights never came


def test_a_hub_config_that_cannot_be_fetched_alone_is_read_after_the_download(tiny, cache, conversions, monkeypatch):
    fetched = _hub_fetching(monkeypatch, tiny.src, config_fails=True)

    with pytest.raises(MaxLengthError, match=r"max_position_embeddings \(256\), got 300"):
        open_model("THUDM/GLM-4-9B-0414", device="cpu", max_length=300, progress=False)

    assert len(fetched) == 2 and conversions == []  # still refused before converting


def test_a_hub_id_within_its_checkpoint_length_is_downloaded_and_capped(tiny, cache, monkeypatch):
    fetched = _hub_fetching(monkeypatch, tiny.src)

    engine = open_model("THUDM/GLM-4-9B-0414", device="cpu", max_length=100, progress=False)

    assert fetched[0] == ["config.json"] and len(fetched) == 2
    assert (engine.metadata.max_length, engine.graph_max_length) == (100, 256)


def _no_network(monkeypatch) -> list:
    """Every connection tried from now on is refused (as offline) and recorded."""
    import socket

    tried = []

    def refused(*args, **kwargs):
        tried.append(args[1:] or args)
        raise OSError(errno.ENETUNREACH, "the network is unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", refused)
    monkeypatch.setattr(socket.socket, "connect", refused)
    return tried


def test_a_hub_config_already_in_the_hubs_cache_is_read_without_a_round_trip(tiny, cache, tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--THUDM--GLM-4-9B-0414"  # as an earlier download left it
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    shutil.copy(tiny.src / "config.json", repo / "snapshots" / ("0" * 40))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # online as far as huggingface_hub knows
    tried = _no_network(monkeypatch)

    with pytest.raises(MaxLengthError, match=r"max_position_embeddings \(256\), got 300"):
        open_model("THUDM/GLM-4-9B-0414", device="cpu", max_length=300, progress=False)

    assert tried == []  # offline, each try would have waited for a connection timeout


def test_a_max_length_error_survives_pickling_with_its_numbers(tiny, cache):
    with pytest.raises(MaxLengthError) as raised:
        open_model(tiny.src, device="cpu", max_length=300, progress=False)

    again = pickle.loads(pickle.dumps(raised.value))  # a worker process's or a kernel's result queue does this

    assert type(again) is MaxLengthError and str(again) == str(raised.value)
    assert (again.asked, again.most, again.needs_yarn) == (300, 256, True)


def test_the_engines_max_length_error_is_not_named_as_the_servers_context_error():
    from glm_nb.serve import errors as serve_errors

    assert not hasattr(glm_nb.errors, "ContextLengthError")  # the server's 400 for a prompt that does not fit
    assert serve_errors.ContextLengthError is not MaxLengthError


@pytest.mark.parametrize(
    ("device", "precision", "says"), [("cpu", "bf16", "'fp32' or 'int4'"), ("cuda", None, "device='cpu'")]
)
def test_what_cannot_run_here_is_refused_before_a_hub_id_downloads(device, precision, says, monkeypatch):
    def no_download(repo_id, allow_patterns):  # 18 GB for GLM-4-9B
        raise AssertionError(f"{repo_id} was downloaded")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=no_download))
    monkeypatch.setattr(engine_module, "_CUDA_USABLE", False)  # no usable GPU, also on a machine with one

    with pytest.raises(ModelLoadError, match=says):
        open_model("THUDM/GLM-4-9B-0414", device=device, precision=precision)
