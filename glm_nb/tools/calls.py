"""Read tool calls out of GLM-4's raw output (FORMAT.md, "What the model emits").

A turn's decoded text, special tokens kept, is split on `<|assistant|>`. In each segment the first line is a tool
name and the rest a JSON object of arguments (a Python literal such as `{'a': True}` is accepted too, as the
official demo's `eval` fallback does, but through `ast.literal_eval`, which runs no code):

    get_weather
    {"city": "Paris"}<|assistant|>get_time
    ```json
    {"zone": "CET"}
    ```

A segment whose first line is not a name, or whose rest does not start like JSON (`{`, `[`, `"` or a code fence),
is plain text (a list or a string is read as a call, so that the model is told its arguments must be an object). A
segment that starts like a call but whose arguments do not parse is still returned, as a call with `.error` set, so
the model can be told what was wrong. Nothing here raises on any input.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Literal

from ..valid_text import valid_values
from .errors import ToolCallFormatError
from .tool import TOOL_NAME, ToolCall

__all__ = [
    "CALL_SEPARATOR",
    "SegmentKind",
    "classify_segment",
    "parse_tool_calls",
    "parse_arguments",
    "strip_code_fence",
    "format_tool_call",
    "format_tool_calls",
]

CALL_SEPARATOR = "<|assistant|>"
_NAME_PREFIX = re.compile(f"(?:{TOOL_NAME.pattern})?")  # a name, or the start of one, as it streams
_FENCE = "```"

# "text": cannot be a call whatever follows; "call": is a call (perhaps malformed); "open": not decided yet.
SegmentKind = Literal["text", "call", "open"]


def classify_segment(segment: str) -> SegmentKind:
    """How the (possibly still growing) text of one segment reads: `text`, `call` or `open` (wait for more).

    Streaming code uses this to hold back text that may turn into a call; at the end of a segment, `open` means
    text. `parse_tool_calls` applies the same rule, so both always agree.
    """
    first, newline, rest = segment.partition("\n")
    name = first.strip()
    if not newline:
        # The name line is not finished: it can still become a call while it reads like the start of a name.
        return "open" if _NAME_PREFIX.fullmatch(name) else "text"
    if not TOOL_NAME.fullmatch(name):
        return "text"
    body = rest.lstrip()
    if not body or _FENCE.startswith(body):
        return "open"
    return "call" if body.startswith(("{", "[", '"', _FENCE)) else "text"


def parse_tool_calls(text: str) -> list[ToolCall]:
    """The calls in one turn of raw model output (special tokens kept); `[]` for a plain answer. Never raises."""
    calls = []
    for segment in text.split(CALL_SEPARATOR):
        if classify_segment(segment) != "call":
            continue
        name, _, rest = segment.partition("\n")
        try:
            calls.append(ToolCall(name.strip(), parse_arguments(strip_code_fence(rest)), raw=segment))
        except ToolCallFormatError as e:
            calls.append(ToolCall(name.strip(), {}, error=str(e), raw=segment))
    return calls


def parse_arguments(text: str) -> dict[str, Any]:
    """A call's arguments: a JSON object, or failing that a Python-literal dict with JSON-compatible values."""
    text = text.strip()
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as json_error:
        try:
            value = _json_compatible(ast.literal_eval(text))
        except Exception:  # literal_eval raises ValueError, SyntaxError, TypeError, MemoryError, RecursionError...
            raise ToolCallFormatError(
                f"the arguments are not a JSON object ({json_error}). Write the tool name on one line, then its "
                'arguments as one JSON object, e.g. {"city": "Paris"}.'
            ) from None
    if not isinstance(value, dict):
        raise ToolCallFormatError(
            f'the arguments must be a JSON object, not {type(value).__name__}; e.g. {{"city": "Paris"}}.'
        )
    return valid_values(value)  # a "\ud83d" escape decodes to a lone surrogate, which the next prompt cannot hold


def format_tool_call(call: ToolCall) -> str:
    """One call as the model writes it: `name`, newline, arguments JSON."""
    return f"{call.name}\n{call.arguments_json}"


def format_tool_calls(calls: list[ToolCall]) -> str:
    """Several calls of one turn, joined by `<|assistant|>` as the model writes them."""
    return CALL_SEPARATOR.join(format_tool_call(call) for call in calls)


def strip_code_fence(body: str) -> str:
    """`body` without a surrounding Markdown code fence (```json ... ```), stripped."""
    body = body.strip()
    if not body.startswith(_FENCE):
        return body
    body = body.partition("\n")[2]  # drop the opening fence line (```json)
    end = body.rfind(_FENCE)
    return (body[:end] if end >= 0 else body).strip()


def opens_json_object(text: str) -> bool:
    """Whether `text` is (the start of) a JSON object, bare or in a code fence: a call the model was writing, even
    cut off in its backticks or language line (```json)."""
    return strip_code_fence(text).startswith("{") or text.lstrip().startswith("`")


def _json_compatible(value: Any) -> Any:
    """A literal_eval result as JSON data: tuples become lists; sets, bytes, complex and non-str keys are refused."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_compatible(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_compatible(v) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} is not JSON")
