"""The HTTP side of `glm-nb serve`: routing, bearer-token check, JSON bodies, and server-sent-event streams.

Endpoints (OpenAI's shapes, as vLLM serves them): `GET /v1/models`, `POST /v1/completions`,
`POST /v1/chat/completions`, and `GET /health` (no token needed). Responses are HTTP/1.0 style: one request per
connection, a stream ends when the server closes it, after `data: [DONE]`. While a request generates, a watcher
notices its client hanging up (the socket turns readable with nothing to read) and cancels the generation, so an
abandoned request frees the model at its next token.
"""

from __future__ import annotations

import hmac
import json
import select
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from ..chat import TextDelta, ThinkingDelta
from ..errors import GlmError
from .errors import BadRequestError, ServeError, ServerBusyError, UnauthorizedError
from .generation import Finish, chat_prompt, generate_chat, generate_text
from .queue import ClientGone
from .requests import parse_chat_request, parse_completion_request

if TYPE_CHECKING:  # the server module imports this one; the type is only for annotations
    from .server import GlmServer

__all__ = ["RequestHandler"]

_MAX_BODY = 16 << 20
_ENDPOINTS = {"GET": ("/v1/models", "/health"), "POST": ("/v1/completions", "/v1/chat/completions")}
Y = TypeVar("Y")
R = TypeVar("R")


class RequestHandler(BaseHTTPRequestHandler):
    server: GlmServer
    server_version = "glm-nb-serve"
    timeout = 120  # seconds for one socket read or write: a client that sends nothing, or stops reading, is dropped

    def do_GET(self) -> None:
        self._route({"/v1/models": self._models, "/health": self._health})

    def do_POST(self) -> None:
        self._route({"/v1/completions": self._completions, "/v1/chat/completions": self._chat})

    def do_PUT(self) -> None:  # and DELETE, PATCH: a JSON 405 or 404, not the standard library's HTML 501
        self._route({})

    do_DELETE = do_PATCH = do_PUT

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- routing --------------------------------------------------------------------------------------------------
    def _route(self, routes: dict[str, Callable[[], None]]) -> None:
        self._streaming = False
        self._on_stream_start: Callable[[], None] | None = None
        path = urlsplit(self.path).path.rstrip("/")
        action = routes.get(path)
        try:
            if action is None:
                self._no_route(path)
                return
            if path != "/health":
                self._authorize()
            action()
        except ClientGone:
            self.log_message("client left before its turn: %s", path)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.log_message("client disconnected or stalled: %s", path)
        except ServeError as e:
            self._fail(e.status, str(e), e.kind)
        except GlmError as e:  # a prompt too long for the context, a template that fails on these messages, ...
            self._fail(400, str(e), "invalid_request_error")
        except Exception as e:  # a bug: answer 500 (a dropped connection tells the client nothing) and log it
            traceback.print_exc()
            self._fail(500, f"Internal server error ({type(e).__name__}: {e}); see the server's log.", "server_error")

    def _no_route(self, path: str) -> None:
        allowed = [method for method, paths in _ENDPOINTS.items() if path in paths]
        if allowed:
            message = f"{path} takes {' or '.join(allowed)}, not {self.command}."
            self._send_json(405, _error(message, "invalid_request_error"), {"Allow": ", ".join(allowed)})
            return
        known = ", ".join(f"{method} {p}" for method, paths in _ENDPOINTS.items() for p in paths)
        self._send_json(404, _error(f"No {self.command} {path} here; this server has {known}.", "not_found"))

    def _authorize(self) -> None:
        key = self.server.api_key
        if key is None:
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise UnauthorizedError(
                "Missing or wrong API key. Send the key this server was started with as 'Authorization: Bearer KEY'."
            )

    def _fail(self, status: int, message: str, kind: str) -> None:
        try:
            if self._streaming:  # headers already sent: report inside the stream, then end it
                self._write_event(_error(message, kind))
            else:
                extra = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
                self._send_json(status, _error(message, kind), extra)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.log_message("client disconnected before the error could be sent: %s", message)

    # -- endpoints ------------------------------------------------------------------------------------------------
    def _health(self) -> None:
        queue = self.server.queue
        self._send_json(200, {"status": "ok", "busy": queue.busy, "waiting": queue.waiting, **self.server.counts})

    def _models(self) -> None:
        model = {
            "id": self.server.model_name,
            "object": "model",
            "created": self.server.started,
            "owned_by": "glm-nb",
        }
        if self.server.backend.context_length:
            model["max_model_len"] = self.server.backend.context_length
        self._send_json(200, {"object": "list", "data": [model]})

    def _completions(self) -> None:
        request = parse_completion_request(self._json_body(), self.server.model_name)
        reply = _Reply("cmpl", "text_completion", self.server.model_name)
        with self._generation() as cancel:
            run = _Returning(generate_text(self.server.backend, request, cancel))
            if request.stream:  # headers go with the first event: an error before it is a plain HTTP error
                for piece in run:
                    if piece:
                        self._write_event(reply.chunk({"text": piece}))
                finish = self._stopped_or(run.result)
                self._write_event(reply.chunk({"text": ""}, finish.reason, finish.stop))
                self._end_stream(reply, finish, request.include_usage)
            else:
                text = "".join(run)
                finish = self._stopped_or(run.result)
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish.reason}
                self._send_json(200, reply.whole([{**choice, "stop_reason": finish.stop}], finish))

    def _chat(self) -> None:
        template = self.server.template
        if template is None:
            raise BadRequestError("This model has no chat template; use /v1/completions with the rendered prompt.")
        request = parse_chat_request(self._json_body(), self.server.model_name, self.server.default_max_tokens)
        prompt = chat_prompt(template, request)
        reply = _Reply("chatcmpl", "chat.completion", self.server.model_name)
        with self._generation() as cancel:
            run = _Returning(generate_chat(self.server.backend, prompt, request, cancel))
            if request.stream:  # headers and the role chunk go with the first event (see _completions)
                self._on_stream_start = lambda: self._write_event(reply.chunk({"role": "assistant", "content": ""}))
                for event in run:
                    if delta := _chat_delta(event):
                        self._write_event(reply.chunk(delta))
                finish, calls = run.result
                finish = self._stopped_or(finish)
                if calls:
                    self._write_event(reply.chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]}))
                self._write_event(reply.chunk({}, finish.reason))
                self._end_stream(reply, finish, request.include_usage)
            else:
                parts = {"content": [], "reasoning_content": []}
                for event in run:
                    for key, text in _chat_delta(event).items():
                        parts[key].append(text)
                finish, calls = run.result
                finish = self._stopped_or(finish)
                message: dict[str, Any] = {"role": "assistant", "content": "".join(parts["content"])}
                if parts["reasoning_content"]:
                    message["reasoning_content"] = "".join(parts["reasoning_content"])
                if calls:
                    message["tool_calls"] = calls
                choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish.reason}
                self._send_json(200, reply.whole([choice], finish))

    # -- generation plumbing --------------------------------------------------------------------------------------
    @contextmanager
    def _generation(self) -> Iterator[threading.Event]:
        """A cancel event (set when the client hangs up or the server stops), held across the queue turn."""
        cancel = threading.Event()
        watcher = threading.Thread(target=_watch_peer, args=(self.connection, cancel), daemon=True)
        with self.server.track(cancel):
            watcher.start()
            try:
                with self.server.queue.turn(cancel):
                    yield cancel
            finally:
                cancel.set()  # also ends the watcher
                watcher.join()

    def _stopped_or(self, finish: Finish) -> Finish:
        """An aborted generation: the client is gone (nothing to send) or the server is stopping (say so)."""
        self.server.count("cancelled" if finish.reason == "abort" else "completed")
        if finish.reason != "abort":
            return finish
        if self.server.stopping.is_set():
            raise ServerBusyError("The server is shutting down; this answer is incomplete. Retry when it is back.")
        raise ClientGone

    # -- writing --------------------------------------------------------------------------------------------------
    def _json_body(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequestError("Send the JSON body with a Content-Length header.")
        if int(length) > _MAX_BODY:
            raise BadRequestError(f"The body is {length} bytes; the limit is {_MAX_BODY}.")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except ValueError as e:
            raise BadRequestError(f"The body is not valid JSON ({e}).") from e

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self._streaming = True
        if self._on_stream_start is not None:
            self._on_stream_start()

    def _write_event(self, body: Any) -> None:
        if not self._streaming:
            self._start_stream()
        payload = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        self.wfile.write(f"data: {payload}\n\n".encode())
        self.wfile.flush()

    def _end_stream(self, reply: _Reply, finish: Finish, include_usage: bool) -> None:
        if include_usage:
            self._write_event({**reply.chunk(None), "choices": [], "usage": _usage(finish)})
        self._write_event("[DONE]")


class _Reply:
    """The id, object type and model shared by every chunk of one answer."""

    def __init__(self, prefix: str, kind: str, model: str):
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.kind = kind
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any] | None, finish: str | None = None, stop: str | None = None) -> dict:
        if self.kind == "chat.completion":
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, **(delta or {}), "logprobs": None, "finish_reason": finish, "stop_reason": stop}
            kind = self.kind
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model, "choices": [choice]}

    def whole(self, choices: list[dict[str, Any]], finish: Finish) -> dict[str, Any]:
        head = {"id": self.id, "object": self.kind, "created": self.created, "model": self.model}
        return {**head, "choices": choices, "usage": _usage(finish)}


class _Returning(Generic[Y, R]):
    """Iterate a generator and keep its return value in `result`."""

    def __init__(self, generator: Generator[Y, None, R]):
        self._generator = generator
        self.result: R

    def __iter__(self) -> Iterator[Y]:
        try:
            self.result = yield from self._generator
        finally:
            self._generator.close()  # a write failed midway: stop generating now


def _chat_delta(event: object) -> dict[str, str]:
    if isinstance(event, TextDelta):
        return {"content": event.text}
    if isinstance(event, ThinkingDelta):
        return {"reasoning_content": event.text}
    return {}  # tool calls are sent once the turn is over, from its parsed message


def _usage(finish: Finish) -> dict[str, int]:
    total = finish.prompt_tokens + finish.completion_tokens
    return {
        "prompt_tokens": finish.prompt_tokens,
        "completion_tokens": finish.completion_tokens,
        "total_tokens": total,
    }


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}


def _watch_peer(connection: socket.socket, cancel: threading.Event) -> None:
    """Set `cancel` when the client closes its side. One request per connection, so once the body is read the
    socket turns readable only at EOF (or reset)."""
    while not cancel.is_set():
        try:
            readable, _, _ = select.select([connection], [], [], 0.1)
            if readable and not connection.recv(1, socket.MSG_PEEK):
                cancel.set()
            elif readable:
                time.sleep(0.1)  # unexpected bytes from the client: not a hang-up; check again later
        except (OSError, ValueError):  # reset, or the socket was closed under us
            cancel.set()
