"""Text every consumer can take: a Python str may hold lone surrogates (code points U+D800-U+DFFF on their own),
which have no UTF-8 form. They come from outside: `os.listdir` of a file name that is not UTF-8 ('\\udce9'), a web
or JSON tool cut in the middle of a UTF-16 pair, a model writing the JSON escape "\\ud83d" in a call. The tokenizer
refuses them in a prompt and the kernel's JSON cannot send them, so they become U+FFFD where such text enters.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["valid_text", "valid_values"]

_SURROGATE = re.compile("[\ud800-\udfff]")  # lone in a Python str (a pair is one code point): not UTF-8 text


def valid_text(text: str) -> str:
    """`text` with each lone surrogate replaced by one U+FFFD (the replacement character); other text as is."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def valid_values(value: Any) -> Any:
    """A JSON value (dicts, lists, strings, numbers) with `valid_text` applied to every string in it, keys too."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_values(k): valid_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_values(v) for v in value]
    return value
