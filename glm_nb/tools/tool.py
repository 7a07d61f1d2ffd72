"""The tool values: `Tool` (a function the model may call), `ToolCall` (one request) and `ToolResult` (its outcome).

A `Tool` is a name, a description and a JSON schema, plus the Python function when there is one (a tool built
from an OpenAI-style dict has none: the conversation then stops and hands the call to the caller). Results become
observation messages: FORMAT.md, "Prompt format" (a tool result is role `observation`), with non-str values written
as JSON that keeps non-ASCII text (`json.dumps(..., ensure_ascii=False)`). What plain JSON cannot take is made
readable rather than refused: an Enum member becomes its value (what the model sends for it), a dataclass or a
pydantic model its fields, bytes their UTF-8 text (or a note of their size), numpy values numbers and lists, pandas
tables records or text, other keys and values their `str`.

A lone surrogate (a web or JSON tool's text cut inside an emoji's UTF-16 pair, '\\ud83d'; `os.listdir` of a file
name that is not UTF-8, '\\udce9') has no UTF-8 form: the tokenizer refuses it and Jupyter's JSON cannot send it.
A result's texts (`content`, `error`) have each one as U+FFFD, once, as the result is made, so that every reader
gets valid text: the model's prompt, the transcript, the magics' output, the chat panel and its export.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import math
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from ..valid_text import valid_text
from .errors import ToolArgumentError, ToolDefinitionError
from .schema import function_schema

__all__ = ["Tool", "ToolCall", "ToolResult", "ToolStatus", "ToolTimeout", "tool", "new_call_id", "observation_text"]

# ok: the function returned; invalid: the call was malformed or its arguments did not fit the schema;
# error: the function raised; timeout: it did not return in time (still running); declined: the confirm hook said
# no; not_run: the loop stopped before running it (round limit, cancelled, or a tool without a function).
ToolStatus = Literal["ok", "invalid", "error", "timeout", "declined", "not_run"]


# A tool's own time limit in seconds, None for none, or "session": the conversation's `tool_timeout` applies.
ToolTimeout = float | None | Literal["session"]

# A tool name as the model writes it and `calls.parse_tool_calls` reads it back: a letter or _, then letters, digits,
# _ . - (defined here, where tools are named; calls.py imports it).
TOOL_NAME = re.compile(r"[^\W\d][\w.\-]*")


def new_call_id() -> str:
    """An id for a call, as OpenAI-style messages need one to pair a `tool` message with its call."""
    return f"call_{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Tool:
    """A function the model may call. Build one with `@tool`, `Tool.from_function(fn)` or `Tool.from_dict(spec)`.

    `timeout` is how long one call may run, in seconds: the conversation's `tool_timeout` (60 s unless set) when
    "session", no limit when None (the tool then runs in the calling thread; see `execution`). `repeatable`: the
    same call may return the same result any number of times in one reply (a job's status polled until it is done),
    so the conversation's looping-call rule (`chat.tool_rounds`) never holds it back.
    """

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    function: Callable[..., Any] | None = field(default=None, compare=False)
    converters: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict, compare=False, repr=False)
    # The function dict of a tool given as a dict, as given: the template prints it, so that the prompt is what
    # transformers' apply_chat_template(tools=[spec]) renders (same keys, same order, nothing added).
    spec: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    timeout: ToolTimeout = field(default="session", compare=False)
    repeatable: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _check_timeout(self.name, self.timeout)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: ToolTimeout = "session",
        repeatable: bool = False,
    ) -> Tool:
        """A tool whose schema comes from `fn`'s type hints and docstring; `timeout` and `repeatable` as in `tool`."""
        if isinstance(fn, staticmethod):  # `@tool` above `@staticmethod` in a class body
            fn = fn.__func__
        schema = function_schema(fn, name=name, description=description)
        _check_name(schema.name)
        return cls(
            schema.name,
            schema.description,
            schema.parameters,
            fn,
            schema.converters,
            timeout=timeout,
            repeatable=repeatable,
        )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Tool:
        """A tool from an OpenAI-style dict, `{"type": "function", "function": {...}}` or the bare function dict."""
        function = spec.get("function", spec) if isinstance(spec, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not function["name"]:
            raise ToolDefinitionError(
                f"Not a tool description: {spec!r}. Write {{'type': 'function', 'function': "
                "{'name': ..., 'description': ..., 'parameters': {...JSON schema...}}}."
            )
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, Mapping):
            raise ToolDefinitionError(f"Tool {function['name']!r}: 'parameters' must be a JSON schema object.")
        _check_name(function["name"])
        spec = copy.deepcopy(dict(function))
        return cls(function["name"], str(function.get("description") or ""), dict(parameters), spec=spec)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-style description, also what GLM's chat template prints (`tool.function`)."""
        if self.spec is not None:
            return {"type": "function", "function": copy.deepcopy(dict(self.spec))}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def __call__(self, *args: Any, **arguments: Any) -> Any:
        """Call the function; keyword values are converted as the model's JSON would be (e.g. to Enum members).
        Raises ToolArgumentError for a value that does not convert (see `convert_arguments`)."""
        if self.function is None:
            raise ToolDefinitionError(f"Tool {self.name!r} has no Python function; run the call yourself.")
        return self.function(*args, **self.convert_arguments(arguments))

    def convert_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword values as the function takes them: the model's JSON values converted to the annotated types
        (Enum members, dates, dataclass and pydantic instances). A value that does not convert (a date written
        'tomorrow', a pydantic model's ValidationError) raises ToolArgumentError, which says how to write it."""
        converted: dict[str, Any] = {}
        problems = []
        for name, value in arguments.items():
            try:
                converted[name] = self.converters[name](value) if name in self.converters else value
            except ValueError as e:  # pydantic's ValidationError is a ValueError too
                problems.append(f"'{name}': {_value_problem(e)}")
        if problems:
            raise ToolArgumentError(self.name, problems)
        return converted


def _value_problem(error: ValueError) -> str:
    """Why a value did not convert, in one line: a pydantic ValidationError's errors as 'field: message' each
    (its text runs over lines, with links), any other ValueError's message."""
    details = getattr(error, "errors", None)
    if callable(details):
        try:
            return "; ".join(f"{'.'.join(map(str, d['loc'])) or 'value'}: {d['msg']}" for d in details())
        except (TypeError, KeyError):  # an `errors` that is not pydantic's: its message says it
            pass
    return str(error) or type(error).__name__


def _check_name(name: str) -> None:
    """Refuse a name the model's calls could not be read back with (the call would pass for plain text)."""
    if not TOOL_NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"Tool name {name!r} cannot be read back from the model's calls: a name starts with a letter or '_' "
            "and goes on with letters, digits, '_', '.' or '-' (no spaces, ':' or '/'), e.g. 'get_weather'."
        )


def _check_timeout(name: str, timeout: Any) -> None:
    """Refuse a timeout that is not a positive, finite number of seconds, None or "session"."""
    if timeout is None or timeout == "session":
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ToolDefinitionError(
            f"Tool {name!r}: timeout={timeout!r} is not a time limit. Give seconds (e.g. timeout=600), None for no "
            "limit, or leave it out for the conversation's tool_timeout."
        )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: ToolTimeout = "session",
    repeatable: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: ToolTimeout = "session",
    repeatable: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorator: `@tool` or `@tool(name=..., description=..., timeout=..., repeatable=...)` turns a typed function
    into a `Tool`.

    The result is still callable like the function (`get_weather(city="Paris")`).

    `timeout` is how long one call of this tool may run before it is abandoned and the model told so: seconds
    (`@tool(timeout=600)` for a long query or a training step), None for no limit (the call then runs in the
    calling thread, so Ctrl-C stops it and thread-bound objects such as a sqlite3 connection work), or "session"
    (the default) for the conversation's `tool_timeout`, 60 s unless `Conversation(tool_timeout=...)` says else.
    A tool's own timeout wins over the conversation's.

    `repeatable=True` is for a tool that may rightly answer the same call with the same result again and again, such
    as a job-status tool polled while the job runs: a call that returned the same result twice in one reply is
    otherwise not run a third time (the model is looping; `Done.looping_call`).
    """
    if fn is not None:
        return Tool.from_function(fn)
    return lambda f: Tool.from_function(f, name=name, description=description, timeout=timeout, repeatable=repeatable)


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for. `error` is set when its text could not be read as a call."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_call_id, compare=False)
    error: str | None = None
    raw: str = field(default="", compare=False)  # the model's text for this call, special tokens kept
    # The arguments exactly as a history message wrote them (GLM `content` or OpenAI `function.arguments`), so that
    # the prompt renders them as the template would; None for calls the model made in this session.
    arguments_text: str | None = field(default=None, compare=False, repr=False)

    @property
    def arguments_json(self) -> str:
        """The arguments as GLM's history carries them: as written in a given history message, else
        (FORMAT.md) `json.dumps(args, ensure_ascii=False)`."""
        if self.arguments_text is not None:
            return self.arguments_text
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass(frozen=True)
class ToolResult:
    """What came of one call: `content` is the observation text the model reads next."""

    call: ToolCall
    content: str
    status: ToolStatus = "ok"
    error: str | None = None  # for the transcript: what went wrong, for a person to read
    value: Any = field(default=None, compare=False, repr=False)  # what the function returned

    def __post_init__(self) -> None:
        # The texts as valid Unicode, however the result was made (`value` stays what the function returned)
        object.__setattr__(self, "content", valid_text(self.content))
        if self.error is not None:
            object.__setattr__(self, "error", valid_text(self.error))

    @classmethod
    def success(cls, call: ToolCall, value: Any) -> ToolResult:
        return cls(call, observation_text(value), "ok", None, value)

    @classmethod
    def failure(cls, call: ToolCall, status: ToolStatus, message: str) -> ToolResult:
        return cls(call, json.dumps({"error": message}, ensure_ascii=False), status, message)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def observation_text(value: Any) -> str:
    """A tool's return value as observation text: a str as is, anything else as JSON with non-ASCII kept.

    An Enum member becomes its value and a dataclass or pydantic model instance an object of its fields (as the model
    writes them in calls); bytes become their UTF-8 text, or a note of their size when they are binary; numpy scalars
    and arrays become JSON numbers and lists; a pandas DataFrame or Series becomes records (or a mapping) when short
    and pandas' own text, cut, when long; keys JSON cannot take become `str(key)` and other values `str(value)`; a
    value JSON cannot write at all (one that contains itself) becomes `str(value)`.
    """
    if isinstance(value, str):
        return value
    try:
        plain = _jsonable(value, set())
    except _Circular:
        return str(value)  # Python's repr writes the cycle as {...} or [...]
    if isinstance(plain, str):  # a long table as text (or a numpy string): as is, like a str
        return plain
    return json.dumps(plain, ensure_ascii=False, default=str)


_TABLE_ROWS = 50  # a pandas table with more rows than this goes out as text, cut by pandas to this many


class _Circular(Exception):
    """A container met again inside itself."""


def _jsonable(value: Any, active: set[int]) -> Any:
    """`value` as data `json.dumps` writes readably; values it does not know are left to its `default=str`.

    `active` holds the ids of the containers being converted, around `value`, to find cycles.
    """
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, active)
    numpy = sys.modules.get("numpy")  # not imported here: a numpy value means numpy is loaded already
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        return _jsonable(value.tolist(), active)  # Python numbers, bools and (nested) lists
    if _is_pandas_table(value):
        return _jsonable(_table(value), active)
    if _is_pydantic_model(value):  # its fields as JSON, by alias, as the model writes them in calls
        return _model_fields(value, active)
    fields = _fields(value)
    if fields is None and not isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return value
    if id(value) in active:
        raise _Circular
    active.add(id(value))
    if fields is not None or isinstance(value, Mapping):
        items = fields if fields is not None else value
        plain: Any = {_json_key(k): _jsonable(v, active) for k, v in items.items()}
    else:
        plain = [_jsonable(v, active) for v in value]
    active.discard(id(value))
    return plain


def _model_fields(model: Any, active: set[int]) -> Any:
    """A pydantic model's fields as JSON. pydantic cannot write a field of a type it does not know
    (`arbitrary_types_allowed`: a numpy array, a connection) as JSON; the tool has run by then, with its side
    effects, so that is no failure to report (the model would call it again): the fields as Python values are made
    readable here as any other value, and when even those cannot be had, the model's `str` is written."""
    try:
        return model.model_dump(mode="json", by_alias=True)
    except Exception:  # PydanticSerializationError, or a serializer of the user's that raised: the next way is tried
        pass
    try:
        fields = model.model_dump(by_alias=True)
    except Exception:  # a serializer of the user's raised here too: the model's own text is what is left
        return str(model)
    return _jsonable(fields, active)


def _bytes_text(data: bytes) -> str:
    """Bytes as the model can read them: UTF-8 text as that text (`subprocess.check_output`, a file read in "rb"),
    else a note of their size, not `str(data)`'s b'\\x89PNG...' escapes, which say nothing and fill the context."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(data):,} bytes of binary data, not shown)"
    return text if "\0" not in text else f"({len(data):,} bytes of binary data, not shown)"


def _fields(value: Any) -> dict[str, Any] | None:
    """A dataclass instance's fields by name (not deep-copied, as `dataclasses.asdict` would), but those its repr
    leaves out (`field(repr=False)`: a secret, a large buffer); None for others."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.repr}


def _json_key(key: Any) -> Any:
    """A dict key as `json.dumps` takes it: str, int, float, bool or None as is (it writes them as text), else str."""
    if isinstance(key, enum.Enum):
        key = key.value
    return key if key is None or isinstance(key, (str, int, float)) else str(key)


def _is_pandas_table(value: Any) -> bool:
    """A pandas DataFrame or Series (or a subclass), told by its class names: pandas is not imported here."""
    return any(
        c.__name__ in ("DataFrame", "Series") and c.__module__.partition(".")[0] == "pandas"
        for c in type(value).__mro__
    )


def _is_pydantic_model(value: Any) -> bool:
    """A pydantic (v2) model instance, told by its API: pydantic is not imported here."""
    return not isinstance(value, type) and all(hasattr(type(value), a) for a in ("model_dump", "model_fields"))


def _table(frame: Any) -> Any:
    """A pandas DataFrame or Series, readable: short ones as data (a frame's rows as records when its index is only
    row numbers, else keyed by index), long ones as pandas' text of their first and last rows."""
    if len(frame) > _TABLE_ROWS:
        return frame.to_string(max_rows=_TABLE_ROWS)
    if not hasattr(frame, "columns"):  # a Series: index -> value
        return frame.to_dict()
    if type(frame.index).__name__ == "RangeIndex":
        return frame.to_dict(orient="records")
    # orient="index" needs unique labels; "split" ({"index": [...], "columns": [...], "data": [...]}) takes any
    return frame.to_dict(orient="index" if frame.index.is_unique else "split")
