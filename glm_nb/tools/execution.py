"""Run one tool call: look the tool up, validate and convert its arguments, ask the confirm hook, call it with a
timeout.

Whatever goes wrong on the model's side (a malformed call, an unknown tool, bad arguments) or inside the tool (an
exception, a timeout) comes back as a `ToolResult` whose observation text tells the model what happened, so it
can recover; nothing the model writes can make this raise.

The time limit is the tool's own (`@tool(timeout=...)`) when it has one, else the caller's (a conversation's
`tool_timeout`). With a timeout the function runs in a daemon worker thread: a call that outlives it is reported
to the model and, with a warning, to the user, and left running (Python cannot kill a thread; `background` says
what is guaranteed about such a call), and a KeyboardInterrupt reaches the waiting caller at once. With
`timeout=None` it runs in the calling thread, so objects bound to that thread (a sqlite3 connection made in the
notebook) work, and a KeyboardInterrupt stops the tool itself.

What the function returns is finished before it is written: an `async def` tool's coroutine is awaited (with
`asyncio.run`, or in a helper thread when the calling thread already runs an event loop, as a notebook's does), and
a generator (a tool that yields, sync or async) is drained into a list.

Arguments are converted (dates, dataclasses, pydantic models) before the confirm hook asks and before the tool's
time limit starts, in the calling thread: a converter's side effects (a dataclass's `__post_init__`, a pydantic
validator) happen even for a call the user then declines, and a slow one is not timed. The confirm hook and the
record see the arguments as the model wrote them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .background import STILL_RUNNING, STOPPED, run_in_worker, warn_if_already_running
from .errors import ToolArgumentError
from .tool import Tool, ToolCall, ToolResult
from .validation import validate_arguments

__all__ = ["ConfirmHook", "run_tool_call", "DEFAULT_TIMEOUT_S", "STOPPED_MESSAGE"]

ConfirmHook = Callable[[ToolCall], bool]
DEFAULT_TIMEOUT_S = 60.0


def run_tool_call(
    call: ToolCall,
    tools: Mapping[str, Tool],
    *,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    confirm: ConfirmHook | None = None,
    cancel: threading.Event | None = None,
) -> ToolResult:
    """The result of `call` against `tools` (by name). `confirm(call)` returning False skips the call (and one
    that raises does too, said in the result).

    `timeout` (seconds, None for no limit) applies to tools without a timeout of their own. `cancel` (set from any
    thread, e.g. by a Stop button) ends the wait for a call running in a worker thread, leaving it running.
    """
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
        # Converted now, not when called: a value that fits the schema's type but not the function's ('tomorrow'
        # for a date) is the model's to fix, and the tool has not run.
        converted = tool.convert_arguments(arguments)
    except ToolArgumentError as e:
        problems = "; ".join(e.problems)
        return ToolResult.failure(
            call, "invalid", f"Bad arguments for {call.name!r}: {problems}. Fix them and call again."
        )
    except Exception as e:  # the user's own code in a converter (a dataclass's __post_init__): the tool's error
        return ToolResult.failure(call, "error", f"{call.name!r} raised {type(e).__name__}: {e}")
    call = dataclasses.replace(call, arguments=arguments)
    if confirm is not None:
        try:
            allowed = confirm(call)
        except Exception as e:  # e.g. input() where there is no stdin: not run (a hook that fails says no), and why
            return ToolResult.failure(
                call, "not_run", f"{call.name!r} was not run: the confirm hook raised {type(e).__name__}: {e}. Fix "
                "the hook: it returns True to run a call, False to decline it."
            )  # fmt: skip
        if not allowed:
            return ToolResult.failure(
                call, "declined", f"The user declined to run {call.name!r}; do not call it again."
            )
    if cancel is not None and cancel.is_set():  # Stop came first (maybe while confirm asked): start nothing
        return ToolResult.failure(call, "not_run", "Not run: the user cancelled the reply.")
    return _call_with_timeout(tool, call, converted, timeout, cancel)


def _call_with_timeout(
    tool: Tool,
    call: ToolCall,
    arguments: dict[str, Any],
    session_timeout: float | None,
    cancel: threading.Event | None,
) -> ToolResult:
    timeout = session_timeout if tool.timeout == "session" else tool.timeout
    warn_if_already_running(call)
    if timeout is None:  # a KeyboardInterrupt is the user's: it goes through
        return _run(tool, call, arguments, (Exception, SystemExit))
    # In the worker nothing is the user's interrupt, so whatever the tool raises is reported.
    result = run_in_worker(lambda: _run(tool, call, arguments, BaseException), call, timeout, cancel)
    if result is STILL_RUNNING:
        return ToolResult.failure(call, "timeout", _timeout_message(tool, timeout))
    if result is STOPPED:
        return ToolResult.failure(call, "error", STOPPED_MESSAGE)
    return result


# What a call that was running when the user stopped the reply says (also after Ctrl-C, in the conversation).
STOPPED_MESSAGE = (
    "Interrupted by the user while it ran: it may have done its work (or still be doing it) with its side effects. "
    "Do not assume it did nothing; check before calling it again."
)


def _timeout_message(tool: Tool, timeout: float) -> str:
    """What a call that ran out of time says: the limit, where it came from, and how to raise it."""
    source = "its own timeout" if tool.timeout != "session" else "the conversation's tool_timeout"
    where = "" if tool.timeout != "session" else ", or Conversation(tool_timeout=SECONDS) for every tool"
    return (
        f"{tool.name!r} did not finish within {timeout:g} s ({source}) and was abandoned: it may still be running, "
        "with its side effects, and its result will not reach you. Do not assume it did nothing; check before "
        f"calling it again. To allow longer, declare it with @tool(timeout=SECONDS) (None: no limit){where}."
    )


def _run(
    tool: Tool,
    call: ToolCall,
    arguments: dict[str, Any],
    catch: type[BaseException] | tuple[type[BaseException], ...],
) -> ToolResult:
    """Call the function with the `arguments` converted for it and write what it returns; what it raises (also while
    its value is written) is an error."""
    assert tool.function is not None  # run_tool_call answers a tool without one before
    try:
        return ToolResult.success(call, _finished(tool.function(**arguments), call))
    except catch as e:  # reported to the model and the transcript
        return ToolResult.failure(call, "error", f"{call.name!r} raised {type(e).__name__}: {e}")


def _finished(value: Any, call: ToolCall) -> Any:
    """What a tool returned, done: a coroutine awaited, a generator (sync or async) drained into a list."""
    if inspect.isasyncgen(value):
        value = _collect(value)
    if inspect.iscoroutine(value):
        value = _await(value, call)
    if inspect.isgenerator(value):
        value = list(value)
    return value


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def _await(coroutine: Any, call: ToolCall) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop runs in this thread (a worker, a script): the usual case
        return asyncio.run(coroutine)
    # This thread runs a loop (a notebook cell with timeout=None) and loops do not nest: the coroutine gets its own
    # in a helper thread, waited for without limit, as the caller asked.
    return run_in_worker(lambda: asyncio.run(coroutine), call, None)
