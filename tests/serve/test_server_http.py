"""`glm-nb serve`'s HTTP surface, spoken to directly (http.client): OpenAI shapes, SSE, auth, errors, the FIFO
queue and a clean shutdown. The model is scripted (scripted_server.py), so every answer is known."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from glm_nb.chat import Conversation, ScriptedGenerator, TextDelta
from glm_nb.chat.remote import RemoteBackend, RemoteHTTPError
from glm_nb.engine import SamplingParams, Tokenizer
from glm_nb.nano import chat_template
from glm_nb.serve import GlmServer, serve

CALL = 'get_weather\n{"city": "Paris"}<|observation|>'
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def request(server, method, path, body=None, headers=None):
    """(status, headers, raw body) of one request."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, "/v1" + path if path != "/health" else path, body=data, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def sse(raw: bytes) -> list:
    events = [line[len("data: ") :] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_models_lists_the_served_model(scripted_server):
    server = scripted_server([])

    status, _, raw = request(server, "GET", "/models")

    assert status == 200
    assert [m["id"] for m in json.loads(raw)["data"]] == ["scripted"]


def test_completion_drops_special_tokens_unless_asked_to_keep_them(scripted_server, tokenizer_folder):
    server = scripted_server(["\nSee<|assistant|>you", "\nSee<|assistant|>you"])
    user = Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id("<|user|>")

    _, _, plain = request(server, "POST", "/completions", {"prompt": "<|user|>\nHi<|assistant|>", "max_tokens": 50})
    _, _, raw = request(
        server, "POST", "/completions",
        {"prompt": "<|user|>\nHi<|assistant|>", "max_tokens": 50, "skip_special_tokens": False,
         "include_stop_str_in_output": True},
    )  # fmt: skip

    plain_choice, raw_choice = json.loads(plain)["choices"][0], json.loads(raw)["choices"][0]
    assert plain_choice["text"] == "\nSeeyou" and plain_choice["finish_reason"] == "stop"
    assert raw_choice["text"] == "\nSee<|assistant|>you<|user|>"
    assert raw_choice["stop_reason"] == user  # as vLLM: generation_config's stop tokens by id
    assert json.loads(raw)["usage"]["completion_tokens"] > 0


def test_extra_stop_strings_end_the_completion(scripted_server):
    server = scripted_server(["\nOne. Two. Three."])

    _, _, raw = request(server, "POST", "/completions", {"prompt": "x", "max_tokens": 50, "stop": ["Two"]})

    choice = json.loads(raw)["choices"][0]
    assert (choice["text"], choice["finish_reason"], choice["stop_reason"]) == ("\nOne. ", "stop", "Two")


def test_streamed_completion_is_server_sent_events(scripted_server):
    server = scripted_server(["\nHello there"])

    status, headers, raw = request(
        server, "POST", "/completions",
        {"prompt": "x", "max_tokens": 50, "stream": True, "stream_options": {"include_usage": True}},
    )  # fmt: skip

    chunks = sse(raw)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "\nHello there"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0


def test_chat_completion_returns_openai_tool_calls(scripted_server):
    server = scripted_server([CALL])
    body = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}

    _, _, raw = request(server, "POST", "/chat/completions", body)

    choice = json.loads(raw)["choices"][0]
    call = choice["message"]["tool_calls"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert "get_weather" in server.prompts()[0]  # the tool was rendered into the template's system block


def test_streamed_chat_sends_the_tool_call_after_the_text_it_held_back(scripted_server):
    server = scripted_server([CALL, "\nIt is 21C."])
    messages = [{"role": "user", "content": "Weather in Paris?"}]

    _, _, first = request(
        server, "POST", "/chat/completions", {"messages": messages, "tools": [WEATHER_TOOL], "stream": True}
    )
    chunks = sse(first)
    call = next(c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"])
    follow_up = messages + [
        {"role": "assistant", "content": "", "tool_calls": [{k: call[k] for k in ("id", "type", "function")}]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 21}'},
    ]
    _, _, second = request(server, "POST", "/chat/completions", {"messages": follow_up, "tools": [WEATHER_TOOL]})

    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert not any(c["choices"][0]["delta"].get("content") for c in chunks)  # the call's text was not shown
    assert json.loads(second)["choices"][0]["message"]["content"] == "It is 21C."
    assert '<|observation|>\n{"temp": 21}' in server.prompts()[1]


def test_chat_completion_of_a_z1_template_returns_reasoning_content(scripted_server):
    reply = "Two and two make four.</think>\nThe answer is 4."
    server = scripted_server([reply, reply], template=chat_template("z1"))
    body = {"messages": [{"role": "user", "content": "2+2?"}]}

    _, _, whole = request(server, "POST", "/chat/completions", body)
    _, _, streamed = request(server, "POST", "/chat/completions", {**body, "stream": True})

    message = json.loads(whole)["choices"][0]["message"]
    assert message["reasoning_content"] == "Two and two make four." and message["content"] == "The answer is 4."
    deltas = [c["choices"][0]["delta"] for c in sse(streamed)]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Two and two make four."
    assert "".join(d.get("content", "") for d in deltas) == "The answer is 4."
    assert server.prompts()[0].endswith("<think>")


def test_include_reasoning_false_leaves_the_thinking_out_as_vllm_does(scripted_server):
    reply = "Two and two make four.</think>\nThe answer is 4."
    server = scripted_server([reply, reply], template=chat_template("z1"))
    body = {"messages": [{"role": "user", "content": "2+2?"}], "include_reasoning": False}

    _, _, whole = request(server, "POST", "/chat/completions", body)
    _, _, streamed = request(server, "POST", "/chat/completions", {**body, "stream": True})

    assert json.loads(whole)["choices"][0]["message"] == {"role": "assistant", "content": "The answer is 4."}
    deltas = [c["choices"][0]["delta"] for c in sse(streamed)]
    assert not any("reasoning_content" in d for d in deltas)
    assert "".join(d.get("content", "") for d in deltas) == "The answer is 4."


def test_chat_stop_strings_end_the_answer_as_in_completions(scripted_server):
    server = scripted_server(["\nOne. Two. Three.", "\nOne. Two. Three."])
    body = {"messages": [{"role": "user", "content": "Count"}], "stop": ["Two"]}

    status, _, whole = request(server, "POST", "/chat/completions", body)
    _, _, streamed = request(server, "POST", "/chat/completions", {**body, "stream": True})

    choice = json.loads(whole)["choices"][0]
    assert status == 200
    assert (choice["message"]["content"], choice["finish_reason"]) == ("One.", "stop")
    chunks = sse(streamed)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "One."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_chat_messages_that_are_not_objects_get_a_400(scripted_server):
    server = scripted_server([])

    status, _, raw = request(server, "POST", "/chat/completions", {"messages": ["Hi"]})

    assert status == 400
    assert "'messages' must be a non-empty list" in json.loads(raw)["error"]["message"]


class _BrokenBackend:
    """A backend with a bug: every completion raises a plain exception."""

    name = "broken"
    chat_template = None
    context_length = None

    def complete(self, prompt, sampling):
        raise RuntimeError("engine bug")


def test_an_unexpected_error_is_a_500_json_answer_not_a_dropped_connection(capsys):
    server = GlmServer(_BrokenBackend(), port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        status, _, raw = request(server, "POST", "/completions", {"prompt": "x"})
    finally:
        server.stop()
        thread.join(30)
        server.server_close()

    assert status == 500
    assert "RuntimeError: engine bug" in json.loads(raw)["error"]["message"]
    assert "RuntimeError: engine bug" in capsys.readouterr().err  # the traceback is in the server's log


def test_every_client_the_queue_can_hold_can_connect_at_once(tokenizer_folder):
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    backend = ScriptedGenerator(tokenizer, []).backend(chat_template=None)
    server = GlmServer(backend, port=0, max_queue=16, quiet=True)
    clients, thread = [], threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    try:  # not serving yet: every connection waits in the listen backlog, as in a burst of clients
        for _ in range(server.queue.max_waiting + 1):
            clients.append(socket.create_connection(server.server_address[:2], timeout=5))
        thread.start()
        for client in clients:
            client.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        answers = [client.makefile("rb").readline() for client in clients]
    finally:
        if thread.is_alive():
            server.stop()
            thread.join(30)
        for client in clients:
            client.close()
        server.server_close()

    assert answers == [b"HTTP/1.1 200 OK\r\n"] * 17


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        ({"prompt": "x", "n": 2}, "'n' must be 1"),
        ({"prompt": "x", "echo": True}, "'echo' is not supported"),
        ({"prompt": ""}, "non-empty string"),
        ({"prompt": "x", "temperature": -1}, "'temperature' must be >= 0"),
    ],
)
def test_bad_requests_get_a_400_that_says_why(scripted_server, body, message):
    server = scripted_server([])

    status, _, raw = request(server, "POST", "/completions", body)

    assert status == 400
    assert message in json.loads(raw)["error"]["message"]


def test_wrong_or_missing_token_gets_401_json(scripted_server):
    server = scripted_server(["\nHi."], api_key="sesame")

    missing = request(server, "GET", "/models")
    wrong = request(server, "POST", "/completions", {"prompt": "x"}, {"Authorization": "Bearer nope"})
    right = request(server, "POST", "/completions", {"prompt": "x"}, {"Authorization": "Bearer sesame"})

    for status, headers, raw in (missing, wrong):
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization: Bearer" in json.loads(raw)["error"]["message"]
    assert right[0] == 200
    assert request(server, "GET", "/health")[0] == 200  # no token needed to check liveness


def test_unknown_path_is_a_404_listing_the_endpoints(scripted_server):
    server = scripted_server([])

    status, _, raw = request(server, "POST", "/embeddings", {})

    assert status == 404 and "/v1/chat/completions" in json.loads(raw)["error"]["message"]


def test_a_known_path_with_the_wrong_method_is_a_json_405(scripted_server):
    server = scripted_server([])

    get_chat = request(server, "GET", "/chat/completions")
    delete_models = request(server, "DELETE", "/models")

    for (status, headers, raw), allowed in ((get_chat, "POST, OPTIONS"), (delete_models, "GET, HEAD, OPTIONS")):
        assert status == 405 and headers["Allow"] == allowed
        assert f"takes {allowed.split(',')[0]}, not" in json.loads(raw)["error"]["message"]


def test_requests_decode_one_at_a_time_in_arrival_order(scripted_server):
    server = scripted_server(["\nfirst " * 8, "\nsecond", "\nthird"], token_delay=0.05)
    answers: dict[str, str] = {}

    def ask(name):
        _, _, raw = request(server, "POST", "/completions", {"prompt": name, "max_tokens": 500})
        answers[name] = json.loads(raw)["choices"][0]["text"]

    threads = []
    for name, ready in (
        ("a", lambda h: h["busy"]),
        ("b", lambda h: h["waiting"] == 1),
        ("c", lambda h: h["waiting"] == 2),
    ):
        threads.append(threading.Thread(target=ask, args=(name,)))
        threads[-1].start()
        assert ready(server.wait_health(ready))
    for thread in threads:
        thread.join(60)

    assert answers == {"a": "\nfirst " * 8, "b": "\nsecond", "c": "\nthird"}
    assert server.health()["completed"] == 3


def test_sigterm_mid_stream_tells_the_client_and_exits_cleanly(scripted_server, tokenizer_folder):
    server = scripted_server(["\n" + "word " * 200], token_delay=0.02)
    conversation = Conversation(RemoteBackend.connect(server.url, tokenizer=tokenizer_folder))
    reply = conversation.send("Talk")

    with pytest.raises(RemoteHTTPError, match="shutting down"):
        for event in reply:
            if isinstance(event, TextDelta):
                server.process.terminate()

    assert server.process.wait(30) == 0
    assert conversation.messages[-1].end == "interrupted"


def test_a_client_that_leaves_while_queued_never_runs(scripted_server):
    server = scripted_server(["\nfirst " * 6, "\nsecond"], token_delay=0.05)
    first = threading.Thread(
        target=request, args=(server, "POST", "/completions", {"prompt": "a", "max_tokens": 500})
    )
    first.start()
    server.wait_health(lambda h: h["busy"])
    parts = urlsplit(server.url)
    leaving = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    leaving.request(
        "POST", "/v1/completions", body=json.dumps({"prompt": "b"}), headers={"Content-Type": "application/json"}
    )
    assert server.wait_health(lambda h: h["waiting"] == 1)["waiting"] == 1

    leaving.close()  # hangs up while waiting its turn
    health = server.wait_health(lambda h: h["waiting"] == 0)
    first.join(60)
    _, _, raw = request(server, "POST", "/completions", {"prompt": "c", "max_tokens": 500})

    assert health["waiting"] == 0
    assert json.loads(raw)["choices"][0]["text"] == "\nsecond"  # the reply "b" would have taken is still there
    assert len(server.prompts()) == 2


def test_serve_runs_in_a_thread_and_stop_ends_it(tokenizer_folder):
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    backend = ScriptedGenerator(tokenizer, ["\nIn-process."]).backend(chat_template=None, name="inline")
    ready: list[GlmServer] = []
    output = io.StringIO()
    thread = threading.Thread(target=serve, kwargs={"backend": backend, "port": 0, "quiet": True, "out": output,
                                                    "on_ready": ready.append})  # fmt: skip
    thread.start()
    for _ in range(500):  # bounded wait for the server to listen
        if ready:
            break
        threading.Event().wait(0.01)
    server = ready[0]

    reply = RemoteBackend.connect(server.url, tokenizer=tokenizer_folder)
    items = list(reply.complete("<|user|>\nHi<|assistant|>", SamplingParams(max_new_tokens=20)))
    server.stop()
    thread.join(30)

    assert "".join(getattr(i, "text", "") for i in items) == "\nIn-process."
    assert not thread.is_alive()
    assert output.getvalue() == f"glm-nb serve: inline on {server.url}\n"
