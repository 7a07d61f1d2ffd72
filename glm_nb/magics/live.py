"""The IPython side of streaming: one display in the cell, updated in place as the reply streams.

In a kernel the output is shown once with a display id and then updated (JupyterLab, VS Code and nbclient keep
the last update, the static record, in the saved notebook). A terminal IPython cannot update in place, so there
only the final record is printed.

Each streaming snapshot's record carries `updated_at` (seconds since 1970): a notebook saved while a reply streamed
(the kernel died, or it was saved mid-reply) keeps a record that says "streaming" forever, and the lab extension
reads the stamp to tell such a record from a live one. The final record carries no stamp: it is not streaming.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from IPython.display import DisplayHandle, display

from ..render import MIME_TYPE, Transcript

__all__ = ["LiveOutput"]


class LiveOutput:
    """A `ReplySink` over IPython's display. live=False shows only the final record."""

    def __init__(self, *, live: bool = True, clock: Callable[[], float] = time.time):
        self.live = live
        self._clock = clock
        self._handle: DisplayHandle | None = None
        self.updates = 0  # snapshots shown, for tests and `%glm status`

    def update(self, transcript: Transcript) -> None:
        if not self.live:
            return
        self.updates += 1
        data, metadata = _stamped(transcript, self._clock())
        if self._handle is None:
            self._handle = display(data, raw=True, metadata=metadata, display_id=True)
        else:
            self._handle.update(data, raw=True, metadata=metadata)

    def finish(self, transcript: Transcript) -> None:
        if self._handle is None:
            display(transcript)
        else:
            self._handle.update(transcript)


def _stamped(transcript: Transcript, now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The snapshot's display bundle, its record stamped with the time it was shown."""
    data, metadata = transcript._repr_mimebundle_()
    return {**data, MIME_TYPE: {**data[MIME_TYPE], "updated_at": now}}, metadata
