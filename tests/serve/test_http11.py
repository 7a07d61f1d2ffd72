"""`glm-nb serve` speaks HTTP/1.1 as clients expect: `Expect: 100-continue` (curl sends it with a body over 1 KiB,
then waits a second for the answer) gets `100 Continue` when the body is wanted, a request refused before its body
gets its final answer instead, and each connection carries one request. Raw sockets, to see the interim answer."""

from __future__ import annotations

import json
import socket

import pytest

from glm_nb.serve.handler import RequestHandler

BODY = json.dumps({"prompt": "Hi " + "x" * 2000, "max_tokens": 50}).encode()  # over curl's 1 KiB


def _head(path: bytes = b"/v1/completions") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(BODY)).encode() + b"\r\nExpect: 100-continue\r\n\r\n"
    )


def _read_head(raw: socket.socket) -> bytes:
    """One response head (status line and headers), read byte by byte so that nothing after it is taken."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        byte = raw.recv(1)
        if not byte:
            raise AssertionError(f"the server closed the connection after {data!r}")
        data += byte
    return data


def _status(head: bytes) -> int:
    """The status code of a response head, whatever HTTP version its status line names."""
    return int(head.split(b" ", 2)[1])


def _read_rest(raw: socket.socket) -> bytes:
    return b"".join(iter(lambda: raw.recv(65536), b""))


def test_expect_100_continue_is_answered_before_the_body_is_sent(inline_server):
    server = inline_server(["Hello"])

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(_head())
        interim = _read_head(raw)  # the body is not sent yet: a server that waits for it never answers
        raw.sendall(BODY)
        final = _read_head(raw)
        body = _read_rest(raw)

    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
    assert final.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["choices"][0]["text"] == "Hello"


@pytest.mark.parametrize(
    ("options", "path", "status"),
    [({"api_key": "secret"}, b"/v1/completions", 401), ({}, b"/v1/nowhere", 404)],
    ids=["wrong-key", "no-route"],
)
def test_a_request_refused_before_its_body_gets_the_final_answer_instead_of_100(inline_server, options, path, status):
    server = inline_server(["Hello"], **options)

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(_head(path=path))  # the body is never sent: the client waits for 100 Continue or an answer
        answer = _read_head(raw)
        error = json.loads(_read_rest(raw))["error"]

    assert _status(answer) == status  # the final answer came first, not a 100 Continue asking for the body
    assert error["type"] in ("authentication_error", "invalid_request_error")


def test_every_answer_closes_its_connection(inline_server):
    server = inline_server(["Hello"])

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n")  # HTTP/1.1 keeps connections by default
        head = _read_head(raw)
        rest = _read_rest(raw)  # ends: the server closed the connection

    assert b"\r\nConnection: close\r\n" in head
    assert json.loads(rest)["object"] == "list"


def _chunked(body: bytes, size: int = 700) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\nX-Trailer: 1\r\n\r\n"


def test_a_chunked_body_is_read_as_every_http11_server_must(inline_server):
    server = inline_server(["Hello"])
    head = b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(head + _chunked(BODY))  # as requests and httpx send a streamed body: no Content-Length
        final = _read_head(raw)
        body = _read_rest(raw)

    assert final.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["choices"][0]["text"] == "Hello"


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line"),
        (b"Transfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding 'gzip' is not supported"),
        (b"Content-Length: \xb2\r\n\r\n", "Send the JSON body with a Content-Length header"),  # a digit, not ASCII
        (b"Content-Length: 2\r\n\r\n  ", "The body is empty; send a JSON object"),
    ],
    ids=["bad-chunk", "gzip", "superscript-length", "empty"],
)
def test_a_body_that_cannot_be_read_is_a_400_saying_how_to_send_it(inline_server, head, said):
    server = inline_server()

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" + head)
        final = _read_head(raw)
        body = _read_rest(raw)

    assert final.startswith(b"HTTP/1.1 400 ")
    assert said in json.loads(body)["error"]["message"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_read_whatever_its_case(inline_server, scheme):
    server = inline_server(api_key="sesame")
    head = f"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: {scheme} sesame\r\n\r\n".encode()

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(head)  # HTTP's auth schemes are case-insensitive (RFC 9110, 11.1)
        answer = _read_head(raw)
        models = json.loads(_read_rest(raw))

    assert _status(answer) == 200  # not 401
    assert models["object"] == "list"


@pytest.mark.parametrize(
    ("request_line", "status", "said"),
    [
        (b"BREW /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n", 501, "takes GET, HEAD, POST and OPTIONS"),
        (b"GET /v1/models HTTP/2.0\r\n", 505, "Send HTTP/1.1"),
        (b"GET /v1/models HTTP/1.1 extra\r\n", 400, "Send an HTTP/1.1 request line"),
    ],
    ids=["unknown-method", "http2", "bad-request-line"],
)
def test_a_request_the_http_layer_refuses_gets_a_json_error_saying_what_to_send(
    inline_server, request_line, status, said
):
    server = inline_server()

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(request_line)
        head = _read_head(raw)
        error = json.loads(_read_rest(raw))["error"]  # not the standard library's HTML page

    assert _status(head) == status
    assert b"Content-Type: application/json" in head
    assert said in error["message"]
    assert error["type"] == "invalid_request_error"


def test_a_body_that_stops_arriving_gets_a_408_before_the_connection_closes(inline_server, monkeypatch):
    monkeypatch.setattr(RequestHandler, "timeout", 1)  # the per-read timeout, 120 s in service
    server = inline_server(["Hello"])
    head = b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + b"%d\r\n\r\n" % (len(BODY) + 9)

    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(head + BODY)  # 9 bytes short of what the head announced, and the connection left open
        final = _read_head(raw)
        error = json.loads(_read_rest(raw))["error"]

    assert _status(final) == 408  # not a connection closed with no answer
    assert f"stopped arriving after {len(BODY)} bytes" in error["message"]
