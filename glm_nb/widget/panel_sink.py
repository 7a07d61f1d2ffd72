"""`PanelSink`: a reply's snapshots into a `ChatPanel` (the streaming turn, then the finished one), with its rate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..render import Transcript, TranscriptBuilder
from ..render.page import transcript_html

if TYPE_CHECKING:  # the panel makes its sinks: a type only, not an import at run time
    from .chat_panel import ChatPanel

__all__ = ["PanelSink"]


class PanelSink:
    """Streams snapshots into the panel's traits; live tok/s from the deltas seen so far."""

    def __init__(self, panel: ChatPanel, builder: TranscriptBuilder, prompt: str):
        self.panel, self.builder, self.prompt = panel, builder, prompt
        self._start: float | None = None

    def update(self, transcript: Transcript) -> None:
        now = time.monotonic()
        if self._start is None:
            if self.builder.deltas:  # from the first token: the time spent reading a long prompt decodes nothing
                self._start = now
        elif now > self._start:
            self.panel.tokens_per_s = round(self.builder.deltas / (now - self._start), 1)
        if self.panel.live_prompt != self.prompt:
            self.panel.live_prompt = self.prompt
        self.panel._show_live(transcript_html(transcript, with_style=False, live=True))

    def finish(self, transcript: Transcript) -> None:
        rate = transcript.usage.decode_tokens_per_s if transcript.usage else None
        if rate:
            self.panel.tokens_per_s = round(rate, 1)
        turn = {"prompt": self.prompt, "html": transcript_html(transcript, with_style=False)}
        self.panel._finish_turn(turn, transcript)
