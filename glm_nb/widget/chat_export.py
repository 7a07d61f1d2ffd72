"""`ChatExport`: a chat panel's conversation as a static output, what its Export button downloads."""

from __future__ import annotations

from typing import Any

from ..render import MIME_TYPE, Transcript, transcripts_html
from ..render.page import transcript_plain, transcripts_markdown

__all__ = ["ChatExport"]


class ChatExport:
    """A chat panel's conversation as a static output (transcript bundle + html/markdown/plain fallbacks)."""

    def __init__(self, transcripts: tuple[Transcript, ...]):
        self.transcripts = transcripts

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "kind": "chat", "turns": [t.to_json() for t in self.transcripts]}

    def standalone_html(self) -> str:
        return f'<!doctype html><meta charset="utf-8"><title>glm-nb chat</title>{transcripts_html(self.transcripts)}'

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        markdown = transcripts_markdown(self.transcripts)
        plain = "\n\n".join(f"> {t.prompt}\n{transcript_plain(t)}" for t in self.transcripts)
        return {
            MIME_TYPE: self.to_json(),
            "text/html": transcripts_html(self.transcripts),
            "text/markdown": markdown or "(empty chat)",
            "text/plain": plain or "(empty chat)",
        }
