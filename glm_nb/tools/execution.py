"""Run one tool call: look the tool up, validate its arguments, ask the confirm hook, call it with a timeout.

Whatever goes wrong on the model's side (a malformed call, an unknown tool, bad arguments) or inside the tool (an
exception, a timeout) comes back as a `ToolResult` whose observation text tells the model what happened, so it
can recover; nothing the model writes can make this raise.

The time limit is the tool's own (`@tool(timeout=...)`) when it has one, else the caller's (a conversation's
`tool_timeout`). With a timeout the function runs in a daemon worker thread: a call that outlives it is reported
and left running (Python cannot kill a thread), and a KeyboardInterrupt reaches the waiting caller at once. With
`timeout=None` it runs in the calling thread, so objects bound to that thread (a sqlite3 connection made in the
notebook) work, and a KeyboardInterrupt stops the tool itself.

What the function returns is finished before it is written: an `async def` tool's coroutine is awaited (with
`asyncio.run`, or in a helper thread when the calling thread already runs an event loop, as a notebook's does), and
a generator (a tool that yields, sync or async) is drained into a list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
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
    """The result of `call` against `tools` (by name). `confirm(call)` returning False skips the call (and one
    that raises does too, said in the result).

    `timeout` (seconds, None for no limit) applies to tools without a timeout of their own.
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
    except ToolArgumentError as e:
        problems = "; ".join(e.problems)
        return ToolResult.failure(
            call, "invalid", f"Bad arguments for {call.name!r}: {problems}. Fix them and call again."
        )
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
    return _call_with_timeout(tool, call, timeout)


def _call_with_timeout(tool: Tool, call: ToolCall, session_timeout: float | None) -> ToolResult:
    timeout = session_timeout if tool.timeout == "session" else tool.timeout
    if timeout is None:
        return _run(tool, call, (Exception, SystemExit))  # a KeyboardInterrupt is the user's: it goes through
    # In the worker nothing is the user's interrupt, so whatever the tool raises is reported.
    result = _in_thread(lambda: _run(tool, call, BaseException), f"glm-nb tool {tool.name}", timeout)
    if result is _STILL_RUNNING:
        return ToolResult.failure(call, "timeout", _timeout_message(tool, timeout))
    return result


def _timeout_message(tool: Tool, timeout: float) -> str:
    """What a call that ran out of time says: the limit, where it came from, and how to raise it."""
    source = "its own timeout" if tool.timeout != "session" else "the conversation's tool_timeout"
    where = "" if tool.timeout != "session" else ", or Conversation(tool_timeout=SECONDS) for every tool"
    return (
        f"{tool.name!r} did not finish within {timeout:g} s ({source}) and was abandoned; it may still be running. "
        f"To allow longer, declare it with @tool(timeout=SECONDS) (None: no limit){where}."
    )


def _run(tool: Tool, call: ToolCall, catch: type[BaseException] | tuple[type[BaseException], ...]) -> ToolResult:
    """Call the tool and write what it returns; what it raises (also while its value is written) is an error."""
    try:
        return ToolResult.success(call, _finished(tool(**call.arguments)))
    except catch as e:  # reported to the model and the transcript
        return ToolResult.failure(call, "error", f"{call.name!r} raised {type(e).__name__}: {e}")


def _finished(value: Any) -> Any:
    """What a tool returned, done: a coroutine awaited, a generator (sync or async) drained into a list."""
    if inspect.isasyncgen(value):
        value = _collect(value)
    if inspect.iscoroutine(value):
        value = _await(value)
    if inspect.isgenerator(value):
        value = list(value)
    return value


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def _await(coroutine: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop runs in this thread (a worker, a script): the usual case
        return asyncio.run(coroutine)
    # This thread runs a loop (a notebook cell with timeout=None) and loops do not nest: the coroutine gets its own
    # in a helper thread, waited for without limit, as the caller asked.
    return _in_thread(lambda: asyncio.run(coroutine), "glm-nb async tool", None)


_STILL_RUNNING = object()


def _in_thread(work: Callable[[], Any], name: str, timeout: float | None) -> Any:
    """`work()` in a daemon thread, waited for at most `timeout` s: its value, what it raised re-raised here, or
    _STILL_RUNNING. A KeyboardInterrupt stops the wait at once (the thread runs on)."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as e:  # re-raised in the waiting thread below
            outcome["error"] = e
        finally:
            finished.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    if not finished.wait(timeout):
        return _STILL_RUNNING
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
