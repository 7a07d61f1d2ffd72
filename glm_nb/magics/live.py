"""The IPython side of streaming: one display in the cell, updated in place as the reply streams.

In a kernel the output is shown once with a display id and then updated (JupyterLab, VS Code and nbclient keep
the last update, the static record, in the saved notebook). A terminal IPython cannot update in place, so there
only the final record is printed.
"""

from __future__ import annotations

from IPython.display import DisplayHandle, display

from ..render import Transcript

__all__ = ["LiveOutput"]


class LiveOutput:
    """A `ReplySink` over IPython's display. live=False shows only the final record."""

    def __init__(self, *, live: bool = True):
        self.live = live
        self._handle: DisplayHandle | None = None
        self.updates = 0  # snapshots shown, for tests and `%glm status`

    def update(self, transcript: Transcript) -> None:
        if not self.live:
            return
        self.updates += 1
        if self._handle is None:
            self._handle = display(transcript, display_id=True)
        else:
            self._handle.update(transcript)

    def finish(self, transcript: Transcript) -> None:
        if self._handle is None:
            display(transcript)
        else:
            self._handle.update(transcript)
