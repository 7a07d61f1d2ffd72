"""The calls of one tool round in a reply: running them, and the repeats that end the reply without running them.

A model (a small one especially) may write the same call again and again until `max_tool_rounds` ends the reply,
thousands of tokens later. Two calls are the same when `_call_key` says so. A call that repeats one refused as
invalid earlier in the reply (an unknown tool, arguments that do not fit, an unreadable call) would be refused again
(`Done.repeated_failed_call`). A tool may rightly answer differently the second time (a clock, a queue, a file that
changed), so a second identical call always runs; but a call that already ran twice in the reply and returned the
same result both times is a loop, and a third is not run. Only calls that ran count (ok, error, timeout): one the
user declined, or one not run, returned nothing, so declining a call twice never keeps the confirm hook from being
asked again. A tool that may rightly return the same result again and again (a job's status, polled) opts out with
`@tool(repeatable=True)`. A round made only of such repeats is not run: each of its calls gets a "not run"
observation that says why and asks for an answer with what the model has, so history stays well formed. A repeat
of a failed call ends the reply there; a loop first gets that one more turn to answer, and ends the reply
(`Done.looping_call`) only if the model loops again (see `Conversation._tool_loop`).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Literal

from ..tools import STOPPED_MESSAGE, ConfirmHook, Tool, ToolCall, ToolResult, run_tool_call
from .events import Event, ToolResultEvent
from .messages import ObservationMessage
from .response import Response

__all__ = ["NOT_RUN_BECAUSE", "CallLog", "Repeat", "run_calls", "skip_calls"]

Repeat = Literal["failed", "looping"]  # why a call is not run again (see the module docstring)
NOT_RUN_BECAUSE: dict[Repeat, str] = {
    "failed": "this exact call already failed in this reply",
    "looping": "this exact call already ran twice in this reply and returned the same result both times",
}
_RAN = frozenset({"ok", "error", "timeout"})  # the statuses of a call whose tool ran: what it returned may repeat


class CallLog:
    """The calls one reply ran, by `_call_key`: those refused as invalid, and what the others returned when they
    ran, but for the tools named in `repeatable` (the looping rule does not apply to them)."""

    def __init__(self, repeatable: Iterable[str] = ()) -> None:
        self._repeatable = frozenset(repeatable)
        self._failed: set[tuple] = set()
        self._returned: dict[tuple, list[tuple[str, str]]] = {}  # key -> (status, observation text) of each run

    def add(self, results: Iterable[ToolResult]) -> None:
        for result in results:
            key = _call_key(result.call)
            if result.status == "invalid":
                self._failed.add(key)
            elif result.status in _RAN and result.call.name not in self._repeatable:
                self._returned.setdefault(key, []).append((result.status, result.content))

    def repeats(self, calls: Sequence[ToolCall]) -> list[Repeat] | None:
        """Why each of `calls` should not run again, when none of them should (the reply ends); else None."""
        found: list[Repeat] = []
        for call in calls:
            if (repeat := self._repeat(call)) is None:
                return None
            found.append(repeat)
        return found or None

    def _repeat(self, call: ToolCall) -> Repeat | None:
        key = _call_key(call)
        if key in self._failed:
            return "failed"
        returned = self._returned.get(key, [])
        return "looping" if len(returned) >= 2 and returned[-1] == returned[-2] else None


def run_calls(
    response: Response,
    calls: Sequence[ToolCall],
    tools: Mapping[str, Tool],
    *,
    timeout: float | None,
    confirm: ConfirmHook | None,
) -> Generator[Event, None, list[ToolResult]]:
    """Run `calls` in order, recording and streaming their results; returns them (when not interrupted)."""
    results: list[ToolResult] = []
    try:
        for call in calls:
            if response.cancelled:
                result = ToolResult.failure(call, "not_run", "Not run: the user cancelled the reply.")
            else:
                result = run_tool_call(call, tools, timeout=timeout, confirm=confirm, cancel=response.cancel_event)
            response.record(ObservationMessage.from_result(result))
            results.append(result)
            yield ToolResultEvent(result)
    finally:  # interrupted: every call still gets its observation, so history stays well formed
        for index, call in enumerate(calls[len(results) :]):
            if index == 0:  # the call in flight: it may have run, or may still be running in its thread
                result = ToolResult.failure(call, "error", STOPPED_MESSAGE)
            else:
                result = ToolResult.failure(call, "not_run", "Not run: the user interrupted the reply.")
            response.record_unstreamed(ObservationMessage.from_result(result), ToolResultEvent(result))
    return results


def skip_calls(response: Response, skipped: Iterable[tuple[ToolCall, str]]) -> Iterator[Event]:
    """Give each call its "not run" observation, saying why (`why`: "the limit of tool rounds was reached")."""
    for call, why in skipped:
        result = ToolResult.failure(call, "not_run", f"Not run: {why}. Answer with what you have.")
        response.record(ObservationMessage.from_result(result))
        yield ToolResultEvent(result)


def _call_key(call: ToolCall) -> tuple:
    """What makes two calls the same call as the model wrote it: its name and its arguments as JSON writes them
    (`true` is not `1`, `1.0` not `1`, which a dict's == would take as equal), or, for one that could not be read,
    its text."""
    if call.error is not None:
        return (call.name, call.error, call.raw.strip())
    return (call.name, json.dumps(call.arguments, sort_keys=True, ensure_ascii=False, default=str))
