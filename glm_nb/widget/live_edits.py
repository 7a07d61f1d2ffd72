"""The streaming turn's HTML as edits: what changed since the page's copy, not the whole turn again per update.

Each update of a streaming reply re-renders its whole transcript (markdown can change earlier HTML: a closing `**`
turns the paragraph's text into `<strong>`), but almost all of it stays as it was: the text grows at its end, and
the footer's token count and a thinking section's word count change. Resending the whole HTML ~10 times a second
makes a reply's traffic grow with the square of its length (2,000 words: megabytes). `html_edits` finds the
stretches that changed, so a message carries those only; chat_panel.js's `applyLive` applies them.

Positions are in UTF-16 code units, as JavaScript's strings count (an emoji is two), not Python's code points.
"""

from __future__ import annotations

from typing import Any

__all__ = ["html_edits", "live_message"]

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
    size = len(live["html"].encode("utf-16-le")) // 2
    return {"type": "live", "from": base, "to": live["version"], "edits": edits, "size": size}


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
    if not edits or old.isascii() or max(old) <= "\uffff":
        return edits  # no character takes two code units: the positions agree
    units = [0]  # units[k]: UTF-16 code units in old[:k]
    for char in old:
        units.append(units[-1] + (2 if char > "\uffff" else 1))
    return [(units[start], units[end], text) for start, end, text in edits]
