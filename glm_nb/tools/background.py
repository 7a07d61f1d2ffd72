"""Tool calls in daemon worker threads, and the ones left running after their caller stopped waiting.

Python cannot stop a thread, so a call that runs past its timeout, or whose wait the user stops (the panel's Stop,
`Response.cancel()`, Ctrl-C), is *left running*, not killed. Three things hold for such a call:

- What it returns or raises later goes nowhere: each call has its own outcome slot, which nobody reads once the
  wait is over, so a late value can never land in a later call's or turn's result. What it prints goes where the
  call began: the worker runs in a copy of the caller's context variables, by which ipykernel (7) routes output to
  the cell that ran the code (a bare thread would print into whichever cell runs at the time).
- It is visible: `running_tool_calls()` lists it, and a `ToolStillRunningWarning` names it when it is left
  running, when the same tool is called again while it still runs (two calls may then work on the same files or
  tables at once), and at interpreter exit (which does not wait for it: Python stops a daemon thread wherever it
  is, perhaps halfway through its work).
- It does not hold the interpreter open: the worker is a daemon thread.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ToolStillRunningWarning
from .tool import ToolCall

__all__ = ["RunningToolCall", "running_tool_calls"]

_log = logging.getLogger(__name__)

STILL_RUNNING: Any = object()  # what `run_in_worker` returns when the wait ran out
STOPPED: Any = object()  # ... and when it was cancelled


@dataclass(frozen=True)
class RunningToolCall:
    """A tool call left running in its worker thread after its caller stopped waiting for it."""

    call: ToolCall
    started: float  # time.monotonic() when the call started
    thread: threading.Thread = field(repr=False)

    @property
    def running_s(self) -> float:
        """Seconds since the call started."""
        return time.monotonic() - self.started

    def __str__(self) -> str:
        return f"{self.call.name!r} (call {self.call.id}, running for {self.running_s:.0f} s)"


_lock = threading.Lock()
_left_running: dict[int, RunningToolCall] = {}  # id(thread) -> the call it runs
_exit_hook: list[Callable[[], None]] = []  # the atexit hook, once registered


def running_tool_calls() -> tuple[RunningToolCall, ...]:
    """The tool calls still running after their caller stopped waiting (a timeout, an interrupt), oldest first."""
    with _lock:
        for key in [key for key, r in _left_running.items() if not r.thread.is_alive()]:
            del _left_running[key]  # an interrupt before its thread ever started: nothing runs, nothing will
        return tuple(sorted(_left_running.values(), key=lambda r: r.started))


def run_in_worker(
    work: Callable[[], Any], call: ToolCall, timeout: float | None, cancel: threading.Event | None = None
) -> Any:
    """`work()` (which runs `call`) in a daemon thread, waited for at most `timeout` s (None: without limit) and
    until `cancel` is set: its value, what it raised re-raised here, or STILL_RUNNING (the time ran out) or STOPPED
    (cancelled). A KeyboardInterrupt stops the wait at once and goes through. In all three cases the call is left
    running and listed (and warned about, but for the interrupt, which the user sees anyway)."""
    outcome: dict[str, Any] = {}  # this call's own slot: written by the worker, read only by this wait
    finished = threading.Event()
    context = contextvars.copy_context()  # the caller's: ipykernel sends print() to the cell its context names
    pins = _output_parents()

    def target() -> None:
        try:
            outcome["value"] = context.run(_pinned, pins, work)
        except BaseException as e:  # re-raised in the waiting thread below
            outcome["error"] = e
        finally:
            _finish(thread, finished, outcome)

    thread = threading.Thread(target=target, name=f"glm-nb tool {call.name}", daemon=True)
    running = RunningToolCall(call, time.monotonic(), thread)
    try:
        thread.start()  # it waits until the thread runs: an interrupt may land here already
        done = _wait(finished, timeout, cancel)
    except BaseException:  # KeyboardInterrupt: the call runs on, so it is listed as running
        _leave_running(running, finished)
        raise
    if not done and _leave_running(running, finished):
        stopped = cancel is not None and cancel.is_set()
        why = "was still running when the reply was stopped" if stopped else f"did not finish within {timeout:g} s"
        advice = "check what it did before running it again" if stopped else "to allow longer: @tool(timeout=SECONDS)"
        warnings.warn(
            f"Tool {call.name!r} {why} and goes on running in a background thread (Python cannot stop it); its "
            f"result will be dropped. glm_nb.tools.running_tool_calls() lists such calls; {advice}.",
            ToolStillRunningWarning,
            stacklevel=4,
        )
        return STOPPED if stopped else STILL_RUNNING
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _output_parents() -> list[tuple[Any, Any]]:
    """The cell each of ipykernel's output streams writes to now (its parent header), to pin in the worker: the
    copied context carries it with ipykernel 7, and pinning it explicitly (`set_thread_parent`, ipykernel's way to
    route a thread's output) keeps it there should a thread's inherited context stop counting."""
    return [
        (stream, stream.parent_header)
        for stream in (sys.stdout, sys.stderr)
        if hasattr(stream, "set_thread_parent") and getattr(stream, "parent_header", None)
    ]


def _pinned(pins: list[tuple[Any, Any]], work: Callable[[], Any]) -> Any:
    for stream, parent in pins:
        try:
            stream.set_thread_parent(parent)
        except Exception:  # another stream with the same method name: its output goes where it goes
            _log.debug("Could not pin %r's output to its cell", stream, exc_info=True)
    return work()


# How soon a cancel (the panel's Stop, from another thread) ends the wait, and a Ctrl-C whose wake-up was lost: a
# SIGINT that lands just before the main thread blocks in a lock's timed wait leaves it asleep for the whole wait
# (seen one time in ~100 here), its KeyboardInterrupt raised only when that ends, 60 s later by default.
_POLL_S = 0.05


def _wait(finished: threading.Event, timeout: float | None, cancel: threading.Event | None) -> bool:
    """Whether the call finished within `timeout` s, before `cancel` was set; waited for in slices."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while cancel is None or not cancel.is_set():
        left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if finished.wait(max(left, 0)) or (deadline is not None and time.monotonic() >= deadline):
            return finished.is_set()
    return finished.is_set()


def _leave_running(running: RunningToolCall, finished: threading.Event) -> bool:
    """List the call as running, unless it finished meanwhile (then False: its outcome is there to take)."""
    with _lock:
        if finished.is_set():
            return False
        if not _left_running and not _exit_hook:
            _exit_hook.append(atexit.register(_warn_at_exit))  # once, when the first call is left running
        _left_running[id(running.thread)] = running
        return True


def _finish(thread: threading.Thread, finished: threading.Event, outcome: dict[str, Any]) -> None:
    """In the worker, once the call is over: say so to the wait, or, if nobody waits any more, unlist the call and
    log what its outcome was (it is dropped)."""
    with _lock:
        finished.set()
        left = _left_running.pop(id(thread), None)
    if left is None:
        return
    if "error" in outcome:
        error = outcome["error"]
        _log.warning("Tool call %s raised after it was left running (dropped): %r", left, error)
    else:
        _log.info("Tool call %s finished after it was left running; its result was dropped.", left)


def warn_if_already_running(call: ToolCall) -> None:
    """Warn when earlier calls of `call`'s tool still run in the background, as `call` is about to start."""
    earlier = [r for r in running_tool_calls() if r.call.name == call.name]
    if earlier:
        warnings.warn(
            f"Tool {call.name!r} is called again while {len(earlier)} earlier call(s) of it still run in the "
            f"background: {', '.join(map(str, earlier))}. They may work on the same data at once; wait for them "
            "(glm_nb.tools.running_tool_calls()) or give the tool a longer timeout with @tool(timeout=SECONDS).",
            ToolStillRunningWarning,
            stacklevel=4,
        )


def _warn_at_exit() -> None:
    """Interpreter exit does not wait for daemon threads: say which calls are stopped wherever they are."""
    running = [r for r in running_tool_calls() if r.thread.is_alive()]
    if running:
        warnings.warn(
            f"Exiting while tool call(s) still run in the background: {', '.join(map(str, running))}. Python stops "
            "them where they are, perhaps halfway through their work; check what they were changing.",
            ToolStillRunningWarning,
            stacklevel=1,
        )
