"""Read a function's description and per-parameter text from its docstring.

Three common styles are understood, so a tool's schema can carry the text the author already wrote:

    Google                       NumPy                        reST / Sphinx
    ------                       -----                        -------------
    Summary.                     Summary.                     Summary.

    Args:                        Parameters                   :param city: The city.
        city (str): The city.    ----------                   :type city: str
        unit: Celsius or         city : str
            Fahrenheit.              The city.

Continuation lines are joined with single spaces, or none between Chinese or Japanese characters (which have no
spaces between words); a full-width colon (`城市：城市名称`) counts as a colon. Anything the parser does not
recognise stays in the description, never raises: a docstring is prose, not a contract.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

from ..cjk import joins_without_space

__all__ = ["Docstring", "parse_docstring"]

_GOOGLE_PARAMS = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)[:：]\s*$")
_GOOGLE_OTHER = re.compile(r"^[A-Z][A-Za-z ]*[:：]\s*$")  # Returns:, Raises:, Examples:, ...
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\)|（[^）]*）)?\s*[:：]\s*(.*)$")
_NUMPY_UNDERLINE = re.compile(r"^-{3,}\s*$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(:.*)?$")
_REST_PARAM = re.compile(r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?(\*{0,2}\w+)\s*:\s*(.*)$")
_REST_FIELD = re.compile(r"^:\w+")


@dataclass(frozen=True)
class Docstring:
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Split a docstring into its description and a `{parameter: text}` map (Google, NumPy or reST style)."""
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    description: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if _GOOGLE_PARAMS.match(stripped) and not line.startswith(" "):
            i = _read_google(lines, i + 1, params)
        elif i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1].strip()) and stripped:
            i = (
                _read_numpy(lines, i + 2, params)
                if stripped in ("Parameters", "Other Parameters")
                else _skip_numpy(lines, i + 2)
            )
        elif _REST_FIELD.match(stripped):
            i = _read_rest(lines, i, params)
        elif _GOOGLE_OTHER.match(stripped) and not line.startswith(" ") and description:
            i = _skip_indented(lines, i + 1)
        else:
            description.append(line)
            i += 1
    return Docstring(_paragraph_text(description), params)


def _read_google(lines: list[str], i: int, params: dict[str, str]) -> int:
    name: str | None = None
    item_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "\t")):
            break  # the section ends at the first unindented line
        indent = len(line) - len(line.lstrip())
        match = _GOOGLE_ITEM.match(line.strip())
        if match and (item_indent is None or indent <= item_indent):
            item_indent = indent
            name = match.group(1).lstrip("*")
            params[name] = match.group(3).strip()
        elif name is not None and line.strip():
            params[name] = _join(params[name], line.strip())
        i += 1
    return i


def _read_numpy(lines: list[str], i: int, params: dict[str, str]) -> int:
    names: list[str] = []  # "x, y : float" documents two parameters with one text
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1].strip()) and line.strip():
            break  # next section header
        if line.strip() and not line.startswith((" ", "\t")):
            match = _NUMPY_ITEM.match(line.strip())
            if match is None:
                break
            names = [each.strip().lstrip("*") for each in match.group(1).split(",")]
            params.update(dict.fromkeys(names, ""))
        elif line.strip():
            for name in names:
                params[name] = _join(params[name], line.strip())
        i += 1
    return i


def _skip_numpy(lines: list[str], i: int) -> int:
    while i < len(lines):
        if i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1].strip()) and lines[i].strip():
            break
        i += 1
    return i


def _read_rest(lines: list[str], i: int, params: dict[str, str]) -> int:
    match = _REST_PARAM.match(lines[i].strip())
    i += 1
    text = match.group(2).strip() if match else ""
    while i < len(lines) and lines[i].startswith((" ", "\t")) and lines[i].strip():
        text = _join(text, lines[i].strip())
        i += 1
    if match:
        params[match.group(1).lstrip("*")] = text
    return i


def _skip_indented(lines: list[str], i: int) -> int:
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
        i += 1
    return i


def _join(a: str, b: str) -> str:
    """Two lines of one paragraph as one text: a space between them, except between Chinese characters."""
    if not a:
        return b
    return a + b if joins_without_space(a, b) else f"{a} {b}"


def _paragraph_text(lines: list[str]) -> str:
    """Description lines -> text: paragraphs kept apart by one blank line, lines inside a paragraph joined."""
    paragraphs: list[str] = []
    current = ""
    for line in lines + [""]:
        if line.strip():
            current = _join(current, line.strip())
        elif current:
            paragraphs.append(current)
            current = ""
    return "\n\n".join(paragraphs)
