"""A small HTTP client for OpenAI-compatible servers (vLLM, SGLang, `glm-nb serve`): JSON GETs and server-sent
event streams, on the standard library's `http.client`, with every failure turned into a `RemoteError`.

Server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html): `data:` lines, an event ends
at a blank line, lines end with CRLF, LF or CR; OpenAI-style streams end with `data: [DONE]`. A stream that ends
without it was cut off (the server died or dropped the connection): that is an error, never a short answer.

A stream is read on a thread of its own (`remote_net.Exchange`), so that the caller can give up at any moment, even
while the server is silent (queued, or a long prefill): closing the stream shuts the socket down, which ends the
blocked read at once and tells the server to stop. Proxies are those the environment names (HTTP_PROXY,
HTTPS_PROXY, NO_PROXY, read by `urllib.request`), never for a loopback address.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from .remote_errors import (
    RemoteAuthError,
    RemoteConnectionError,
    RemoteError,
    RemoteHTTPError,
    RemoteStreamError,
    RemoteTimeoutError,
)
from .remote_net import DONE, Exchange, Route, Secret, proxy_auth, proxy_for, tls_error

__all__ = [
    "RemoteAuthError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteHTTPError",
    "RemoteStreamError",
    "RemoteTimeoutError",
    "ServerEndpoint",
    "read_api_key",
]

# An endpoint's URL pasted whole is read as its server's: these after `/v1`, the first two even without it (every
# server this backend talks to serves them under /v1).
_ENDPOINTS = ("/chat/completions", "/completions", "/models", "/chat")
_BARE_ENDPOINTS = ("/chat/completions", "/completions")
_OPENAI_RESOURCES = ("chat", "completions", "models", "embeddings", "responses", "audio", "images", "moderations")
_MAX_LINE = 1 << 24  # one SSE line (a JSON chunk); far above any real chunk
_LINE_END = re.compile(rb"\r\n|\r|\n")
_POLL_S = 0.1  # how often a stream waiting for the server hands control back to its reader (to check a cancel)
_REDIRECTS = (301, 302, 303, 307, 308)
_TIMEOUT_HINT = "connect with a longer timeout= (in %glm_model: --timeout SECONDS)"
_KEY_HINT = "an environment variable named by api_key_env= (in %glm_model: --api-key-env NAME)"


@dataclass(frozen=True)
class ServerEndpoint:
    """Where a server is (`base_url` ends with `/v1`), its key, and how long to wait for each piece."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 120.0
    api_key_env: str | None = None  # only to say where the key came from in error messages

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ServerEndpoint:
        """`http://host:port` or `http://host:port/v1` (with or without a trailing slash; an endpoint's whole URL,
        `.../v1/chat/completions`, is read as its server's)."""
        parts = urlsplit(url.strip())
        if "@" in parts.netloc:  # checked first: no message may echo the password
            raise RemoteConnectionError(
                f"The server URL holds a user name or password (before '@'), which glm-nb never sends: pass "
                f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}, and put the server's API key in "
                f"{_KEY_HINT}."
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = "The URL (not shown: it holds '@')" if "@" in url else repr(url)  # user:password@host
            raise RemoteConnectionError(
                f"{shown} is not a server URL; pass one like http://127.0.0.1:8000/v1 (http or https, host, port)."
            )
        if parts.query or parts.fragment:  # not shown: a query may hold a key
            raise RemoteConnectionError(
                f"The server URL has a query string or fragment ('?...' or '#...'), which would never reach the "
                f"server; pass it without: {parts._replace(query='', fragment='').geturl()}."
            )
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
        except ValueError as e:
            raise RemoteConnectionError(
                f"{url!r} has a bad port ({e}); give a number from 1 to 65535, like http://127.0.0.1:8000/v1."
            ) from None
        return cls(f"{parts.scheme}://{parts.netloc}{_server_path(parts)}", **options)

    def get_json(self, path: str) -> Any:
        route = self._route()
        try:
            response = self._send(route, "GET", path, None)
            try:
                raw = response.read()
            except TimeoutError as e:
                raise RemoteTimeoutError(
                    f"{self.base_url}{path} stopped sending its answer for {self.timeout_s:g} s. The server may be "
                    f"overloaded; wait and retry, or {_TIMEOUT_HINT}."
                ) from e
            except (OSError, http.client.HTTPException) as e:
                raise RemoteConnectionError(
                    f"The connection to {self.base_url} broke while reading {path} ({type(e).__name__}: {e}). Check "
                    "the server and retry."
                ) from e
            try:
                return json.loads(raw)
            except ValueError as e:
                raise RemoteHTTPError(
                    f"{self.base_url}{path} sent an answer that is not JSON ({e}): {_snippet(raw)!r}. Is this an "
                    "OpenAI-compatible server (vLLM, SGLang, glm-nb serve)?",
                    200,
                ) from e
        finally:
            route.connection.close()

    def stream(self, path: str, body: Mapping[str, Any], *, idle_s: float = _POLL_S) -> Iterator[dict | None]:
        """POST `body`; yield each JSON event of the SSE answer, and None each time nothing came for `idle_s`
        seconds (so that the caller can check a cancel flag while the server is silent). Closing the iterator
        shuts the connection down at once, which tells the server to stop generating."""
        exchange = Exchange(self, path, json.dumps(body).encode())
        try:
            while True:
                try:
                    item = exchange.items.get(timeout=idle_s)
                except queue.Empty:
                    yield None
                    continue
                if item is DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            exchange.close()

    # -- internals ------------------------------------------------------------------------------------------------
    def _route(self) -> Route:
        parts = urlsplit(self.base_url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        proxy = proxy_for(parts)
        if proxy is None:
            return Route(kind(parts.hostname, parts.port, timeout=self.timeout_s), "", {}, "")
        auth = proxy_auth(proxy)
        where = f"{proxy.hostname}:{proxy.port or 80}"
        via = f" through the proxy {where} ({parts.scheme.upper()}_PROXY; NO_PROXY={parts.hostname} goes direct)"
        connection = kind(proxy.hostname, proxy.port or 80, timeout=self.timeout_s)
        if parts.scheme == "https":
            connection.set_tunnel(parts.hostname, parts.port, headers=auth)  # CONNECT, then TLS to the server
            return Route(connection, "", {}, via)
        return Route(connection, f"http://{parts.netloc}", auth, via)

    def _send(
        self, route: Route, method: str, path: str, body: bytes | None, connected: Callable | None = None
    ) -> http.client.HTTPResponse:
        """Send the request and wait for the answer's headers; `connected(socket)` is called once connected."""
        headers = {"Accept": "application/json, text/event-stream", **route.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = Secret(f"Bearer {self.api_key}")
        connection, target = route.connection, route.prefix + urlsplit(self.base_url).path + path
        try:
            connection.connect()
            if connected is not None:
                connected(connection.sock)
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
        except TimeoutError as e:
            raise RemoteTimeoutError(
                f"{self.base_url} did not answer within {self.timeout_s:g} s{route.via}. The server may be "
                f"overloaded or still loading the model; wait and retry, or {_TIMEOUT_HINT}."
            ) from e
        except ssl.SSLError as e:  # before ValueError and OSError: a verification failure is both
            raise tls_error(self.base_url, e) from e
        except (OSError, http.client.HTTPException) as e:
            dropped = isinstance(e, (ConnectionResetError, http.client.BadStatusLine))  # as a TLS server does
            tls = " If the server uses TLS, use https://." if dropped and self.base_url.startswith("http:") else ""
            raise RemoteConnectionError(
                f"Cannot reach {self.base_url}{route.via} ({type(e).__name__}: {e}). Check that the server is "
                f"running and the URL (host, port, /v1) is right.{tls}"
            ) from e
        except ValueError:  # http.client refused a header value; its message (and the cause) would show the key
            where = f"the environment variable {self.api_key_env}" if self.api_key_env else "the API key"
            raise RemoteAuthError(
                f"The request to {self.base_url} cannot carry {where}: HTTP headers allow printable ASCII only. Set "
                "it to the key alone."
            ) from None
        if response.status != 200:
            raise self._http_error(response, path)
        return response

    def _http_error(self, response: http.client.HTTPResponse, path: str) -> RemoteError:
        try:
            detail = _error_message(response.read())
        except (OSError, http.client.HTTPException):
            detail = ""
        status = f"HTTP {response.status} {response.reason}".strip()
        said = f": {detail.rstrip('.')}" if detail else ""  # each branch ends the sentence itself
        if response.status in (401, 403):
            where = f"the environment variable {self.api_key_env}" if self.api_key_env else _KEY_HINT
            todo = f"Put the server's key in {where}."
            what = "refused the API key" if self.api_key else "wants an API key"
            return RemoteAuthError(f"{self.base_url} {what} ({status}{said}). {todo}")
        if response.status in _REDIRECTS:
            if not (location := response.getheader("Location")):
                return RemoteHTTPError(f"{self.base_url}{path} redirects ({status}) without saying where.")
            location = urljoin(self.base_url + path, location)
            base = location.removesuffix(path) if location.endswith(path) else location
            return RemoteHTTPError(
                f"{self.base_url}{path} redirects ({status}) to {location}. Connect to {base} instead (in "
                "%glm_model: --remote URL).",
                response.status,
            )
        if response.status == 404:
            return RemoteHTTPError(
                f"{self.base_url}{path} answered {status}{said}. Check the URL (it should end with /v1) and the "
                "model name (GET /v1/models lists the served ones).",
                response.status,
            )
        if response.status in (429, 503):
            after = (response.getheader("Retry-After") or "").strip()  # seconds (or a date, not read here)
            when = f"Retry in {after} s" if after.isdigit() else "Retry in a moment"
            return RemoteHTTPError(f"{self.base_url} is busy ({status}{said}). {when}.", response.status)
        return RemoteHTTPError(f"{self.base_url}{path} answered {status}{said}.", response.status)

    def _check_event_stream(self, response: http.client.HTTPResponse, path: str) -> None:
        """A server that ignores `stream: true` (or a web page in front of it) answers 200 with something else."""
        kind = (response.getheader("Content-Type") or "").partition(";")[0].strip().lower()
        if kind in ("", "text/event-stream"):
            return
        try:
            raw = response.read(1 << 16)
        except (OSError, http.client.HTTPException):
            raw = b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and "choices" in body:
            what = 'one whole JSON completion, not a stream: it ignored "stream": true'
        elif isinstance(body, dict) and ("error" in body or body.get("object") == "error"):
            what = f"an error instead of a stream: {_error_text(body)}"
        else:
            what = f"{kind}, not a stream of events: {_snippet(raw)!r}"
        raise RemoteHTTPError(
            f"{self.base_url}{path} answered {what}. Check that the URL points at an OpenAI-compatible server that "
            "streams completions (vLLM, SGLang, glm-nb serve), not at a web page or a proxy's login page.",
            response.status,
        )

    def _events(self, response: http.client.HTTPResponse, path: str) -> Iterator[dict[str, Any]]:
        self._check_event_stream(response, path)
        data: list[str] = []
        for line in self._lines(response):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise RemoteStreamError(
                    f"{self.base_url}{path} sent a line that is not UTF-8 ({e.reason} at byte {e.start}); the "
                    "answer cannot be read. Check the server, then send the message again."
                ) from None
            if text.startswith("data:"):
                data.append(text[5:].removeprefix(" "))
                continue
            if text or not data:
                continue  # comments (":..."), other fields, or blank lines between events
            payload, data = "\n".join(data), []
            if payload == "[DONE]":
                return
            yield self._event(payload, path)
        raise RemoteStreamError(
            f"{self.base_url} closed the stream before it ended (the server stopped or dropped the connection): "
            "the answer is incomplete. Check the server, then send the message again."
        )

    def _event(self, payload: str, path: str) -> dict[str, Any]:
        try:
            event = json.loads(payload)
        except ValueError as e:
            raise RemoteStreamError(f"{self.base_url}{path} sent an event that is not JSON: {payload[:200]!r}") from e
        if not isinstance(event, dict):
            raise RemoteStreamError(
                f"{self.base_url}{path} sent an event that is not a JSON object: {payload[:200]!r}. Is this an "
                "OpenAI-compatible completions server?"
            )
        if ("error" in event or event.get("object") == "error") and "choices" not in event:
            raise RemoteHTTPError(f"{self.base_url} reported an error mid-stream: {_error_text(event)}")
        return event

    def _lines(self, response: http.client.HTTPResponse) -> Iterator[bytes]:
        """The answer's lines without their ends, until the server closes the connection."""
        line: list[bytes] = []  # the pieces of the line not ended yet
        size, after_cr = 0, False
        while block := self._read(response):
            if after_cr and block.startswith(b"\n"):  # the LF of a CRLF split across two reads
                block = block[1:]
            after_cr = block.endswith(b"\r")
            *ended, rest = _LINE_END.split(block)
            for piece in ended:
                yield b"".join([*line, piece])
                line, size = [], 0
            line.append(rest)
            size += len(rest)
            if size > _MAX_LINE:
                raise RemoteStreamError(
                    f"{self.base_url} sent a line longer than {_MAX_LINE >> 20} MiB; the answer cannot be read."
                )

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        try:
            return response.read1(1 << 16)
        except TimeoutError as e:
            raise RemoteTimeoutError(
                f"{self.base_url} sent nothing for {self.timeout_s:g} s in the middle of an answer. The server may "
                f"be stuck or overloaded; retry, or {_TIMEOUT_HINT}."
            ) from e
        except (OSError, http.client.HTTPException) as e:
            raise RemoteStreamError(
                f"The connection to {self.base_url} broke mid-answer ({type(e).__name__}: {e}); the answer is "
                "incomplete. Check the server, then send the message again."
            ) from e


def _server_path(parts: SplitResult) -> str:
    """The path of the server's base URL, ending with `/v1`, from the URL a user gave: its path `""`, `/v1`, or an
    endpoint's (`/v1/chat/completions`, `/v1/completions`, `/completions`, ...). Another OpenAI endpoint after `/v1`
    (`/v1/embeddings`, a typo such as `/v1/chat/completion`, an endpoint with /v1 added, `.../v1/completions/v1`)
    is refused: glm-nb would ask for `.../v1/<that>/v1/completions`. Any other path is a prefix (a proxy's route)."""
    path = parts.path.rstrip("/")
    endpoint = next((e for e in _ENDPOINTS if path.endswith(f"/v1{e}")), None)
    endpoint = endpoint or next((e for e in _BARE_ENDPOINTS if path.endswith(e)), None)
    if endpoint is not None:
        path = path.removesuffix(endpoint).rstrip("/")
    before, v1, after = path.removesuffix("/v1").rpartition("/v1/")
    if v1 and after.partition("/")[0] in _OPENAI_RESOURCES:
        raise RemoteConnectionError(
            f"The server URL goes on past /v1 (with {path[len(before) + 3 :]!r}). Pass the server's URL ending "
            f"with /v1, {parts.scheme}://{parts.netloc}{before}/v1: glm-nb adds /completions and /models itself."
        )
    return path if path.endswith("/v1") else path + "/v1"


def read_api_key(env: str | None) -> str | None:
    """The API key held by the environment variable `env` (None: no key), without the whitespace around it (a key
    read from a file keeps its line break). A key HTTP cannot carry raises RemoteAuthError, which names the
    variable but never shows the value."""
    if env is None:
        return None
    key = Secret(os.environ.get(env, "").strip())  # never a plain str local: tracebacks may print locals
    if not key:
        raise RemoteAuthError(
            f"The environment variable {env} is not set (or empty). Set it to the server's API key, e.g. "
            f"os.environ[{env!r}] = '...', before connecting."
        )
    bad = next((c for c in key if not "!" <= c <= "~"), None)
    if bad is not None:
        if bad.isspace() or not bad.isprintable():
            what = "a space or a control character (a line break, a tab)"
        else:
            what = f"the character U+{ord(bad):04X}, which is not ASCII (a typographic quote pasted with the key?)"
        raise RemoteAuthError(
            f"The environment variable {env} holds {what} inside the API key; a key is printable ASCII without "
            f"spaces (and without 'Bearer '). Set it to the key alone, e.g. os.environ[{env!r}] = "
            "open('key.txt').read().strip()."
        )
    return key


def _snippet(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:200]


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
    return json.dumps(body, ensure_ascii=False)[:300]  # a Chinese message as written, not \uXXXX escapes
