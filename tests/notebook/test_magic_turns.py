"""Tool cards, GLM-Z1 thinking, Rumination research and interrupts, through the magics."""

from __future__ import annotations

import functools
import json
import threading

import pytest

import glm_nb
from glm_nb.chat import AssistantMessage, ScriptedReply, UserMessage
from glm_nb.chat.research import Rumination
from glm_nb.magics import live
from glm_nb.magics import session as session_module
from glm_nb.render import MIME_TYPE
from glm_nb.tools import execution


@glm_nb.tool
def get_weather(city: str) -> dict:
    """Get the weather.

    Args:
        city: The city.
    """
    if city == "Atlantis":
        raise LookupError("no such city")
    return {"city": city, "temp": 21}


def test_tool_calls_show_as_cards_with_result_and_duration(kernel):
    kernel.use(['get_weather\n{"city": "Paris"}<|observation|>', "\nIt is 21 degrees in Paris."])
    kernel.shell.user_ns["get_weather"] = get_weather

    outputs = kernel.run("%%glm --tools get_weather\nWeather in Paris?")

    record = kernel.final(outputs)["data"][MIME_TYPE]
    tool = next(p for p in record["parts"] if p["type"] == "tool")
    assert tool["name"] == "get_weather" and tool["arguments"] == {"city": "Paris"}
    assert tool["status"] == "ok" and '"temp": 21' in tool["result"] and tool["duration_s"] >= 0
    assert record["answer"] == "It is 21 degrees in Paris."
    running = [o for o in outputs if any(p.get("status") == "running" for p in o["data"][MIME_TYPE]["parts"])]
    assert running  # the card appeared while the call was running, before its result
    assert "🔧 get_weather" in kernel.final(outputs)["data"]["text/html"]


def test_a_failing_tool_shows_its_error(kernel):
    kernel.use(['get_weather\n{"city": "Atlantis"}<|observation|>', "\nI could not find it."])
    kernel.shell.user_ns["get_weather"] = get_weather

    final = kernel.final(kernel.run("%%glm --tools get_weather\nWeather in Atlantis?"))

    tool = next(p for p in final["data"][MIME_TYPE]["parts"] if p["type"] == "tool")
    assert tool["status"] == "error" and "no such city" in tool["error"]
    for fallback in ("text/html", "text/markdown", "text/plain"):  # a terminal or an export shows why too
        assert "no such city" in final["data"][fallback]


def test_an_unknown_tool_name_says_how_to_define_it_and_is_not_kept(kernel):
    kernel.use(["\nOk."])

    kernel.run("%%glm --tools nowhere\nHi")
    kernel.run("%%glm\nHi again")

    assert "@glm_nb.tool" in str(kernel.errors[0])
    assert kernel.errors[1] is None


def test_z1_thinking_is_collapsed_shown_or_hidden(kernel):
    kernel.use(["Paris is in France.</think>\nParis.", "Again.</think>\nParis.", "Quiet.</think>\nParis."])

    collapsed = kernel.final(kernel.run("%%glm_z1\nCapital of France?"))
    shown = kernel.final(kernel.run("%%glm_z1 --thinking shown\nAnd again?"))
    hidden = kernel.final(kernel.run("%%glm_z1 --thinking hidden\nOnce more?"))

    assert collapsed["data"][MIME_TYPE]["parts"][0] == {"type": "thinking", "text": "Paris is in France."}
    assert '<details class="glm-nb-thinking"><summary>' in collapsed["data"]["text/html"]
    assert '<details class="glm-nb-thinking" open>' in shown["data"]["text/html"]
    assert "Quiet." not in hidden["data"]["text/html"] and hidden["data"][MIME_TYPE]["answer"] == "Paris."
    assert glm_nb.last().thinking == "Quiet."


def test_a_z1_reply_that_stops_while_thinking_says_there_is_no_answer(kernel):
    kernel.use(["Let me count the letters one by one<|user|>"])

    record = kernel.final(kernel.run("%%glm_z1\nHow many r in strawberry?"))["data"][MIME_TYPE]

    assert record["finish_reason"] == "stop" and record["answer"] == ""
    assert "stopped while still thinking" in record["note"] and "Ask again" in record["note"]


def test_a_tool_call_in_a_cell_without_tools_runs_nothing_and_ends_the_reply(kernel):
    generator = kernel.use(['get_weather\n{"city": "Paris"}<|observation|>', "\nNever asked for."])

    record = kernel.final(kernel.run("%%glm -f json\nWeather in Paris as JSON?"))["data"][MIME_TYPE]

    assert [p["type"] for p in record["parts"]] == ["text"] and len(generator.prompts) == 1
    assert record["answer"] == 'get_weather\n{"city": "Paris"}' and record["finish_reason"] == "stop"
    assert "gives it no tools: nothing was run" in record["note"] and "--tools" in record["note"]


def test_z1_prompt_forces_thinking_and_keeps_its_own_conversation(kernel):
    generator = kernel.use(["\nChat answer.", "Hmm.</think>\nZ1 answer."])

    kernel.run("%%glm\nchat question")
    kernel.run("%%glm_z1\nz1 question")

    z1_prompt = generator.tokenizer.decode(generator.prompts[1])
    assert z1_prompt.endswith("<think>") and "chat question" not in z1_prompt


def test_rumination_researches_the_corpus_and_reports_with_sources(kernel, tmp_path):
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny and 21 degrees today.\n")
    kernel.use(
        [
            'I need facts.</think>{"name": "search", "arguments": {"query": "Beijing weather"}}',
            'Enough.</think>{"name": "finish", "arguments": {}}',
            "Writing.</think>Beijing is sunny 【0†source】.",
        ]
    )

    record = kernel.final(kernel.run(f"%%glm_rumination --corpus {tmp_path}\nWeather in Beijing?"))["data"][MIME_TYPE]

    kinds = [p["type"] for p in record["parts"]]
    assert kinds.count("tool") == 2 and "thinking" in kinds
    assert not any(p["type"] == "text" and p["text"].startswith("{") for p in record["parts"])  # actions as cards
    assert record["answer"].startswith("Beijing is sunny 【0†source】.") and "**Sources**" in record["answer"]
    assert "beijing.md" in record["answer"]


@pytest.fixture
def two_turn_research(monkeypatch, tmp_path):
    """Research cells get max_turns=2 (35 by default), over a folder with one document."""
    monkeypatch.setattr(session_module, "Rumination", functools.partial(Rumination, max_turns=2))
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny and 21 degrees today.\n")
    return f"%%glm_rumination --corpus {tmp_path}\nWeather in Beijing?"


_SEARCH = 'I need facts.</think>{"name": "search", "arguments": {"query": "Beijing weather"}}'
_CLICK = 'Read it.</think>{"name": "click", "arguments": {"link_id": 0}}'


def test_research_out_of_turns_shows_the_report_written_then_and_says_so(kernel, two_turn_research):
    kernel.use([_SEARCH, _CLICK, "No turns left.</think>Beijing is sunny 【0†source】."])

    record = kernel.final(kernel.run(two_turn_research))["data"][MIME_TYPE]

    assert record["finish_reason"] == "round_limit"
    assert record["answer"].startswith("Beijing is sunny 【0†source】.") and "**Sources**" in record["answer"]
    assert record["answer"].endswith("the model wrote this report when told its budget was spent.*")


def test_research_out_of_turns_without_a_report_lists_what_it_found(kernel, two_turn_research):
    kernel.use([_SEARCH, _CLICK, _SEARCH])

    final = kernel.final(kernel.run(two_turn_research))

    record = final["data"][MIME_TYPE]
    assert record["finish_reason"] == "round_limit"
    assert record["answer"].startswith("**No report.** The research used all its 2 turns")
    assert "【0】 [Beijing weather](file://" in record["answer"] and record["answer"].endswith("· read")
    assert [p["status"] for p in record["parts"] if p["type"] == "tool"] == ["ok", "ok", "not_run"]


def test_research_interrupted_in_its_last_turn_keeps_what_streamed(kernel, two_turn_research):
    last_turn = ScriptedReply("Writing.</think>Beijing is sunny and warm today.", interrupt_after=12)
    kernel.use([_SEARCH, _CLICK, last_turn, "\nHello."])

    record = kernel.final(kernel.run(two_turn_research))["data"][MIME_TYPE]
    kernel.run("%%glm\nHi")

    assert record["finish_reason"] == "cancelled" and record["answer"].startswith("Beijin")
    assert [p["status"] for p in record["parts"] if p["type"] == "tool"] == ["ok", "ok"]
    assert kernel.errors[-1] is None  # the model is ready for the next cell


def test_rumination_says_which_corpus_files_it_could_not_read(kernel, tmp_path, capsys):
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny.\n")
    (tmp_path / "broken.ipynb").write_text("{not json")
    kernel.use(['Enough.</think>{"name": "finish", "arguments": {}}', "Done.</think>Sunny."])

    kernel.run(f"%%glm_rumination --corpus {tmp_path}\nWeather in Beijing?")

    warned = capsys.readouterr().err
    assert "1 file(s) in" in warned and "broken.ipynb" in warned and "not searched" in warned


def test_rumination_without_a_corpus_says_where_to_look(kernel):
    kernel.use([])

    kernel.run("%%glm_rumination\nWeather?")

    assert "--corpus" in str(kernel.errors[0])


def test_interrupt_mid_generation_keeps_the_partial_answer_and_the_model_usable(kernel):
    generator = kernel.use([ScriptedReply("\nA long answer that will be cut short.", interrupt_after=4), "\nFine."])

    cut = kernel.final(kernel.run("%%glm\nTell me a story", cell_id="a"))
    after = kernel.final(kernel.run("%%glm\nAnd now?", cell_id="b"))

    assert "Interrupted: the partial answer is kept" in str(kernel.errors[0])  # an error stops "Run all"
    assert kernel.errors[1] is None
    assert cut["data"][MIME_TYPE]["finish_reason"] == "cancelled"
    assert "interrupted" in cut["data"]["text/plain"]
    partial = cut["data"][MIME_TYPE]["answer"]
    assert partial and "A long answer that will be cut short.".startswith(partial)
    first_reply = kernel.session.threads["chat"].messages[1]
    assert isinstance(first_reply, AssistantMessage) and first_reply.end == "interrupted"
    assert after["data"][MIME_TYPE]["answer"] == "Fine."
    assert partial in generator.tokenizer.decode(generator.prompts[1])  # the partial answer is in history


def test_an_interrupt_while_the_display_updates_also_stops_cleanly(kernel, monkeypatch):
    kernel.use(["\nOne two three four five six seven eight.", "\nNext."])
    real_update = live.LiveOutput.update
    calls = []

    def interrupted_update(self, transcript):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_update(self, transcript)

    monkeypatch.setattr(live.LiveOutput, "update", interrupted_update)

    cut = kernel.final(kernel.run("%%glm\nCount"))

    assert cut["data"][MIME_TYPE]["finish_reason"] == "cancelled"
    assert kernel.session.threads["chat"].messages[-1].end == "interrupted"
    assert kernel.final(kernel.run("%%glm\nNext?"))["data"][MIME_TYPE]["answer"] == "Next."


def test_an_interrupt_while_the_final_record_is_shown_keeps_the_ended_reply(kernel, monkeypatch):
    kernel.use(["\nOne two three.", "\nNext."])
    real_finish = live.LiveOutput.finish
    calls = []

    def interrupted_finish(self, transcript):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the kernel's interrupt, as the cell renders the final record
        real_finish(self, transcript)

    monkeypatch.setattr(live.LiveOutput, "finish", interrupted_finish)

    shown = kernel.final(kernel.run("%%glm\nCount", cell_id="a"))["data"][MIME_TYPE]

    assert "Interrupted as the reply was shown" in str(kernel.errors[-1])  # the cell stops, as "Run all" should
    assert shown["finish_reason"] == "stop"  # not left "generating…" in the saved notebook
    assert glm_nb.last().answer == "One two three."
    assert [m.content if isinstance(m, UserMessage) else m.text for m in kernel.session.thread("chat").messages] == [
        "Count",
        "One two three.",
    ]
    kernel.run("%%glm\nNext?", cell_id="b")
    assert kernel.errors[-1] is None and glm_nb.last().answer == "Next."


def test_a_tool_interrupted_while_it_runs_is_not_shown_as_not_run(kernel, monkeypatch):
    two_calls = 'get_weather\n{"city": "Paris"}<|assistant|>get_weather\n{"city": "Rome"}<|observation|>'
    kernel.use([two_calls, "\nNext."])
    kernel.shell.user_ns["get_weather"] = get_weather

    def interrupted_wait(work, call, timeout, cancel=None):
        raise KeyboardInterrupt  # the kernel's interrupt, landing while the cell waits for the tool's thread

    monkeypatch.setattr(execution, "run_in_worker", interrupted_wait)
    record = kernel.final(kernel.run("%%glm --tools get_weather\nWeather?"))["data"][MIME_TYPE]
    monkeypatch.undo()

    paris, rome = (p for p in record["parts"] if p["type"] == "tool")
    assert paris["status"] == "error" and "it may have done its work" in paris["error"]  # as the model is told
    assert rome["status"] == "not_run"
    assert [m.status for m in kernel.session.thread("chat").messages[2:]] == ["error", "not_run"]
    assert kernel.final(kernel.run("%%glm\nAnd now?"))["data"][MIME_TYPE]["answer"] == "Next."


def test_a_context_that_fills_up_during_a_tool_round_ends_the_record_with_the_error(kernel):
    replies = ['get_weather\n{"city": "Paris"}<|observation|>', "\nSunny."]
    measured = kernel.use(replies)
    kernel.shell.user_ns["get_weather"] = get_weather
    kernel.run("%%glm --tools get_weather\nWeather in Paris?")
    second_prompt = len(measured.prompts[1])  # the first prompt, the call and its result
    kernel.run("%glm reset")

    kernel.use(replies, max_length=second_prompt)  # the call fits; its result does not
    outputs = kernel.run("%%glm --tools get_weather\nWeather in Paris?")

    assert "start a new conversation" in str(kernel.errors[-1]) and "%%glm --new" in str(kernel.errors[-1])
    record = kernel.final(outputs)["data"][MIME_TYPE]
    assert record["finish_reason"] == "error"  # not left "streaming": the page would say "generating…" forever
    assert record["prompt"] == "Weather in Paris?"
    tool = next(p for p in record["parts"] if p["type"] == "tool")
    assert tool["name"] == "get_weather" and tool["status"] == "ok"  # what happened before the error stays
    assert record["note"].startswith("Stopped by an error: ") and "start a new conversation" in record["note"]
    assert "stopped by an error" in kernel.final(outputs)["data"]["text/plain"]
    assert kernel.session.thread("chat").messages == []  # the failed turn is not kept
    assert kernel.final(kernel.run("%%glm\nHi"))["data"][MIME_TYPE]["answer"] == "Sunny."


@pytest.mark.parametrize("command", ["status", "history", "config -t 0.1 --thinking hidden", "reset"])
def test_the_glm_line_magic(kernel, command):
    kernel.use(["\nRemembered."])
    kernel.run("%%glm\nremember me")

    outputs = kernel.run(f"%glm {command}")

    text = outputs[-1]["data"]["text/plain"]
    if command == "history":
        assert "user: remember me" in text and "assistant: Remembered." in text
    elif command == "reset":
        assert "chat" not in kernel.session.threads
    elif command.startswith("config"):
        assert kernel.session.defaults.temperature == 0.1 and "'thinking': 'hidden'" in text
    else:
        assert "chat: scripted-GLM · 2 messages, 1 cell turns" in text


def test_a_cell_waits_visibly_while_the_chat_panel_holds_the_engine(kernel, monkeypatch):
    kernel.use(["\nMy turn now."])
    held, shown = threading.Event(), threading.Event()

    def panel_reply():  # stands in for the panel's background thread
        with kernel.session.engine_lock:
            held.set()
            assert shown.wait(10)

    real_update = live.LiveOutput.update

    def watching_update(self, transcript):
        if "Waiting" in transcript.note:
            shown.set()
        real_update(self, transcript)

    monkeypatch.setattr(live.LiveOutput, "update", watching_update)
    panel = threading.Thread(target=panel_reply)
    panel.start()
    assert held.wait(10)

    outputs = kernel.run("%%glm\nHello")
    panel.join(10)

    waiting = outputs[0]["data"]["text/plain"]
    assert "Waiting" in waiting and "interrupt this cell" in waiting  # the panel's Stop waits behind this cell
    assert kernel.final(outputs)["data"][MIME_TYPE]["answer"] == "My turn now."


class _BusyThenInterrupted:
    """An engine lock held elsewhere; the kernel's interrupt lands while the cell waits for it."""

    def acquire(self, blocking=True, timeout=-1):
        if not blocking:
            return False
        raise KeyboardInterrupt

    def release(self):
        raise AssertionError("never acquired")


def test_an_interrupt_while_waiting_for_the_engine_ends_the_record(kernel):
    kernel.use(["\nFirst reply."])
    kernel.run("%%glm\nFirst", cell_id="a")
    kernel.session.engine_lock = _BusyThenInterrupted()

    outputs = kernel.run("%%glm\nSecond", cell_id="b")

    assert isinstance(kernel.errors[-1], KeyboardInterrupt)
    assert "Waiting" in outputs[0]["data"]["text/plain"]
    final = kernel.final(outputs)
    assert final["data"][MIME_TYPE]["finish_reason"] == "cancelled"  # not "generating…" forever
    assert "nothing was sent" in final["data"]["text/plain"] and "generating" not in final["data"]["text/plain"]
    assert len(kernel.session.threads["chat"].messages) == 2  # the first turn only


def test_an_interrupt_while_a_rerun_cell_waits_for_the_engine_leaves_every_conversation_as_it_was(kernel):
    kernel.use(["\nA1.", "\nB1.", "\nC1.", "\nD1."])
    kernel.run("%%glm\nalpha", cell_id="a")
    kernel.run("%%glm --new\nbravo", cell_id="b")
    kernel.run("%%glm\ncharlie", cell_id="c")
    engine_lock, kernel.session.engine_lock = kernel.session.engine_lock, _BusyThenInterrupted()

    outputs = kernel.run("%%glm\nalpha again", cell_id="a")  # would go back to a's conversation, rewound

    assert isinstance(kernel.errors[-1], KeyboardInterrupt)
    assert "the conversation is unchanged" in kernel.final(outputs)["data"]["text/plain"]
    assert _said(kernel.session.threads["chat"]) == ["bravo", "B1.", "charlie", "C1."]
    assert [_said(thread) for thread in kernel.session.earlier["chat"]] == [["alpha", "A1."]]  # still set aside
    kernel.session.engine_lock = engine_lock
    kernel.run("%%glm\ndelta", cell_id="d")  # a new cell goes on from the cell run last
    assert _said(kernel.session.threads["chat"]) == ["bravo", "B1.", "charlie", "C1.", "delta", "D1."]


def _said(thread) -> list[str]:
    """A conversation's user messages and answers, in order."""
    return [m.content if isinstance(m, UserMessage) else m.text for m in thread.messages]


def test_a_cell_whose_magic_changes_leaves_its_old_conversation(kernel):
    kernel.use(["\nHello.", "\nFine.", "<think>Easy.</think>\nSure.", "\nAgain."])
    kernel.run("%%glm\nHi", cell_id="a")
    kernel.run("%%glm\nHow are you?", cell_id="b")
    kernel.run("%%glm_z1\nHi", cell_id="a")  # the same cell, now asking GLM-Z1
    threads = kernel.session.threads
    assert threads["chat"].messages == [] and threads["chat"].turns == []  # its turn went, with the later one
    assert [m.content for m in threads["z1"].messages[:1]] == ["Hi"]
    kernel.run("%%glm\nAgain", cell_id="c")  # chat goes on without the moved turn
    assert [m.content for m in threads["chat"].messages[:1]] == ["Again"]


@pytest.mark.parametrize("fence", ["", "```json\n"])
def test_research_interrupted_mid_action_says_so_instead_of_showing_half_a_json_call(kernel, tmp_path, fence):
    """Also an action in a code fence, which the model may write and the research reads."""
    (tmp_path / "b.md").write_text("# Beijing weather\n\nBeijing is sunny.\n")
    action = f'I need facts.</think>{fence}{{"name": "search", "arguments": {{"query": "Beijing weather"}}}}'
    kernel.use([ScriptedReply(action, interrupt_after=25 + 4 * bool(fence))])

    final = kernel.final(kernel.run(f"%%glm_rumination --corpus {tmp_path}\nWeather in Beijing?"))

    record = final["data"][MIME_TYPE]
    assert record["finish_reason"] == "cancelled" and record["answer"] == ""
    assert [p["type"] for p in record["parts"]] == ["thinking"]  # no text part holding '{"name": "search", "'
    shown = "```json " if fence else ""  # the call's text on one line
    assert record["note"].startswith(f'Stopped while writing its next action ({shown}{{"name": "se')
    assert "that action was not run" in final["data"]["text/plain"]
    assert "the research stopped" in str(kernel.errors[-1]) and "conversation" not in str(kernel.errors[-1])


def test_hidden_thinking_is_written_nowhere_in_the_saved_cell_but_the_kernel_keeps_it(kernel):
    kernel.use(["Secret reasoning, step by step.</think>\nParis.", "Quietly musing.</think>\nLyon."])

    outputs = kernel.run("%%glm_z1 --thinking hidden\nCapital of France?")
    saved = kernel.final(kernel.run("%%glm_rumination --corpus . --thinking hidden -n 8\nAnd a city?"))

    for output in [*outputs, saved]:  # every update too: a notebook saved mid-reply keeps that one
        for name, value in [*output["data"].items(), ("metadata", output["metadata"])]:
            assert "Secret reasoning" not in json.dumps(value) and "Quietly" not in json.dumps(value), name
    record = kernel.final(outputs)["data"][MIME_TYPE]
    assert record["answer"] == "Paris." and record["thinking_display"] == "hidden"
    assert all(part["type"] != "thinking" for part in record["parts"])
    assert [t.thinking for t in kernel.session.transcripts] == ["Secret reasoning, step by step.", "Quietly m"]
