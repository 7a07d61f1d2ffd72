"""Chinese and Japanese text, which puts no spaces between words: one definition of those characters for every
layer that joins lines, counts words or splits search terms (the lab extension mirrors it in transcript.ts).

Hangul is not among them: Korean spaces its words.
"""

from __future__ import annotations

import re

__all__ = ["LETTERS", "PUNCTUATION", "UNSPACED", "joins_without_space", "unspaced_line_breaks", "word_count"]

LETTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, Han (with extension A, compatibility)
PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # CJK and full-width punctuation
# Letters, punctuation and the full-width forms (full-width digits and Latin too): text in them has no spaces.
UNSPACED = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"

_UNSPACED = re.compile(f"[{UNSPACED}]")
_LETTER = re.compile(f"[{LETTERS}]")
_PUNCTUATION = re.compile(f"[{PUNCTUATION}]")
_LINE_BREAK = re.compile(rf"(?<=[{UNSPACED}])[ \t]*\r?\n\s*(?=[{UNSPACED}])")


def joins_without_space(before: str, after: str) -> bool:
    """Whether text ending in `before` and text starting with `after` join with no space between them (a line
    break between two Chinese characters is no space)."""
    return bool(before and after and _UNSPACED.match(before[-1]) and _UNSPACED.match(after[0]))


def unspaced_line_breaks(text: str) -> str:
    """`text` with the line breaks between two Chinese or Japanese characters (and the spaces around them) removed."""
    return _LINE_BREAK.sub("", text)


def word_count(text: str) -> int:
    """Words split at spaces, each Chinese or Japanese letter a word of its own (as word processors count them) and
    their punctuation none."""
    spaced = _PUNCTUATION.sub(" ", _LETTER.sub(" ", text))
    return len(_LETTER.findall(text)) + len(spaced.split())
