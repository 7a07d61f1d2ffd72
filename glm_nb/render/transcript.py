"""`Transcript`: the static record of one reply (DESIGN.md, decision 7), and `TranscriptBuilder`, which makes one
from a response's events as they stream.

A transcript is plain data: the prompt, the reply's parts in order (thinking, text, tool cards), the answer, its
artifacts, usage and sampling. `_repr_mimebundle_` gives

    application/vnd.glm-nb.transcript+json    the record itself, for the lab extension (schema: `to_json`)
    text/html, text/markdown, text/plain       fallbacks that read well without it (JupyterLab, VS Code, nbviewer)

and the output metadata carries model, sampling and usage under "glm_nb". With `thinking_display` "hidden" none
of them holds the thinking (`saved_parts`): it stays in the kernel's record (`glm_nb.last().thinking`) alone.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal

from ..chat import Done, Event, PromptProgress, TextDelta, ThinkingDelta, ToolCallEvent, ToolResultEvent, Usage
from ..engine import SamplingParams
from ..tools import opens_json_object, strip_code_fence
from .artifacts import Artifact, code_blocks, extract_artifacts
from .notes import CUT_CODE, LOOPING_CALL, REPEATED_CALL, UNDECLARED_CALL, silence_note
from .page import transcript_html, transcript_markdown, transcript_plain
from .svg import ArtifactError

__all__ = [
    "MIME_TYPE",
    "OUTPUT_FORMATS",
    "OutputFormat",
    "Part",
    "ThinkingDisplay",
    "ToolCard",
    "Transcript",
    "TranscriptBuilder",
]

MIME_TYPE = "application/vnd.glm-nb.transcript+json"
SCHEMA_VERSION = 1
OutputFormat = Literal["markdown", "text", "code", "html", "svg", "json"]
OUTPUT_FORMATS: tuple[str, ...] = ("markdown", "text", "code", "html", "svg", "json")
ThinkingDisplay = Literal["collapsed", "shown", "hidden"]


@dataclass(frozen=True)
class ToolCard:
    """One tool call as the user sees it. status: "running" until its result comes, then the result's status."""

    name: str
    arguments: dict[str, Any]
    status: str = "running"
    result: str | None = None  # the observation text the model read
    error: str | None = None  # a call that could not be read, or the result's error
    duration_s: float | None = None
    call_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Part:
    kind: Literal["thinking", "text", "tool"]
    text: str = ""
    tool: ToolCard | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == "tool":
            assert self.tool is not None
            return {"type": "tool", **self.tool.to_json()}
        return {"type": self.kind, "text": self.text}


@dataclass(frozen=True)
class Transcript:
    """The record of one reply. `finish_reason` is None while it is still streaming."""

    variant: str  # "chat", "z1" or "rumination"
    model: str
    prompt: str
    parts: tuple[Part, ...] = ()
    answer: str = ""
    output_format: OutputFormat = "markdown"
    artifacts: tuple[Artifact, ...] = ()
    usage: Usage | None = None
    sampling: SamplingParams | None = None
    finish_reason: str | None = None
    thinking_display: ThinkingDisplay = "collapsed"
    note: str = ""  # e.g. "The code is in the next cell."

    @property
    def text(self) -> str:
        return self.answer

    @property
    def thinking(self) -> str:
        return "\n\n".join(p.text for p in self.parts if p.kind == "thinking")

    @property
    def saved_parts(self) -> tuple[Part, ...]:
        """The parts the output shows and the saved notebook keeps: with `--thinking hidden`, none of the thinking
        (the user chose not to see it, so it is not written into the file either; `thinking` still has it)."""
        if self.thinking_display != "hidden":
            return self.parts
        return tuple(p for p in self.parts if p.kind != "thinking")

    @property
    def tool_cards(self) -> list[ToolCard]:
        return [p.tool for p in self.parts if p.tool is not None]

    @property
    def interrupted(self) -> bool:
        return self.finish_reason == "cancelled"

    @property
    def streaming(self) -> bool:
        return self.finish_reason is None

    def value(self) -> Any:
        """What `-o NAME` stores: the parsed JSON for the json format (None when it does not parse: the output's
        note says why), else the answer text."""
        if self.output_format == "json":
            return next((a.value() for a in self.artifacts if a.kind == "json" and not a.error), None)
        return self.answer

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "kind": "reply",  # one reply; a chat panel's export is {"kind": "chat", "turns": [reply, ...]}
            "variant": self.variant,
            "model": self.model,
            "prompt": self.prompt,
            "parts": [p.to_json() for p in self.saved_parts],
            "answer": self.answer,
            "format": self.output_format,
            "artifacts": [a.to_json() for a in self.artifacts],
            "usage": _usage_json(self.usage),
            "sampling": dataclasses.asdict(self.sampling) if self.sampling else None,
            "finish_reason": self.finish_reason,
            "thinking_display": self.thinking_display,
            "note": self.note,
        }

    def metadata(self) -> dict[str, Any]:
        """Output metadata: what produced this output and what it cost."""
        return {
            "glm_nb": {
                "model": self.model,
                "variant": self.variant,
                "sampling": dataclasses.asdict(self.sampling) if self.sampling else None,
                "usage": _usage_json(self.usage),
                "finish_reason": self.finish_reason,
            }
        }

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        data = {
            MIME_TYPE: self.to_json(),
            "text/html": transcript_html(self),
            "text/markdown": transcript_markdown(self),
            "text/plain": transcript_plain(self),
        }
        return data, self.metadata()

    def __repr__(self) -> str:
        state = self.finish_reason or "streaming"
        return f"<Transcript {self.variant} {state}: {len(self.answer)} chars, {len(self.artifacts)} artifacts>"


def _usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    data = dataclasses.asdict(usage)
    data["decode_tokens_per_s"] = usage.decode_tokens_per_s
    return data


class TranscriptBuilder:
    """Accumulates a response's events into parts; `snapshot()` while streaming, `finish()` at the end.

    actions_as_text=False (Rumination): the JSON action text that precedes each call is dropped, since the tool
    card shows the same call.
    """

    def __init__(self, template: Transcript, *, actions_as_text: bool = True, clock=time.perf_counter):
        self._template = template
        self._actions_as_text = actions_as_text
        self._clock = clock
        self._parts: list[Part] = []
        self._pending: dict[str, int] = {}  # call id -> index of its card in _parts
        self._since = clock()
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._done: Done | None = None  # how the reply ended, with what its last turn left unwritten
        self.deltas = 0  # text and thinking deltas so far: about one per token, for a live tokens/s
        self._reading: PromptProgress | None = None  # the last event, while it says how far a prompt is read

    def add(self, event: Event) -> None:
        self._reading = event if isinstance(event, PromptProgress) else None
        if isinstance(event, ThinkingDelta):
            self.deltas += 1
            self._extend("thinking", event.text)
        elif isinstance(event, TextDelta):
            self.deltas += 1
            self._extend("text", event.text)
        elif isinstance(event, ToolCallEvent):
            self._add_call(event)
        elif isinstance(event, ToolResultEvent):
            self._add_result(event)
        elif isinstance(event, Done):
            self.usage, self.finish_reason, self._done = event.usage, event.finish_reason, event

    def _extend(self, kind: Literal["thinking", "text"], text: str) -> None:
        if self._parts and self._parts[-1].kind == kind:
            last = self._parts[-1]
            self._parts[-1] = dataclasses.replace(last, text=last.text + text)
        else:
            self._parts.append(Part(kind, text))

    def _add_call(self, event: ToolCallEvent) -> None:
        call = event.call
        if not self._actions_as_text and self._parts and self._parts[-1].kind == "text":
            self._parts.pop()
        status = "invalid" if call.error else "running"
        card = ToolCard(
            call.name or "(unreadable call)", dict(call.arguments), status, error=call.error, call_id=call.id
        )
        self._pending[call.id] = len(self._parts)
        self._parts.append(Part("tool", tool=card))
        self._since = self._clock()

    def _add_result(self, event: ToolResultEvent) -> None:
        result = event.result
        now = self._clock()
        index = self._pending.pop(result.call.id, None)
        card = ToolCard(result.call.name, dict(result.call.arguments), call_id=result.call.id)
        if index is None:  # a result without a call event: show it anyway
            index = len(self._parts)
            self._parts.append(Part("tool", tool=card))
        else:
            card = self._parts[index].tool or card
        card = dataclasses.replace(
            card, status=result.status, result=result.content, error=result.error or card.error,
            duration_s=now - self._since,
        )  # fmt: skip
        self._parts[index] = Part("tool", tool=card)
        self._since = now

    def snapshot(self) -> Transcript:
        """The transcript so far (finish_reason None: still streaming); while the model reads a long prompt, a note
        says how far it is."""
        answer = self._parts[-1].text if self._parts and self._parts[-1].kind == "text" else ""
        snapshot = dataclasses.replace(self._template, parts=tuple(self._parts), answer=answer)
        if self._reading is not None:
            done, total = self._reading.done, self._reading.total
            note = f"Reading the prompt: {done:,} of {total:,} tokens ({done / max(total, 1):.0%})…"
            snapshot = dataclasses.replace(snapshot, note=" ".join(filter(None, (self._template.note, note))))
        return snapshot

    def finish(
        self,
        answer: str | None = None,
        *,
        finish_reason: str | None = None,
        usage: Usage | None = None,
        error: str | None = None,
    ) -> Transcript:
        """The final record. `answer` replaces the streamed last text (e.g. a research report with its sources).
        `error`: what stopped the reply (finish reason "error"); the record keeps what streamed before it."""
        reason = "error" if error is not None else finish_reason or self.finish_reason or "cancelled"
        parts = [_settled(p, reason) for p in self._parts]
        cut_action = None
        if not self._actions_as_text and reason != "stop" and parts and parts[-1].kind == "text":
            # An action cut short: its card never came, so it never ran. A research report never starts with "{"
            # or a code fence (it would be read as an action), so `answer` then is what the research found.
            if opens_json_object(parts[-1].text):
                cut_action = " ".join(parts.pop().text.split())
        if answer is not None:
            if parts and parts[-1].kind == "text":
                parts[-1] = Part("text", answer)
            elif answer:
                parts.append(Part("text", answer))
        final_answer = parts[-1].text if parts and parts[-1].kind == "text" else ""
        fmt = self._template.output_format
        if final_answer:
            artifacts, note = _artifacts(final_answer, fmt)
        else:
            artifacts, note = [], silence_note(parts, reason, self._done, self._template.thinking_display)
        if fmt == "code" and reason == "length" and artifacts:  # the code goes into the next cell: say it is partial
            note = " ".join(filter(None, (note, CUT_CODE)))
        if self._done is not None and self._done.undeclared_tool_call and final_answer:
            note = " ".join(filter(None, (UNDECLARED_CALL, note)))
        if self._done is not None and self._done.repeated_failed_call:
            note = " ".join(filter(None, (REPEATED_CALL, note)))
        if self._done is not None and self._done.looping_call:
            note = " ".join(filter(None, (LOOPING_CALL, note)))
        if cut_action is not None:
            shown = cut_action if len(cut_action) <= 80 else cut_action[:79] + "…"
            note = f"Stopped while writing its next action ({shown}); that action was not run."
        if error is not None:
            note = f"Stopped by an error: {error}"
        return dataclasses.replace(
            self._template,
            parts=tuple(parts),
            answer=final_answer,
            artifacts=tuple(artifacts),
            usage=usage or self.usage or Usage(),
            finish_reason=reason,
            note=note,
        )


def _settled(part: Part, reason: str) -> Part:
    """A card still "running" when the reply ended got no result: Rumination's `finish` (nothing to run: done, its
    report after it, also when written as the research ran out of turns, or when a token limit cut the report or
    left it no room in the context: "length"), or a call left to the caller or cut off by an interrupt or an error
    (not run). A chat's tool card is never left running at "length": its call ran before the next turn began."""
    if part.tool is None or part.tool.status != "running":
        return part
    status = "ok" if reason in ("stop", "round_limit", "length") and part.tool.name == "finish" else "not_run"
    return Part("tool", tool=dataclasses.replace(part.tool, status=status))


def _artifacts(answer: str, fmt: str) -> tuple[list[Artifact], str]:
    """The artifacts of an answer in output format `fmt`, and a note for the user when something is off."""
    if fmt in ("markdown", "text"):
        return extract_artifacts(answer), ""
    if fmt == "code":
        blocks = code_blocks(answer)
        language, source = blocks[0] if blocks else ("python", answer.strip())
        return [Artifact("code", source, language or "python")], ""
    if fmt == "json":
        artifact = Artifact("json", _first_block(answer, "json"), "json")
        try:
            artifact.value()
        except ArtifactError as e:
            return [dataclasses.replace(artifact, error=str(e))], str(e)
        return [artifact], ""
    artifact = Artifact.from_block(fmt, _first_block(answer, fmt))  # html or svg
    return [artifact], artifact.error or ""


def _first_block(answer: str, language: str) -> str:
    """The first fenced block in `language` (or the only block, or the whole answer without a fence)."""
    blocks = code_blocks(answer)
    for lang, body in blocks:
        if lang.lower() == language:
            return body
    if len(blocks) == 1:
        return blocks[0][1]
    return strip_code_fence(answer)
