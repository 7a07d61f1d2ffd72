"""Errors of the tools layer, under the one `glm_nb.errors.GlmError` hierarchy.

Only mistakes of the *programmer* raise: a function that cannot become a tool, a schema we cannot read. A model's
bad call never raises out of the tool loop; it becomes an observation the model can read (see `execution`).
"""

from __future__ import annotations

from ..errors import GlmError

__all__ = [
    "ToolError",
    "ToolDefinitionError",
    "ToolArgumentError",
    "ToolCallFormatError",
    "ToolStillRunningWarning",
]


class ToolError(GlmError):
    """Base class of the tools layer's errors."""


class ToolDefinitionError(ToolError):
    """A function or dict cannot be turned into a tool (missing type hints, unsupported types, bad schema)."""


class ToolArgumentError(ToolError, ValueError):
    """Arguments do not match a tool's schema. `problems` lists each one, phrased for the model to fix. A ValueError
    too, as the ValueError (or pydantic's ValidationError) a tool called from Python with a bad value raised before
    its arguments were converted apart."""

    def __init__(self, tool_name: str, problems: list[str]):
        self.tool_name = tool_name
        self.problems = tuple(problems)
        super().__init__(f"Invalid arguments for tool {tool_name!r}: " + "; ".join(problems))


class ToolCallFormatError(ToolError):
    """Text meant to be a call's arguments is not a JSON (or Python-literal) object."""


class ToolStillRunningWarning(UserWarning):
    """A tool call goes on running in its thread after its caller stopped waiting (see `background`)."""
