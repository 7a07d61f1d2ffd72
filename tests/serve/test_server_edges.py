"""`glm-nb serve` at its edges: tool calls only when the client sent tools, OpenAI's error codes and nulls, bodies
that are not quite JSON, HEAD / OPTIONS, `/v1/models/{id}`, and start-up arguments. The server runs in a thread of
the test process over a scripted model (`inline_server`, conftest.py: cheaper than a process; none of these needs
signals)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from glm_nb import cli
from glm_nb.chat import ScriptedGenerator
from glm_nb.engine import Tokenizer
from glm_nb.serve import GlmServer, handler

CALL = 'get_weather\n{"city": "Paris"}<|observation|>'
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
PARIS_THEN_ROME = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
    {"role": "assistant", "content": "It is 21C in Paris."},
    {"role": "user", "content": "And in Rome?"},
]  # fmt: skip


def _ask(server: GlmServer, method: str, path: str, body=None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, path, body=data)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# -- chat answers ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tools", [{"tools": [WEATHER_TOOL], "tool_choice": "none"}, {}], ids=["none", "no-tools"])
def test_without_tools_to_call_a_call_shaped_answer_is_text(inline_server, tools):
    server = inline_server([CALL])

    _, _, raw = _ask(server, "POST", "/v1/chat/completions", {"messages": PARIS_THEN_ROME, **tools})

    choice = json.loads(raw)["choices"][0]
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == 'get_weather\n{"city": "Paris"}'


def test_an_answer_that_is_only_tool_calls_has_null_content(inline_server):
    server = inline_server([CALL])

    _, _, raw = _ask(server, "POST", "/v1/chat/completions", {"messages": PARIS_THEN_ROME, "tools": [WEATHER_TOOL]})

    message = json.loads(raw)["choices"][0]["message"]
    assert message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert message["content"] is None


def test_a_prompt_longer_than_the_context_has_openais_error_code(inline_server):
    server = inline_server(max_length=64)  # "weather " * 100: about 100 tokens, not enough bytes for the bound

    status, _, raw = _ask(server, "POST", "/v1/completions", {"prompt": "weather " * 100})

    error = json.loads(raw)["error"]
    assert (status, error["code"], error["type"]) == (400, "context_length_exceeded", "invalid_request_error")
    assert error["message"].startswith("This model's maximum context length is 64 tokens")


# -- vLLM's stop_token_ids -----------------------------------------------------------------------------------------
def test_stop_token_ids_naming_a_special_token_end_a_completion_there(inline_server, tokenizer_folder):
    server = inline_server(["Hello<|assistant|>never sent", "Hello<|assistant|>never sent"])
    assistant = Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id("<|assistant|>")
    body = {"prompt": "Hi", "max_tokens": 50, "stop_token_ids": [assistant]}

    _, _, whole = _ask(server, "POST", "/v1/completions", body)
    _, _, streamed = _ask(server, "POST", "/v1/completions", {**body, "stream": True})

    choice = json.loads(whole)["choices"][0]
    assert (choice["text"], choice["finish_reason"], choice["stop_reason"]) == ("Hello", "stop", assistant)
    events = [json.loads(line[6:]) for line in streamed.decode().splitlines() if line.startswith("data: {")]
    assert "".join(e["choices"][0]["text"] for e in events) == "Hello"
    assert events[-1]["choices"][0]["stop_reason"] == assistant


def test_stop_token_ids_end_a_chat_answer_too(inline_server, tokenizer_folder):
    server = inline_server(["\nOne.<|assistant|>Two."])
    assistant = Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id("<|assistant|>")
    body = {"messages": [{"role": "user", "content": "Count"}], "stop_token_ids": [assistant]}

    _, _, raw = _ask(server, "POST", "/v1/chat/completions", body)

    choice = json.loads(raw)["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("One.", "stop")


def _events(raw: bytes) -> list[dict]:
    return [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: {")]


def test_a_chat_answer_says_which_stop_ended_it_as_vllms_stop_reason(inline_server, tokenizer_folder):
    server = inline_server(["\nOne.<|assistant|>Two."] * 2 + ["\nOne. Two. Three."] * 2)
    assistant = Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id("<|assistant|>")
    ask = {"messages": [{"role": "user", "content": "Count"}]}

    _, _, by_id = _ask(server, "POST", "/v1/chat/completions", {**ask, "stop_token_ids": [assistant]})
    _, _, streamed = _ask(server, "POST", "/v1/chat/completions", {**ask, "stop": ["<|assistant|>"], "stream": True})
    _, _, by_text = _ask(server, "POST", "/v1/chat/completions", {**ask, "stop": ["Two"]})
    _, _, cut = _ask(server, "POST", "/v1/chat/completions", {**ask, "max_tokens": 2})

    assert json.loads(by_id)["choices"][0]["stop_reason"] == assistant
    assert [e["choices"][0]["stop_reason"] for e in _events(streamed)][-2:] == [None, "<|assistant|>"]
    assert json.loads(by_text)["choices"][0]["stop_reason"] == "Two"
    assert (json.loads(cut)["choices"][0]["finish_reason"], json.loads(cut)["choices"][0]["stop_reason"]) == (
        "length",
        None,
    )


def test_continuous_usage_stats_put_the_tokens_so_far_in_every_completion_chunk(inline_server):
    server = inline_server(["Hello"])
    options = {"include_usage": True, "continuous_usage_stats": True}

    _, _, raw = _ask(server, "POST", "/v1/completions", {"prompt": "Hi", "stream": True, "stream_options": options})

    events = _events(raw)
    counts = [e["usage"]["completion_tokens"] for e in events]
    assert counts == sorted(counts) and counts[-1] == counts[-2] and counts[0] >= 1
    assert all(
        e["usage"]["total_tokens"] == e["usage"]["prompt_tokens"] + e["usage"]["completion_tokens"] for e in events
    )
    assert events[-1]["choices"] == []  # include_usage's closing chunk, as without continuous_usage_stats


def test_stop_token_ids_naming_an_ordinary_token_are_refused_with_its_text(inline_server, tokenizer_folder):
    server = inline_server(["Hello"])
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    ordinary = tokenizer.encode("Hello")[0]

    status, _, raw = _ask(server, "POST", "/v1/completions", {"prompt": "Hi", "stop_token_ids": [ordinary]})

    message = json.loads(raw)["error"]["message"]
    assert status == 400 and "in 'stop'" in message
    assert f"{ordinary} is the ordinary token {tokenizer.decode([ordinary])!r}" in message


# -- vLLM's ignore_eos and min_tokens ----------------------------------------------------------------------------
def _completion(server: GlmServer, **body) -> tuple[dict, dict]:
    status, _, raw = _ask(server, "POST", "/v1/completions", {"prompt": "Hi", **body})
    reply = json.loads(raw)
    assert status == 200, reply
    return reply["choices"][0], reply["usage"]


def test_ignore_eos_generates_max_tokens_where_the_model_would_stop(inline_server):
    server = inline_server(["Hi", "Hi", "Hi"])  # then <|user|>, again and again

    stopped, stopped_usage = _completion(server, max_tokens=6)
    ignored, usage = _completion(server, max_tokens=6, ignore_eos=True)
    raw, _ = _completion(server, max_tokens=6, ignore_eos=True, skip_special_tokens=False)

    assert (stopped["text"], stopped["finish_reason"], stopped_usage["completion_tokens"]) == ("Hi", "stop", 3)
    assert (ignored["text"], ignored["finish_reason"], usage["completion_tokens"]) == ("Hi", "length", 6)
    assert raw["text"] == "Hi" + "<|user|>" * 4


def test_ignore_eos_still_stops_at_the_requests_own_stop_token_ids(inline_server, tokenizer_folder):
    server = inline_server(["Hi"])
    user = Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id("<|user|>")

    choice, usage = _completion(server, max_tokens=6, ignore_eos=True, stop_token_ids=[user])

    assert (choice["text"], choice["finish_reason"], choice["stop_reason"]) == ("Hi", "stop", user)


def test_a_chat_answer_under_ignore_eos_runs_to_max_tokens_without_the_stop_tokens_text(inline_server):
    server = inline_server(["\nHi"])
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 7, "ignore_eos": True}

    status, _, raw = _ask(server, "POST", "/v1/chat/completions", body)

    reply = json.loads(raw)
    assert status == 200
    assert (reply["choices"][0]["message"]["content"], reply["choices"][0]["finish_reason"]) == ("Hi", "length")
    assert reply["usage"]["completion_tokens"] == 7  # vLLM's skip_special_tokens drops <|user|> x 4 from the text


@pytest.mark.parametrize(
    ("stop", "min_tokens", "text"),
    [(".", 0, "1"), (".", 3, "1.2"), (".", 4, "1.2.3"), ("2.", 3, "1."), ("2.", 4, "1.2.3.4")],
)
def test_a_stop_string_ending_in_the_first_min_tokens_does_not_count(inline_server, stop, min_tokens, text):
    server = inline_server(["1.2.3.4"])  # one token a character

    choice, _ = _completion(server, max_tokens=20, stop=stop, min_tokens=min_tokens)

    assert choice["text"] == text  # as vLLM: "2." ends in token 4, after min_tokens 3, so it counts


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_min_tokens_beyond_max_tokens_is_a_400_naming_both(inline_server, path):
    server = inline_server()
    body = {"prompt": "Hi", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "min_tokens": 5}

    status, _, raw = _ask(server, "POST", path, body)

    assert status == 400
    assert "'min_tokens' (5) must not exceed 'max_tokens' (4)" in json.loads(raw)["error"]["message"]


# -- bodies ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", b'{"prompt": "hello", "top_k": NaN}'),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": Infinity}'),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "Hi"}], "seed": -Infinity}'),
    ],
)
def test_nan_and_infinity_in_a_body_are_a_400(inline_server, path, body):
    server = inline_server()

    status, _, raw = _ask(server, "POST", path, body)

    assert status == 400 and "not a JSON number" in json.loads(raw)["error"]["message"]


def test_json_nested_too_deeply_is_a_400(inline_server):
    server = inline_server()

    status, _, raw = _ask(server, "POST", "/v1/completions", b"[" * 100_000 + b"]" * 100_000)

    assert status == 400 and "nests" in json.loads(raw)["error"]["message"]


# -- methods and paths ----------------------------------------------------------------------------------------------
def test_head_answers_as_get_without_the_body(inline_server):
    server = inline_server()
    _, get_headers, _ = _ask(server, "GET", "/v1/models")

    with socket.create_connection(server.server_address[:2], timeout=30) as raw:
        raw.sendall(b"HEAD /v1/models HTTP/1.0\r\n\r\n")
        answer = b"".join(iter(lambda: raw.recv(4096), b""))

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""  # HTTP/1.1 answers a 1.0 request too
    assert f"Content-Length: {get_headers['Content-Length']}".encode() in head


def test_options_lists_the_methods_a_path_takes(inline_server):
    server = inline_server()

    chat = _ask(server, "OPTIONS", "/v1/chat/completions")
    unknown = _ask(server, "OPTIONS", "/v1/embeddings")

    assert (chat[0], chat[1]["Allow"], chat[2]) == (204, "POST, OPTIONS", b"")
    assert unknown[0] == 404 and json.loads(unknown[2])["error"]["code"] == "unknown_url"


def test_the_root_path_is_named_in_its_404(inline_server):
    server = inline_server()

    status, _, raw = _ask(server, "GET", "/")

    assert status == 404 and json.loads(raw)["error"]["message"].startswith("No GET / here;")


def test_one_model_is_retrieved_by_its_id_even_with_a_slash(inline_server):
    server = inline_server(model_name="THUDM/GLM-4-9B-0414")

    plain = _ask(server, "GET", "/v1/models/THUDM/GLM-4-9B-0414")
    quoted = _ask(server, "GET", "/v1/models/THUDM%2FGLM-4-9B-0414")

    for status, _, raw in (plain, quoted):
        assert status == 200 and json.loads(raw)["id"] == "THUDM/GLM-4-9B-0414"
        assert json.loads(raw)["object"] == "model"


def test_a_model_this_server_does_not_serve_is_a_json_404(inline_server):
    server = inline_server()

    status, _, raw = _ask(server, "GET", "/v1/models/gpt-4o")

    assert status == 404 and json.loads(raw)["error"]["code"] == "model_not_found"


# -- start-up -------------------------------------------------------------------------------------------------------
def test_an_ipv6_host_is_listened_on_as_ipv6(inline_server):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    server = inline_server(host="::1")

    status, _, raw = _ask(server, "GET", "/health")

    assert server.url == f"http://[::1]:{server.server_address[1]}/v1"
    assert status == 200 and json.loads(raw)["status"] == "ok"


def test_a_port_out_of_range_exits_2_before_loading_the_model(monkeypatch, capsys):
    monkeypatch.setattr(cli, "open_model", lambda *args, **kwargs: pytest.fail("the model was loaded"))

    code = cli.main(["serve", "some-model", "--port", "70000"])

    assert code == 2
    assert "--port 70000" in capsys.readouterr().err


# -- a stream that fails midway -------------------------------------------------------------------------------------
class _SlowScript(ScriptedGenerator):
    def generate_next_token(self) -> None:
        time.sleep(0.02)
        super().generate_next_token()


def test_a_stream_that_fails_midway_sends_the_error_then_done_as_vllm(tokenizer_folder):
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    generator = _SlowScript(tokenizer, ["\n" + "word " * 200])
    server = GlmServer(generator.backend(chat_template=None), port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        connection.request(
            "POST", "/v1/completions", json.dumps({"prompt": "Talk", "max_tokens": 500, "stream": True})
        )
        response = connection.getresponse()
        assert response.readline().startswith(b"data: {")  # the stream is under way
        threading.Thread(target=server.stop).start()  # the server stops: the answer cannot be finished
        rest = [line.decode().strip() for line in response.read().splitlines() if line.strip()]
        connection.close()
    finally:
        server.stop()
        thread.join(30)
        server.server_close()

    error = json.loads(rest[-2].removeprefix("data: "))["error"]
    assert "shutting down" in error["message"]
    assert rest[-1] == "data: [DONE]"  # vLLM ends a failed stream so too; clients wait for it


def test_a_client_gone_mid_stream_noticed_by_a_failed_write_counts_as_cancelled(tokenizer_folder, monkeypatch):
    """The watcher looks for a hang-up every 0.1 s, and sees none through a proxy that keeps its side open: a write
    to the gone client can fail first. The abandoned generation is cancelled all the same, and /health says so."""
    monkeypatch.setattr(handler, "watch_peer", lambda connection, cancel: cancel.wait())  # the write notices first
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    server = GlmServer(_SlowScript(tokenizer, ["\n" + "word " * 200]).backend(chat_template=None), port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=30) as client:
            body = json.dumps({"prompt": "Talk", "max_tokens": 500, "stream": True}).encode()
            head = f"POST /v1/completions HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            client.sendall(head + body)
            seen = b""
            while b"data: {" not in seen:  # the stream is under way; then the client leaves
                seen += client.recv(4096) or pytest.fail(f"the stream ended at once: {seen!r}")
        deadline = time.monotonic() + 20
        while server.counts == {"completed": 0, "cancelled": 0} and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = dict(server.counts)
    finally:
        server.stop()
        thread.join(30)
        server.server_close()

    assert counts == {"completed": 0, "cancelled": 1}
