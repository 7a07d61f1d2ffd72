"""A stand-in for an OpenAI-compatible server on 127.0.0.1, in a thread, whose answers each test writes: for what
real servers and what stands in front of them (proxies, web pages, TLS) do that `glm-nb serve` never does. The
remote backend against a real server is tested with `glm-nb serve` (tests/serve/scripted_server.py).

    server = FakeServer()                               # GET /v1/models lists "glm"; POST answers "Hello"
    server.completions = stream(chunk("Hi"), chunk("", "stop"), DONE)
    server.completions = answer(503, {"error": {"message": "queue full"}})
    server.requests[-1].headers["Authorization"]
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DONE = b"data: [DONE]\n\n"
Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Seen:
    """One request the server got."""

    method: str
    path: str  # as sent: a path, or the whole URL when sent to a proxy
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def chunk(text: Any, finish: str | None = None, **extra: Any) -> bytes:
    """One completions event (`data: {...}` and the blank line that ends it)."""
    choice = {"index": 0, "text": text, "finish_reason": finish, **extra}
    return data_event({"id": "cmpl-1", "object": "text_completion", "model": "glm", "choices": [choice]})


def data_event(value: Any) -> bytes:
    return b"data: " + json.dumps(value).encode() + b"\n\n"


def stream(*parts: bytes, delay: float = 0.0, content_type: str = "text/event-stream") -> Answer:
    """Answer 200 with `parts` written one by one (`delay` seconds apart), then close."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        start(handler, content_type)
        for part in parts:
            handler.wfile.write(part)
            handler.wfile.flush()
            time.sleep(delay)

    return write


def answer(status: int, body: Any, content_type: str = "application/json", **headers: str) -> Answer:
    """A whole answer: `body` as JSON (bytes as they are), with a Content-Length."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(raw)

    return write


def start(handler: BaseHTTPRequestHandler, content_type: str = "text/event-stream") -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.end_headers()
    handler.wfile.flush()


def silence(handler: BaseHTTPRequestHandler, seconds: float) -> None:
    """Say nothing for `seconds`, or until the client closes the connection (ConnectionResetError, which sets the
    server's `hung_up`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([handler.connection], [], [], 0.02)
        if readable and not handler.connection.recv(1, socket.MSG_PEEK):
            raise ConnectionResetError("the client hung up")


class FakeServer:
    """`url` (no /v1; https with `tls`); `models`: the GET /v1/models body; `models_answer`, `completions`: what
    GET /v1/models and POST /v1/completions do (an `Answer`); `requests`: what came in; `hung_up`: set when the
    client closed the connection before an answer ended (`silence` noticed it, or a write failed)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.models: dict[str, Any] = {"object": "list", "data": [{"id": "glm", "object": "model"}]}
        self.models_answer: Answer | None = None
        self.completions: Answer = stream(chunk("Hello"), chunk(" world", "stop"), DONE)
        self.requests: list[Seen] = []
        self.hung_up = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(fake.models_answer or answer(200, fake.models))

            def do_POST(self) -> None:
                self._answer(fake.completions)

            def _answer(self, write: Answer) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                fake.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                try:
                    write(self)
                except (BrokenPipeError, ConnectionResetError):
                    fake.hung_up.set()
                self.close_connection = True

        return Handler
