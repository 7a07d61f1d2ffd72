"""Chinese and Japanese text, which puts no spaces between words: one definition of those characters for every
layer that joins lines, counts words or splits search terms (the lab extension mirrors it in transcript.ts).

Hangul is not among them: Korean spaces its words.
"""

from __future__ import annotations

import re

__all__ = [
    "LETTERS",
    "PUNCTUATION",
    "UNSPACED",
    "joins_without_space",
    "unspaced_line_breaks",
    "word_count",
    "writes_chinese",
]

_KANA_LETTERS = "\u3040-\u30ff"
_HAN_LETTERS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # with extension A and the compatibility ideographs
LETTERS = _KANA_LETTERS + _HAN_LETTERS
PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # CJK and full-width punctuation
# Letters, punctuation and the full-width forms (full-width digits and Latin too): text in them has no spaces.
UNSPACED = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"

_UNSPACED = re.compile(f"[{UNSPACED}]")
_LETTER = re.compile(f"[{LETTERS}]")
_PUNCTUATION = re.compile(f"[{PUNCTUATION}]")
_HAN = re.compile(f"[{_HAN_LETTERS}]")
_KANA = re.compile(f"[{_KANA_LETTERS}]")
_OTHER_LETTER = re.compile(rf"[^\W\d_{LETTERS}]")  # Latin, Hangul, ...
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


def writes_chinese(text: str) -> bool:
    """Whether `text` (a question, say) is written in Chinese: in Han characters without kana (Japanese), where
    the English words around them, if any, are names and terms. A Han character says about as much as three Latin
    letters, so "GLM-4 是什么？" is Chinese and "What does 机器学习 mean?" is not."""
    if _KANA.search(text):
        return False
    return 3 * len(_HAN.findall(text)) > len(_OTHER_LETTER.findall(text))
