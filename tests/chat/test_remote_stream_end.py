"""How RemoteBackend ends a turn whose stream said why it stopped but then neither sent `[DONE]` nor closed: it
waits a short grace for the usage chunk, then ends the turn whole, never waiting out the read timeout. The server
is a fake (tests/fake_openai_server.py) that stalls until the client hangs up."""

from __future__ import annotations

import time

import pytest
from fake_openai_server import chunk, data_event, silence, stream

from glm_nb.chat import Conversation
from glm_nb.chat.remote import RemoteBackend

STALL_S = 30.0  # far below the read timeout below: a client that waits for the timeout outlasts the stall
USAGE = {"id": "cmpl-1", "object": "text_completion", "choices": [],
         "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}  # fmt: skip


@pytest.fixture
def conversation(fake, tokenizer_folder):
    return Conversation(RemoteBackend.connect(fake.url, tokenizer=tokenizer_folder, timeout=2 * STALL_S))


def finished_then_stalled(*after: bytes):
    """Stream two chunks, the second with finish_reason "stop", then `after`, then say nothing (no [DONE]) until
    the client hangs up or STALL_S pass."""

    def write(handler) -> None:
        stream(chunk("Hello"), chunk(" world", "stop"), *after)(handler)
        silence(handler, STALL_S)

    return write


def test_a_stream_stalled_after_its_finish_reason_ends_the_turn_before_the_server_gives_up(fake, conversation):
    fake.completions = finished_then_stalled()

    reply = conversation.send("Hi")

    assert reply.text() == "Hello world" and reply.finish_reason == "stop"
    assert conversation.messages[-1].end == "stop"
    # the client hung up while the server was still stalling (waiting for the read timeout, it would outlast it)
    assert fake.hung_up.wait(10)


def test_a_usage_chunk_sent_before_the_stall_is_kept(fake, conversation):
    fake.completions = finished_then_stalled(data_event(USAGE))

    reply = conversation.send("Hi")

    assert reply.text() == "Hello world"
    assert reply.usage().new_tokens == 7  # the server's count, not the two chunks'
    assert fake.hung_up.wait(10)


def test_a_usage_chunk_that_came_while_the_caller_was_busy_is_kept(fake, tokenizer_folder):
    """The grace counts silence: a usage chunk that arrived in time is read, however long the caller took."""
    from glm_nb.chat.backend import CompletionEnd, TextChunk
    from glm_nb.engine import SamplingParams

    def write(handler) -> None:
        stream(chunk("Hello"), chunk(" world", "stop"))(handler)
        silence(handler, 0.3)  # the usage comes 0.3 s after the finish reason, well within the grace
        handler.wfile.write(data_event(USAGE))
        handler.wfile.flush()
        silence(handler, STALL_S)

    fake.completions = write
    backend = RemoteBackend.connect(fake.url, tokenizer=tokenizer_folder, timeout=2 * STALL_S)
    items, finished = [], False
    for item in backend.complete("Hi", SamplingParams(max_new_tokens=10)):
        items.append(item)
        finished = finished or (isinstance(item, TextChunk) and item.text.endswith("world"))
        if finished and isinstance(item, TextChunk) and not item.text and not item.tokens:
            time.sleep(2.5)  # busy past the grace on an idle tick (e.g. redrawing) while the usage arrives

    end = next(item for item in items if isinstance(item, CompletionEnd))
    assert end.tokens == 5  # the server's 7 less the two chunks counted already (0 when its usage is lost)


def test_a_stream_that_keeps_sending_after_its_finish_reason_still_ends(fake, conversation, monkeypatch):
    """Events after the finish reason (here empty chunks, faster than the reader's idle tick, so that it is never
    silent) are read, but only for a while: the grace plus its limit, not until the server stops (STALL_S)."""
    import glm_nb.chat.remote as remote

    monkeypatch.setattr(remote, "_FINISH_LIMIT_S", 1.0, raising=False)
    empty = data_event({"id": "cmpl-1", "object": "text_completion", "choices": []})

    def write(handler) -> None:
        stream(chunk("Hello"), chunk(" world", "stop"))(handler)
        deadline = time.monotonic() + STALL_S
        while time.monotonic() < deadline:
            handler.wfile.write(empty)
            handler.wfile.flush()
            silence(handler, 0.02)

    fake.completions = write

    reply = conversation.send("Hi")

    assert reply.text() == "Hello world" and reply.finish_reason == "stop"
    assert fake.hung_up.wait(10)  # the client left while the server was still sending
