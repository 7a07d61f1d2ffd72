"""The streaming turn's HTML as edits: what changed since the page's copy, not the whole turn again per update.

Each update of a streaming reply re-renders its whole transcript (markdown can change earlier HTML: a closing `**`
turns the paragraph's text into `<strong>`), but almost all of it stays as it was: the text grows at its end, and
the footer's token count and a thinking section's word count change. Resending the whole HTML ~10 times a second
makes a reply's traffic grow with the square of its length (2,000 words: megabytes). `html_edits` finds the
stretches that changed, so a message carries those only; chat_panel.js's `applyLive` applies them.

Positions are in UTF-16 code units, as JavaScript's strings count (an emoji is two), not Python's code points.
They are counted at C speed (this runs ~10 times a second on a long reply), by the length of the UTF-16 encoding
with surrogatepass: ~0.05 ms for 90 kB, where a compiled regex counting the characters above U+FFFF takes ~0.8 ms
on text with CJK (Python scans its two-byte strings slowly), and a loop over the characters ~15 ms.
A lone surrogate ('\\udce9') has no UTF-8 form: the kernel's JSON either fails to send it or sends a byte the page
reads as U+FFFD. Tool results have none (glm_nb/tools/tool.py makes them U+FFFD); other text may (a message whose
JSON held "\\ud83d", a call's arguments written so by the model), so `wire_text` makes each U+FFFD before anything is
measured, and the page's copy and the lengths it checks are the kernel's.
"""

from __future__ import annotations

from typing import Any

from ..valid_text import valid_text

__all__ = ["html_edits", "live_message", "utf16_length", "wire_text"]


_ANCHOR = 32  # characters of the old HTML that must recur in the new to resynchronise after a change
_CHUNK = 4096  # compared as whole slices first: C speed, then character by character in the chunk that differs
_MAX_EDITS = 64  # past this many stretches (a re-render that changed much), one edit replaces everything after

Edit = tuple[int, int, str]  # (start, end, text): old[start:end] becomes text; positions in the old HTML


def html_edits(old: str, new: str) -> list[Edit]:
    """Edits that turn `old` into `new`, in order and apart, with positions in UTF-16 code units of `old`."""
    edits: list[Edit] = []
    i = j = 0  # i: position in old, j: the same place in new (code points)
    while True:
        same = _common_length(old, i, new, j)
        i, j = i + same, j + same
        if i == len(old) and j == len(new):
            break
        if len(edits) == _MAX_EDITS:
            start = edits[0][0]  # old and new agree up to the first edit
            edits = [(start, len(old), new[start:])]
            break
        skip, at = _resynchronise(old, i, new, j)
        edits.append((i, i + skip, new[j:at]))
        i, j = i + skip, at
    return _in_utf16(old, edits)


def live_message(base: int | None, live: dict[str, Any], edits: list[Edit]) -> dict[str, Any]:
    """The view's message: the edits that make `live` ({html, version}) from version `base` (None: from an empty
    page, a snapshot), and the length the page checks what it put together against (JavaScript's)."""
    size = utf16_length(live["html"])
    return {"type": "live", "from": base, "to": live["version"], "edits": edits, "size": size}


def utf16_length(text: str) -> int:
    """JavaScript's length of `text`: code points, and one more for each above U+FFFF (an emoji). Never raises: a
    lone surrogate counts one, as it would in JavaScript (surrogatepass)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def wire_text(text: str) -> str:
    """`text` with each surrogate code point replaced by U+FFFD, as the page would read it: one UTF-16 code unit
    each, in the kernel's count and the page's alike (and the kernel's JSON can send it)."""
    return valid_text(text)


def _common_length(old: str, i: int, new: str, j: int) -> int:
    """How many characters old[i:] and new[j:] have in common at their start."""
    same = 0
    limit = min(len(old) - i, len(new) - j)
    while same < limit:
        step = min(_CHUNK, limit - same)
        if old[i + same : i + same + step] == new[j + same : j + same + step]:
            same += step
            continue
        while old[i + same] == new[j + same]:  # the chunk differs: find where
            same += 1
        break
    return same


def _resynchronise(old: str, i: int, new: str, j: int) -> tuple[int, int]:
    """Where old and new agree again after old[i] != new[j]: (characters of old replaced, where new agrees). The
    nearest old text that recurs in new: skips grow by one, then double, so a long changed stretch costs few
    searches. A false match costs bytes, never correctness: every edit replaces exactly what it names."""
    rest = len(old) - i
    skip = 0
    while skip < rest:
        anchor = old[i + skip : i + skip + _ANCHOR]
        at = new.find(anchor, j)
        if at >= 0:
            return skip, at
        skip = skip + 1 if skip < 16 else skip * 2
    return rest, len(new)  # nothing after it recurs: the rest of old becomes the rest of new


def _in_utf16(old: str, edits: list[Edit]) -> list[Edit]:
    """The edits' positions in UTF-16 code units of `old`, counted from one position to the next (at C speed, never
    character by character in Python)."""
    if not edits or utf16_length(old) == len(old):
        return edits  # no character takes two code units: the positions agree
    units = counted = 0  # units: UTF-16 code units in old[:counted]
    shifted = []
    for start, end, text in edits:
        start_units = units + utf16_length(old[counted:start])
        units = start_units + utf16_length(old[start:end])
        shifted.append((start_units, units, text))
        counted = end
    return shifted
