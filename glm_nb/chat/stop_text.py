"""`StopText`: find stop strings in streamed text that may split them across pieces (`<|us` + `er|>`).

Used on both sides of the wire: the remote backend cuts GLM's stop tokens out of a server's stream (a vLLM server
asked for `include_stop_str_in_output` sends them as text), and `glm-nb serve` applies a request's extra `stop`
strings. As the streaming splitters do (streaming.py), the longest tail that could still begin a stop string is
held back until the next piece decides it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopText"]


class StopText:
    """`feed(piece) -> (text, stop)`: the text now certainly before any stop, and the stop string once one is seen
    (everything after it is dropped). `flush()` releases the held tail when the stream ends without a stop."""

    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(s for s in stops if s)
        self.stop: str | None = None
        self._held = ""

    def feed(self, piece: str) -> tuple[str, str | None]:
        if self.stop is not None:
            return "", self.stop
        buffer = self._held + piece
        found = [(at, stop) for stop in self.stops if (at := buffer.find(stop)) >= 0]
        if found:
            at, self.stop = min(found)
            self._held = ""
            return buffer[:at], self.stop
        keep = len(buffer) - max((_partial(buffer, stop) for stop in self.stops), default=0)
        self._held = buffer[keep:]
        return buffer[:keep], None

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def _partial(text: str, stop: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `stop`."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0
