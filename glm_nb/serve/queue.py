"""`DecodeQueue`: one request decodes at a time; the others wait their turn, first come first served.

The engine holds one KV cache (one `Generator`), so requests cannot decode side by side; a queue keeps a small class
fair and bounded. A waiter leaves the queue when its client disconnects (its cancel event is set) or the server
closes; more than `max_waiting` waiters get an immediate 503 instead of an unbounded wait. A waiter may be called
back while it waits (`on_wait`), to keep its client's connection alive. `watch_peer` sets a request's cancel event
when its client hangs up, waiting or generating.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import ServerBusyError

__all__ = ["STOPPING_RETRY_S", "ClientGone", "DecodeQueue", "watch_peer"]

_POLL_S = 0.2  # how often a waiter re-checks its cancel event (a notify wakes it sooner)
# A 503's Retry-After: a waiter's turn comes within seconds of a short answer; a server shutting down is back (if it
# is restarted) once it has loaded its model again. Not less: OpenAI's clients retry twice, the second time about a
# second after the first, and a retry before a restarted server listens again is refused, which spends it.
_FULL_RETRY_S = 5
STOPPING_RETRY_S = 30


class ClientGone(Exception):
    """The client disconnected while its request waited: nothing is left to answer (no GlmError: no one sees it)."""


class DecodeQueue:
    def __init__(self, max_waiting: int = 32):
        self.max_waiting = max_waiting
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._busy = False
        self._closed = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._busy

    @contextmanager
    def turn(
        self, cancel: threading.Event, on_wait: Callable[[], None] | None = None, every_s: float = 5.0
    ) -> Iterator[None]:
        """Wait until this request may decode (FIFO); hold the model for the `with` block. While it waits, `on_wait`
        (if given) is called every `every_s` seconds, outside the queue's lock: a stream tells its client it is
        still there, whose read would otherwise time out in a long queue. What it raises leaves the queue."""
        ticket = object()
        with self._cond:
            self._check_open()
            if (self._busy or self._waiting) and len(self._waiting) >= self.max_waiting:
                raise ServerBusyError(
                    f"{len(self._waiting)} requests are already waiting for the model; retry in {_FULL_RETRY_S} s "
                    "(or start the server with a larger --max-queue).",
                    retry_after_s=_FULL_RETRY_S,
                )
            self._waiting.append(ticket)
        try:
            self._wait_for(ticket, cancel, on_wait, every_s)
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _wait_for(
        self, ticket: object, cancel: threading.Event, on_wait: Callable[[], None] | None, every_s: float
    ) -> None:
        """Block until `ticket` is first and the model free, then take the model."""
        next_call = time.monotonic() + every_s
        while True:
            with self._cond:
                self._check_open()
                if cancel.is_set():  # gone while waiting, or just before its turn: run nothing for nobody
                    raise ClientGone
                if not self._busy and self._waiting[0] is ticket:
                    self._waiting.popleft()
                    self._busy = True
                    return
                self._cond.wait(_POLL_S)
            if on_wait is not None and time.monotonic() >= next_call:
                on_wait()
                next_call = time.monotonic() + every_s

    def close(self) -> None:
        """Refuse new requests and send the waiting ones away (503)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise ServerBusyError(
                "The server is shutting down; retry when it is back.", retry_after_s=STOPPING_RETRY_S
            )


def watch_peer(connection: socket.socket, cancel: threading.Event) -> None:
    """Set `cancel` when the client closes its side. One request per connection, so once the body is read nothing
    more is read from the socket: bytes the client sent after its body (a stray CRLF, a pipelined request) are
    dropped here, since left unread they would hide the end of the stream behind them."""
    while not cancel.is_set():
        try:
            readable, _, _ = select.select([connection], [], [], 0.1)
            if readable and not connection.recv(4096):
                cancel.set()
            elif readable:
                time.sleep(0.1)  # bytes after the body: not a hang-up; a client that floods them is read slowly
        except (OSError, ValueError):  # reset, or the socket was closed under us
            cancel.set()
