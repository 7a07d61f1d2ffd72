"""%glm_model --remote: the magics talk to an OpenAI-compatible server (here `glm_nb.serve` in a thread over the
tiny random checkpoint) exactly as to the local engine."""

from __future__ import annotations

import threading
import time

import pytest
from fake_openai_server import silence
from IPython.core.error import UsageError

from glm_nb.chat import LocalBackend
from glm_nb.chat.remote import RemoteTimeoutError
from glm_nb.engine import Engine
from glm_nb.magics.models import load_model
from glm_nb.magics.options import parse_model_line
from glm_nb.render import MIME_TYPE
from glm_nb.serve import GlmServer

from tiny_checkpoint import write_tokenizer


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


# -- against a fake server (tests/fake_openai_server.py) -----------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote-tokenizer")
    write_tokenizer(folder)
    return folder


@pytest.mark.parametrize("key", ["\u201csk-SECRET123\u201d", "sk-SECRET123\nsk-SECRET123"])
def test_a_key_http_cannot_carry_never_reaches_the_notebook(kernel, fake, tokenizer_dir, monkeypatch, capsys, key):
    monkeypatch.setenv("GLM_TEST_KEY", key)
    kernel.run("%xmode Verbose")  # tracebacks with every local variable

    outputs = kernel.run(f"%glm_model {tokenizer_dir} --remote {fake.url} --api-key-env GLM_TEST_KEY")

    assert "GLM_TEST_KEY" in str(kernel.errors[-1])
    shown = str(kernel.errors[-1]) + capsys.readouterr().out + str(outputs)
    assert "SECRET123" not in shown


def test_a_key_read_from_a_file_works_in_the_magic(kernel, fake, tokenizer_dir, monkeypatch):
    monkeypatch.setenv("GLM_TEST_KEY", "sk-SECRET123\n")

    kernel.run(f"%glm_model {tokenizer_dir} --remote {fake.url} --api-key-env GLM_TEST_KEY")

    assert kernel.errors == [None]
    assert fake.requests[-1].headers["Authorization"] == "Bearer sk-SECRET123"


def test_timeout_reaches_the_server_connection_and_its_error_names_the_option(fake, tokenizer_dir):
    fake.models_answer = lambda handler: silence(handler, 5.0)
    args = parse_model_line(f"{tokenizer_dir} --remote {fake.url} --timeout 0.5")
    started = time.monotonic()

    with pytest.raises(RemoteTimeoutError, match="--timeout SECONDS"):
        load_model(args, progress=False)

    assert args.timeout == 0.5 and time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("reported", "given", "context"), [(None, 1024, 1024), (2048, 4096, 2048), (2048, 1024, 1024)]
)
def test_context_is_used_when_the_server_reports_none_or_more(fake, tokenizer_dir, reported, given, context):
    fake.models = {"data": [{"id": "glm", **({"max_model_len": reported} if reported else {})}]}

    model = load_model(parse_model_line(f"{tokenizer_dir} --remote {fake.url} --context {given}"), progress=False)

    assert model.backend.context_length == context
    assert f"Context: {context:,} tokens" in model.card().lines()


@pytest.mark.parametrize("option", ["--device cuda", "--device cpu", "--precision fp16", "--source modelscope"])
def test_options_the_server_decides_are_refused_with_remote(option):
    with pytest.raises(UsageError, match="--remote"):
        parse_model_line(f"--remote http://box:8000/v1 {option}")


@pytest.mark.parametrize("option", ["--model glm4-32b", "--api-key-env VLLM_KEY", "--timeout 600"])
def test_server_options_are_refused_without_remote(option):
    with pytest.raises(UsageError, match="only means something with --remote"):
        parse_model_line(f"THUDM/GLM-4-9B-0414 {option}")
