"""Check a call's arguments against its tool's JSON schema, applying only safe coercions.

Safe means no information is invented or lost: `"3"` becomes `3` for an integer, `"2.5"` becomes `2.5` for a
number, `"true"` becomes `True` for a boolean, `3` becomes `"3"` for a string, `4.0` becomes `4` for an integer.
`"abc"` for an integer, `2.5` for an integer or `1` for a boolean are errors. Of the options of an `anyOf`, one the
value fits as it is wins over one it fits only coerced (`"007"` stays a string for `int | str`). Every problem is
phrased for the model, which reads it in an observation and can retry.

The subset of JSON schema understood is the one `schema.function_schema` writes plus what hand-written OpenAI tool
specs commonly use: type (or a list of types), nullable, enum, anyOf/oneOf, items, properties, required,
additionalProperties.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import ToolArgumentError
from .tool import Tool

__all__ = ["validate_arguments"]

_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_MISSING = object()


def validate_arguments(tool: Tool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments, coerced to the schema; raises ToolArgumentError listing every problem.

    An argument the schema does not name is a problem when the tool runs a Python function (which would reject
    it) or when the schema says `"additionalProperties": false`.
    """
    schema = tool.parameters
    strict = tool.function is not None or schema.get("additionalProperties") is False
    problems: list[str] = []
    value = _check_object({**schema, "additionalProperties": False} if strict else schema, arguments, "", problems)
    if problems:
        raise ToolArgumentError(tool.name, problems)
    return value


def _check(schema: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> Any:
    if not schema:
        return value
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _check_options(schema, schema[key], value, path, problems)
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if value is None:
        if schema.get("nullable") or "null" in types or ("enum" in schema and None in schema["enum"]):
            return None
        problems.append(f"{_name(path)} must not be null")
        return value
    if types:
        value = _coerce(types, schema, value, path, problems)
    if value is not _MISSING and "enum" in schema and value not in schema["enum"]:
        problems.append(f"{_name(path)} must be one of {', '.join(map(repr, schema['enum']))}; got {value!r}")
    return value


def _check_options(schema: Mapping[str, Any], options: list, value: Any, path: str, problems: list[str]) -> Any:
    if value is None and schema.get("nullable"):
        return None
    fits = []  # what the value becomes under each option it fits, perhaps coerced
    for option in options:
        attempt: list[str] = []
        result = _check(option, value, path, attempt)
        if not attempt and _unchanged(result, value):
            return result  # an option the value already has wins: "007" stays a string for `int | str`
        if not attempt:
            fits.append(result)
    if fits:
        return fits[0]
    problems.append(f"{_name(path)} has the wrong type: {value!r} matches none of the allowed schemas")
    return value


def _unchanged(result: Any, value: Any) -> bool:
    """`result` is `value` as it was, down to the types (so 7 is not "007", nor 4 4.0, nor 1 True)."""
    if type(result) is not type(value):
        return False
    if isinstance(value, dict):
        return result.keys() == value.keys() and all(_unchanged(result[k], value[k]) for k in value)
    if isinstance(value, list):
        return len(result) == len(value) and all(map(_unchanged, result, value))
    return result == value


def _coerce(types: list[str], schema: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> Any:
    for kind in types:
        converted = _convert(kind, value)
        if converted is not _MISSING:
            if kind == "object":
                return _check_object(schema, converted, path, problems)
            if kind == "array":
                item_schema = schema.get("items") or {}
                return [_check(item_schema, v, f"{path}[{i}]", problems) for i, v in enumerate(converted)]
            return converted
    problems.append(f"{_name(path)} must be {' or '.join(_ARTICLES.get(t, t) for t in types)}; got {value!r}")
    return _MISSING


def _convert(kind: str, value: Any) -> Any:
    """`value` as JSON type `kind` when that is safe, else _MISSING."""
    if kind == "string":
        if isinstance(value, str):
            return value
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _MISSING
    if kind == "integer":
        if isinstance(value, bool):
            return _MISSING
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(value) if isinstance(value, str) and _INT_TEXT.fullmatch(value) else _MISSING
    if kind == "number":
        if isinstance(value, bool):
            return _MISSING
        if isinstance(value, (int, float)):
            return value
        return _float_text(value) if isinstance(value, str) else _MISSING
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if isinstance(value, str) else None
        return {"true": True, "false": False}.get(text, _MISSING) if text else _MISSING
    if kind == "array":
        return list(value) if isinstance(value, (list, tuple)) else _MISSING
    if kind == "object":
        return value if isinstance(value, Mapping) else _MISSING
    if kind == "null":
        return None if value is None else _MISSING
    return value  # a type we do not know: accept rather than refuse a call the schema may allow


def _float_text(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return _MISSING
    return number if math.isfinite(number) else _MISSING


def _check_object(schema: Mapping[str, Any], value: Mapping[str, Any], path: str, problems: list[str]) -> Any:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    result: dict[str, Any] = {}
    for key in schema.get("required") or []:
        if key not in value:
            problems.append(f"missing required argument {_name(_join(path, key))}{_describe(properties.get(key))}")
    for key, item in value.items():
        if key in properties:
            result[key] = _check(properties[key], item, _join(path, key), problems)
        elif extra is False:
            allowed = ", ".join(properties) or "no arguments"
            problems.append(f"unexpected argument {_name(_join(path, key))}; allowed: {allowed}")
        else:
            result[key] = _check(extra if isinstance(extra, Mapping) else {}, item, _join(path, key), problems)
    return result


def _describe(schema: Mapping[str, Any] | None) -> str:
    kind = (schema or {}).get("type")
    parts = [kind if isinstance(kind, str) else "", (schema or {}).get("description") or ""]
    text = ": ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _name(path: str) -> str:
    return f"'{path}'" if path else "the arguments"


_ARTICLES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "array": "an array",
    "object": "an object",
    "null": "null",
}
