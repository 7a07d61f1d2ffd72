"""`{name}` in a cell becomes the value of the notebook variable `name`.

Only a bare identifier in single braces is replaced, and only when the name exists; anything else (JSON, a set
literal, `{unknown}`) is left as written, so pasting code or data into a prompt never breaks it. `{{text}}`
writes `{text}` literally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["interpolate"]

_TOKEN = re.compile(r"\{\{(.*?)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}", re.DOTALL)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    def replace(match: re.Match) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        return str(namespace[name]) if name in namespace else match.group(0)

    return _TOKEN.sub(replace, text)
