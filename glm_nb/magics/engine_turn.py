"""`EngineTurn`: one reply's hold on the engine, shared by the magics and the chat panel (one kernel, one KV cache).

Replies never interleave: a cell runs on the kernel's thread and a chat panel's reply on its own, and each holds the
session's engine lock while it generates. One that finds the engine busy says so in its output while it waits, and
the note tells the user what ends the wait. A panel's wait also ends with Stop (`TurnStopped`); a cell's with an
interrupt. Either way nothing was sent, and the record says so rather than stay "generating…" in the saved notebook.
"""

from __future__ import annotations

import threading

from ..render import Transcript
from .replies import ReplySink

__all__ = ["EngineTurn", "TurnStopped"]


class TurnStopped(Exception):
    """Stop was pressed while the reply waited for the engine: nothing was sent, and the record says so."""


class EngineTurn:
    """Holds the engine lock for one reply; says so in the output while it waits for another reply to end.

    `holder[0]`: who holds the lock now, "cell" or "panel" (what a waiting panel is told to do). `stopped`: set from
    another thread (the chat panel's Stop), it ends the wait with `TurnStopped`; None for a cell."""

    def __init__(
        self, lock: threading.Lock, holder: list[str], sink: ReplySink, template: Transcript,
        stopped: threading.Event | None,
    ):  # fmt: skip
        self.lock, self.holder, self.sink, self.template, self.stopped = lock, holder, sink, template, stopped

    def __enter__(self) -> None:
        self._check_stopped()  # Stop pressed while the model loaded
        if not self.lock.acquire(blocking=False):
            self._wait()
        self.holder[0] = "panel" if self.stopped is not None else "cell"

    def _wait(self) -> None:
        if self.stopped is None:
            note = _WAIT_CELL  # a cell runs on the kernel's thread: what holds the engine is a panel's reply
        else:  # a chat panel's reply, behind a cell's or another panel's (two panels in one notebook)
            note = _WAIT_PANEL_ON_PANEL if self.holder[0] == "panel" else _WAIT_PANEL
        self.sink.update(_with_note(self.template, note))
        try:
            while not self.lock.acquire(timeout=0.05):
                self._check_stopped()
        except KeyboardInterrupt:  # the record must not stay "generating…" in the saved notebook
            self.sink.finish(_with_note(self.template, _NOT_SENT, finish_reason="cancelled"))
            raise

    def __exit__(self, *exc) -> None:
        self.lock.release()

    def _check_stopped(self) -> None:
        if self.stopped is not None and self.stopped.is_set():
            self.sink.finish(_with_note(self.template, _STOPPED, finish_reason="cancelled"))
            raise TurnStopped(_STOPPED)


# Who waits decides what can end the wait: a cell keeps the kernel busy, so the chat panel's buttons wait behind it
# (their messages are handled between cells); the panel waits in a thread, so a cell can still be interrupted.
_WAIT_CELL = (
    "Waiting: the model is busy with the chat panel's reply. While this cell waits, the panel's buttons wait too; "
    "interrupt this cell (■) to stop waiting and use them."
)
_WAIT_PANEL = (
    "Waiting: the model is busy with a cell's reply; this one starts when it ends (interrupt the cell (■) to end it)."
)
_WAIT_PANEL_ON_PANEL = (
    "Waiting: the model is busy with another chat panel's reply; this one starts when it ends (press Stop there to "
    "end it, or here to stop waiting)."
)
_NOT_SENT = "Interrupted while waiting for the model: nothing was sent, and the conversation is unchanged."
_STOPPED = "Stopped while waiting for the model: nothing was sent, and the conversation is unchanged."


def _with_note(template: Transcript, note: str, finish_reason: str | None = None) -> Transcript:
    return Transcript(template.variant, template.model, template.prompt, note=note, finish_reason=finish_reason)
