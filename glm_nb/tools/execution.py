"""Run one tool call: look the tool up, validate its arguments, ask the confirm hook, call it with a timeout.

Whatever goes wrong on the model's side (a malformed call, an unknown tool, bad arguments) or inside the tool (an
exception, a timeout) comes back as a `ToolResult` whose observation text tells the model what happened, so it
can recover; nothing the model writes can make this raise. The function runs in a daemon worker thread: a call
that outlives its timeout is reported and left running (Python cannot kill a thread), and a KeyboardInterrupt
reaches the waiting caller at once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ToolArgumentError
from .tool import Tool, ToolCall, ToolResult
from .validation import validate_arguments

__all__ = ["ConfirmHook", "run_tool_call", "DEFAULT_TIMEOUT_S"]

ConfirmHook = Callable[[ToolCall], bool]
DEFAULT_TIMEOUT_S = 60.0


def run_tool_call(
    call: ToolCall,
    tools: Mapping[str, Tool],
    *,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    confirm: ConfirmHook | None = None,
) -> ToolResult:
    """The result of `call` against `tools` (by name). `confirm(call)` returning False skips the call."""
    if call.error is not None:
        target = f" to {call.name!r}" if call.name else ""
        return ToolResult.failure(call, "invalid", f"Could not read the call{target}: {call.error}")
    tool = tools.get(call.name)
    if tool is None:
        available = ", ".join(sorted(tools)) or "none"
        return ToolResult.failure(call, "invalid", f"Unknown tool {call.name!r}. Available tools: {available}.")
    if tool.function is None:
        return ToolResult.failure(call, "not_run", f"Tool {call.name!r} has no Python function here; nobody ran it.")
    try:
        arguments = validate_arguments(tool, call.arguments)
    except ToolArgumentError as e:
        problems = "; ".join(e.problems)
        return ToolResult.failure(
            call, "invalid", f"Bad arguments for {call.name!r}: {problems}. Fix them and call again."
        )
    call = dataclasses.replace(call, arguments=arguments)
    if confirm is not None and not confirm(call):
        return ToolResult.failure(call, "declined", f"The user declined to run {call.name!r}; do not call it again.")
    return _call_with_timeout(tool, call, timeout)


def _call_with_timeout(tool: Tool, call: ToolCall, timeout: float | None) -> ToolResult:
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = tool(**call.arguments)
        except BaseException as e:  # reported to the model and the transcript, see ToolResult.failure below
            outcome["error"] = e
        finally:
            finished.set()

    threading.Thread(target=work, name=f"glm-nb tool {tool.name}", daemon=True).start()
    if not finished.wait(timeout):
        return ToolResult.failure(
            call, "timeout", f"{call.name!r} did not finish within {timeout:g} s; it was abandoned, still running."
        )
    if "error" in outcome:
        error = outcome["error"]
        return ToolResult.failure(call, "error", f"{call.name!r} raised {type(error).__name__}: {error}")
    return ToolResult.success(call, outcome["value"])
