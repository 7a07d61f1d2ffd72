"""A stream that waits in `glm-nb serve`'s queue says every few seconds that it is alive, so that a client whose read
times out (the remote backend's `timeout`) keeps its place instead of giving up, and retrying from the back of the
queue. The server runs in a thread over a scripted model that takes 20 ms a token."""

from __future__ import annotations

import threading
import time

import pytest

from glm_nb.chat import Conversation, RemoteBackend, ScriptedGenerator
from glm_nb.engine import Tokenizer
from glm_nb.engine.tokenizer import load_chat_template
from glm_nb.serve import GlmServer, handler


class _SlowScript(ScriptedGenerator):
    def generate_next_token(self) -> None:
        time.sleep(0.02)
        super().generate_next_token()


@pytest.fixture
def slow_server(tokenizer_folder):
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    replies = ["\n" + "word " * 25, "\nNext."]  # the first holds the model for about 2.5 s
    backend = _SlowScript(tokenizer, replies).backend(chat_template=load_chat_template(tokenizer_folder))
    server = GlmServer(backend, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.stop()
    thread.join(30)
    server.server_close()


def test_a_stream_waiting_for_the_model_keeps_a_client_with_a_short_timeout(
    slow_server, tokenizer_folder, monkeypatch
):
    monkeypatch.setattr(handler, "_WAITING_COMMENT_S", 0.2)
    first = Conversation(RemoteBackend.connect(slow_server.url, tokenizer=tokenizer_folder))
    ahead = threading.Thread(target=lambda: first.send("Talk").text())
    ahead.start()
    deadline = time.monotonic() + 10
    while not slow_server.queue.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    waiting = Conversation(RemoteBackend.connect(slow_server.url, tokenizer=tokenizer_folder, timeout=1.0))

    started = time.monotonic()
    answer = waiting.send("Hi").text()  # the model is busy for longer than the timeout
    waited = time.monotonic() - started
    ahead.join(30)

    assert answer == "Next."
    assert waited > 1.0  # it did wait past its timeout, kept alive by the comments
    assert slow_server.counts == {"completed": 2, "cancelled": 0}
