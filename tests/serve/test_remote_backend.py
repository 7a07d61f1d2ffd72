"""RemoteBackend against a real server process (scripted model): chat, tool calls, Z1, streaming, stop, a killed
server, tokens, connection errors and timeouts. The scripted model makes the model's side exact, so each test checks
that the text survives the HTTP + SSE round trip and that the conversation behaves as on the local engine."""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import traceback

import pytest
from fake_openai_server import DONE, FakeServer, answer, chunk, silence, start, stream
from IPython.core.ultratb import VerboseTB

from glm_nb.chat import (
    CompletionEnd,
    Conversation,
    Rumination,
    ScriptedGenerator,
    TextChunk,
    TextDelta,
    ThinkingDelta,
)
from glm_nb.chat.backend import StopOptions
from glm_nb.chat.remote import (
    RemoteAuthError,
    RemoteBackend,
    RemoteConnectionError,
    RemoteError,
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

    assert conversation.messages == ()  # nothing came back: the retry the error advises must not ask twice


def test_the_token_limit_ends_with_length(server_with):
    server = server_with(["\nOne two three four five six seven eight nine ten."])
    conversation = Conversation(connect(server), sampling=SamplingParams(max_new_tokens=4))

    reply = conversation.send("Count")
    reply.finish()

    assert reply.finish_reason == "length"
    assert conversation.messages[-1].end == "length"


def test_ignore_eos_and_min_tokens_reach_the_server_and_are_honoured(server_with):
    server = server_with(["Hi", "Hi"])  # then <|user|>, again and again
    backend = connect(server)

    ignored = list(backend.complete("Hi", SamplingParams(max_new_tokens=5), StopOptions(ignore_eos=True)))
    floor = list(backend.complete("Hi", SamplingParams(max_new_tokens=5), StopOptions(min_tokens=3)))

    assert "".join(i.text for i in ignored if isinstance(i, TextChunk)) == "Hi" + "<|user|>" * 3
    assert ignored[-1] == CompletionEnd("length")
    # the scripted model cannot avoid <|user|> as a real one would; the server still lets it end nothing before 3
    assert "".join(i.text for i in floor if isinstance(i, TextChunk)) == "Hi<|user|>"
    assert floor[-1].reason == "stop" and floor[-1].stop == "<|user|>"


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


# -- against a fake server: what real servers, proxies and TLS get wrong (tests/fake_openai_server.py) ------------
@pytest.fixture
def connect_fake(fake, tokenizer_folder):
    def connect_to(**options) -> RemoteBackend:
        return RemoteBackend.connect(fake.url, tokenizer=tokenizer_folder, **options)

    return connect_to


def test_a_key_read_from_a_file_is_sent_without_its_line_break(fake, connect_fake, monkeypatch):
    monkeypatch.setenv("GLM_TEST_KEY", "sk-SECRET123\n")  # open("key.txt").read()

    backend = connect_fake(api_key_env="GLM_TEST_KEY")

    assert fake.requests[-1].headers["Authorization"] == "Bearer sk-SECRET123"
    assert Conversation(backend).send("Hi").text() == "Hello world"


@pytest.mark.parametrize("key", ["\u201csk-SECRET123\u201d", "sk-SECRET123\nsk-other", "Bearer sk-SECRET123"])
def test_a_key_http_cannot_carry_is_an_auth_error_that_never_shows_it(connect_fake, monkeypatch, key):
    monkeypatch.setenv("GLM_TEST_KEY", key)

    with pytest.raises(RemoteAuthError, match="GLM_TEST_KEY holds") as caught:
        connect_fake(api_key_env="GLM_TEST_KEY")

    shown = "".join(traceback.format_exception(caught.value))
    assert "SECRET123" not in shown


def test_the_key_is_in_no_repr_nor_in_a_verbose_traceback(fake, connect_fake, monkeypatch):
    monkeypatch.setenv("GLM_TEST_KEY", "sk-SECRET123")
    backend = connect_fake(api_key_env="GLM_TEST_KEY")
    fake.completions = answer(500, {"error": {"message": "CUDA out of memory"}})

    with pytest.raises(RemoteHTTPError) as caught:
        Conversation(backend).send("Hi").text()

    try:  # IPython 9 (Python 3.11+) names its plain colours a theme, IPython 8 a colour scheme
        plain = VerboseTB(theme_name="nocolor")
    except TypeError:
        plain = VerboseTB(color_scheme="NoColor")
    verbose = plain.text(caught.type, caught.value, caught.tb)  # %xmode Verbose
    assert "CUDA out of memory" in verbose and "api_key_env" in verbose  # the locals are there
    assert "SECRET123" not in repr(backend.endpoint) and "SECRET123" not in verbose


def _queued(handler):  # as glm-nb serve's queue: no headers until the model starts on the request
    silence(handler, 5.0)


def _silent_after_headers(handler):  # a long prefill
    start(handler)
    silence(handler, 5.0)


def _keep_alive_comments(handler):
    start(handler)
    for _ in range(50):
        handler.wfile.write(b": keep-alive\n\n")
        handler.wfile.flush()
        time.sleep(0.1)


@pytest.mark.parametrize("silent", [_queued, _silent_after_headers, _keep_alive_comments])
def test_cancel_while_the_server_sends_no_text_ends_the_turn_at_once(fake, connect_fake, silent):
    fake.completions = silent
    conversation = Conversation(connect_fake(timeout=4))
    reply = conversation.send("Hi")
    threading.Timer(0.3, reply.cancel).start()
    started = time.monotonic()

    reply.finish()

    assert reply.finish_reason == "cancelled" and conversation.messages[-1].end == "interrupted"
    assert time.monotonic() - started < 1.5  # the server would say nothing for 5 s, past the 4 s timeout
    assert fake.hung_up.wait(2)  # the closed connection tells the server to stop


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (answer(200, {"choices": [{"text": "4", "finish_reason": "stop"}]}), 'ignored "stream": true'),
        (answer(200, b"<html><body>Please log in</body></html>", "text/html"), "text/html, not a stream of events"),
        (answer(200, {"error": {"message": "model is loading"}}), "an error instead of a stream: model is loading"),
    ],
)
def test_an_answer_that_is_not_an_event_stream_says_what_came_back(fake, connect_fake, reply, said):
    fake.completions = reply
    conversation = Conversation(connect_fake())

    with pytest.raises(RemoteHTTPError, match=said):
        conversation.send("Hi").text()

    assert conversation.messages == ()  # nothing was generated: a retry must not ask twice


def test_an_error_body_in_chinese_is_shown_as_written_not_escaped(fake, connect_fake):
    fake.completions = answer(400, {"detail": "模型不存在，请检查模型名称"})  # FastAPI's error shape, no "message"

    with pytest.raises(RemoteHTTPError) as caught:
        Conversation(connect_fake()).send("你好").text()

    assert '{"detail": "模型不存在，请检查模型名称"}' in str(caught.value)  # not "\\u6a21\\u578b..."


VLLM_TOO_LARGE = (  # vLLM's refusal of prompt + max_tokens beyond its context (v0.10's words)
    "'max_tokens' or 'max_completion_tokens' is too large: 2048. This model's maximum context length is 4096 tokens "
    "and your request has 3000 input tokens (2048 > 4096 - 3000)."
)


@pytest.mark.parametrize(("max_model_len", "hinted"), [(None, True), (4096, False)])
def test_a_400_from_a_server_that_lists_no_context_says_how_to_give_it(fake, connect_fake, max_model_len, hinted):
    if max_model_len is not None:
        fake.models["data"][0]["max_model_len"] = max_model_len  # then max_tokens is cut to fit: no such refusal
    fake.completions = answer(400, {"error": {"message": VLLM_TOO_LARGE}})
    conversation = Conversation(connect_fake())

    with pytest.raises(RemoteHTTPError) as caught:
        conversation.send("Hi").text()

    said = str(caught.value)
    assert caught.value.status == 400 and "too large: 2048" in said
    assert ("Connect with context_length= the server's context (in %glm_model: --context N)" in said) is hinted
    assert conversation.messages == ()


def test_a_servers_message_ending_a_sentence_is_not_given_a_second_full_stop(fake, connect_fake):
    fake.models["data"][0]["max_model_len"] = 4096  # no hint after it
    fake.completions = answer(400, {"error": {"message": VLLM_TOO_LARGE}})  # vLLM's messages end with one

    with pytest.raises(RemoteHTTPError) as caught:
        Conversation(connect_fake()).send("Hi").text()

    assert str(caught.value).endswith("answered HTTP 400 Bad Request: " + VLLM_TOO_LARGE)


def test_https_to_a_plain_http_server_says_to_use_http(fake, tokenizer_folder):
    url = fake.url.replace("http://", "https://")

    with pytest.raises(RemoteConnectionError, match="answers plain HTTP. Use http://127.0.0.1"):
        RemoteBackend.connect(url, tokenizer=tokenizer_folder, timeout=5)


@pytest.fixture
def tls_fake(tmp_path):
    """A fake server behind TLS with a self-signed certificate for 127.0.0.1: (server, certificate path)."""
    openssl = shutil.which("openssl") or pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
         "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = FakeServer(tls=context)
    yield server, cert
    server.close()


def test_a_certificate_that_cannot_be_verified_says_how_to_trust_it(tls_fake, tokenizer_folder, monkeypatch):
    server, cert = tls_fake
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)

    with pytest.raises(RemoteConnectionError, match="cannot be verified.*SSL_CERT_FILE"):
        RemoteBackend.connect(server.url, tokenizer=tokenizer_folder, timeout=5)

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what the message says to do
    assert RemoteBackend.connect(server.url, tokenizer=tokenizer_folder, timeout=5).name == "glm"


def test_a_server_that_wants_a_key_names_the_option_of_the_api_and_of_the_magic(fake, connect_fake):
    fake.models_answer = answer(401, {"error": {"message": "missing key"}})

    with pytest.raises(RemoteAuthError, match=r"api_key_env= \(in %glm_model: --api-key-env NAME\)"):
        connect_fake()


def test_a_served_name_that_is_a_path_on_the_server_asks_for_the_tokenizer(fake):
    fake.models = {"data": [{"id": "/data/models/GLM-4-32B-0414"}]}  # vLLM's default: the path it loaded

    with pytest.raises(RemoteError, match="neither a folder on this machine nor a hub id") as caught:
        RemoteBackend.connect(fake.url)

    assert "in %glm_model: give it as MODEL" in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (b"data: 5\n\n", "not a JSON object: '5'"),
        (b"data: [1]\n\n", r"not a JSON object: '\[1\]'"),
        (chunk(5), r"text is not a string \(int\)"),
        (b'data: {"choices": [{"text": "\xff\xfe", "finish_reason": null}]}\n\n', "not UTF-8"),
    ],
)
def test_a_malformed_event_is_a_stream_error_that_says_what_was_wrong(fake, connect_fake, bad, said):
    fake.completions = stream(chunk("Hello"), bad, chunk("!", "stop"), DONE)
    conversation = Conversation(connect_fake())

    with pytest.raises(RemoteStreamError, match=said):
        conversation.send("Hi").text()

    assert conversation.messages[-1].end == "interrupted"


def _finished_then_stalled(handler):
    stream(chunk("Hello"), chunk(" world", "stop"))(handler)
    silence(handler, 5.0)


@pytest.mark.parametrize(
    "cut", [stream(chunk("Hello"), chunk(" world", "stop")), _finished_then_stalled], ids=["closed", "stalled"]
)
def test_a_stream_cut_after_it_said_why_it_stopped_ends_the_turn_whole(fake, connect_fake, cut):
    fake.completions = cut  # no [DONE] (nor usage chunk) after the finish reason
    conversation = Conversation(connect_fake(timeout=0.5))

    reply = conversation.send("Hi")

    assert reply.text() == "Hello world" and reply.finish_reason == "stop"
    assert conversation.messages[-1].end == "stop"


def test_lines_ending_in_a_lone_carriage_return_are_read(fake, connect_fake):
    fake.completions = stream(
        *(part.replace(b"\n", b"\r") for part in (chunk("Hello"), chunk(" world", "stop"), DONE))
    )

    assert Conversation(connect_fake()).send("Hi").text() == "Hello world"


def test_a_crlf_split_across_two_reads_ends_one_line(fake, connect_fake):
    fake.completions = stream(
        b'data: {"choices": [{"text": "Hi",\r',  # one event over two data lines
        b'\ndata: "finish_reason": "stop"}]}\r\n\r\n',
        DONE,
        delay=0.05,
    )

    assert Conversation(connect_fake()).send("Hi").text() == "Hi"


def test_a_models_list_that_stalls_is_a_timeout(fake, connect_fake):
    def stall(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b'{"data": ')
        handler.wfile.flush()
        silence(handler, 5.0)

    fake.models_answer = stall

    with pytest.raises(RemoteTimeoutError, match=r"longer timeout= \(in %glm_model: --timeout SECONDS\)"):
        connect_fake(timeout=0.5)


@pytest.mark.parametrize("status", [301, 307])
def test_a_redirect_says_where_it_points(fake, connect_fake, status):
    fake.models_answer = answer(status, b"", Location="https://gpu-box.example:8443/v1/models")

    with pytest.raises(RemoteHTTPError, match="Connect to https://gpu-box.example:8443/v1 instead"):
        connect_fake()


def test_the_environment_proxy_carries_plain_http(fake, tokenizer_folder, monkeypatch):
    proxy = fake.url.replace("http://", "http://alice:pa%20ss@")
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)

    backend = RemoteBackend.connect("http://gpu-box.invalid:8000/v1", tokenizer=tokenizer_folder, timeout=5)

    assert Conversation(backend).send("Hi").text() == "Hello world"
    paths = ["http://gpu-box.invalid:8000/v1/models", "http://gpu-box.invalid:8000/v1/completions"]
    assert [r.path for r in fake.requests] == paths
    assert fake.requests[-1].headers["Host"] == "gpu-box.invalid:8000"
    assert fake.requests[-1].headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"alice:pa ss").decode()


def test_no_proxy_and_loopback_addresses_go_direct(connect_fake, tokenizer_folder, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "gpu-box.invalid")

    assert connect_fake().name == "glm"  # 127.0.0.1: never through a proxy
    with pytest.raises(RemoteConnectionError, match="Cannot reach http://gpu-box.invalid:8000/v1 \\(") as caught:
        RemoteBackend.connect("http://gpu-box.invalid:8000/v1", tokenizer=tokenizer_folder, timeout=5)
    assert "proxy" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "retry_after", "said"),
    [
        (429, "3", "Too Many Requests: queue full). Retry in 3 s."),
        (503, None, "Service Unavailable: queue full). Retry in a moment."),
    ],
)
def test_a_busy_server_says_when_to_retry_as_it_said(fake, connect_fake, status, retry_after, said):
    headers = {"Retry_After": retry_after} if retry_after else {}
    fake.completions = answer(status, {"error": {"message": "queue full"}}, **headers)
    conversation = Conversation(connect_fake())

    with pytest.raises(RemoteHTTPError) as caught:
        conversation.send("Hi").text()

    assert str(caught.value).endswith(f"is busy (HTTP {status} {said}")
    assert caught.value.status == status and conversation.messages == ()
