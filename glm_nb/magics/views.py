"""Small displays for `%glm status` and `%glm history` (plain text and escaped HTML)."""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass

from ..chat import AssistantMessage, ObservationMessage, SystemMessage, UserMessage
from .options import VARIANTS
from .session import NotebookSession

__all__ = ["history_view", "status_view"]


@dataclass(frozen=True)
class _Lines:
    title: str
    lines: tuple[str, ...]

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        items = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in self.lines)
        return {
            "text/plain": "\n".join([self.title, *self.lines]),
            "text/html": f"<div><b>{html.escape(self.title)}</b><ul>{items}</ul></div>",
        }


def status_view(session: NotebookSession, variant: str | None = None) -> _Lines:
    """The models and conversations of every magic, or of `variant`'s alone; the defaults; replies so far."""
    lines = []
    for name in VARIANTS if variant is None else (variant,):
        model = session.models.get(name)
        thread = session.threads.get(name)
        turns = len(thread.turns) if thread else 0
        messages = len(thread.messages) if thread else 0
        label = model.label if model else "(none yet: the first cell loads nano-GLM)"
        lines.append(f"{name}: {label} · {messages} messages, {turns} cell turns")
    defaults = session.defaults.given()  # a default of 0 (greedy, seed 0) is set, though 0 == False
    given = f"{defaults} (%glm config --clear forgets them)" if defaults else "none set (%glm config ...)"
    lines.append(f"defaults: {given}")
    lines.append(f"replies this session: {session.replies}")
    return _Lines("glm-nb", tuple(lines))


def history_view(session: NotebookSession, variant: str | None = None) -> _Lines:
    lines = []
    for name in VARIANTS if variant is None else (variant,):
        thread = session.threads.get(name)
        if not thread:
            continue
        if thread.system:
            lines.append(f"[{name}] system: {_short(thread.system)}")
        for message in thread.messages:
            lines.append(f"[{name}] {_describe(message)}")
    return _Lines("conversation history", tuple(lines) or ("(empty)",))


def _describe(message) -> str:
    if isinstance(message, UserMessage):
        return f"user: {_short(message.content)}"
    if isinstance(message, AssistantMessage):
        calls = ", ".join(c.name or "(unreadable call)" for c in message.tool_calls)
        return f"assistant{_mark(message)}: {_short(message.text)}" + (f" [calls {calls}]" if calls else "")
    if isinstance(message, ObservationMessage):
        return f"observation ({message.name}): {_short(message.content)}"
    if isinstance(message, SystemMessage):
        return f"system: {_short(message.content)}"
    return repr(message)


def _mark(message: AssistantMessage) -> str:
    """How a turn ended, when not as asked; a turn that ended inside its thinking has no answer, which history
    (keeping answers only) would otherwise show as an empty line."""
    if message.end == "interrupted":
        return " (interrupted)"
    if message.thinking_cut_off:
        return " (no answer: the token limit ended its thinking)"
    if message.stopped_in_thinking:
        return " (no answer: it stopped while still thinking)"
    return " (cut off at the token limit)" if message.end == "length" else ""


def _short(text: str, limit: int = 100) -> str:
    """`text` on one line, cut to `limit` columns: a Chinese, Japanese or Korean character takes two."""
    text = " ".join(text.split())
    widths = [2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text]
    if sum(widths) <= limit:
        return text
    end, used = 0, 0
    while used + widths[end] <= limit - 1:  # room for the ellipsis
        used += widths[end]
        end += 1
    return text[:end] + "…"
