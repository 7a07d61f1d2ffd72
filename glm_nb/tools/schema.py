"""JSON schema of a Python function's parameters, from its type hints and docstring.

The schema is what the model reads (GLM's template prints it, indented, in the tools system message), so it is
kept small: `{"type": "object", "properties": {...}, "required": [...]}` with a `description` per parameter from
an `Annotated[..., "text"]` hint or the docstring, `enum` for `Literal` and `Enum`, `"nullable": true` for
`Optional` (as transformers' `get_json_schema` writes it) and a `default` where the default is plain JSON. A
parameter whose default is None takes null as well (`x: T = None`, as PEP 484 once read it). A dataclass, a
TypedDict or a pydantic model becomes an object of its fields, given back to the function as an instance (a dict
for a TypedDict; pydantic's `model_validate` for a model). A `Path` is a string, and so are a `date`, `datetime` and
`time`, in ISO format (`"format": "date"`; a trailing 'Z' is UTC on every Python), given to the function as those
types. A converter raises ValueError for a value that fits the JSON type but not the Python one ('tomorrow' for a
date): `Tool.convert_arguments` turns it into a bad-arguments answer for the model before the tool runs.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from .docstrings import parse_docstring
from .errors import ToolDefinitionError
from .records import Field, init_fields, is_model, is_typeddict, model_fields, typeddict_fields, typeddict_hints

__all__ = ["FunctionSchema", "function_schema", "parse_iso_text", "type_schema"]

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
# Types the model writes as strings, in JSON schema's formats, and given to the function as the type: datetime
# before date, of which it is a subclass.
_TEXT_TYPES: dict[type, Callable[[str], Any]] = {
    datetime.datetime: datetime.datetime.fromisoformat,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
}
_FORMATS = {datetime.datetime: "date-time", datetime.date: "date", datetime.time: "time"}
# How to write each, for the model when what it wrote does not parse.
_FORMS = {
    datetime.datetime: "a date and time as YYYY-MM-DDTHH:MM:SS (ISO 8601), with an offset such as +02:00 or Z",
    datetime.date: "a date as YYYY-MM-DD (ISO 8601)",
    datetime.time: "a time as HH:MM or HH:MM:SS (ISO 8601)",
}


@dataclasses.dataclass(frozen=True)
class FunctionSchema:
    name: str
    description: str
    parameters: dict[str, Any]
    # Per-parameter converters from JSON values back to the annotated Python type (Enum members, dates, records);
    # one raises ValueError (pydantic's ValidationError is one) for a value that does not convert.
    converters: Mapping[str, Callable[[Any], Any]]


def _documented(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Where `fn`'s type hints and docstring live: the function a partial wraps, a callable object's __call__."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    plain = inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn) or inspect.isclass(fn)
    return type(fn).__call__ if callable(fn) and not plain else fn


def function_schema(
    fn: Callable[..., Any], name: str | None = None, description: str | None = None
) -> FunctionSchema:
    """Describe `fn` for the model. Raises ToolDefinitionError for a parameter we cannot describe."""
    if isinstance(fn, staticmethod):  # `@tool` above `@staticmethod` in a class body
        fn = fn.__func__
    unwrapped = fn
    while isinstance(unwrapped, functools.partial):  # a partial is named after the function it wraps
        unwrapped = unwrapped.func
    tool_name = name or getattr(unwrapped, "__name__", None)
    if not tool_name or tool_name == "<lambda>":
        what = "A lambda" if tool_name else f"A {type(unwrapped).__name__} object"  # a callable object: no name
        raise ToolDefinitionError(f"{what} has no name: give the tool one with Tool.from_function(fn, name='...').")
    documented = _documented(fn)
    try:
        signature = inspect.signature(fn)  # a partial's: without the arguments it already binds
        hints = typing.get_type_hints(documented, include_extras=True)
    except (TypeError, ValueError, NameError) as e:
        raise ToolDefinitionError(f"Cannot read the signature of {tool_name!r} ({e}); use plain type hints.") from e
    doc = parse_docstring(inspect.getdoc(documented))
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, Callable[[Any], Any]] = {}
    first = next(iter(signature.parameters), None)
    for param in signature.parameters.values():
        _check_parameter(fn, tool_name, param, param.name in hints, first=param.name == first)
        try:
            schema = type_schema(hints[param.name])
        except ToolDefinitionError as e:
            raise ToolDefinitionError(f"Tool {tool_name!r}, parameter {param.name!r}: {e}") from None
        if "description" not in schema and doc.params.get(param.name):
            schema = {**schema, "description": doc.params[param.name]}
        convert = _converter(hints[param.name])
        if param.default is None and not _takes_null(schema):  # `x: T = None`: the model may send its default too
            schema = {**schema, "nullable": True}
            convert = None if convert is None else _or_none(convert)
        if param.default is param.empty:
            required.append(param.name)
        elif _is_json(default := _plain(param.default)):
            schema = {**schema, "default": default}
        properties[param.name] = schema
        if convert is not None:
            converters[param.name] = convert
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return FunctionSchema(
        tool_name, description if description is not None else doc.description, parameters, converters
    )


def _check_parameter(
    fn: Callable[..., Any], tool_name: str, param: inspect.Parameter, hinted: bool, first: bool
) -> None:
    """Refuse a parameter the model could not fill in, saying what to change."""
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        stars = "*" if param.kind == param.VAR_POSITIONAL else "**"
        raise ToolDefinitionError(
            f"Tool {tool_name!r} takes {stars}{param.name}: a tool needs named parameters the model can fill in; "
            f"name each one with a type hint instead (e.g. `cities: list[str]`), or wrap it in a function that does."
        )
    if param.kind == param.POSITIONAL_ONLY:
        raise ToolDefinitionError(f"Tool {tool_name!r}: parameter {param.name!r} is positional-only; drop the '/'.")
    if not hinted and first and param.name in ("self", "cls"):
        method = getattr(fn, "__name__", tool_name)
        raise ToolDefinitionError(
            f"Tool {tool_name!r} takes {param.name!r} first: it is a method, decorated in its class body where "
            f"there is no instance yet. Make the tool from a bound method instead, `tool(obj.{method})` for an "
            "instance `obj`, or make the method a @staticmethod without `self`, under `@tool`."
        )
    if not hinted:
        raise ToolDefinitionError(
            f"Tool {tool_name!r}: parameter {param.name!r} has no type hint; annotate it, e.g. `{param.name}: str`."
        )


def type_schema(tp: Any) -> dict[str, Any]:
    """JSON schema of one type hint."""
    return _schema(tp, ())


def _schema(tp: Any, outer: tuple[type, ...]) -> dict[str, Any]:
    """`type_schema`, inside the dataclasses in `outer` (a dataclass that contains itself cannot be written out)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        schema = _schema(args[0], outer)
        text = next((a for a in args[1:] if isinstance(a, str)), None)
        return {**schema, "description": text} if text else schema
    if tp is Any or tp is object:
        return {}
    if tp is None or tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([member.value for member in tp])
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if tp in _TEXT_TYPES:
        return {"type": "string", "format": _FORMATS[tp]}
    if isinstance(tp, type) and issubclass(tp, PurePath):
        return {"type": "string"}
    if origin is Literal:
        return _enum_schema(list(args))
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        schema = _schema(options[0], outer) if len(options) == 1 else {"anyOf": [_schema(a, outer) for a in options]}
        return {**schema, "nullable": True} if len(options) < len(args) else schema
    if tp in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset, Sequence):
        item = args[0] if args and (len(args) == 1 or args[1] is Ellipsis) else None
        return {"type": "array", "items": _schema(item, outer)} if item is not None else {"type": "array"}
    if tp is dict or origin in (dict, Mapping):
        if len(args) != 2:
            return {"type": "object"}
        return {"type": "object", "additionalProperties": _schema(args[1], outer)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_schema(tp, outer)
    if is_typeddict(tp):
        return _record_schema(tp, typeddict_fields(tp), outer)
    if is_model(tp):
        return _record_schema(tp, model_fields(tp), outer, closed=tp.model_config.get("extra") != "allow")
    raise ToolDefinitionError(
        f"cannot describe type {tp!r} as JSON; use str, int, float, bool, list, dict, Literal, an Enum, a dataclass, "
        "a TypedDict, a pydantic model, a Path, a date or Optional."
    )


def _dataclass_schema(cls: type, outer: tuple[type, ...]) -> dict[str, Any]:
    """A dataclass as a JSON object of its init fields (those without a default required); other keys refused, as
    its constructor would refuse them."""
    if cls in outer:
        raise ToolDefinitionError(
            f"dataclass {cls.__name__} contains itself, which a JSON schema here cannot describe; give the tool "
            "the fields it needs as parameters, or a dict."
        )
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f, hint in init_fields(cls):
        field_schema = _schema(hint, (*outer, cls))
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        elif f.default is not dataclasses.MISSING and _is_json(default := _plain(f.default)):
            field_schema = {**field_schema, "default": default}
        properties[f.name] = field_schema
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {**schema, "additionalProperties": False}


def _record_schema(cls: type, fields: list[Field], outer: tuple[type, ...], closed: bool = True) -> dict[str, Any]:
    """A TypedDict or a pydantic model as a JSON object of its fields, as `_dataclass_schema` writes a dataclass."""
    if cls in outer:
        raise ToolDefinitionError(
            f"{cls.__name__} contains itself, which a JSON schema here cannot describe; give the tool the fields it "
            "needs as parameters, or a dict."
        )
    properties: dict[str, Any] = {}
    for name, hint, required, default in fields:
        properties[name] = _schema(hint, (*outer, cls))
        if not required and _is_json(default := _plain(default)):
            properties[name] = {**properties[name], "default": default}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required := [name for name, _, needed, _ in fields if needed]:
        schema["required"] = required
    return {**schema, "additionalProperties": False} if closed else schema


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {_SCALARS.get(type(v)) for v in values}
    schema: dict[str, Any] = {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}
    return {**schema, "enum": values}


def _converter(tp: Any) -> Callable[[Any], Any] | None:
    """JSON value -> annotated type, where they differ (Enum, tuple, set, also inside Optional, containers and dict
    values); None where they do not."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _converter(args[0])
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = _converter(options[0]) if len(options) == 1 else None
        return None if inner is None else _or_none(inner)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if tp in (tuple, set, frozenset):
        return tp
    if tp in _TEXT_TYPES:
        return lambda value: parse_iso_text(tp, value) if isinstance(value, str) else value
    if isinstance(tp, type) and issubclass(tp, PurePath):
        return tp
    if origin in (list, tuple, set, frozenset, Sequence):
        # set[Unit]: each item to its member, in the annotated container (JSON has only lists)
        item = _converter(args[0]) if args and (len(args) == 1 or args[1] is Ellipsis) else None
        container = list if origin is Sequence else origin
        if item is None:
            return None if container is list else container
        return lambda value: container(item(v) for v in value)
    if origin in (dict, Mapping) and len(args) == 2:
        entry = _converter(args[1])
        return None if entry is None else (lambda value: {k: entry(v) for k, v in value.items()})
    if is_typeddict(tp):  # a plain dict, with its fields converted
        fields = {
            name: convert for name, hint in typeddict_hints(tp).items() if (convert := _converter(hint)) is not None
        }
        return (
            None
            if not fields
            else (lambda value: {k: (fields[k](v) if k in fields else v) for k, v in value.items()})
        )
    if is_model(tp):  # pydantic validates and converts the whole object itself
        return lambda value: tp.model_validate(value) if isinstance(value, Mapping) else value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        fields = {f.name: convert for f, hint in init_fields(tp) if (convert := _converter(hint)) is not None}
        return lambda value: (  # an instance passes as it is: the tool is still called from Python too
            tp(**{k: (fields[k](v) if k in fields else v) for k, v in value.items()}) if isinstance(value, Mapping)
            else value
        )  # fmt: skip
    return None


def parse_iso_text(tp: type, text: str) -> Any:
    """`text` as `tp` (a datetime, date or time), written as the schema's `format` says (RFC 3339, which is ISO
    8601). A trailing 'Z' (UTC, as RFC 3339 writes it) is read as +00:00: Python 3.10's `fromisoformat` refuses it.
    Raises ValueError saying how to write the value."""
    iso = text[:-1] + "+00:00" if tp is not datetime.date and text.endswith(("Z", "z")) else text
    try:
        return _TEXT_TYPES[tp](iso)
    except ValueError:
        raise ValueError(f"{text!r} is not {_FORMS[tp]}") from None


def _takes_null(schema: Mapping[str, Any]) -> bool:
    """Whether `schema` (as `type_schema` writes it) accepts null: no type at all, nullable, or null listed."""
    kind = schema.get("type")
    return (
        not schema
        or bool(schema.get("nullable"))
        or kind == "null"
        or None in schema.get("enum", ())
        or any(_takes_null(option) for option in schema.get("anyOf", ()))
    )


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _is_json(value: Any) -> bool:
    """A value JSON can write: NaN and the infinities are not (json.dumps writes them as `NaN`, which no JSON
    parser, and so no schema the model reads, takes)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
