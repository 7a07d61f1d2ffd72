"""%glm_model --remote: the magics talk to an OpenAI-compatible server (here `glm_nb.serve` in a thread over the
tiny random checkpoint) exactly as to the local engine."""

from __future__ import annotations

import threading

import pytest

from glm_nb.chat import LocalBackend
from glm_nb.engine import Engine
from glm_nb.magics.options import parse_model_line
from glm_nb.render import MIME_TYPE
from glm_nb.serve import GlmServer


@pytest.fixture
def server(tiny):
    engine = Engine.load(tiny.out, device="cpu", threads=1)
    server = GlmServer(LocalBackend.from_engine(engine, max_length=128), port=0, quiet=True, api_key="k3y")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stop()
    server.server_close()
    thread.join(10)


def test_the_remote_options_parse_into_the_model_args():
    args = parse_model_line("tok/folder --remote http://box:8000/v1 --model glm4-32b --api-key-env VLLM_KEY")
    assert (args.remote, args.served_model, args.api_key_env, args.model) == (
        "http://box:8000/v1", "glm4-32b", "VLLM_KEY", "tok/folder",
    )  # fmt: skip


def test_a_cell_runs_through_the_server_and_equals_the_local_engine(kernel, tiny, server, monkeypatch):
    monkeypatch.setenv("GLM_TEST_KEY", "k3y")
    card = kernel.run(f"%glm_model {tiny.out} --remote {server.url} --api-key-env GLM_TEST_KEY")[-1]["data"]

    remote = kernel.final(kernel.run("%%glm -n 6 -t 0\nHello"))["data"][MIME_TYPE]
    kernel.run(f"%glm_model {tiny.out} --device cpu --context 128")
    local = kernel.final(kernel.run("%%glm -n 6 -t 0 --new\nHello"))["data"][MIME_TYPE]

    assert kernel.errors == [None] * 4
    assert f"served at {server.url}" in card["text/plain"]
    assert card["text/plain"].count(server.url) == 1  # not again as "(from URL)"
    assert remote["usage"]["new_tokens"] == local["usage"]["new_tokens"]
    assert remote["usage"]["new_tokens"] >= 1
    assert remote["answer"] == local["answer"]  # greedy: the same tokens through the server as locally


def test_a_wrong_key_is_a_clear_error_and_keeps_the_previous_model(kernel, tiny, server, monkeypatch):
    monkeypatch.setenv("GLM_TEST_KEY", "wrong")
    kernel.run(f"%glm_model {tiny.out} --remote {server.url} --api-key-env GLM_TEST_KEY")
    assert kernel.errors[-1] is not None
    assert "API key" in str(kernel.errors[-1]) or "401" in str(kernel.errors[-1])
