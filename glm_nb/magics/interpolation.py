"""`{name}` in a cell becomes the value of the notebook variable `name`.

The cell is read as a Python format string reads it, with one difference. `{name}`, a bare identifier in single
braces, is the variable (only when the notebook has it; `{unknown}`, `{x:>5}`, `{0}`, `{a.b}` stay as written);
`{{` and `}}` are escapes, each written as one brace, so `{{city}}` sends `{city}`, `{{{city}}}` sends `{Paris}`
and `x = {{{city}: 1}}` sends `x = {Paris: 1}`. The difference: an escape counts only with a partner, a `{{`
closed by a later `}}` (nested like brackets); a `{{` or `}}` without one is sent as written, as is any other
brace, so pasted JSON or code keeps its braces (`{"a": {"b": {city}}}` sends `{"a": {"b": Paris}}`: its `}}` has
no `{{`). As in a format string, `{{` and `}}` are read before names, left to right: `{{city}` is a `{{` without a
partner, then `city}`, and sends `{{city}`.

Code with f-strings or format strings is read the same way (`print(f"{{{x}}}")` sends `print(f"{5}")` when `x`
is 5): run such a cell with `--raw` to send it exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = ["interpolate", "unknown_names"]

# An escape (`{{`, `}}`) or a field around a Python name (letters of any script, `{城市}` too, as Python 3 allows;
# digits after the first; underscores). Tried in this order at each place, left to right, as str.format reads them.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^\W\d]\w*)\}")


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    tokens = list(_TOKEN.finditer(text))
    escapes = _paired_escapes(tokens)
    pieces, end = [], 0
    for index, token in enumerate(tokens):
        name = token.group(1)
        if index in escapes:
            written = token.group(0)[0]
        elif name is not None and name in namespace:
            written = _text_of(name, namespace[name])
        else:
            written = token.group(0)
        pieces += [text[end : token.start()], written]
        end = token.end()
    return "".join([*pieces, text[end:]])


def unknown_names(text: str, namespace: Mapping[str, Any]) -> list[str]:
    """The `{name}`s in `text` that `interpolate` leaves as written because the notebook has no such variable."""
    names = (m.group(1) for m in _TOKEN.finditer(text) if m.group(1) is not None)
    return list(dict.fromkeys(name for name in names if name not in namespace))


def _paired_escapes(tokens: list[re.Match]) -> set[int]:
    """The indices of the `{{` and `}}` tokens that pair up, each `}}` with the nearest open `{{` before it."""
    open_, paired = [], set()
    for index, token in enumerate(tokens):
        if token.group(0) == "{{":
            open_.append(index)
        elif token.group(0) == "}}" and open_:
            paired |= {open_.pop(), index}
    return paired


def _text_of(name: str, value: Any) -> str:
    try:
        return str(value)
    except Exception as e:  # the object's own __str__ failed: say which variable, not a traceback
        raise UsageError(
            f"{{{name}}} could not be written as text ({type(e).__name__}: {e}); pass str(...) of what you "
            f"mean in another variable, or write {{{{{name}}}}} to send the braces as they are."
        ) from e
