"""Tool calls left running after their timeout (or an interrupt): told, listed, warned about, harmless later."""

from __future__ import annotations

import contextvars
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest

from glm_nb.chat import ObservationMessage
from glm_nb.tools import ToolCall, ToolStillRunningWarning, run_tool_call, running_tool_calls, tool


def _wait_until_finished(name: str) -> None:
    """Wait (at most 5 s) until no call of tool `name` is listed as running, so tests do not leak threads."""
    deadline = time.monotonic() + 5
    while any(r.call.name == name for r in running_tool_calls()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(r.call.name == name for r in running_tool_calls())


def test_a_timed_out_call_is_listed_with_a_warning_until_it_finishes():
    release = threading.Event()

    @tool
    def crunch() -> str:
        release.wait(5)
        return "done"

    call = ToolCall("crunch", {})
    with pytest.warns(ToolStillRunningWarning, match="'crunch' did not finish within 0.05 s and goes on running"):
        result = run_tool_call(call, {"crunch": crunch}, timeout=0.05)
    listed = [r for r in running_tool_calls() if r.call.name == "crunch"]
    release.set()

    assert result.status == "timeout" and "it may still be running" in result.content
    assert [r.call.id for r in listed] == [call.id] and listed[0].thread.daemon
    _wait_until_finished("crunch")


def test_calling_a_tool_again_while_an_earlier_call_still_runs_warns_naming_it():
    release = threading.Event()

    @tool
    def export(path: str) -> str:
        """Export."""
        if path == "a.csv":
            release.wait(5)
        return path

    with pytest.warns(ToolStillRunningWarning):
        run_tool_call(ToolCall("export", {"path": "a.csv"}), {"export": export}, timeout=0.05)
    with pytest.warns(ToolStillRunningWarning, match=r"'export' is called again while 1 earlier call\(s\) of it"):
        second = run_tool_call(ToolCall("export", {"path": "b.csv"}), {"export": export}, timeout=5)
    release.set()

    assert (second.status, second.content) == ("ok", "b.csv")
    _wait_until_finished("export")


def test_a_late_result_never_reaches_a_later_turn(scripted):
    release, finished = threading.Event(), threading.Event()
    answers = iter(["first, late", "second"])

    @tool
    def fetch() -> str:
        """Fetch."""
        value = next(answers)
        if value == "first, late":
            release.wait(5)
            finished.set()
        return value

    replies = ["fetch\n{}<|observation|>", "\nIt timed out.", "fetch\n{}<|observation|>", "\nGot it."]
    conversation, _ = scripted(replies, tools=[fetch], tool_timeout=0.05)
    with pytest.warns(ToolStillRunningWarning):
        conversation.send("Fetch").finish()
    running = conversation.running_tool_calls()
    with pytest.warns(ToolStillRunningWarning, match="called again"):
        second = conversation.send("Again").tool_results()
    release.set()
    assert finished.wait(5)
    _wait_until_finished("fetch")
    observations = [m for m in conversation.messages if isinstance(m, ObservationMessage)]

    assert [r.call.name for r in running] == ["fetch"]
    assert [m.status for m in observations] == ["timeout", "ok"] and observations[1].content == "second"
    assert [r.content for r in second] == ["second"] and conversation.running_tool_calls() == ()


def test_a_call_whose_wait_is_interrupted_is_listed_as_running():
    release, started = threading.Event(), threading.Event()

    @tool
    def train() -> None:
        """Train."""
        started.set()
        release.wait(5)

    # Ctrl-C while the notebook waits for the call: SIGINT to the waiting (main) thread, as the kernel sends it.
    main = threading.main_thread().ident
    timer = threading.Thread(target=lambda: started.wait(5) and signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_tool_call(ToolCall("train", {}), {"train": train}, timeout=5)
    listed = [r.call.name for r in running_tool_calls()]
    release.set()
    timer.join()

    assert "train" in listed
    _wait_until_finished("train")


def test_an_interrupt_before_the_worker_starts_lists_nothing(monkeypatch):
    ran = []

    @tool
    def quick() -> None:
        ran.append(1)

    def interrupted_start(self):
        raise KeyboardInterrupt  # Ctrl-C landing in Thread.start(), before the thread exists

    monkeypatch.setattr(threading.Thread, "start", interrupted_start)
    with pytest.raises(KeyboardInterrupt):
        run_tool_call(ToolCall("quick", {}), {"quick": quick}, timeout=5)
    monkeypatch.undo()

    assert not ran and not [r for r in running_tool_calls() if r.call.name == "quick"]


def test_a_call_stopped_before_it_starts_is_not_run():
    """Stop pressed before the call begins (e.g. while a confirm hook asked): nothing starts, nothing is left
    running."""
    ran, stop = [], threading.Event()

    @tool
    def deploy() -> str:
        ran.append(1)
        return "deployed"

    def ask(call):
        stop.set()  # the user pressed Stop while the question was open
        return True

    result = run_tool_call(ToolCall("deploy", {}), {"deploy": deploy}, timeout=5, confirm=ask, cancel=stop)

    assert result.status == "not_run" and "cancelled" in result.content
    assert not ran and not [r for r in running_tool_calls() if r.call.name == "deploy"]


def test_a_call_still_running_does_not_hold_up_exit_and_is_named_when_python_exits():
    script = textwrap.dedent(
        """
        import threading
        from glm_nb.tools import ToolCall, run_tool_call, tool

        @tool
        def migrate() -> None:
            threading.Event().wait()  # forever

        run_tool_call(ToolCall("migrate", {}), {"migrate": migrate}, timeout=0.05)
        """
    )

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0
    assert "Exiting while tool call(s) still run in the background: 'migrate'" in done.stderr


def test_stopping_the_reply_ends_the_wait_for_a_running_call_and_leaves_it_listed(scripted):
    release, started = threading.Event(), threading.Event()

    @tool
    def train(epochs: int) -> str:
        """Train."""
        started.set()
        release.wait(10)
        return "trained"

    calls = 'train\n{"epochs": 1}<|assistant|>train\n{"epochs": 2}<|observation|>'
    conversation, _ = scripted([calls], tools=[train], tool_timeout=10)
    response = conversation.send("Train")
    stopper = threading.Thread(target=lambda: started.wait(5) and response.cancel())  # the panel's Stop button
    stopper.start()
    began = time.monotonic()
    with pytest.warns(ToolStillRunningWarning, match="'train' was still running when the reply was stopped"):
        results = response.tool_results()
    waited = time.monotonic() - began
    running = conversation.running_tool_calls()
    release.set()
    stopper.join()

    assert waited < 5 and response.finish_reason == "cancelled"
    assert [r.status for r in results] == ["error", "not_run"]
    assert "Do not assume it did nothing" in results[0].content
    assert [r.call.arguments for r in running] == [{"epochs": 1}]
    _wait_until_finished("train")


_CELL = contextvars.ContextVar("cell", default="no cell")  # as ipykernel names the cell that print() writes to


def test_a_call_left_running_writes_where_it_began_not_into_a_later_cell():
    release, seen = threading.Event(), []

    @tool
    def chatty() -> None:
        release.wait(5)
        seen.append(_CELL.get())  # ipykernel's print() reads its parent cell from such a variable

    first = _CELL.set("cell 1")
    with pytest.warns(ToolStillRunningWarning):
        run_tool_call(ToolCall("chatty", {}), {"chatty": chatty}, timeout=0.05)
    _CELL.set("cell 2")  # the notebook moved on
    release.set()
    _wait_until_finished("chatty")
    _CELL.reset(first)

    assert seen == ["cell 1"]


class _KernelStream:
    """As ipykernel's OutStream: the cell a thread's output goes to is its parent header, pinned per thread."""

    def __init__(self, parent):
        self.parent_header, self.pinned = parent, {}

    def set_thread_parent(self, parent):
        self.pinned[threading.current_thread().name] = parent

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def test_a_tool_thread_pins_its_output_to_the_cell_that_called_it(monkeypatch):
    stream = _KernelStream({"msg_id": "cell-1"})
    monkeypatch.setattr(sys, "stdout", stream)

    @tool
    def report() -> str:
        return "ok"

    result = run_tool_call(ToolCall("report", {}), {"report": report}, timeout=5)
    monkeypatch.undo()

    assert result.status == "ok"
    assert stream.pinned == {"glm-nb tool report": {"msg_id": "cell-1"}}


def test_a_wait_without_a_cancel_event_still_wakes_every_few_hundredths(monkeypatch):
    """A Ctrl-C whose SIGINT lands just before the main thread blocks is only raised when the wait wakes: the wait
    is taken in short slices, never the whole tool timeout at once."""
    import glm_nb.tools.background as background

    slices = []

    class Recording(threading.Event):
        def wait(self, timeout=None):
            slices.append(timeout)
            return super().wait(timeout)

    module = types.SimpleNamespace(**{**vars(threading), "Event": Recording})  # only background's own Events
    monkeypatch.setattr(background, "threading", module)

    @tool
    def quick() -> str:
        time.sleep(0.2)
        return "done"

    result = run_tool_call(ToolCall("quick", {}), {"quick": quick}, timeout=60)

    assert result.status == "ok" and len(slices) > 1 and max(slices) <= 0.05, slices
