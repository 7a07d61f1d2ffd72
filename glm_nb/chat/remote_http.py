"""A small HTTP client for OpenAI-compatible servers (vLLM, SGLang, `glm-nb serve`): JSON GETs and server-sent
event streams, on the standard library's `http.client`, with every failure turned into a `RemoteError`.

Server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html): `data:` lines, an event ends
at a blank line; OpenAI-style streams end with `data: [DONE]`. A stream that ends without it was cut off (the
server died or dropped the connection): that is an error, never a short answer.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ChatError

__all__ = [
    "RemoteAuthError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteHTTPError",
    "RemoteStreamError",
    "RemoteTimeoutError",
    "ServerEndpoint",
]

_MAX_LINE = 1 << 24  # one SSE line (a JSON chunk); far above any real chunk


class RemoteError(ChatError):
    """Talking to a remote completions server failed."""


class RemoteConnectionError(RemoteError):
    """The server cannot be reached (refused, unknown host, reset before answering)."""


class RemoteTimeoutError(RemoteError):
    """The server took longer than the timeout to connect or to send the next piece."""


class RemoteAuthError(RemoteError):
    """The server refused the API key (HTTP 401 or 403)."""


class RemoteHTTPError(RemoteError):
    """The server answered with an HTTP error (or an error event inside a stream)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RemoteStreamError(RemoteError):
    """A stream broke off or could not be read: the answer is incomplete."""


@dataclass(frozen=True)
class ServerEndpoint:
    """Where a server is (`base_url` ends with `/v1`), its key, and how long to wait for each piece."""

    base_url: str
    api_key: str | None = None
    timeout_s: float = 120.0
    api_key_env: str | None = None  # only to say where the key came from in error messages

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ServerEndpoint:
        """`http://host:port` or `http://host:port/v1` (with or without a trailing slash)."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteConnectionError(
                f"{url!r} is not a server URL; pass one like http://127.0.0.1:8000/v1 (http or https, host, port)."
            )
        path = parts.path.rstrip("/")
        if not path.endswith("/v1"):
            path += "/v1"
        return cls(f"{parts.scheme}://{parts.netloc}{path}", **options)

    def get_json(self, path: str) -> Any:
        connection = self._connection()
        try:
            response = self._send(connection, "GET", path, None)
            try:
                return json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise RemoteStreamError(f"{self.base_url}{path} sent an answer that is not JSON ({e}).") from e
        finally:
            connection.close()

    def stream(self, path: str, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """POST `body`; yield each JSON event of the SSE answer. Closing the iterator closes the connection, which
        tells the server to stop generating."""
        connection = self._connection()
        try:
            response = self._send(connection, "POST", path, json.dumps(body).encode())
            yield from self._events(response, path)
        finally:
            connection.close()

    # -- internals ------------------------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.base_url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        return kind(parts.hostname, parts.port, timeout=self.timeout_s)

    def _send(self, connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None):
        headers = {"Accept": "application/json, text/event-stream"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        parts = urlsplit(self.base_url)
        try:
            connection.request(method, parts.path + path, body=body, headers=headers)
            response = connection.getresponse()
        except TimeoutError as e:
            raise RemoteTimeoutError(
                f"{self.base_url} did not answer within {self.timeout_s:g} s. The server may be overloaded or still "
                "loading the model; wait and retry, or connect with a longer timeout=."
            ) from e
        except (OSError, http.client.HTTPException) as e:
            raise RemoteConnectionError(
                f"Cannot reach {self.base_url} ({type(e).__name__}: {e}). Check that the server is running and the "
                "URL (host, port, /v1) is right."
            ) from e
        if response.status != 200:
            raise self._http_error(response, path)
        return response

    def _http_error(self, response: http.client.HTTPResponse, path: str) -> RemoteError:
        try:
            detail = _error_message(response.read())
        except (OSError, http.client.HTTPException):
            detail = ""
        status = f"HTTP {response.status} {response.reason}".strip()
        said = f": {detail}" if detail else ""
        if response.status in (401, 403):
            where = f"the environment variable {self.api_key_env}" if self.api_key_env else "api_key_env="
            what = "refused the API key" if self.api_key else "wants an API key"
            return RemoteAuthError(f"{self.base_url} {what} ({status}{said}). Put the server's key in {where}.")
        if response.status == 404:
            return RemoteHTTPError(
                f"{self.base_url}{path} answered {status}{said}. Check the URL (it should end with /v1) and the "
                "model name (GET /v1/models lists the served ones).",
                response.status,
            )
        if response.status in (429, 503):
            return RemoteHTTPError(f"{self.base_url} is busy ({status}{said}). Retry in a moment.", response.status)
        return RemoteHTTPError(f"{self.base_url}{path} answered {status}{said}.", response.status)

    def _events(self, response: http.client.HTTPResponse, path: str) -> Iterator[dict[str, Any]]:
        data: list[str] = []
        while True:
            line = self._read_line(response)
            if not line:
                raise RemoteStreamError(
                    f"{self.base_url} closed the stream before it ended (the server stopped or dropped the "
                    "connection): the answer is incomplete. Check the server, then send the message again."
                )
            text = line.decode("utf-8").rstrip("\r\n")
            if text.startswith("data:"):
                data.append(text[5:].removeprefix(" "))
                continue
            if text or not data:
                continue  # comments (":..."), other fields, or blank lines between events
            payload, data = "\n".join(data), []
            if payload == "[DONE]":
                return
            try:
                event = json.loads(payload)
            except ValueError as e:
                raise RemoteStreamError(
                    f"{self.base_url}{path} sent an event that is not JSON: {payload[:200]!r}"
                ) from e
            if isinstance(event, dict) and "error" in event and "choices" not in event:
                raise RemoteHTTPError(f"{self.base_url} reported an error mid-stream: {_error_text(event)}")
            yield event

    def _read_line(self, response: http.client.HTTPResponse) -> bytes:
        try:
            return response.readline(_MAX_LINE)
        except TimeoutError as e:
            raise RemoteTimeoutError(
                f"{self.base_url} sent nothing for {self.timeout_s:g} s in the middle of an answer. The server may "
                "be stuck or overloaded; retry, or connect with a longer timeout=."
            ) from e
        except (OSError, http.client.HTTPException) as e:
            raise RemoteStreamError(
                f"The connection to {self.base_url} broke mid-answer ({type(e).__name__}: {e}); the answer is "
                "incomplete. Check the server, then send the message again."
            ) from e


def _error_message(raw: bytes) -> str:
    try:
        return _error_text(json.loads(raw))
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:300]


def _error_text(body: Any) -> str:
    """The message of an OpenAI (`{"error": {"message": ...}}`) or vLLM (`{"message": ...}`) error body."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    return json.dumps(body)[:300]
