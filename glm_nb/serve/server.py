"""`GlmServer` and `serve()`: a small OpenAI-compatible server over one chat `Backend` (the local engine).

Enough for a teacher's machine to serve a small class, and the reference peer of `RemoteBackend`'s tests: the
standard library's threading HTTP server (one thread per connection), one request decoding at a time through a
FIFO `DecodeQueue`, loopback by default, an optional bearer token. Stopping (SIGINT, SIGTERM or `stop()`) refuses
new requests, cancels the running and waiting ones (streams get an error event saying why), waits briefly for them
to finish their last write, and closes the socket.
"""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import TextIO

from ..chat import Backend, ChatTemplate
from ..errors import GlmError
from .handler import RequestHandler
from .prompt_limit import PromptLimit
from .queue import DecodeQueue

__all__ = ["GlmServer", "serve"]

_DRAIN_S = 5.0  # how long stop() waits for cancelled requests to write their last event
_MIN_BACKLOG = 128  # listen() backlog; socketserver's default of 5 made a burst of clients fail to connect


class GlmServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never blocks exit; stop() drains the live requests itself

    def __init__(
        self,
        backend: Backend,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        model_name: str | None = None,
        api_key: str | None = None,
        max_queue: int = 32,
        quiet: bool = False,
    ):
        self.backend = backend
        self.model_name = model_name or backend.name
        self.template = ChatTemplate(backend.chat_template) if backend.chat_template else None
        self.api_key = api_key or None
        self.queue = DecodeQueue(max_queue)
        self.quiet = quiet
        self.started = int(time.time())
        self.stopping = threading.Event()
        self.default_max_tokens = backend.context_length or 4096  # chat: up to the context, as vLLM does
        self.prompt_limit = PromptLimit.of(backend)
        self.counts = {"completed": 0, "cancelled": 0}  # generations, for /health
        self._active: set[threading.Event] = set()
        self._lock = threading.Lock()
        # Every client the queue may hold must be able to connect: past a full listen backlog the kernel drops new
        # connections (clients see resets or timeouts) before they could be queued or told 503.
        self.request_queue_size = max(_MIN_BACKLOG, 2 * max_queue)
        self.address_family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
        try:
            super().__init__((host, port), RequestHandler)
        except OSError as e:
            advice = (
                "Pick another --port (0 = any free one), or stop what is using it."
                if e.errno in (errno.EADDRINUSE, errno.EACCES)
                else "Check --host: it must be an address of this machine (127.0.0.1, ::1, 0.0.0.0, ...)."
            )
            raise GlmError(f"Cannot listen on {host}:{port} ({e.strerror or e}). {advice}") from e

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/v1" if _is_ipv6(host) else f"http://{host}:{port}/v1"

    @contextmanager
    def track(self, cancel: threading.Event) -> Iterator[None]:
        """Register a request's cancel event, so that stop() can cancel it."""
        with self._lock:
            if self.stopping.is_set():
                cancel.set()
            self._active.add(cancel)
        try:
            yield
        finally:
            with self._lock:
                self._active.discard(cancel)

    def count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def stop(self) -> None:
        """Stop serving (thread-safe; call it from any thread but the one running `serve_forever`)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.queue.close()
        with self._lock:
            for cancel in self._active:
                cancel.set()
        self.shutdown()

    def drain(self, timeout_s: float = _DRAIN_S) -> None:
        """Wait (bounded) for cancelled requests to write their last event and leave."""
        deadline = time.monotonic() + timeout_s
        while self._active and time.monotonic() < deadline:
            time.sleep(0.05)


def serve(
    backend: Backend,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    model_name: str | None = None,
    api_key: str | None = None,
    max_queue: int = 32,
    quiet: bool = False,
    out: TextIO | None = None,
    on_ready: Callable[[GlmServer], None] | None = None,
) -> None:
    """Serve `backend` until SIGINT / SIGTERM. Prints one line with the URL once it listens (port 0 picks a free
    port: read it there). A non-loopback host without an API key gets a warning."""
    out = out or sys.stdout
    server = GlmServer(
        backend, host=host, port=port, model_name=model_name, api_key=api_key, max_queue=max_queue, quiet=quiet
    )
    if not api_key and not _is_loopback(host):
        print(
            f"glm-nb serve: warning: listening on {host} without an API key: anyone who can reach this machine can "
            "use the model. Set one with --api-key-env NAME.",
            file=sys.stderr,
        )
    restore = _stop_on_signals(server)
    try:
        print(f"glm-nb serve: {server.model_name} on {server.url}", file=out, flush=True)
        if on_ready is not None:
            on_ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        restore()
        if not server.stopping.is_set():  # serve_forever ended some other way (an exception): stop cleanly
            server.stopping.set()
            server.queue.close()
        server.drain()
        server.server_close()


def _stop_on_signals(server: GlmServer) -> Callable[[], None]:
    """SIGINT and SIGTERM stop the server (from a helper thread: shutdown() waits for the serving loop)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: object) -> None:
        threading.Thread(target=server.stop, name="glm-nb-serve-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _is_ipv6(host: str) -> bool:
    """An IPv6 literal (`::1`, `::`): listened on as IPv6. Names, `localhost` included, stay IPv4 as before."""
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
