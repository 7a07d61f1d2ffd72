"""`{name}` in a cell becomes the value of the notebook variable `name`.

Only a bare identifier in single braces is replaced, and only when the name exists; anything else (JSON, a set
literal, `{unknown}`) is left as written, so pasting code or data into a prompt never breaks it. `{{text}}`
writes `{text}` literally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = ["interpolate", "unknown_names"]

# A Python name: letters of any script (`{城市}` too, as Python 3 allows), digits after the first, underscores.
_TOKEN = re.compile(r"\{\{(.*?)\}\}|\{([^\W\d]\w*)\}", re.DOTALL)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    def replace(match: re.Match) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        if name not in namespace:
            return match.group(0)
        try:
            return str(namespace[name])
        except Exception as e:  # the object's own __str__ failed: say which variable, not a traceback
            raise UsageError(
                f"{{{name}}} could not be written as text ({type(e).__name__}: {e}); pass str(...) of what you "
                f"mean in another variable, or write {{{{{name}}}}} to send the braces as they are."
            ) from e

    return _TOKEN.sub(replace, text)


def unknown_names(text: str, namespace: Mapping[str, Any]) -> list[str]:
    """The `{name}`s in `text` that `interpolate` leaves as written because the notebook has no such variable."""
    names = (m.group(2) for m in _TOKEN.finditer(text) if m.group(2) is not None)
    return list(dict.fromkeys(name for name in names if name not in namespace))
