"""`{name}` in a cell becomes the value of the notebook variable `name`.

Only a bare identifier in single braces is replaced, and only when the name exists; anything else (JSON, a set
literal, `{unknown}`) is left as written, so pasting code or data into a prompt never breaks it. `{{text}}`
writes `{text}` literally. Around a name, braces pair up from the outside in, as in a Python format string: each
`{{`...`}}` pair writes one pair of braces, and an odd one left in the middle is the variable, so `{{{name}}}`
writes the value in braces and `{{{{name}}}}` writes `{{name}}`. A brace with no partner on the other side (the
`}}` closing JSON after `{"a": {"b": {name}}}`) is written as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = ["interpolate", "unknown_names"]

# A run of braces around a Python name (letters of any script, `{城市}` too, as Python 3 allows; digits after the
# first; underscores), or else `{{text}}` around anything.
_TOKEN = re.compile(r"(\{+)([^\W\d]\w*)(\}+)|\{\{(.*?)\}\}", re.DOTALL)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(4) is not None:
            return "{" + match.group(4) + "}"
        before, pairs, name, after = _braces(match)
        field = name in namespace and _is_field(match)
        inner = _text_of(name, namespace[name]) if field else "{" * (pairs % 2) + name + "}" * (pairs % 2)
        return before + "{" * (pairs // 2) + inner + "}" * (pairs // 2) + after

    return _TOKEN.sub(replace, text)


def unknown_names(text: str, namespace: Mapping[str, Any]) -> list[str]:
    """The `{name}`s in `text` that `interpolate` leaves as written because the notebook has no such variable."""
    names = (m.group(2) for m in _TOKEN.finditer(text) if m.group(2) is not None and _is_field(m))
    return list(dict.fromkeys(name for name in names if name not in namespace))


def _braces(match: re.Match) -> tuple[str, int, str, str]:
    """A name's brace runs as (unpaired opening braces, pairs around the name, the name, unpaired closing ones)."""
    opening, name, closing = match.group(1), match.group(2), match.group(3)
    pairs = min(len(opening), len(closing))
    return opening[pairs:], pairs, name, closing[pairs:]


def _is_field(match: re.Match) -> bool:
    """An odd number of brace pairs around the name: the innermost pair is a variable, not an escape."""
    return _braces(match)[1] % 2 == 1


def _text_of(name: str, value: Any) -> str:
    try:
        return str(value)
    except Exception as e:  # the object's own __str__ failed: say which variable, not a traceback
        raise UsageError(
            f"{{{name}}} could not be written as text ({type(e).__name__}: {e}); pass str(...) of what you "
            f"mean in another variable, or write {{{{{name}}}}} to send the braces as they are."
        ) from e
