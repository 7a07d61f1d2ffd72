"""Streaming one reply into a display, shared by the magics and the chat panel (no IPython here).

A `ReplySink` receives `Transcript` snapshots while the reply streams (at most one per `refresh_s`, so a fast model
does not flood the frontend) and the final record once. Interrupting (KeyboardInterrupt, from the kernel's
interrupt or raised in a sink) cancels the response: the chat layer commits the partial answer to history marked
interrupted, the backend is left ready for the next turn, and the record ends with finish reason "cancelled".
Any other exception (a context that fills up during a tool round, a failing backend) ends the record with finish
reason "error" and the message as its note, so the display never stays "generating…"; then the exception goes on
to the caller, which says what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ..chat import Response
from ..render import Transcript, TranscriptBuilder

__all__ = ["ReplySink", "stream_reply"]


class ReplySink(Protocol):
    def update(self, transcript: Transcript) -> None:
        """A snapshot while streaming (finish_reason None)."""

    def finish(self, transcript: Transcript) -> None:
        """The final record."""


def stream_reply(
    response: Response,
    builder: TranscriptBuilder,
    sink: ReplySink,
    *,
    refresh_s: float = 0.1,
    final_answer: Callable[[Response], str | None] = lambda response: None,
    clock: Callable[[], float] = time.monotonic,
) -> Transcript:
    """Iterate `response` into `sink`; returns the final transcript (also given to `sink.finish`)."""
    shown = float("-inf")
    interrupted = False
    try:
        for event in response:
            builder.add(event)
            now = clock()
            if now - shown >= refresh_s:
                sink.update(builder.snapshot())
                shown = now
    except KeyboardInterrupt:
        interrupted = True
        response.cancel()  # if it landed outside the response's own loop, this stops it at its next token
        response.finish()
    except Exception as error:
        sink.finish(builder.finish(usage=response.usage_so_far, error=str(error) or type(error).__name__))
        raise
    answer = None if interrupted else final_answer(response)
    reason = "cancelled" if interrupted else (response.finish_reason or "cancelled")
    transcript = builder.finish(answer, finish_reason=reason, usage=response.usage_so_far)
    sink.finish(transcript)
    return transcript
