"""RemoteBackend and `glm-nb serve` in a thread (`inline_server`): which model a client is told it talks to (the
model card keeps the model's own name, vLLM's `root`, beside the name it is served under, so that nano-GLM is always
labelled the demo model it is, and a client without its tokenizer is told exactly which folder to pass), and a
request near the end of the context."""

from __future__ import annotations

import json
import shlex
import urllib.request

import pytest

from glm_nb.chat import CompletionEnd, Conversation, TextChunk
from glm_nb.chat.backend import StopOptions
from glm_nb.chat.remote import RemoteBackend, RemoteError
from glm_nb.engine import SamplingParams
from glm_nb.errors import GlmError
from glm_nb.nano import checkpoint_path


def _get_json(server, path: str) -> dict:
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def nano_name() -> str:
    """The bundled nano-GLM's own name (its config's `_name_or_path`, which `glm-nb serve` reports as its name)."""
    try:
        folder = checkpoint_path()
    except GlmError:
        pytest.skip("needs the bundled nano-GLM checkpoint (glm_nb/nano/checkpoint/), which is not in this checkout")
    name = json.loads((folder / "config.json").read_text(encoding="utf-8"))["_name_or_path"]
    assert "demo" in name and "not GLM-4" in name  # what this file is about: the label must survive serving
    return name


def test_a_model_served_under_another_name_keeps_its_own_in_the_card(inline_server, nano_name):
    server = inline_server(name=nano_name, model_name="glm-4-32b")

    listed = _get_json(server, "/models")["data"]
    retrieved = _get_json(server, "/models/glm-4-32b")

    assert [(m["id"], m["root"]) for m in listed] == [("glm-4-32b", nano_name)]
    assert (retrieved["id"], retrieved["root"]) == ("glm-4-32b", nano_name)


def test_the_remote_backend_names_the_demo_model_whatever_it_is_served_as(inline_server, nano_name, tokenizer_folder):
    server = inline_server(["\nHi."], name=nano_name, model_name="glm-4-32b")

    backend = RemoteBackend.connect(server.url, tokenizer=tokenizer_folder)

    assert backend.name == f"{nano_name} as glm-4-32b"
    assert Conversation(backend).send("Hello").text() == "Hi."  # the requests name the model as it is served


def test_a_model_served_under_its_own_name_is_named_once(inline_server, tokenizer_folder):
    server = inline_server()

    assert RemoteBackend.connect(server.url, tokenizer=tokenizer_folder).name == "scripted"


@pytest.mark.parametrize("served_as", [None, "glm4"], ids=["own-name", "other-name"])
def test_without_a_tokenizer_a_served_nano_says_which_folder_to_pass(inline_server, nano_name, served_as):
    server = inline_server(name=nano_name, model_name=served_as)
    folder = str(checkpoint_path())

    with pytest.raises(RemoteError) as caught:
        RemoteBackend.connect(server.url)

    said = str(caught.value)
    assert f"pass tokenizer={folder!r}" in said
    assert f"`%glm_model {shlex.quote(folder)} --remote {server.url}`" in said
    assert "demo model (not GLM-4)" in said
    assert RemoteBackend.connect(server.url, tokenizer=folder).tokenizer is not None  # what it says works


def test_without_a_tokenizer_another_model_gets_the_general_advice(inline_server):
    server = inline_server(model_name="my-class-model")

    with pytest.raises(RemoteError, match="neither a folder on this machine nor a hub id") as caught:
        RemoteBackend.connect(server.url)

    assert "nano" not in str(caught.value)


def test_min_tokens_past_the_rest_of_the_context_is_cut_with_max_tokens(inline_server, tokenizer_folder):
    """Near the end of the context max_tokens is cut to the room left, as the local engine stops there; min_tokens
    must not stay above it, or the server (glm-nb serve, vLLM) refuses the request with a 400."""
    server = inline_server(["\n" + "word " * 20], max_length=64)
    backend = RemoteBackend.connect(server.url, tokenizer=tokenizer_folder)
    prompt = "[gMASK]<sop><|user|>\n" + "Tell me more. " * 3 + "<|assistant|>"
    room = 64 - len(backend.tokenizer.encode(prompt))

    items = list(backend.complete(prompt, SamplingParams(max_new_tokens=100), StopOptions(min_tokens=room + 5)))

    assert items[-1] == CompletionEnd("length", tokens=items[-1].tokens)  # it ran to the end of the context
    assert sum(i.tokens for i in items if isinstance(i, TextChunk)) + items[-1].tokens == room
