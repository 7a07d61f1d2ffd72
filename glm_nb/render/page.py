"""A transcript as HTML, markdown and plain text: the fallbacks that keep a saved notebook readable.

Every string from the model or a tool is escaped or goes through `markdown_html` (raw HTML escaped) or an
artifact (sanitized SVG, sandboxed frame). Styles are inline classes prefixed `glm-nb-`, light and dark friendly.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..chat import Usage
from ..cjk import word_count
from .markdown import escape_markdown_html, markdown_html

if TYPE_CHECKING:  # transcript.py imports this module to build its bundle
    from .transcript import ToolCard, Transcript

__all__ = [
    "footer_text",
    "transcript_html",
    "transcript_markdown",
    "transcript_plain",
    "transcripts_html",
    "transcripts_markdown",
]

_STYLE = """<style>
.glm-nb-transcript{font-family:var(--jp-content-font-family,system-ui,sans-serif);line-height:1.5;max-width:60em}
.glm-nb-transcript details.glm-nb-thinking{border-left:3px solid #9ab;padding:2px 8px;margin:4px 0;opacity:.85}
.glm-nb-transcript details.glm-nb-thinking summary{cursor:pointer;font-style:italic}
.glm-nb-tool{border:1px solid #ccd;border-radius:6px;padding:4px 8px;margin:6px 0;font-size:90%}
.glm-nb-tool .glm-nb-tool-head{font-family:monospace}
.glm-nb-tool.glm-nb-failed{border-color:#d88}
.glm-nb-tool pre{margin:4px 0;max-height:14em;overflow:auto;white-space:pre-wrap}
.glm-nb-footer{color:#888;font-size:85%;margin-top:6px}
.glm-nb-note{color:#a60;font-size:90%;margin:4px 0}
.glm-nb-prompt{color:#666;border-left:3px solid #ccc;padding-left:8px;white-space:pre-wrap}
.glm-nb-svg svg{max-width:100%;height:auto}
</style>"""
_FINISH_WORDS = {
    "cancelled": "⏹ interrupted",
    "length": "stopped at the token limit",
    "round_limit": "tool round limit",
    "error": "⚠ stopped by an error",
}
# A streaming record's footer: right while it streams (each update replaces it) and once saved mid-reply
_STREAMING_WORDS = "generating… (if this stays, the reply was saved before it ended)"


def transcript_html(t: Transcript, *, with_style: bool = True, with_prompt: bool = False, live: bool = False) -> str:
    """The record as HTML. live: drawn only while it streams (the ChatPanel's live turn), never saved, so a
    streaming footer says "generating…" without the caveat a saved page needs."""
    body = []
    if with_prompt and t.prompt:
        body.append(f'<div class="glm-nb-prompt">{html.escape(t.prompt)}</div>')
    last_text = max((i for i, p in enumerate(t.parts) if p.kind == "text"), default=-1)
    for index, part in enumerate(t.parts):
        if part.kind == "thinking":
            body.append(_thinking_html(t, part.text))
        elif part.kind == "tool" and part.tool is not None:
            body.append(_tool_html(part.tool))
        elif index == last_text and not t.streaming:
            body.append(_answer_html(t))
        else:
            body.append(f'<div class="glm-nb-answer">{markdown_html(part.text, artifacts=not t.streaming)}</div>')
    shown = {a.error for a in t.artifacts} if last_text >= 0 and not t.streaming else set()  # with their artifact
    if t.note and t.note not in shown:
        body.append(f'<div class="glm-nb-note">{html.escape(t.note)}</div>')
    body.append(f'<div class="glm-nb-footer">{html.escape(footer_text(t, live=live))}</div>')
    return (_STYLE if with_style else "") + '<div class="glm-nb-transcript">' + "".join(body) + "</div>"


def transcripts_html(transcripts: Sequence[Transcript]) -> str:
    """Several turns (an exported chat), each with its prompt."""
    return _STYLE + "<hr>".join(transcript_html(t, with_style=False, with_prompt=True) for t in transcripts)


def _thinking_html(t: Transcript, text: str) -> str:
    if t.thinking_display == "hidden":
        return ""
    opened = " open" if t.thinking_display == "shown" or t.streaming else ""
    words = word_count(text)
    return (
        f'<details class="glm-nb-thinking"{opened}><summary>Thinking ({words} words)</summary>'
        f"{markdown_html(text, artifacts=False)}</details>"
    )


def _answer_html(t: Transcript) -> str:
    if t.output_format == "markdown":
        inner = markdown_html(t.answer)
    elif t.output_format == "text":
        inner = f'<pre style="white-space:pre-wrap">{html.escape(t.answer)}</pre>'
    elif t.output_format == "json" and t.artifacts and not t.artifacts[0].error:
        pretty = json.dumps(t.artifacts[0].value(), ensure_ascii=False, indent=2)
        inner = f"<pre>{html.escape(pretty)}</pre>"
    else:  # code, html, svg, or json that does not parse: the artifact (rendered or as source)
        inner = "".join(a.html() for a in t.artifacts) or markdown_html(t.answer)
    return f'<div class="glm-nb-answer">{inner}</div>'


def _tool_html(card: ToolCard) -> str:
    failed = card.status not in ("ok", "running")
    arguments = html.escape(json.dumps(card.arguments, ensure_ascii=False))
    timing = f" · {card.duration_s:.2f} s" if card.duration_s is not None else ""
    head = f"🔧 {html.escape(card.name)}({arguments}) · {html.escape(card.status)}{timing}"
    detail = ""
    if card.error:
        detail += f'<div class="glm-nb-note">{html.escape(card.error)}</div>'
    if card.result is not None and not card.error:
        detail += f"<details><summary>result</summary><pre>{html.escape(card.result)}</pre></details>"
    css = "glm-nb-tool glm-nb-failed" if failed else "glm-nb-tool"
    return f'<div class="{css}"><div class="glm-nb-tool-head">{head}</div>{detail}</div>'


def footer_text(t: Transcript, *, live: bool = False) -> str:
    items = [t.model]
    if t.variant != "chat":
        items.append(t.variant)
    if t.streaming:
        # A page cannot tell a live reply from one saved mid-stream (the kernel died, or it was saved then): it shows
        # the last update for good. The lab extension reads `updated_at` and says which; this fallback cannot.
        items.append("generating…" if live else _STREAMING_WORDS)
    usage = t.usage or Usage()
    if usage.new_tokens:
        items.append(f"{usage.new_tokens} tokens")
    if usage.time_to_first_token_s is not None:
        ttft = usage.time_to_first_token_s
        items.append(f"first token {ttft * 1000:.0f} ms" if ttft < 1 else f"first token {ttft:.2f} s")
    if usage.decode_tokens_per_s is not None:
        items.append(f"{usage.decode_tokens_per_s:.1f} tok/s")
    if usage.prompt_tokens:
        items.append(f"prompt {usage.prompt_tokens} ({usage.reused_prompt_tokens} cached)")
    reason = _finish_words(t)
    if reason:
        items.append(reason)
    return " · ".join(items)


def _finish_words(t: Transcript) -> str:
    """Why a reply ended, in the footer's words; "" for one that ended as asked, or still streams."""
    if t.finish_reason == "round_limit" and t.variant == "rumination":
        return "research turn limit"  # a research's rounds are its turns: it ran out of them, not of tool rounds
    return _FINISH_WORDS.get(t.finish_reason or "", "")


def transcript_markdown(t: Transcript) -> str:
    """The record as markdown whose `<` are escaped outside code (`escape_markdown_html`). Each piece is escaped as
    the renderer will read it: text parts that end up side by side (hidden thinking between them) are one
    document, since the second may go on with the first's list, and with it a code fence the first left open in it;
    every other piece starts at the margin after a blank line, which ends whatever the piece before left open."""
    lines: list[str] = []
    text: list[str] = []  # adjacent text parts, escaped together
    for part in t.parts:
        if part.kind == "text":
            text.append(part.text)
            continue
        if part.kind == "thinking" and t.thinking_display == "hidden":
            continue
        if text:
            lines.append(escape_markdown_html("\n\n".join(text)))
            text = []
        if part.kind == "thinking":
            lines.append(f"> **Thinking**\n>\n{_quoted(escape_markdown_html(part.text))}")
        elif part.kind == "tool" and part.tool is not None:
            card = part.tool
            arguments = json.dumps(card.arguments, ensure_ascii=False)
            lines.append(escape_markdown_html(f"🔧 {card.name}({arguments}) · {card.status}{_why(card)}"))
    if text:
        lines.append(escape_markdown_html("\n\n".join(text)))
    if t.note:
        lines.append(f"*{escape_markdown_html(t.note)}*")
    lines.append(f"*{escape_markdown_html(footer_text(t))}*")
    return "\n\n".join(lines)


def transcripts_markdown(transcripts: Sequence[Transcript]) -> str:
    """Several turns (an exported chat), each under its prompt. The prompt is quoted, so that a list or a fence it
    ends with ends there too, and the reply below reads as it does alone: its code stays code, escaped as such."""
    return "\n\n---\n\n".join(
        f"{_quoted(escape_markdown_html('**You:** ' + t.prompt))}\n\n{transcript_markdown(t)}" for t in transcripts
    )


def _quoted(markdown: str) -> str:
    return "\n".join("> " + line for line in markdown.split("\n"))  # lines as escape_markdown_html ends them


def _why(card: ToolCard) -> str:
    """Why a call failed, after its status, for the text fallbacks (the HTML shows it under the card): a reader
    with no HTML (a terminal IPython, a markdown export) sees what the model read."""
    return f": {' '.join(card.error.split())}" if card.error else ""


def transcript_plain(t: Transcript) -> str:
    lines = []
    for part in t.parts:
        if part.kind == "thinking" and t.thinking_display != "hidden":
            lines.append(f"[thinking: {word_count(part.text)} words]")
        elif part.kind == "tool" and part.tool is not None:
            card = part.tool
            arguments = json.dumps(card.arguments, ensure_ascii=False)
            lines.append(f"[tool {card.name}({arguments}) -> {card.status}{_why(card)}]")
        elif part.kind == "text":
            lines.append(part.text)
    if t.note:
        lines.append(t.note)
    lines.append(f"-- {footer_text(t)}")
    return "\n".join(lines)
