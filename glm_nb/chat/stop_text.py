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
    (everything after it is dropped). `flush()` releases the held tail when the stream ends without a stop.

    `feed(piece, match=False)`: a stop string ending in this piece does not count (vLLM's `min_tokens`: the text of
    the first tokens cannot end the answer), one that begins in it and ends in a later piece does."""

    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(s for s in stops if s)
        self.stop: str | None = None
        self._held = ""
        self._unmatched = 0  # characters at the start of _held fed with match=False: no stop may end within them

    def feed(self, piece: str, match: bool = True) -> tuple[str, str | None]:
        if self.stop is not None:
            return "", self.stop
        buffer = self._held + piece
        unmatched = self._unmatched if match else len(buffer)
        # A stop found from `start` on ends past the unmatched characters.
        found = [(at, stop) for stop in self.stops if (at := buffer.find(stop, _start(unmatched, stop))) >= 0]
        if found:
            at, self.stop = min(found)
            self._held, self._unmatched = "", 0
            return buffer[:at], self.stop
        keep = len(buffer) - max((_partial(buffer, stop) for stop in self.stops), default=0)
        self._held, self._unmatched = buffer[keep:], max(unmatched - keep, 0)
        return buffer[:keep], None

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def _start(unmatched: int, stop: str) -> int:
    """Where to look for `stop` so that a match ends after the first `unmatched` characters."""
    return max(unmatched - len(stop) + 1, 0)


def _partial(text: str, stop: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `stop`."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0
