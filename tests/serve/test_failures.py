"""What a failure becomes for the client (`glm_nb.serve.failures`): the request's fault a 4xx, the server's own a 500
`server_error` pointing at the log (with the traceback there), in a stream an error event of the same type; a busy
server's 503 says when to retry (`Retry-After`); an unknown path is OpenAI's 404."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from glm_nb.chat import CompletionStart, Conversation, TextChunk
from glm_nb.chat.remote import RemoteBackend, RemoteHTTPError
from glm_nb.chat.remote_errors import RemoteConnectionError
from glm_nb.errors import GenerationError, SamplingError
from glm_nb.serve import GlmServer


class _FailingBackend:
    """A backend whose completions start, say "Hi", then raise `error`."""

    name = "failing"
    chat_template = None
    context_length = None

    def __init__(self, error: Exception):
        self.error = error

    def complete(self, prompt, sampling):
        yield CompletionStart(prompt_tokens=3)
        yield TextChunk("Hi")
        raise self.error


def _post(server, path: str, body: dict) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request("POST", path, body=json.dumps(body))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _answer_with(error: Exception, body: dict) -> tuple[int, bytes]:
    server = GlmServer(_FailingBackend(error), port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        status, _, raw = _post(server, "/v1/completions", body)
    finally:
        server.stop()
        thread.join(30)
        server.server_close()
    return status, raw


SERVERS_FAULTS = [
    GenerationError("The generator's state cannot do this."),
    RemoteConnectionError("Cannot reach http://gpu-box:8000/v1."),  # a remote backend's upstream is down
]


@pytest.mark.parametrize("error", SERVERS_FAULTS, ids=lambda e: type(e).__name__)
def test_the_servers_own_failure_is_a_500_pointing_at_its_log_not_the_clients_400(capsys, error):
    status, raw = _answer_with(error, {"prompt": "x"})

    answer = json.loads(raw)["error"]
    assert (status, answer["type"]) == (500, "server_error")
    assert str(error) in answer["message"] and "the server's log" in answer["message"]
    log = capsys.readouterr().err
    assert "Traceback" in log and type(error).__name__ in log


def test_a_glm_error_only_bad_input_raises_stays_a_400_without_a_traceback(capsys):
    status, raw = _answer_with(SamplingError("top_p must be a finite number, got nan"), {"prompt": "x"})

    answer = json.loads(raw)["error"]
    assert (status, answer["type"]) == (400, "invalid_request_error")
    assert answer["message"] == "top_p must be a finite number, got nan"
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "kind"),
    [(SERVERS_FAULTS[0], "server_error"), (SamplingError("seed must be >= 0"), "invalid_request_error")],
    ids=["server", "request"],
)
def test_a_stream_already_started_reports_the_same_type_in_its_error_event(error, kind):
    status, raw = _answer_with(error, {"prompt": "x", "stream": True})

    events = [line.removeprefix("data: ") for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    assert status == 200 and json.loads(events[0])["choices"][0]["text"] == "Hi"  # the stream had begun
    assert json.loads(events[-2])["error"]["type"] == kind
    assert events[-1] == "[DONE]"


def test_a_full_queue_says_when_to_retry_in_its_header_and_message(inline_server):
    server = inline_server(["\nHi."], max_queue=0)

    with server.queue.turn(threading.Event()):  # another request holds the model; none may wait
        status, headers, raw = _post(server, "/v1/completions", {"prompt": "x"})

    answer = json.loads(raw)["error"]
    assert (status, headers.get("Retry-After"), answer["type"]) == (503, "5", "server_busy")
    assert "retry in 5 s" in answer["message"]


def test_glm_nbs_remote_backend_reads_the_retry_after_serve_sends(inline_server, tokenizer_folder):
    server = inline_server(["\nHi."], max_queue=0)
    conversation = Conversation(RemoteBackend.connect(server.url, tokenizer=tokenizer_folder))

    with server.queue.turn(threading.Event()), pytest.raises(RemoteHTTPError) as caught:
        conversation.send("Hi").text()

    assert caught.value.status == 503 and str(caught.value).endswith("Retry in 5 s.")


def test_an_unknown_path_is_openais_404_with_the_paths_there_are(inline_server):
    server = inline_server()

    status, _, raw = _post(server, "/v1/embeddings", {"input": "x"})

    answer = json.loads(raw)["error"]
    assert (status, answer["type"], answer["code"]) == (404, "invalid_request_error", "unknown_url")
    assert "POST /v1/chat/completions" in answer["message"] and "base URL" in answer["message"]
