"""`DecodeQueue`: one request decodes at a time; the others wait their turn, first come first served.

The engine holds one KV cache (one `Generator`), so requests cannot decode side by side; a queue keeps a small class
fair and bounded. A waiter leaves the queue when its client disconnects (its cancel event is set) or the server
closes; more than `max_waiting` waiters get an immediate 503 instead of an unbounded wait.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ServerBusyError

__all__ = ["ClientGone", "DecodeQueue"]

_POLL_S = 0.2  # how often a waiter re-checks its cancel event (a notify wakes it sooner)


class ClientGone(Exception):
    """The client disconnected while its request waited: nothing is left to answer (not a GlmError: no one sees it)."""


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
    def turn(self, cancel: threading.Event) -> Iterator[None]:
        """Wait until this request may decode (FIFO); hold the model for the `with` block."""
        ticket = object()
        with self._cond:
            self._check_open()
            if (self._busy or self._waiting) and len(self._waiting) >= self.max_waiting:
                raise ServerBusyError(
                    f"{len(self._waiting)} requests are already waiting for the model; retry in a moment (or start "
                    "the server with a larger --max-queue)."
                )
            self._waiting.append(ticket)
            try:
                while self._busy or self._waiting[0] is not ticket:
                    self._check_open()
                    if cancel.is_set():
                        raise ClientGone
                    self._cond.wait(_POLL_S)
                self._check_open()
                if cancel.is_set():  # gone before its turn, or since its last look: run nothing for nobody
                    raise ClientGone
            except BaseException:
                self._waiting.remove(ticket)
                self._cond.notify_all()
                raise
            self._waiting.popleft()
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def close(self) -> None:
        """Refuse new requests and send the waiting ones away (503)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise ServerBusyError("The server is shutting down; retry when it is back.")
