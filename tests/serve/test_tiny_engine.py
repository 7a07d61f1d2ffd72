"""`glm-nb serve` over a real engine (the tiny random checkpoint): greedy answers through the server equal the
local engine's, token for token, for plain completions and multi-turn chat; the CLI's own errors."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from glm_nb.chat import Conversation, LocalBackend, TextDelta
from glm_nb.chat.remote import RemoteAuthError, RemoteBackend
from glm_nb.cli import main
from glm_nb.engine import SamplingParams
from glm_nb.errors import PromptTooLongError

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=24)


def test_greedy_chat_through_the_server_equals_the_local_engine(tiny, tiny_server):
    remote = Conversation(RemoteBackend.connect(tiny_server.url, tokenizer=tiny.out), sampling=GREEDY)
    local = Conversation(LocalBackend.from_engine(tiny.engine), sampling=GREEDY)

    for text in ("Hello! How is the weather in Paris?", "And in Beijing?"):
        remote_reply, local_reply = remote.send(text), local.send(text)
        remote_events = list(remote_reply)
        local_reply.finish()

    assert remote.messages == local.messages
    assert remote_reply.usage().new_tokens == local_reply.usage().new_tokens
    assert remote_reply.usage().prompt_tokens == local_reply.usage().prompt_tokens
    assert len([e for e in remote_events if isinstance(e, TextDelta)]) > 1  # streamed


def test_raw_completion_equals_the_local_engine(tiny, tiny_server):
    remote = RemoteBackend.connect(tiny_server.url, tokenizer=tiny.out)
    local = LocalBackend.from_engine(tiny.engine)
    prompt = "[gMASK]<sop><|user|>\nJupyter notebooks run<|assistant|>"

    remote_items = list(remote.complete(prompt, GREEDY))
    local_items = list(local.complete(prompt, GREEDY))

    text = lambda items: "".join(getattr(i, "text", "") for i in items)  # noqa: E731
    assert text(remote_items) == text(local_items)
    assert remote_items[-1].reason == local_items[-1].reason and remote_items[-1].stop == local_items[-1].stop
    assert remote_items[0].prompt_tokens == local_items[0].prompt_tokens


def test_models_reports_the_name_and_context(tiny, tiny_server):
    backend = RemoteBackend.connect(tiny_server.url, tokenizer=tiny.out)

    assert backend.name == tiny.engine.metadata.name
    assert backend.context_length == tiny.engine.metadata.max_length


def test_served_model_name_and_api_key(tiny, serve_model, monkeypatch):
    args = ("--api-key-env", "TINY_KEY", "--served-model-name", "tiny-glm")
    server = serve_model(tiny.out, *args, env={"TINY_KEY": "s3cret"})
    monkeypatch.setenv("TINY_KEY", "s3cret")

    backend = RemoteBackend.connect(server.url, api_key_env="TINY_KEY", tokenizer=tiny.out)
    monkeypatch.setenv("TINY_KEY", "wrong")
    with pytest.raises(RemoteAuthError, match="TINY_KEY") as caught:
        RemoteBackend.connect(server.url, api_key_env="TINY_KEY", tokenizer=tiny.out)

    assert backend.model == "tiny-glm"  # what requests name
    assert backend.name == f"{tiny.engine.metadata.name} as tiny-glm"  # what it shows: the model's own name too
    assert "401" in str(caught.value)
    assert server.stop() == 0  # SIGTERM: a clean exit


def test_serve_without_its_key_variable_exits_2_saying_what_to_do(tiny, monkeypatch, capsys):
    monkeypatch.delenv("UNSET_KEY_VARIABLE", raising=False)

    code = main(["serve", str(tiny.out), "--api-key-env", "UNSET_KEY_VARIABLE"])

    assert code == 2
    assert "UNSET_KEY_VARIABLE" in capsys.readouterr().err


def test_the_served_key_loses_the_whitespace_around_it_as_the_client_does(tiny, serve_model, monkeypatch):
    key = " s3cret\n"  # e.g. read from a file: one variable for both ends of the connection
    server = serve_model(tiny.out, "--api-key-env", "TINY_KEY", env={"TINY_KEY": key})
    monkeypatch.setenv("TINY_KEY", key)

    backend = RemoteBackend.connect(server.url, api_key_env="TINY_KEY", tokenizer=tiny.out)

    assert backend.name == tiny.engine.metadata.name


def test_serve_with_a_key_no_header_can_carry_exits_2_naming_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPACED_KEY", "two words")

    # no model there: the key is checked first, before a load that can take minutes
    code = main(["serve", str(tmp_path / "no-model"), "--api-key-env", "SPACED_KEY"])

    err = capsys.readouterr().err
    assert code == 2
    assert "SPACED_KEY" in err and "printable ASCII" in err
    assert "two words" not in err


def test_serve_on_a_busy_port_exits_2_saying_what_to_do(tiny, tiny_server, capsys):
    port = tiny_server.url.rsplit(":", 1)[1].removesuffix("/v1")

    code = main(["serve", str(tiny.out), "--port", port, "--device", "cpu"])

    assert code == 2
    assert "--port" in capsys.readouterr().err


def test_a_prompt_too_long_rolls_the_turn_back_as_locally(tiny, tiny_server):
    remote = Conversation(RemoteBackend.connect(tiny_server.url, tokenizer=tiny.out), sampling=GREEDY)
    local = Conversation(LocalBackend.from_engine(tiny.engine), sampling=GREEDY)
    too_long = "weather " * 400

    for conversation in (remote, local):
        with pytest.raises(PromptTooLongError, match="Shorten the prompt"):
            conversation.send(too_long).text()

    assert remote.messages == local.messages == ()


def test_the_server_answers_a_prompt_too_long_with_a_400_before_streaming(tiny, tiny_server):
    parts = urlsplit(tiny_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = {"prompt": "weather " * 400, "stream": True}

    connection.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()

    assert response.status == 400
    assert "Shorten the prompt" in json.loads(response.read())["error"]["message"]
    connection.close()


def test_a_prompt_too_long_is_explained_to_the_client_not_to_the_operator(tiny_server):
    parts = urlsplit(tiny_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = {"prompt": "weather " * 400}  # too long for the engine, not for the server's bound: the engine says so

    connection.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    error = json.loads(connection.getresponse().read())["error"]
    connection.close()

    assert error["code"] == "context_length_exceeded"
    assert "max-length" not in error["message"] and "max_length" not in error["message"]
    assert "Shorten the prompt" in error["message"]


@pytest.mark.parametrize("endpoint", ["completions", "chat/completions"])
def test_a_long_prompt_keeps_the_stream_alive_while_it_is_read(tiny, endpoint):
    """A CPU can read a long prompt for minutes; each chunk read sends an SSE comment (which clients skip), so a
    client waiting for the next piece (glm-nb's remote backend gives up after 120 s) hears the server is alive."""
    import threading

    from glm_nb.serve import GlmServer

    backend = LocalBackend.from_engine(tiny.engine)
    backend.generator.prefill_chunk = 8
    server = GlmServer(backend, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        words = "Jupyter notebooks run " * 12
        body = {"prompt": f"[gMASK]<sop><|user|>\n{words}<|assistant|>"} if endpoint == "completions" else {
            "messages": [{"role": "user", "content": words}]
        }  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
        connection.request("POST", f"/v1/{endpoint}", json.dumps({**body, "max_tokens": 4, "stream": True}))
        response = connection.getresponse()
        lines = response.read().decode().splitlines()
    finally:
        server.stop()
        thread.join(30)
        server.server_close()
    assert response.status == 200 and lines[-2] == "data: [DONE]"
    comments = [i for i, line in enumerate(lines) if line == ": reading the prompt"]
    choices = [(i, json.loads(line[6:])["choices"]) for i, line in enumerate(lines) if line.startswith("data: {")]
    delta = lambda c: c.get("text") or c.get("delta", {}).get("content") or c.get("finish_reason")  # noqa: E731
    answer = [i for i, c in choices if c and delta(c[0])]  # the answer's pieces and its end (not the role chunk)
    assert len(comments) >= 4 and max(comments) < min(answer)  # all while the prompt was read, before the answer
