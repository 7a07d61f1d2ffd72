"""The HTTP side of `glm-nb serve`: routing, bearer-token check, JSON bodies, and server-sent-event streams.

Endpoints (OpenAI's shapes, as vLLM serves them): `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/completions`,
`POST /v1/chat/completions`, and `GET /health` (no token needed); HEAD answers as GET without the body, OPTIONS
with the methods a path takes. HTTP/1.1, one request per connection (every answer says `Connection: close`): a
stream ends when the server closes it, after `data: [DONE]`; `Expect: 100-continue` (curl's, for a body over 1 KiB)
is answered when the body is read (`http_body`), so that a request refused before (a wrong key, a body too large)
sends none. While a request generates, a watcher notices its client hanging up (the socket turns readable with
nothing to read) and cancels the generation, so an abandoned request frees the model at its next token. What the
bodies hold (chunks, whole answers, usage, errors) is `responses`'s; the paths are `routes`'s, and what an exception
becomes (the request's fault a 4xx, the server's a 500) is `failures`'s.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import threading
import traceback
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

from ..chat import PromptProgress
from .errors import BadRequestError, ModelNotFoundError, ServerBusyError, UnauthorizedError
from .failures import Failure, failure_of
from .generation import Finish, chat_prompt, generate_chat, generate_text, stop_token_texts
from .http_body import read_json_body
from .queue import STOPPING_RETRY_S, ClientGone, watch_peer
from .requests import TokenLimit, parse_chat_request, parse_completion_request
from .responses import Reply, chat_delta, chat_message, error_body, stop_reason, usage
from .routes import ENDPOINTS, MODEL, allow, endpoint, unknown_path

if TYPE_CHECKING:  # the server module imports this one; the type is only for annotations
    from .server import GlmServer

__all__ = ["RequestHandler"]

# A stream waiting in the queue says it is alive this often: a client's read times out (glm-nb's remote backend: 120 s
# by default, less when asked), and one that gave up and retried would wait again from the back of the queue
_WAITING_COMMENT_S = 5.0
# What to do about the standard library's own refusals (send_error), by status
_PROTOCOL_ADVICE = {
    400: "Send an HTTP/1.1 request line: METHOD PATH HTTP/1.1",
    414: "Send the prompt in the JSON body, not in the URL",
    431: "Send fewer headers (at most 100), each under 64 KiB",
    501: "This server takes GET, HEAD, POST and OPTIONS",
    505: "Send HTTP/1.1 (or HTTP/1.0)",
}
Y = TypeVar("Y")
R = TypeVar("R")


class RequestHandler(BaseHTTPRequestHandler):
    server: GlmServer
    server_version = "glm-nb-serve"
    protocol_version = "HTTP/1.1"  # HTTP/1.0 left `Expect: 100-continue` unanswered: curl waited a second for it
    _continue_pending = False  # the client waits for `100 Continue` before it sends the body
    timeout = 120  # seconds for one socket read or write: a client that sends nothing, or stops reading, is dropped

    def do_GET(self) -> None:  # and HEAD: the same answer, its body left out (_send_json)
        self._route({"/v1/models": self._models, MODEL: self._model, "/health": self._health})

    do_HEAD = do_GET

    def do_OPTIONS(self) -> None:
        known = endpoint(urlsplit(self.path).path.rstrip("/"))
        if known is None:
            self._route({})  # the JSON 404
            return
        self.send_response(204)
        self.send_header("Allow", allow(known))
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_POST(self) -> None:
        self._route({"/v1/completions": self._completions, "/v1/chat/completions": self._chat})

    def do_PUT(self) -> None:  # and DELETE, PATCH: a JSON 405 or 404, not the standard library's HTML 501
        self._route({})

    do_DELETE = do_PATCH = do_PUT

    def handle_expect_100(self) -> bool:
        """Defer `100 Continue` until the body is read (`_send_continue`): a request refused before it (no route, a
        wrong key, a body too large) gets its final answer instead, and the client sends no body."""
        self._continue_pending = True
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, an unknown method, too many headers) as
        OpenAI-shaped JSON saying what to send, like every other error here, not its HTML page."""
        said = message or self.responses.get(code, ("Error",))[0]
        advice = _PROTOCOL_ADVICE.get(code, "Check the request")
        self.log_error("code %d, message %s", code, said)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # a request line it could not read: still send a status line
            self.request_version = self.protocol_version
        self._send_json(code, error_body(f"{said}. {advice}.", "invalid_request_error"))

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- routing --------------------------------------------------------------------------------------------------
    def _route(self, routes: dict[str, Callable[[], None]]) -> None:
        self._streaming = False
        self._on_stream_start: Callable[[], None] | None = None
        self._prompt_field: str | None = None  # "prompt" or "messages": the `param` of a prompt too long
        self._counted = False  # whether this request's generation was counted in /health's completed or cancelled
        path = urlsplit(self.path).path.rstrip("/") or "/"
        self._path = path
        known = endpoint(path)
        action = routes.get(known) if known else None
        try:
            if action is None:
                self._no_route(path, known)
                return
            if path != "/health":
                self._authorize()
            action()
        except ClientGone:
            self.log_message("client left before its turn: %s", path)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.log_message("client disconnected or stalled: %s", path)
        except Exception as e:  # the request's fault (4xx) or the server's (500: a dropped connection tells nothing)
            failure = failure_of(e, self.server.backend.context_length, self._prompt_field)
            if failure.servers_fault:
                traceback.print_exc()  # the log the 500 points to
            self._fail(failure)
        finally:
            self.close_connection = True  # also when no answer was sent (the client left): no second request

    def _no_route(self, path: str, known: str | None) -> None:
        if known is not None:
            message = f"{path} takes {ENDPOINTS[known][0]}, not {self.command}."
            self._send_json(405, error_body(message, "invalid_request_error"), {"Allow": allow(known)})
            return
        self._send_json(404, unknown_path(self.command, path))

    def _authorize(self) -> None:
        key = self.server.api_key
        if key is None:
            return
        # the scheme is case-insensitive (RFC 9110, 11.1): some clients send "bearer"
        scheme, _, given = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise UnauthorizedError(
                "Missing or wrong API key. Send the key this server was started with as 'Authorization: Bearer KEY'."
            )

    def _fail(self, failure: Failure) -> None:
        try:
            if self._streaming:  # headers already sent: report inside the stream (same type), then end it as vLLM
                self._write_event(failure.body())
                self._write_event("[DONE]")
            else:
                self._send_json(failure.status, failure.body(), failure.headers())
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.log_message("client disconnected before the error could be sent: %s", failure.message)

    # -- endpoints ------------------------------------------------------------------------------------------------
    def _health(self) -> None:
        queue = self.server.queue
        self._send_json(200, {"status": "ok", "busy": queue.busy, "waiting": queue.waiting, **self.server.counts})

    def _models(self) -> None:
        self._send_json(200, {"object": "list", "data": [self._model_card()]})

    def _model(self) -> None:
        """`GET /v1/models/{id}` (the OpenAI SDK's `models.retrieve`); an id may hold slashes, or send them as %2F."""
        asked = unquote(self._path.removeprefix("/v1/models/"))
        if asked != self.server.model_name:
            raise ModelNotFoundError(
                f"This server serves {self.server.model_name!r}, not {asked!r}; GET /v1/models lists it."
            )
        self._send_json(200, self._model_card())

    def _model_card(self) -> dict[str, Any]:
        """OpenAI's model object, and vLLM's `root` (the model it loaded) and `max_model_len`. `root` is the model's
        own name whatever it is served as (`--served-model-name`): nano-GLM's says it is a demo model, not GLM-4,
        and clients show it."""
        model: dict[str, Any] = {
            "id": self.server.model_name,
            "object": "model",
            "created": self.server.started,
            "owned_by": "glm-nb",
            "root": self.server.backend.name,
        }
        if self.server.backend.context_length:
            model["max_model_len"] = self.server.backend.context_length
        return model

    def _completions(self) -> None:
        self._prompt_field = "prompt"
        request = parse_completion_request(self._json_body(), self.server.model_name, self.server.default_max_tokens)
        stop_ids = stop_token_texts(self.server.backend, request.stop_token_ids)
        request = dataclasses.replace(request, stop=request.stop + tuple(stop_ids))
        reply = Reply("cmpl", "text_completion", self.server.model_name)
        with self._generation(request.prompt, request.token_limit, request.stream) as cancel:
            run = _Returning(generate_text(self.server.backend, request, cancel))
            if not request.stream:
                text = "".join(piece.text for piece in run)
                finish = self._stopped_or(run.result)
                self._send_json(200, reply.whole({"text": text}, finish, stop_reason(finish, stop_ids)))
                return
            # headers go with the first event or comment: an error before it is a plain HTTP error
            every = request.continuous_usage  # the usage so far in every chunk
            for piece in run:
                if piece.text:
                    tokens = usage(piece.prompt_tokens, piece.completion_tokens) if every else None
                    self._write_event(reply.chunk({"text": piece.text}, tokens=tokens))
                elif piece.reading:
                    self._write_comment("reading the prompt")
            finish = self._stopped_or(run.result)
            tokens = usage(finish.prompt_tokens, finish.completion_tokens) if every else None
            self._write_event(reply.chunk({"text": ""}, finish.reason, stop_reason(finish, stop_ids), tokens))
            self._end_stream(reply, finish, request.include_usage)

    def _chat(self) -> None:
        template = self.server.template
        if template is None:
            raise BadRequestError("This model has no chat template; use /v1/completions with the rendered prompt.")
        self._prompt_field = "messages"
        request = parse_chat_request(self._json_body(), self.server.model_name, self.server.default_max_tokens)
        stop_ids = stop_token_texts(self.server.backend, request.stop_token_ids)
        request = dataclasses.replace(request, stop=request.stop + tuple(stop_ids))
        prompt = chat_prompt(template, request)
        reply = Reply("chatcmpl", "chat.completion", self.server.model_name)
        # a stream's headers and role chunk go with its first event (see _completions), which may be a comment sent
        # while it waits for the model
        self._on_stream_start = lambda: self._write_event(reply.chunk({"role": "assistant", "content": ""}))
        with self._generation(prompt, request.token_limit, request.stream) as cancel:
            run = _Returning(generate_chat(self.server.backend, prompt, request, cancel))
            if not request.stream:
                parts: dict[str, list[str]] = {"content": [], "reasoning_content": []}
                for event in run:
                    for key, text in chat_delta(event, request.include_reasoning).items():
                        parts[key].append(text)
                finish, calls = run.result
                finish = self._stopped_or(finish)
                message = chat_message("".join(parts["content"]), "".join(parts["reasoning_content"]), calls)
                self._send_json(200, reply.whole({"message": message}, finish, stop_reason(finish, stop_ids)))
                return
            for event in run:
                if delta := chat_delta(event, request.include_reasoning):
                    self._write_event(reply.chunk(delta))
                elif isinstance(event, PromptProgress):
                    self._write_comment("reading the prompt")
            finish, calls = run.result
            finish = self._stopped_or(finish)
            if calls:
                self._write_event(reply.chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]}))
            self._write_event(reply.chunk({}, finish.reason, stop_reason(finish, stop_ids)))
            self._end_stream(reply, finish, request.include_usage)

    # -- generation plumbing --------------------------------------------------------------------------------------
    @contextmanager
    def _generation(self, prompt: str, limit: TokenLimit | None, stream: bool) -> Iterator[threading.Event]:
        """The request's turn with the model, and a cancel event (set when the client hangs up or the server stops)
        held across it. A prompt that cannot fit, with room for `limit`, is refused before the turn where it can be
        told (a hopeless request holds up no one), else in the turn before the engine sees it (PromptLimit). A
        stream that waits for its turn starts, with a comment every few seconds, once its prompt is known to fit:
        a prompt too long to count before the turn (PromptLimit.count_bytes) waits silent, so that a refusal in its
        turn is still an HTTP 400 (after a comment it could only be an error event in a 200 stream, which clients'
        context-length fallbacks do not read)."""
        counted = self.server.prompt_limit.check(prompt, limit)
        cancel = threading.Event()
        watcher = threading.Thread(target=watch_peer, args=(self.connection, cancel), daemon=True)
        with self.server.track(cancel):
            watcher.start()
            try:
                waiting = (lambda: self._write_comment("waiting for the model")) if stream and counted else None
                with self.server.queue.turn(cancel, waiting, _WAITING_COMMENT_S):
                    if not counted:
                        self.server.prompt_limit.check_in_turn(prompt, limit)
                    try:
                        yield cancel
                    except (BrokenPipeError, ConnectionResetError, TimeoutError):
                        # the client left (or stopped reading) mid-answer, noticed by a failed write before the
                        # watcher saw it hang up: the generation was abandoned all the same
                        if not self._counted:
                            self._count("cancelled")
                        raise
            finally:
                cancel.set()  # also ends the watcher
                watcher.join()

    def _stopped_or(self, finish: Finish) -> Finish:
        """An aborted generation: the client is gone (nothing to send) or the server is stopping (say so)."""
        self._count("cancelled" if finish.reason == "abort" else "completed")
        if finish.reason != "abort":
            return finish
        if self.server.stopping.is_set():
            raise ServerBusyError(
                "The server is shutting down; this answer is incomplete. Retry when it is back.",
                retry_after_s=STOPPING_RETRY_S,
            )
        raise ClientGone

    def _count(self, outcome: str) -> None:
        """Count this request's generation in /health, once."""
        self._counted = True
        self.server.count(outcome)

    # -- writing --------------------------------------------------------------------------------------------------
    def _json_body(self) -> Any:
        return read_json_body(self.headers, self.rfile, self._send_continue)

    def _send_continue(self) -> None:
        """`100 Continue` to a client that waits for it before sending the body (`handle_expect_100`)."""
        if self._continue_pending:
            self._continue_pending = False
            self.send_response_only(100)
            self.end_headers()

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")  # one request per connection: the hang-up watcher relies on it
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
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

    def _write_comment(self, text: str) -> None:
        """An SSE comment, which clients skip: a CPU reading a long prompt, or a long queue, can be silent for
        minutes, longer than a client waits for the next piece (glm-nb's remote backend: 120 s), so each chunk of
        the prompt, and every few seconds of waiting, says it is alive. It may begin the stream: an error after it
        is an error event (`_fail`)."""
        if not self._streaming:
            self._start_stream()
        self.wfile.write(f": {text}\n\n".encode())
        self.wfile.flush()

    def _write_event(self, body: Any) -> None:
        if not self._streaming:
            self._start_stream()
        payload = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        self.wfile.write(f"data: {payload}\n\n".encode())
        self.wfile.flush()

    def _end_stream(self, reply: Reply, finish: Finish, include_usage: bool) -> None:
        if include_usage:
            self._write_event(reply.usage_chunk(finish))
        self._write_event("[DONE]")


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
