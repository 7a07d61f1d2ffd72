"""`TurnSync`: a `ChatPanel`'s turns to its front end's model, so that a saved notebook keeps the conversation.

`turns` (the finished turns) is a synced trait, so the saved widget state (JupyterLab's, or nbclient's in a headless
run) holds every turn. It is not resent as a whole per turn: once the front end's model says it applies turns itself
(`{"type": "sync", "turns": n}`, from chat_panel.js's `initialize`, which the kernel answers with any turn after the
n it holds), a finished turn goes as `{"type": "turn", "index", "turn"}`, and the front end adds it to that model's
own list, which every view of it draws and "Save widget state" serialises. The kernel's list grows in place, so a
page that (re)loads still gets every turn with the state. Until a front end says so (a headless run: nbclient records
only state updates), each finished turn assigns the whole list.
Only `live`, the turn now streaming, changes with each token (its message, `live_prompt`, once per turn: a pasted
document is not sent again with every token); to a front end that applies turns, an update sends only what changed
since its copy (`{"type": "live"}`: live_edits.py), so a long reply's traffic grows with its length, not its square.
The kernel answers every "sync" (last: `{"type": "synced"}`), which tells a model drawn from a notebook saved
mid-reply, with no kernel behind it, from one whose reply still streams (chat_panel.js shows the first as unfinished).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .live_edits import html_edits, live_message, wire_text

if TYPE_CHECKING:  # the panel makes its own: a type only, not an import at run time
    from .chat_panel import ChatPanel

__all__ = ["TurnSync"]


class TurnSync:
    """Sends one panel's finished turns and streaming turn to its front end: as messages where the front end's model
    applies them (`applies_turns`, from its first "sync"), else as whole trait values."""

    def __init__(self, panel: ChatPanel):
        self.panel = panel
        self.applies_turns = False  # a front end's model takes `{"type": "turn" | "live"}` messages
        self._live_lock = threading.Lock()  # `live` and the messages that edit it, in one order
        self._live_version = 0  # each update of `live` gets the next: the edits name the copy they apply to

    def finish_turn(self, turn: dict[str, str]) -> None:
        """A finished turn, sent once (never per token); the view stops drawing it as the live turn when it arrives.

        Runs on the reply thread, so no `hold_sync`: its flag and pending set are shared with the kernel's thread,
        where a trait set meanwhile (a refused send's status) would be held back, lost if it lands between the send
        and the clear, or would break the send's iteration over that set."""
        panel = self.panel
        turn = {**turn, "html": wire_text(turn["html"])}  # as the page gets it: the same when compared
        if self.applies_turns:
            # In place: traitlets sees no new value, so ipywidgets resends nothing; `get_state()` still reads it all.
            panel.turns.append(turn)
            panel._tell_view({"type": "turn", "index": len(panel.turns) - 1, "turn": turn})
        else:  # no front end applies turn messages (a headless run): the state update is the record
            panel.turns = [*panel.turns, turn]
        self.end_live()  # after a snapshot of the live turn the front end asked for, never before it

    def end_live(self) -> None:
        """No turn streams any more (it finished, or failed)."""
        with self._live_lock:
            self.panel.live, self.panel.live_prompt = {}, ""

    def show_live(self, page: str) -> None:
        """The streaming turn's HTML after an update. A front end that applies edits gets what changed since its copy
        (`{"type": "live", "from", "to", "edits", "size"}`, see live_edits.py), not the whole turn again, and `live`
        changes in place so that a reload's state has it all; a turn's first update, and every update where no
        front end applies edits (a headless run), assigns `live` as a whole. Lone surrogates (a tool result's
        undecodable file name) go as U+FFFD: see live_edits.py."""
        page = wire_text(page)
        with self._live_lock:
            self._live_version += 1
            live = self.panel.live
            if not self.applies_turns or "html" not in live:
                self.panel.live = {"html": page, "version": self._live_version}
                return
            base, edits = live["version"], html_edits(live["html"], page)
            live.update(html=page, version=self._live_version)  # in place: traitlets sees no change, sends nothing
            self.panel._tell_view(live_message(base, live, edits))

    def send_turns_after(self, held: Any) -> None:
        """A front end's model holds `held` turns (it was made from the state, then missed some): send the rest, or
        the whole list where it holds more than the kernel (a Clear it missed); then the streaming turn as a whole
        (its copy may be older than the edits it got), and `{"type": "synced"}`: a kernel is behind this model.
        The caller holds the panel's lock, so that a Clear the reply thread does as it ends is not interleaved."""
        panel = self.panel
        turns = list(panel.turns)  # the reply thread may append meanwhile: a turn sent twice is applied once
        if not isinstance(held, int) or not 0 <= held <= len(turns):
            panel.send_state("turns")
        else:
            for index in range(held, len(turns)):
                panel._tell_view({"type": "turn", "index": index, "turn": turns[index]})
        with self._live_lock:
            if "html" in panel.live:
                panel._tell_view(live_message(None, panel.live, [(0, 0, panel.live["html"])]))
        panel._tell_view({"type": "synced"})
