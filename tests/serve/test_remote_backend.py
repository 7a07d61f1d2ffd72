"""RemoteBackend against a real server process (scripted model): chat, tool calls, Z1, streaming, stop, a killed
server, tokens, connection errors and timeouts. The scripted model makes the model's side exact, so each test checks
that the text survives the HTTP + SSE round trip and that the conversation behaves as on the local engine."""

from __future__ import annotations

import signal
import socket

import pytest

from glm_nb.chat import Conversation, Rumination, ScriptedGenerator, TextDelta, ThinkingDelta
from glm_nb.chat.remote import (
    RemoteAuthError,
    RemoteBackend,
    RemoteConnectionError,
    RemoteHTTPError,
    RemoteStreamError,
    RemoteTimeoutError,
)
from glm_nb.engine import SamplingParams, Tokenizer
from glm_nb.errors import GlmError

CALL = 'get_weather\n{"city": "Paris"}<|observation|>'
LONG = "\n" + "Paris is sunny today. " * 60


def get_weather(city: str) -> dict:
    """The weather in a city.

    Args:
        city: the city's name
    """
    return {"city": city, "temp": 21}


def _same_ids(messages: list[dict], ids_from: list[dict]) -> list[dict]:
    """`messages` with the tool-call ids of `ids_from` (ids are random per call)."""
    out = []
    for message, other in zip(messages, ids_from):
        message = dict(message)
        if "tool_call_id" in message:
            message["tool_call_id"] = other.get("tool_call_id")
        if "tool_calls" in message:
            message["tool_calls"] = [{**c, "id": o["id"]} for c, o in zip(message["tool_calls"], other["tool_calls"])]
        out.append(message)
    return out


def connect(server, **options) -> RemoteBackend:
    return RemoteBackend.connect(server.url, tokenizer=server.tokenizer_folder, **options)


@pytest.fixture
def server_with(scripted_server, tokenizer_folder):
    def start(replies, **options):
        server = scripted_server(replies, **options)
        server.tokenizer_folder = tokenizer_folder
        return server

    return start


def test_chat_streams_text_in_pieces(server_with):
    server = server_with(["\nHello there, friend!"])
    conversation = Conversation(connect(server))

    events = list(conversation.send("Hi"))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3  # streamed token by token, not in one piece
    assert "".join(deltas) == "Hello there, friend!"
    assert conversation.messages[-1].end == "stop"


def test_tool_call_round_trip_sends_the_same_prompts_as_the_local_engine(server_with, tokenizer_folder):
    replies = [CALL, "\nIt is 21 degrees in Paris."]
    server = server_with(replies)
    remote = Conversation(connect(server), tools=[get_weather])
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    generator = ScriptedGenerator(tokenizer, replies)
    local = Conversation(generator.backend(chat_template=remote.template.source), tools=[get_weather])

    remote_reply = remote.send("Weather in Paris?")
    local_reply = local.send("Weather in Paris?")

    assert remote_reply.text() == local_reply.text() == "It is 21 degrees in Paris."
    assert [r.content for r in remote_reply.tool_results()] == ['{"city": "Paris", "temp": 21}']
    assert remote.to_openai() == _same_ids(local.to_openai(), remote.to_openai())
    assert server.prompts() == [tokenizer.decode(p) for p in generator.prompts]  # observation rendered the same


def test_several_tool_calls_keep_the_assistant_token_between_them(server_with):
    two_calls = 'get_weather\n{"city": "Paris"}<|assistant|>get_weather\n{"city": "Rome"}<|observation|>'
    server = server_with([two_calls, "\nBoth are warm."])
    conversation = Conversation(connect(server), tools=[get_weather])

    reply = conversation.send("Paris and Rome?")

    assert [c.arguments for c in reply.tool_calls()] == [{"city": "Paris"}, {"city": "Rome"}]
    assert reply.text() == "Both are warm."


def test_z1_thinking_is_split_from_the_answer(server_with):
    server = server_with(["Two and two make four.</think>\nThe answer is 4."])
    conversation = Conversation(connect(server), force_thinking=True)

    reply = conversation.send("2+2?")
    events = reply.events()

    assert reply.thinking() == "Two and two make four."
    assert reply.text() == "The answer is 4."
    assert any(isinstance(e, ThinkingDelta) for e in events)
    assert server.prompts()[0].endswith("<think>")


def test_cancel_mid_answer_keeps_the_partial_text_and_frees_the_server(server_with):
    server = server_with([LONG, "\nNext."], token_delay=0.01)
    conversation = Conversation(connect(server))
    reply = conversation.send("Tell me about Paris.")

    seen = []
    for event in reply:
        if isinstance(event, TextDelta):
            seen.append(event.text)
            if len(seen) == 3:
                reply.cancel()

    assert reply.finish_reason == "cancelled"
    last = conversation.messages[-1]
    assert last.end == "interrupted" and last.text == "".join(seen).strip()
    assert server.wait_health(lambda h: h["cancelled"] == 1)["cancelled"] == 1  # the server stopped generating
    assert conversation.send("And then?").text() == "Next."


def test_server_killed_mid_stream_raises_a_clear_error_and_keeps_history(server_with, tokenizer_folder):
    server = server_with([LONG], token_delay=0.01)
    conversation = Conversation(connect(server))
    reply = conversation.send("Tell me about Paris.")
    seen = []

    with pytest.raises(RemoteStreamError, match="incomplete") as caught:
        for event in reply:
            if isinstance(event, TextDelta):
                seen.append(event.text)
                if len(seen) == 3:
                    server.kill()

    assert isinstance(caught.value, GlmError)
    user, partial = conversation.messages
    assert user.content == "Tell me about Paris." and partial.end == "interrupted"
    assert partial.text.startswith("".join(seen).strip())
    restarted = server_with(["\nBack again."])
    conversation.backend = connect(restarted)
    assert conversation.send("Still there?").text() == "Back again."
    assert "Tell me about Paris." in restarted.prompts()[0]


def test_wrong_token_is_a_clear_auth_error(server_with, monkeypatch):
    server = server_with(["\nHi."], api_key="right-key")
    monkeypatch.setenv("CLASS_KEY", "wrong-key")

    with pytest.raises(RemoteAuthError, match="CLASS_KEY") as caught:
        connect(server, api_key_env="CLASS_KEY")

    assert "401" in str(caught.value)
    monkeypatch.setenv("CLASS_KEY", "right-key")
    assert Conversation(connect(server, api_key_env="CLASS_KEY")).send("Hello").text() == "Hi."


def test_missing_key_variable_is_a_clear_error(server_with, monkeypatch):
    server = server_with([])
    monkeypatch.delenv("NO_SUCH_KEY_VARIABLE", raising=False)

    with pytest.raises(RemoteAuthError, match="NO_SUCH_KEY_VARIABLE is not set"):
        connect(server, api_key_env="NO_SUCH_KEY_VARIABLE")


def test_unknown_model_lists_the_served_ones(server_with):
    server = server_with([])

    with pytest.raises(RemoteHTTPError, match="serves scripted"):
        connect(server, model="GLM-4-32B-0414")


def test_connection_refused_is_a_clear_error(tokenizer_folder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there

    with pytest.raises(RemoteConnectionError, match="Check that the server is running"):
        RemoteBackend.connect(f"http://127.0.0.1:{port}", tokenizer=tokenizer_folder, timeout=5)


def test_a_silent_server_times_out(server_with):
    server = server_with(["\nSlow."], token_delay=2.0)
    conversation = Conversation(connect(server, timeout=0.3))

    with pytest.raises(RemoteTimeoutError, match="within 0.3 s"):
        conversation.send("Hi").text()

    assert conversation.messages[-1].end == "interrupted"


def test_the_token_limit_ends_with_length(server_with):
    server = server_with(["\nOne two three four five six seven eight nine ten."])
    conversation = Conversation(connect(server), sampling=SamplingParams(max_new_tokens=4))

    reply = conversation.send("Count")
    reply.finish()

    assert reply.finish_reason == "length"
    assert conversation.messages[-1].end == "length"


def test_rumination_over_the_server_sends_the_same_prompts_as_the_local_engine(
    server_with, tokenizer_folder, tmp_path
):
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny and 21 degrees today.\n")
    replies = [
        'I need facts.</think>{"name": "search", "arguments": {"query": "Beijing weather"}}',
        'Enough.</think>{"name": "finish", "arguments": {}}',
        "Time to write.</think>Beijing is sunny, 21 degrees 【0†source】.",
    ]
    server = server_with(replies)
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    generator = ScriptedGenerator(tokenizer, replies)
    remote_backend = connect(server)
    local = Rumination(generator.backend(chat_template=remote_backend.chat_template), corpus=tmp_path)

    remote_report = Rumination(remote_backend, corpus=tmp_path).run("Weather in Beijing?").report()
    local_report = local.run("Weather in Beijing?").report()

    assert remote_report.text == local_report.text == "Beijing is sunny, 21 degrees 【0†source】."
    assert [s.title for s in remote_report.sources] == ["Beijing weather"]
    assert server.prompts() == [tokenizer.decode(p) for p in generator.prompts]


def test_an_interrupt_while_waiting_for_the_server_stops_its_generation(server_with):
    server = server_with([LONG, "\nNext."], token_delay=0.2)
    conversation = Conversation(connect(server))
    reply = conversation.send("Tell me about Paris.")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            for event in reply:
                if isinstance(event, TextDelta):
                    signal.setitimer(signal.ITIMER_REAL, 0.05)  # lands while blocked reading the next token
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert conversation.messages[-1].end == "interrupted"
    assert server.wait_health(lambda h: h["cancelled"] == 1)["cancelled"] == 1  # the closed connection stopped it
    assert conversation.send("And then?").text() == "Next."
