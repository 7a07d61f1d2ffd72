"""The transport under `remote_http`: how a connection reaches the server (directly, or through the proxy the
environment names: HTTP_PROXY, HTTPS_PROXY, NO_PROXY as `urllib.request` reads them, never for a loopback address),
TLS failures said plainly, and `Exchange`, one streamed request sent and read on a thread of its own, so that its
reader can give up at any moment (closing it shuts the socket down, which ends a read blocked on a silent server).
"""

from __future__ import annotations

import base64
import http.client
import queue
import socket
import ssl
import threading
import urllib.request
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from .remote_errors import RemoteConnectionError

if TYPE_CHECKING:
    from .remote_http import ServerEndpoint

__all__ = ["DONE", "Exchange", "Route", "Secret", "proxy_auth", "proxy_for", "tls_error"]

_LOOPBACK = ("localhost", "::1")
DONE = object()  # the end of a stream, on an `Exchange`'s queue


class Secret(str):
    """A string that never shows itself in a repr, so that `%xmode Verbose` tracebacks (which print every local
    variable) do not print the API key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<hidden>'"


class Route(NamedTuple):
    """How one connection reaches the server: directly, or through the environment's proxy."""

    connection: http.client.HTTPConnection
    prefix: str  # "" or "http://host:port": a plain-http request through a proxy names the whole URL
    headers: dict[str, str]  # Proxy-Authorization for a plain-http request through a proxy
    via: str  # for messages: "" or " through the proxy host:port (HTTP_PROXY)"


class Exchange:
    """One streamed request, sent and read on a thread of its own into `items` (each event, then `DONE` or the
    error), so that its reader can give up at any moment. `close()` shuts the socket down: a read blocked on a
    silent server ends at once (closing a generator blocked in that read could not: it waits for the read)."""

    def __init__(self, endpoint: ServerEndpoint, path: str, body: bytes):
        self.items: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._socket: socket.socket | None = None
        args = (endpoint, endpoint._route(), path, body)  # a bad proxy setting raises here, in the caller's thread
        threading.Thread(target=self._run, args=args, name="glm-nb remote stream", daemon=True).start()

    def _run(self, endpoint: ServerEndpoint, route: Route, path: str, body: bytes) -> None:
        try:
            response = endpoint._send(route, "POST", path, body, connected=self._connected)
            for event in endpoint._events(response, path):
                self.items.put(event)
            self.items.put(DONE)
        except BaseException as e:  # handed to the reader, which raises it (ignored once it closed)
            self.items.put(e)
        finally:
            route.connection.close()

    def _connected(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            if not self._closed:
                return
        _shut(sock)  # closed while connecting: the request fails at once

    def close(self) -> None:
        with self._lock:
            self._closed, sock = True, self._socket
        if sock is not None:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the reading thread: nothing left to stop


def proxy_for(parts: SplitResult) -> SplitResult | None:
    host = parts.hostname or ""
    if host in _LOOPBACK or host.startswith("127.") or urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:
        return None
    proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        proxy_parts.port  # noqa: B018 - checks the port
    except ValueError:
        proxy_parts = None
    if proxy_parts is None or not proxy_parts.hostname:
        raise RemoteConnectionError(
            f"The environment's {parts.scheme.upper()}_PROXY is not a proxy URL like http://proxy:3128; fix it, or "
            f"set NO_PROXY={host} to reach the server directly."
        )
    return proxy_parts


def proxy_auth(proxy: SplitResult) -> dict[str, str]:
    if proxy.username is None:
        return {}
    user_pass = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
    return {"Proxy-Authorization": Secret("Basic " + base64.b64encode(user_pass).decode())}


def tls_error(base_url: str, e: ssl.SSLError) -> RemoteConnectionError:
    if isinstance(e, ssl.SSLCertVerificationError):
        return RemoteConnectionError(
            f"{base_url}'s TLS certificate cannot be verified ({e.verify_message}). If the server uses a self-signed "
            "certificate or your own certificate authority, trust it: os.environ['SSL_CERT_FILE'] = "
            "'/path/to/cert.pem' (its certificate or the authority's, PEM), then connect again."
        )
    if e.reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
        return RemoteConnectionError(
            f"{base_url} does not speak TLS ({e.reason}): the server answers plain HTTP. Use "
            f"{base_url.replace('https://', 'http://', 1)}."
        )
    return RemoteConnectionError(f"The TLS connection to {base_url} failed ({e}). Check the server's TLS setup.")
