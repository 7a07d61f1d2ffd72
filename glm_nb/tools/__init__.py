"""Tools the model can call: definitions from typed Python functions, parsing GLM-4's calls, validated execution.

See ../shared/glm4/FORMAT.md, "Prompt format" and "What the model emits", for the protocol.
"""

from .background import RunningToolCall, running_tool_calls
from .calls import (
    CALL_SEPARATOR,
    classify_segment,
    format_tool_call,
    format_tool_calls,
    opens_json_object,
    parse_arguments,
    parse_tool_calls,
    strip_code_fence,
)
from .docstrings import Docstring, parse_docstring
from .errors import ToolArgumentError, ToolCallFormatError, ToolDefinitionError, ToolError, ToolStillRunningWarning
from .execution import DEFAULT_TIMEOUT_S, STOPPED_MESSAGE, ConfirmHook, run_tool_call
from .schema import FunctionSchema, function_schema, type_schema
from .tool import Tool, ToolCall, ToolResult, ToolStatus, ToolTimeout, new_call_id, observation_text, tool
from .validation import validate_arguments

__all__ = [
    "CALL_SEPARATOR",
    "DEFAULT_TIMEOUT_S",
    "STOPPED_MESSAGE",
    "ConfirmHook",
    "Docstring",
    "FunctionSchema",
    "RunningToolCall",
    "Tool",
    "ToolArgumentError",
    "ToolCall",
    "ToolCallFormatError",
    "ToolDefinitionError",
    "ToolError",
    "ToolResult",
    "ToolStatus",
    "ToolStillRunningWarning",
    "ToolTimeout",
    "classify_segment",
    "format_tool_call",
    "format_tool_calls",
    "function_schema",
    "new_call_id",
    "observation_text",
    "parse_arguments",
    "parse_docstring",
    "parse_tool_calls",
    "run_tool_call",
    "running_tool_calls",
    "opens_json_object",
    "strip_code_fence",
    "tool",
    "type_schema",
    "validate_arguments",
]
