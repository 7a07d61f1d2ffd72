"""Streaming splitters: thinking vs answer at `</think>`, and visible text vs tool calls at `<|assistant|>`.

Markers can arrive split across pieces (`</thi` + `nk>`), so each splitter holds back the longest tail that could
still be the start of its marker, and releases it once it cannot (gpt-fast and vLLM detokenizers do the same for
stop strings). FORMAT.md, "GLM-Z1": the forced prompt ends `<|assistant|>\\n<think>`, the model writes its
reasoning, `</think>`, then the answer. FORMAT.md, "What the model emits": calls are `name\\n{json}` segments
separated by `<|assistant|>`; `glm_nb.tools.classify_segment` decides, on a growing segment, whether it is
already certainly text (stream it) or may still be a call (hold it).

Section text is trimmed: leading whitespace is dropped and trailing whitespace held until more text follows, so
the streamed deltas concatenate to exactly the stripped text that history keeps.
"""

from __future__ import annotations

from typing import Literal

from ..tools import CALL_SEPARATOR, classify_segment

__all__ = ["THINK_OPEN", "THINK_CLOSE", "AnswerStream", "ThinkingSplitter", "Trimmer"]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
Section = Literal["thinking", "answer"]


def _partial_marker(text: str, marker: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


class Trimmer:
    """Streams a section without its leading and trailing whitespace (the tail is held until text follows).

    `paragraph_break()` marks a boundary (between calls written as text): the whitespace around it becomes one blank
    line, or nothing at the start or the end of the section."""

    def __init__(self) -> None:
        self._started = False  # text was given out
        self._at_break = True  # leading whitespace is dropped here: the start, or just after a paragraph break
        self._held = ""

    def feed(self, text: str) -> str:
        if self._at_break:
            text = text.lstrip()
            if not text:
                return ""
            self._at_break = False
        body = text.rstrip()
        if not body:
            self._held += text
            return ""
        out, self._held = self._held + body, text[len(body) :]
        self._started = True
        return out

    def paragraph_break(self) -> None:
        self._held = "\n\n" if self._started else ""
        self._at_break = True


class ThinkingSplitter:
    """Splits generated text into ("thinking", text) and ("answer", text) pieces at `</think>`.

    `thinking=True` when the prompt forced a thinking section (it ends with `<think>`); otherwise a `<think>` at
    the very start of the output opens one. Thinking pieces are trimmed; the answer after `</think>` loses its
    leading whitespace, while an answer without thinking passes through raw (its first line matters for calls).
    """

    def __init__(self, thinking: bool):
        self.in_thinking = thinking
        self.has_thinking = thinking
        self.closed = False  # `</think>` was seen
        self._buffer = ""
        self._at_start = not thinking  # a `<think>` may still open the output
        self._trim = Trimmer()
        self._strip_answer = False

    def feed(self, text: str) -> list[tuple[Section, str]]:
        self._buffer += text
        out: list[tuple[Section, str]] = []
        while self._buffer:
            if self.in_thinking:
                end = self._buffer.find(THINK_CLOSE)
                if end < 0:
                    keep = len(self._buffer) - _partial_marker(self._buffer, THINK_CLOSE)
                    out.append(("thinking", self._trim.feed(self._buffer[:keep])))
                    self._buffer = self._buffer[keep:]
                    break
                out.append(("thinking", self._trim.feed(self._buffer[:end])))
                self._buffer = self._buffer[end + len(THINK_CLOSE) :]
                self.in_thinking, self.closed, self._strip_answer = False, True, True
            elif self._at_start:
                start = self._buffer.lstrip()
                if start.startswith(THINK_OPEN):
                    self._buffer = start[len(THINK_OPEN) :]
                    self.in_thinking = self.has_thinking = True
                    self._at_start = False
                elif THINK_OPEN.startswith(start):
                    break  # whitespace or a beginning of `<think>`: wait
                else:
                    self._at_start = False
            else:
                if self._strip_answer:
                    self._buffer = self._buffer.lstrip()
                    self._strip_answer = not self._buffer
                out.append(("answer", self._buffer))
                self._buffer = ""
        return [(section, piece) for section, piece in out if piece]

    def flush(self) -> list[tuple[Section, str]]:
        """The held-back tail, at the end of the output."""
        rest, self._buffer = self._buffer, ""
        if self.in_thinking:
            return [("thinking", t)] if (t := self._trim.feed(rest)) else []
        if self._strip_answer:
            rest = rest.lstrip()
        return [("answer", rest)] if rest else []


class AnswerStream:
    """Takes the answer's raw text; returns the part that is certainly visible text, holding back possible calls.

    `raw` is everything fed (parse it with `parse_tool_calls` at the end); `text` is the visible text, equal to
    the concatenation of everything `feed` and `finish` returned. With `tool_calls=False` all of it is text.
    `held` lists the segments held back as calls, which `finish(release_calls=True)` shows as text after all.
    Segments shown as text (all of them with `tool_calls=False`, e.g. several calls written where no tools were
    declared) are a blank line apart, where `<|assistant|>` separated them.
    """

    def __init__(self, tool_calls: bool = True) -> None:
        self.raw = ""
        self._segment = ""
        self._kind = "open" if tool_calls else "text"  # of the current segment: "open", "text" or "call"
        self._calls = tool_calls
        self._tail = ""  # a possible beginning of `<|assistant|>`
        self._trim = Trimmer()
        self._visible: list[str] = []
        self.held: list[str] = []

    def feed(self, text: str) -> str:
        self.raw += text
        buffer, out = self._tail + text, ""
        while (at := buffer.find(CALL_SEPARATOR)) >= 0:
            out += self._emit(self._extend(buffer[:at]) + self._end_segment())
            self._trim.paragraph_break()  # segments shown as text are shown apart, not glued together
            buffer = buffer[at + len(CALL_SEPARATOR) :]
        keep = len(buffer) - _partial_marker(buffer, CALL_SEPARATOR)
        self._tail = buffer[keep:]
        return out + self._emit(self._extend(buffer[:keep]))

    def finish(self, release_calls: bool = False) -> str:
        """Whatever was held back and turned out to be text, at the end of the answer; `release_calls`: the
        segments held as calls too (the turn turned out to hold none)."""
        tail, self._tail = self._tail, ""
        out = self._emit(self._extend(tail) + self._end_segment())
        if release_calls:
            for segment in self.held:
                self._trim.paragraph_break()
                out += self._emit(segment)
            self.held = []
        return out

    def segment_names(self) -> list[str]:
        """The first lines of the segments held as calls, the current one included: the tool names they call."""
        current = [self._segment] if self._kind == "call" else []
        return [segment.partition("\n")[0].strip() for segment in self.held + current]

    @property
    def text(self) -> str:
        return "".join(self._visible)

    def _extend(self, piece: str) -> str:
        if self._kind == "text":
            return piece
        self._segment += piece
        if self._kind == "open":
            self._kind = classify_segment(self._segment)
            if self._kind == "text":
                return self._segment
        return ""

    def _end_segment(self) -> str:
        if self._kind == "call":
            self.held.append(self._segment)
        held = self._segment if self._kind == "open" else ""  # still undecided at its end: plain text
        self._segment, self._kind = "", ("open" if self._calls else "text")
        return held

    def _emit(self, text: str) -> str:
        out = self._trim.feed(text)
        if out:
            self._visible.append(out)
        return out
