"""%glm_model on the real engine with tiny random checkpoints: local folders, the nano-GLM default, hub ids."""

from __future__ import annotations

import pytest

from glm_nb.errors import GlmError
from glm_nb.magics import models
from glm_nb.render import MIME_TYPE


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_converted_folder_loads_and_shows_provider_precision_and_memory(kernel, tiny):
    outputs = kernel.run(f"%glm_model {tiny.out} --device cpu --context 64")

    card = outputs[-1]["data"]["text/plain"]
    assert kernel.errors == [None]
    assert "Provider: CPU · precision fp32" in card
    assert "weights" in card and "KV cache" in card and "for 64 tokens" in card
    assert f"ONNX model: {tiny.out}" in card
    assert "not GLM-4" not in card


def test_a_new_model_says_which_conversations_it_does_not_continue(kernel, tiny, capsys):
    kernel.use(["\nA.", "Hm.</think>\nB."])
    kernel.run("%%glm\nHello", cell_id="a")
    kernel.run("%%glm_z1\nThink", cell_id="b")
    capsys.readouterr()

    kernel.run(f"%glm_model {tiny.out} --device cpu --context 64 --variant chat")
    told = capsys.readouterr().err

    assert kernel.errors[-1] is None
    assert "chat: 2 messages" in told and "are not sent to it" in told and "z1" not in told
    assert "chat" not in kernel.session.threads and len(kernel.session.threads["z1"].messages) == 2


def test_a_cell_runs_on_the_real_engine_after_loading(kernel, tiny):
    kernel.run(f"%glm_model {tiny.out} --device cpu --context 128")

    record = kernel.final(kernel.run("%%glm -n 4 -t 0\nHello"))["data"][MIME_TYPE]

    assert record["finish_reason"] in ("stop", "length")
    assert record["usage"]["new_tokens"] >= 1 and record["model"] == kernel.session.models["chat"].label


def test_the_default_is_nano_glm_announced_as_a_demo(kernel, tiny, cache, monkeypatch):
    monkeypatch.setattr(models, "nano_checkpoint", lambda: tiny.src)

    outputs = kernel.run("%glm_model --device cpu")

    card = outputs[-1]["data"]["text/plain"]
    assert "nano-GLM is a tiny demo model" in card and "not GLM-4" in card
    assert kernel.session.models["z1"].z1_template  # Z1 cells use nano-GLM's own Z1 template
    assert kernel.session.models["rumination"].rumination_system  # and the research instruction it learned
    assert any(cache.rglob("glm_nb.json"))  # converted once into the cache


def test_the_first_cell_loads_nano_glm_when_nothing_was_loaded(kernel, tiny, cache, monkeypatch):
    monkeypatch.setattr(models, "nano_checkpoint", lambda: tiny.src)

    outputs = kernel.run("%%glm -n 2\nHi")

    assert "nano-GLM is a tiny demo model" in outputs[0]["data"]["text/plain"]
    assert MIME_TYPE in outputs[-1]["data"]


def test_a_missing_nano_checkpoint_says_what_to_do(kernel, monkeypatch):
    def missing():
        raise GlmError("The bundled nano-GLM checkpoint is missing. Reinstall glm-nb.")

    monkeypatch.setattr(models, "nano_checkpoint", missing)

    kernel.run("%glm_model")

    assert "Reinstall glm-nb" in str(kernel.errors[0])


def test_a_hub_id_is_downloaded_then_converted(kernel, tiny, cache, monkeypatch):
    asked = []

    def fake_download(repo_id, source):
        asked.append((repo_id, source))
        return tiny.src

    monkeypatch.setattr(models, "download", fake_download)

    kernel.run("%glm_model THUDM/GLM-4-9B-0414 --source modelscope --device cpu --variant z1")

    assert asked == [("THUDM/GLM-4-9B-0414", "modelscope")]
    assert kernel.session.models["z1"].origin == "THUDM/GLM-4-9B-0414"
    assert "chat" not in kernel.session.models  # --variant z1 serves only %%glm_z1


def test_neither_folder_nor_hub_id_is_explained(kernel, cache):
    kernel.run("%glm_model ./no/such/folder/here")

    assert "not a hub id" in str(kernel.errors[0])


def test_hub_download_uses_snapshot_download_with_only_the_needed_files(monkeypatch, tmp_path):
    import huggingface_hub

    seen = {}

    def fake_snapshot(repo_id, allow_patterns):
        seen.update(repo_id=repo_id, patterns=allow_patterns)
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)

    assert models.download("THUDM/GLM-4-9B-0414", "huggingface") == tmp_path
    assert seen["repo_id"] == "THUDM/GLM-4-9B-0414" and "*.safetensors" in seen["patterns"]


def test_an_interrupt_on_the_real_engine_leaves_it_ready_for_the_next_cell(kernel, tiny, monkeypatch):
    kernel.run(f"%glm_model {tiny.out} --device cpu --context 256")
    generator = kernel.session.models["chat"].backend.generator
    real_step, steps = generator.generate_next_token, []

    def interrupted_step():  # as when Ctrl-C / the kernel's interrupt lands during a decode step
        steps.append(1)
        if len(steps) == 5:
            raise KeyboardInterrupt
        real_step()

    monkeypatch.setattr(generator, "generate_next_token", interrupted_step)
    cut = kernel.final(kernel.run("%%glm -n 40 -t 0\nHello", cell_id="a"))["data"][MIME_TYPE]
    monkeypatch.setattr(generator, "generate_next_token", real_step)

    after = kernel.final(kernel.run("%%glm -n 3 -t 0\nAgain", cell_id="b"))["data"][MIME_TYPE]

    assert cut["finish_reason"] == "cancelled" and len(steps) == 5
    assert kernel.session.threads["chat"].messages[1].end == "interrupted"
    assert after["finish_reason"] in ("stop", "length") and after["usage"]["reused_prompt_tokens"] > 0


def test_a_prompt_too_long_for_a_small_context_says_how_to_reload_with_more(kernel, tiny):
    kernel.run(f"%glm_model {tiny.out} --device cpu --context 32")

    kernel.run("%%glm -n 2\n" + "hello " * 60)

    error = str(kernel.errors[-1])
    assert "%%glm --new" in error
    assert f"`%glm_model {tiny.out} --context 256`" in error  # in the notebook's terms, not the Python API's
    assert kernel.session.thread("chat").messages == []


def test_a_context_beyond_the_models_says_the_cache_holds_less(kernel, tiny, capsys):
    outputs = kernel.run(f"%glm_model {tiny.out} --device cpu --context 100000")

    assert "for 256 tokens" in outputs[-1]["data"]["text/plain"]
    told = capsys.readouterr().err
    assert "holds at most 256 tokens of context" in told and "not the 100,000 asked for (--context)" in told
    kernel.run(f"%glm_model {tiny.out} --device cpu --context 64")
    assert "holds at most" not in capsys.readouterr().err
