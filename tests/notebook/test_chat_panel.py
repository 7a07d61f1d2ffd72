"""ChatPanel through its traits and messages: background replies, Stop mid-generation, the shared engine lock."""

from __future__ import annotations

import ast
import json
import re
import threading
from pathlib import Path

import pytest

import glm_nb
from glm_nb.chat import AssistantMessage, ScriptedGenerator, UserMessage
from glm_nb.errors import GlmError
from glm_nb.magics import LoadedModel, NotebookSession
from glm_nb.render import MIME_TYPE
from glm_nb.widget import ChatPanel, chat_panel


class GatedGenerator(ScriptedGenerator):
    """Pauses before its `gate_at`-th token until the test opens the gate (no timing involved)."""

    def __init__(self, *args, gate_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate_at = gate_at
        self.reached = threading.Event()
        self.gate = threading.Event()

    def generate_next_token(self) -> None:
        if self._new == self.gate_at and not self.gate.is_set():
            self.reached.set()
            assert self.gate.wait(10), "the test never opened the gate"
        super().generate_next_token()


@pytest.fixture
def session():
    return NotebookSession(refresh_s=0.0)


def _serve(session, generator, glm_template, label="scripted-GLM"):
    backend = generator.backend(chat_template=glm_template, name=label)
    session.use(LoadedModel(label, backend))


def _slow_first_load(session):
    """Make the session's model load wait, as %glm_model's first load converts a checkpoint: (loading, release)."""
    loading, release = threading.Event(), threading.Event()
    real_model_for = session.model_for

    def slow_model_for(variant):
        loading.set()
        assert release.wait(10)
        return real_model_for(variant)

    session.model_for = slow_model_for
    return loading, release


def test_a_message_from_the_view_streams_a_reply_in_the_background(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nHello from the **panel**."]), glm_template)
    panel = ChatPanel(session=session)
    seen_live = []
    panel.observe(lambda change: seen_live.append(change["new"]), names="live")

    panel._on_view_message(panel, {"type": "send", "text": "Hi"}, [])
    assert panel.wait(10)

    assert not panel.busy and panel.live == {}
    assert [turn["prompt"] for turn in panel.turns] == ["Hi"]
    assert "<strong>panel</strong>" in panel.turns[0]["html"]
    assert any(live.get("html") for live in seen_live)  # it streamed before it finished
    assert panel.model_name == "scripted-GLM" and panel.tokens_per_s >= 0
    assert session.last().text == "Hello from the **panel**."


def test_the_live_turn_says_generating_without_the_saved_page_caveat(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nHello there."]), glm_template)
    panel = ChatPanel(session=session)
    seen_live = []
    panel.observe(lambda change: seen_live.append(change["new"].get("html", "")), names="live")

    panel._on_view_message(panel, {"type": "send", "text": "Hi"}, [])
    assert panel.wait(10)

    streaming = [html for html in seen_live if "generating" in html]
    assert streaming and not any("saved before it ended" in html for html in streaming)  # it is live, not saved


def test_the_panel_keeps_its_own_conversation_with_its_settings(session, tokenizer, glm_template):
    generator = ScriptedGenerator(tokenizer, ["\nOne.", "\nTwo."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session, system="Be brief.", temperature=0.3, max_tokens=50)

    panel.send("first").join(10)
    panel.send("second").join(10)

    prompt = tokenizer.decode(generator.prompts[1])
    assert "Be brief." in prompt and "One." in prompt
    assert generator.sampling.temperature == 0.3 and generator.sampling.max_new_tokens == 50
    assert "chat" not in session.threads  # the magics' conversation is separate


def test_stop_ends_a_reply_mid_generation_and_the_panel_is_usable_again(session, tokenizer, glm_template):
    generator = GatedGenerator(tokenizer, ["\nOne two three four five six seven.", "\nAgain."], gate_at=3)
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)

    thread = panel.send("Count")
    assert generator.reached.wait(10)
    assert panel.busy
    panel._on_view_message(panel, {"type": "stop"}, [])
    generator.gate.set()
    thread.join(10)

    assert not panel.busy and "interrupted" in panel.turns[0]["html"]
    assert panel.transcripts[0].finish_reason == "cancelled"
    assert isinstance(panel._messages["chat"][-1], AssistantMessage)
    assert panel._messages["chat"][-1].end == "interrupted"
    panel.send("More").join(10)
    assert panel.transcripts[1].text == "Again."


def test_a_magic_and_the_panel_never_interleave_on_one_engine(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nAfter the wait."]), glm_template)
    panel = ChatPanel(session=session)
    waited = threading.Event()
    panel.observe(lambda change: "Waiting" in change["new"].get("html", "") and waited.set(), names="live")

    with session.engine_lock:  # as a running %%glm cell holds it
        thread = panel.send("Hi")
        assert waited.wait(10)
        assert panel.busy and not panel.turns
    thread.join(10)

    assert panel.transcripts[0].text == "After the wait."


def test_two_panels_take_turns_on_one_engine_each_with_its_own_conversation(session, tokenizer, glm_template):
    generator = GatedGenerator(tokenizer, ["\nA one.", "\nB one.", "\nA two."], gate_at=1)
    _serve(session, generator, glm_template)
    first, second = ChatPanel(session=session), ChatPanel(session=session)
    notes, waited = [], threading.Event()

    def note_wait(change):
        if "Waiting" in change["new"].get("html", ""):
            notes.append(change["new"]["html"])
            waited.set()

    second.observe(note_wait, names="live")
    one = first.send("question A1")
    assert generator.reached.wait(10)

    two = second.send("question B1")
    assert waited.wait(10)
    generator.gate.set()
    one.join(10), two.join(10)
    first.send("question A2").join(10)

    note = notes[0]
    assert "another chat panel&#x27;s reply" in note and "press Stop there" in note and "cell" not in note
    assert [t.text for t in first.transcripts + second.transcripts] == ["A one.", "A two.", "B one."]
    assert "question B1" not in tokenizer.decode(generator.prompts[-1])  # each panel keeps its own conversation
    assert "question A1" not in tokenizer.decode(generator.prompts[1])


def test_stop_while_the_panel_waits_for_the_engine_ends_the_wait_and_sends_nothing(session, tokenizer, glm_template):
    generator = ScriptedGenerator(tokenizer, ["\nNever sent.", "\nLater."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)
    waited = threading.Event()
    panel.observe(lambda change: "Waiting" in change["new"].get("html", "") and waited.set(), names="live")

    with session.engine_lock:  # a long %%glm cell holds the engine
        thread = panel.send("Hi")
        assert waited.wait(10)
        panel._on_view_message(panel, {"type": "stop"}, [])
        thread.join(10)
        assert not thread.is_alive() and not panel.busy  # it did not wait for the cell to end

    assert "Stopped while waiting for the model: nothing was sent" in panel.turns[0]["html"]
    assert generator.prompts == [] and panel._messages["chat"] == [] and panel.status == ""
    panel.send("Again").join(10)
    assert panel.transcripts[-1].text == "Never sent."  # the first scripted reply, so nothing consumed it


def test_export_of_a_turn_stopped_before_anything_was_sent_exports_the_turn_shown(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nNever sent."]), glm_template)
    panel = ChatPanel(session=session)
    told = _told_view(panel)
    waited = threading.Event()
    panel.observe(lambda change: "Waiting" in change["new"].get("html", "") and waited.set(), names="live")
    with session.engine_lock:  # a long %%glm cell holds the engine
        thread = panel.send("Hi")
        assert waited.wait(10)
        panel.stop()
        thread.join(10)

    panel._on_view_message(panel, {"type": "export"}, [])

    assert len(panel.turns) == 1 and "Nothing to export" not in panel.status  # a turn is on show: it is exported
    (download,) = told
    assert "Stopped while waiting for the model: nothing was sent" in download["html"] and ">Hi<" in download["html"]
    assert [t.prompt for t in panel.export().transcripts] == ["Hi"]


def test_stop_while_the_model_loads_sends_nothing(session, tokenizer, glm_template):
    generator = ScriptedGenerator(tokenizer, ["\nNever sent."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)
    loading, release = _slow_first_load(session)
    thread = panel.send("Hi")
    assert loading.wait(10)
    panel.stop()
    release.set()
    thread.join(10)

    assert "nothing was sent" in panel.turns[0]["html"] and generator.prompts == []


def test_send_while_busy_or_empty_is_refused_with_a_reason(session, tokenizer, glm_template):
    generator = GatedGenerator(tokenizer, ["\nSlow reply."], gate_at=1)
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)

    thread = panel.send("first")
    assert generator.reached.wait(10)
    panel._on_view_message(panel, {"type": "send", "text": "second"}, [])
    busy_status = panel.status
    generator.gate.set()
    thread.join(10)

    assert "still streaming" in busy_status
    with pytest.raises(GlmError, match="Nothing to send"):
        panel.send("   ")


def test_an_error_in_the_background_shows_in_the_panel(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, []), glm_template)  # no reply scripted: the backend fails
    panel = ChatPanel(session=session)

    panel.send("Hi").join(10)

    assert "script one more reply" in panel.status and not panel.busy
    assert [turn["prompt"] for turn in panel.turns] == ["Hi"] and panel.live == {}  # the message is not lost
    assert "stopped by an error" in panel.turns[0]["html"] and "script one more reply" in panel.turns[0]["html"]


def test_a_message_that_fails_before_any_turn_shows_it_goes_back_to_the_box(session, tokenizer, glm_template):
    told_before_the_reply: list[list[dict]] = []

    def no_model(variant):
        told_before_the_reply.append(list(told))
        raise GlmError("No checkpoint for nano-GLM here: run %glm_model with a model folder first.")

    session.model_for = no_model
    panel = ChatPanel(session=session)
    told = _told_view(panel)

    panel._on_view_message(panel, {"type": "send", "text": "A long question I typed"}, [])
    assert panel.wait(10)

    assert panel.turns == [] and "run %glm_model" in panel.status
    assert told_before_the_reply == [[{"type": "accepted", "text": "A long question I typed"}]]
    assert told == [  # the view emptied its box when the kernel took the message: it is not lost
        {"type": "accepted", "text": "A long question I typed"},
        {"type": "returned", "text": "A long question I typed"},
    ]


def _no_model(variant):
    """A session's model_for when no model can be loaded, as before a first %glm_model on a machine without nano."""
    raise GlmError("No checkpoint for nano-GLM here: run %glm_model with a model folder first.")


def test_the_answer_to_a_send_names_the_view_it_was_typed_in(session, tokenizer, glm_template):
    session.model_for = _no_model
    panel = ChatPanel(session=session)
    told = _told_view(panel)

    panel._on_view_message(panel, {"type": "send", "text": "Hi", "view": "k3x9"}, [])
    assert panel.wait(10)

    assert told == [  # a second view of the panel leaves its own box alone
        {"type": "accepted", "text": "Hi", "view": "k3x9"},
        {"type": "returned", "text": "Hi", "view": "k3x9"},
    ]


def test_the_answer_to_a_send_repeats_the_text_as_the_view_sent_it(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nHello."]), glm_template)
    panel = ChatPanel(session=session)
    told = _told_view(panel)
    pasted = "Hi\x1c"  # JavaScript's trim() keeps the separator that Python's strip() takes

    panel._on_view_message(panel, {"type": "send", "text": pasted, "view": "v1"}, [])
    assert panel.wait(10)

    assert told[0] == {"type": "accepted", "text": pasted, "view": "v1"}  # what the box holds: it empties
    assert [turn["prompt"] for turn in panel.turns] == ["Hi"]


def test_a_message_sent_from_code_that_fails_is_not_put_in_the_views_box(session, tokenizer, glm_template):
    session.model_for = _no_model
    panel = ChatPanel(session=session)
    told = _told_view(panel)

    panel.send("From a cell").join(10)

    assert "run %glm_model" in panel.status and told == []  # the user never typed it in the box


def test_a_panel_closed_mid_reply_still_records_the_reply(session, tokenizer, glm_template, monkeypatch):
    import glm_nb.widget.chat_panel as chat_panel

    shown = []
    monkeypatch.setattr(chat_panel, "display", lambda *a, **k: shown.append((a, k)))
    monkeypatch.setattr(chat_panel, "update_display", lambda *a, **k: shown.append((a, k)))
    release = threading.Event()

    class Held(ScriptedGenerator):
        def generate_next_token(self):
            release.wait(10)
            super().generate_next_token()

    _serve(session, Held(tokenizer, ["\nHello."]), glm_template)
    panel = ChatPanel(session=session)
    panel._ipython_display_()  # shown headless: each finished turn updates its fallbacks
    thread = panel.send("Hi")
    panel.close()  # the cell re-run, or the user closed it, while the reply streams
    release.set()
    thread.join(10)

    assert [t.prompt for t in panel.transcripts] == ["Hi"] and "Error" not in panel.status, panel.status
    panel.clear()
    panel._ipython_display_()
    closed = "<glm-nb ChatPanel (closed): 0 turn(s); panel.export() shows them>"
    assert shown[-1] == (({"text/plain": closed},), {"raw": True})  # text, not a quoted Python string


def test_a_message_a_turn_shows_is_not_given_back(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, []), glm_template)  # the backend fails once the turn began
    panel = ChatPanel(session=session)
    told = _told_view(panel)

    panel._on_view_message(panel, {"type": "send", "text": "Hi"}, [])
    assert panel.wait(10)

    assert [turn["prompt"] for turn in panel.turns] == ["Hi"] and [m["type"] for m in told] == ["accepted"]


def test_at_the_edge_of_the_context_the_panel_says_so_and_that_clear_goes_on(session, tokenizer, glm_template):
    reply = "\nA reasonably long answer with several words in it, longer than this small context allows."
    _serve(session, ScriptedGenerator(tokenizer, [reply, reply], max_length=40), glm_template)
    panel = ChatPanel(session=session)

    panel.send("Tell me").join(10)
    cut = panel.transcripts[-1]
    panel.send("And more?").join(10)

    assert cut.finish_reason == "length" and "filled the model's context" in cut.note and "Clear" in cut.note
    assert "tokens but the context holds 40" in panel.status and "Clear starts a new conversation" in panel.status


def test_z1_variant_thinks_and_clear_forgets(session, tokenizer, glm_template):
    generator = ScriptedGenerator(tokenizer, ["Pondering.</think>\nDone.", "\nFresh."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session, variant="z1")

    panel.send("Think").join(10)
    panel._on_view_message(panel, {"type": "clear"}, [])
    panel.variant = "chat"
    panel.send("Hello").join(10)

    assert tokenizer.decode(generator.prompts[0]).endswith("<think>")
    assert "Think" not in tokenizer.decode(generator.prompts[1])
    assert [t.text for t in panel.transcripts] == ["Fresh."]


def test_export_is_a_static_record_of_the_whole_chat(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nFirst <b>answer</b>.", "\nSecond."]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("one").join(10)
    panel.send("two").join(10)

    bundle = panel.export()._repr_mimebundle_()

    assert [turn["prompt"] for turn in bundle[MIME_TYPE]["turns"]] == ["one", "two"]
    assert "<b>answer" not in bundle["text/html"] and "&lt;b&gt;answer" in bundle["text/html"]
    assert "**You:** two" in bundle["text/markdown"]


def test_code_pasted_unclosed_in_a_prompt_does_not_unfence_the_exported_reply(session, tokenizer, glm_template):
    from markdown_it import MarkdownIt

    _serve(session, ScriptedGenerator(tokenizer, ["\n```\n<img src=x onerror=alert(1)>\n```"]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("Fix this:\n```python\nprint(1").join(10)

    markdown = panel.export()._repr_mimebundle_()["text/markdown"]

    rendered = MarkdownIt("commonmark", {"html": True}).render(markdown)  # as a frontend with raw HTML on
    assert "<img" not in rendered and "&lt;img src=x" in rendered, rendered


def test_a_link_in_a_panel_reply_opens_a_new_tab_and_never_leaves_jupyterlab(session, tokenizer, glm_template):
    answer = "\nSee [docs](https://example.org/d), [files](/files/secret.txt) and [help](ms-msdt:id)."
    _serve(session, ScriptedGenerator(tokenizer, [answer]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("Where?").join(10)

    links = re.findall(r"<a\b[^>]*>", panel.turns[0]["html"])  # drawn into JupyterLab's own page by the view

    assert links == ['<a href="https://example.org/d" target="_blank" rel="noopener noreferrer">', "<a>", "<a>"]


def test_an_html_artifact_waits_for_run_scripts_in_the_panel_and_in_its_export(session, tokenizer, glm_template):
    answer = "\nA page:\n\n```html\n<p>hi</p><script>document.title = 'ran'</script>\n```"
    _serve(session, ScriptedGenerator(tokenizer, [answer]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("Make a page").join(10)

    page = panel.export().standalone_html()

    for shown in (panel.turns[0]["html"], page):
        frame = re.search(r"<iframe[^>]*>", shown).group(0)
        assert 'sandbox=""' in frame and "glm-nb-run-scripts" in shown


def test_the_view_ships_next_to_the_class():
    panel = ChatPanel(session=NotebookSession())

    assert "export default { initialize, render }" in panel._esm
    assert ".glm-nb-panel" in panel._css


def test_a_long_pasted_message_scrolls_in_its_own_box_and_a_long_word_wraps():
    css = (Path(glm_nb.widget.__file__).parent / "chat_panel.css").read_text()

    you = re.search(r"\.glm-nb-you \{([^}]*)\}", css).group(1)

    # a 2,000-line paste does not push the conversation out of the history; a URL or base64 line does not widen it
    assert "max-height: 12em" in you and "overflow-y: auto" in you and "overflow-wrap: anywhere" in you


def test_a_saved_or_headless_notebook_shows_what_the_panel_is_not_an_object_address(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nHi."]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("Hello").join(10)
    plain = panel._repr_mimebundle_()[0]["text/plain"]  # (data, metadata), as IPython's display asks for it
    assert "ChatPanel: 1 turn(s) with scripted-GLM" in plain and "object at 0x" not in plain


def _told_view(panel) -> list[dict]:
    """The custom messages the panel sends its view (no frontend here to receive them), but each finished turn's."""
    told = []

    def tell(message):
        if message["type"] != "turn":
            told.append(message)

    panel._tell_view = tell
    return told


def _comm_messages(panel) -> list[dict]:
    """What the panel sends through its comm, trait updates and custom messages alike (a DummyComm here)."""
    sent = []
    send = panel.comm.send

    def record(data=None, metadata=None, buffers=None):
        sent.append(data)
        send(data=data, metadata=metadata, buffers=buffers)

    panel.comm.send = record
    return sent


def test_changing_the_model_dropdown_mid_reply_keeps_the_reply_in_its_conversation(session, tokenizer, glm_template):
    generator = GatedGenerator(tokenizer, ["\nChat reply one two three."], gate_at=2)
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)

    thread = panel.send("Hello chat")
    assert generator.reached.wait(10)
    panel.variant = "z1"  # the user changes the dropdown while the reply streams
    generator.gate.set()
    thread.join(10)

    assert [m.content for m in panel._messages["chat"] if isinstance(m, UserMessage)] == ["Hello chat"]
    assert panel._messages["z1"] == [] and panel.transcripts[0].variant == "chat"


def test_a_message_goes_to_the_conversation_selected_when_it_was_sent(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nChat reply."]), glm_template)
    panel = ChatPanel(session=session)
    started, reply = threading.Event(), panel._reply

    def late_thread(*args):  # the reply thread runs only after the kernel handled the next message
        assert started.wait(10)
        reply(*args)

    panel._reply = late_thread
    panel._on_view_message(panel, {"type": "send", "text": "Hello chat"}, [])
    panel.variant = "z1"  # the dropdown change the view sent just after, handled before the thread ran
    started.set()
    assert panel.wait(10)

    assert [t.variant for t in panel.transcripts] == ["chat"] and panel._messages["z1"] == []


def test_stop_during_a_tool_call_says_so_at_once_and_ends_the_reply_when_the_tool_returns(
    session, tokenizer, glm_template
):
    running, release = threading.Event(), threading.Event()

    @glm_nb.tool
    def fetch_page(url: str) -> str:
        """Fetch a web page (slow)"""
        running.set()
        assert release.wait(10)
        return "the page"

    generator = ScriptedGenerator(tokenizer, ['fetch_page\n{"url": "https://a.example"}<|observation|>', "\nNever."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session, tools=[fetch_page])
    thread = panel.send("Summarise a.example")
    assert running.wait(10)

    panel._on_view_message(panel, {"type": "stop"}, [])
    stopping = panel.status
    release.set()
    thread.join(10)

    assert "Stopping" in stopping and "tool call" in stopping  # not silence while the tool runs on
    assert len(generator.prompts) == 1 and "interrupted" in panel.turns[0]["html"]  # the tool's result not sent
    assert "the page" in panel.turns[0]["html"] and not panel.busy and panel.status == ""


def test_tools_given_to_the_panel_are_offered_to_the_model_and_run(session, tokenizer, glm_template):
    @glm_nb.tool
    def get_weather(city: str) -> dict:
        """Current weather for a city"""
        return {"city": city, "sky": "sunny"}

    def get_time(city: str) -> str:
        """Local time in a city"""
        return "noon"

    generator = ScriptedGenerator(tokenizer, ['get_weather\n{"city": "Paris"}<|observation|>', "\nSunny."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session, tools=[get_weather, get_time])

    panel.send("Weather in Paris?").join(10)

    assert "get_weather" in tokenizer.decode(generator.prompts[0]) and "get_time" in tokenizer.decode(
        generator.prompts[0]
    )
    card = panel.transcripts[0].tool_cards[0]
    assert card.status == "ok" and "sunny" in card.result
    assert "Unknown tool" not in panel.turns[0]["html"] and "sunny" in panel.turns[0]["html"]


def test_a_refused_message_is_not_acknowledged_and_the_refusal_clears_after_the_reply(
    session, tokenizer, glm_template
):
    generator = GatedGenerator(tokenizer, ["\nSlow reply."], gate_at=1)
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)
    told = _told_view(panel)

    panel._on_view_message(panel, {"type": "send", "text": " first "}, [])
    assert generator.reached.wait(10)
    panel._on_view_message(panel, {"type": "send", "text": "second"}, [])
    refused = panel.status
    generator.gate.set()
    assert panel.wait(10)

    assert [m["type"] for m in told] == ["accepted", "refused"]  # the view keeps "second" in its box
    assert "still streaming" in refused and panel.status == ""


def test_every_refused_send_is_answered_to_its_view_with_the_reason(session, tokenizer, glm_template):
    generator = GatedGenerator(tokenizer, ["\nSlow reply."], gate_at=1)
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)
    told = _told_view(panel)
    thread = panel.send("first")
    assert generator.reached.wait(10)

    # two views send while the reply streams: the second refusal leaves `status` as it was, so no update goes
    panel._on_view_message(panel, {"type": "send", "text": "from one view", "view": "a1"}, [])
    panel._on_view_message(panel, {"type": "send", "text": "from another", "view": "b2"}, [])
    panel._on_view_message(panel, {"type": "send", "text": "  ", "view": "a1"}, [])
    generator.gate.set()
    thread.join(10)

    busy = {"type": "refused", "reason": "A reply is still streaming: press Stop, or wait for it to finish."}
    assert told == [
        {**busy, "view": "a1"},
        {**busy, "view": "b2"},
        {"type": "refused", "reason": "Nothing to send: type a message first.", "view": "a1"},
    ]


def test_a_new_model_starts_a_new_conversation_and_the_panel_says_so(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nI am model A."]), glm_template, label="model-A")
    panel = ChatPanel(session=session)
    panel.send("Who are you?").join(10)
    model_b = ScriptedGenerator(tokenizer, ["\nI am model B."])
    _serve(session, model_b, glm_template, label="model-B")  # what %glm_model does

    assert panel.model_name == "model-B" and "new conversation" in panel.status  # said at once, before a send
    panel.send("And now?").join(10)

    assert "Who are you?" not in tokenizer.decode(model_b.prompts[0])
    assert panel.model_name == "model-B"


def test_a_z1_only_model_leaves_the_chat_models_name_on_show(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nChat here.", "\nZ1 here."]), glm_template, label="model-A")
    panel = ChatPanel(session=session)
    panel.send("Hi").join(10)
    panel.variant = "z1"
    panel.send("Hi").join(10)
    panel.variant = "chat"
    z1_model = ScriptedGenerator(tokenizer, [])

    session.use(LoadedModel("Z1-B", z1_model.backend(chat_template=glm_template, name="Z1-B")), "z1")

    assert panel.model_name == "model-A"  # "chat" is selected: its model still answers
    assert "GLM-Z1 (reasoning) is now Z1-B" in panel.status
    panel.variant = "z1"
    assert panel.model_name == "Z1-B"


def test_a_new_message_does_not_show_the_last_replys_rate(session, tokenizer, glm_template):
    generator = GatedGenerator(tokenizer, ["\nFirst reply.", "\nSecond reply."], gate_at=1)
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)
    generator.gate.set()
    panel.send("One").join(10)
    panel.tokens_per_s = 42.0  # as a fast first reply leaves it
    generator.gate.clear()

    thread = panel.send("Two")
    assert generator.reached.wait(10)
    rate_while_it_starts = panel.tokens_per_s
    generator.gate.set()
    thread.join(10)

    assert rate_while_it_starts == 0.0


def test_model_listeners_are_held_weakly_and_dropped_when_their_owner_goes(session, tokenizer, glm_template):
    import gc

    heard = []

    class Listener:
        def hear(self, variants, model):
            heard.append((variants, model.label))

    kept, gone = Listener(), Listener()
    session.on_model_change(kept.hear)
    session.on_model_change(gone.hear)
    del gone
    gc.collect()
    _serve(session, ScriptedGenerator(tokenizer, []), glm_template, label="other")
    assert heard == [(("chat", "z1", "rumination"), "other")] and len(session._model_listeners) == 1


def test_export_downloads_on_every_click_and_an_empty_chat_says_so(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nHi."]), glm_template)
    panel = ChatPanel(session=session)
    told = _told_view(panel)
    panel._on_view_message(panel, {"type": "export"}, [])
    empty = panel.status
    panel.send("Hello").join(10)

    panel._on_view_message(panel, {"type": "export"}, [])
    panel._on_view_message(panel, {"type": "export"}, [])
    panel.export()  # from code: a record for the notebook, no download
    panel._on_view_message(panel, {"type": "clear"}, [])
    panel._on_view_message(panel, {"type": "export"}, [])

    assert "Nothing to export" in empty and "Nothing to export" in panel.status
    assert [m["type"] for m in told] == ["download", "download"]  # each click, only the clicks
    assert all(m["html"].startswith("<!doctype html>") and "Hello" in m["html"] for m in told)


def test_clear_while_the_model_loads_returns_at_once_and_clears_when_the_reply_ends(session, tokenizer, glm_template):
    generator = ScriptedGenerator(tokenizer, ["\nNever sent."])
    _serve(session, generator, glm_template)
    panel = ChatPanel(session=session)
    loading, release = _slow_first_load(session)
    thread = panel.send("Hi")
    assert loading.wait(10)
    panel._on_view_message(panel, {"type": "clear"}, [])  # with an unbounded wait this call never returns
    assert thread.is_alive() and "Clearing" in panel.status
    release.set()
    thread.join(10)

    assert panel.turns == [] and panel.transcripts == [] and not panel.busy and panel.status == ""
    assert generator.prompts == []


def test_switching_between_chat_and_z1_says_each_keeps_its_own_conversation(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nNice to meet you, Ada."]), glm_template)
    panel = ChatPanel(session=session)
    panel.variant = "z1"
    assert panel.status == ""  # nothing above yet
    panel.variant = "chat"
    panel.send("My name is Ada.").join(10)

    panel.variant = "z1"

    assert "own conversation" in panel.status and "does not see the chat turns" in panel.status


def test_switching_back_to_the_only_conversation_above_does_not_claim_other_turns(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nHello, Ada."]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("My name is Ada.").join(10)
    panel.variant = "z1"
    to_z1 = panel.status

    panel.variant = "chat"

    assert "does not see the chat turns" in to_z1
    assert panel.status == ""  # every turn above is a chat turn: there are no GLM-Z1 turns it does not see


def test_a_streamed_token_does_not_resend_the_turns_before_it(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nThe same answer, a few words long."] * 12), glm_template)
    panel = ChatPanel(session=session)
    sent = _comm_messages(panel)
    per_token = []

    for _ in range(12):
        before = len(sent)
        panel.send("Again").join(10)
        per_token.append(max(len(json.dumps(d)) for d in sent[before:] if d.get("state", {}).keys() == {"live"}))

    assert per_token[-1] - per_token[1] < 50  # the live turn alone, however long the history


def test_without_a_front_end_each_finished_turn_assigns_the_whole_list_for_a_headless_save(
    session, tokenizer, glm_template
):
    _serve(session, ScriptedGenerator(tokenizer, ["\nOne.", "\nTwo."]), glm_template)
    panel = ChatPanel(session=session)  # nbclient records state updates only, never custom messages
    sent = _comm_messages(panel)

    panel.send("one").join(10)
    panel.send("two").join(10)

    lists = [[turn["prompt"] for turn in d["state"]["turns"]] for d in sent if "turns" in d.get("state", {})]
    assert lists == [["one"], ["one", "two"]] and panel.live == {}
    assert not [d for d in sent if d.get("method") == "custom"]


def _announce_front_end(panel, held: int = 0) -> None:
    """What chat_panel.js's `initialize` says once the front end's model is ready."""
    panel._on_view_message(panel, {"type": "sync", "turns": held}, [])


def test_a_finished_turn_sends_only_its_own_bytes_once_the_front_end_applies_turns(session, tokenizer, glm_template):
    answer = "\nA long enough answer: " + "several words of it, " * 40
    _serve(session, ScriptedGenerator(tokenizer, [answer] * 12), glm_template)
    panel = ChatPanel(session=session)
    sent = _comm_messages(panel)
    _announce_front_end(panel)
    carried = []  # per finished turn: the bytes of every message that held a finished turn

    for index in range(12):
        before = len(sent)
        panel.send(f"Question {index}").join(10)
        finished = [
            d for d in sent[before:]
            if "turns" in d.get("state", {}) or d.get("content", {}).get("type") not in (None, "live")
        ]  # fmt: skip
        assert finished == [
            {"method": "custom", "content": {"type": "turn", "index": index, "turn": panel.turns[-1]}}
        ]
        carried.append(len(json.dumps(finished[0])))

    own = [len(json.dumps(turn)) for turn in panel.turns]
    assert all(size - mine < 80 for size, mine in zip(carried, own)), (carried, own)  # its own bytes, not the list's
    assert [t["prompt"] for t in panel.get_state()["turns"]] == [f"Question {i}" for i in range(12)]  # a reload
    assert panel.live == {} and panel.live_prompt == ""


def test_a_front_end_model_that_missed_turns_gets_them_when_it_says_how_many_it_holds(
    session, tokenizer, glm_template
):
    _serve(session, ScriptedGenerator(tokenizer, ["\nOne.", "\nTwo."]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("one").join(10)
    panel.send("two").join(10)
    sent = _comm_messages(panel)

    _announce_front_end(panel, held=1)  # made from the state before "two", its file loaded after it
    caught_up = list(sent)
    _announce_front_end(panel, held=2)
    nothing = sent[len(caught_up) :]
    _announce_front_end(panel, held=5)  # more than the kernel holds (it missed a Clear): the whole list

    synced = {"method": "custom", "content": {"type": "synced"}}  # each answer ends so: a kernel is behind the model
    assert caught_up == [
        {"method": "custom", "content": {"type": "turn", "index": 1, "turn": panel.turns[1]}},
        synced,
    ]
    assert nothing == [synced]
    assert sent[-2:] == [{"method": "update", "state": {"turns": panel.turns}, "buffer_paths": []}, synced]


def test_a_status_set_while_the_reply_thread_finishes_a_turn_is_sent_at_once(session, tokenizer, glm_template):
    """The reply thread used to finish a turn inside `hold_sync`, whose flag the kernel's thread reads: a status set
    then was held back, and lost when it landed between the held send and its clear."""
    _serve(session, ScriptedGenerator(tokenizer, ["\nDone."]), glm_template)
    panel = ChatPanel(session=session)
    _announce_front_end(panel)
    sent, finishing, release = [], threading.Event(), threading.Event()
    send = panel.comm.send

    def record(data=None, metadata=None, buffers=None):
        sent.append(data)
        if data.get("content", {}).get("type") == "turn":  # the reply thread, in the middle of finishing the turn
            finishing.set()
            assert release.wait(10)
        send(data=data, metadata=metadata, buffers=buffers)

    panel.comm.send = record
    thread = panel.send("Hi")
    assert finishing.wait(10)
    panel.status = "Max tokens is at least 1: set to 1."  # as the view's clamp, on the kernel's thread
    status_sent_at_once = [d["state"] for d in sent if "status" in d.get("state", {})]
    release.set()
    thread.join(10)

    assert status_sent_at_once == [{"status": "Max tokens is at least 1: set to 1."}]
    assert not panel._holding_sync and not panel._states_to_send


def test_a_long_message_goes_to_the_view_once_not_with_every_token(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nA reply of several words, streamed one by one."]), glm_template)
    panel = ChatPanel(session=session)
    sent = _comm_messages(panel)
    document = "A pasted document line. " * 60

    panel.send(document).join(10)

    updates = [data["state"] for data in sent if data.get("method") == "update"]
    carrying = [state for state in updates if "A pasted document line." in json.dumps(state)]
    assert len([state for state in updates if "live" in state]) > 5  # it streamed
    assert len(carrying) == 2  # the streaming turn's message once, then the finished turn
    assert panel.turns[0]["prompt"] == document.strip()


def test_a_view_that_connects_later_gets_every_turn(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nOne.", "\nTwo."]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("one").join(10)
    panel.send("two").join(10)
    sent = _comm_messages(panel)

    panel._handle_msg({"content": {"data": {"method": "request_state"}}, "buffers": []})  # a page (re)loaded

    assert [[turn["prompt"] for turn in data["state"]["turns"]] for data in sent] == [["one", "two"]]


def _panel_outputs(outputs: list[dict]) -> list[dict]:
    return [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o["data"]]


def test_a_headless_panel_brings_its_saved_fallbacks_up_to_date_after_each_turn(kernel):
    kernel.use(["\nHello <b>there</b>.", "\nAgain."])

    shown = _panel_outputs(kernel.run("import glm_nb\npanel = glm_nb.ChatPanel()\npanel"))
    updates = _panel_outputs(kernel.run("panel.send('Hi <i>you</i>').join(10)\npanel.send('More').join(10)"))
    cleared = _panel_outputs(kernel.run("panel.clear()"))

    display_id = shown[0]["transient"]["display_id"]
    assert len(shown) == 1 and not shown[0]["update"] and "0 turn(s)" in shown[0]["data"]["text/plain"]
    assert [(o["update"], o["transient"]["display_id"]) for o in updates] == [(True, display_id)] * 2
    last = updates[-1]["data"]
    assert "2 turn(s) with scripted-GLM" in last["text/plain"]
    assert "Hi &lt;i&gt;you&lt;/i&gt;" in last["text/html"] and "Hello &lt;b&gt;there" in last["text/html"]
    assert "<b>there" not in last["text/html"] and "<i>you" not in last["text/html"]  # as safe as the live view
    assert "0 turn(s)" in cleared[0]["data"]["text/plain"] and cleared[0]["update"]
    assert kernel.errors == [None] * 3


def test_once_a_view_is_drawn_its_display_is_left_alone(kernel):
    kernel.use(["\nHello."])
    kernel.run("import glm_nb\npanel = glm_nb.ChatPanel()\npanel")

    kernel.run("panel._on_view_message(panel, {'type': 'view'}, [])")  # JupyterLab drew it
    updates = _panel_outputs(kernel.run("panel.send('Hi').join(10)"))

    assert kernel.errors == [None] * 3
    assert updates == []  # an update would re-create the view: its half-typed message and scroll position gone
    assert [turn["prompt"] for turn in kernel.shell.user_ns["panel"].turns] == ["Hi"]


def test_clear_after_replies_empties_the_views_turns(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nOne."]), glm_template)
    panel = ChatPanel(session=session)
    panel.send("one").join(10)
    sent = _comm_messages(panel)

    panel._on_view_message(panel, {"type": "clear"}, [])

    assert {"method": "update", "state": {"turns": []}, "buffer_paths": []} in sent
    assert panel.get_state()["turns"] == []


def test_drop_old_turns_keeps_a_full_panel_conversation_going_and_says_so(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nNoted."] * 9, max_length=160), glm_template)
    panel = ChatPanel(session=session)
    for index in range(6):
        panel.send(f"Remember fact number {index}, please.").join(10)
    assert "Drop old turns keeps this one going" in panel.status  # refused: the advice names the box

    panel.drop_old_turns = True
    panel.send("Remember fact number 9, please.").join(10)

    last = panel.transcripts[-1]
    assert last.prompt == "Remember fact number 9, please." and last.answer == "Noted." and panel.status == ""
    assert "of the conversation was dropped" in last.note or "of the conversation were dropped" in last.note
    asked = [m.content for m in panel._messages["chat"] if isinstance(m, UserMessage)]
    assert asked[-1] == "Remember fact number 9, please." and "Remember fact number 0, please." not in asked


def test_with_drop_old_turns_a_message_too_long_by_itself_says_to_shorten_it(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nNoted.", "\nNever."], max_length=160), glm_template)
    panel = ChatPanel(session=session, drop_old_turns=True)
    panel.send("Hi").join(10)

    panel.send("far too long " * 20).join(10)

    assert "shorten the message" in panel.status and "Clear starts" not in panel.status
    assert [m.content for m in panel._messages["chat"] if isinstance(m, UserMessage)] == ["Hi"]  # unchanged


def test_a_message_too_long_for_the_context_goes_back_to_the_box_to_shorten(session, tokenizer, glm_template):
    _serve(session, ScriptedGenerator(tokenizer, ["\nNoted.", "\nNever."], max_length=160), glm_template)
    panel = ChatPanel(session=session, drop_old_turns=True)
    told = _told_view(panel)
    long_paste = "far too long " * 20

    panel._on_view_message(panel, {"type": "send", "text": long_paste, "view": "v1"}, [])
    assert panel.wait(10)

    assert "shorten the message" in panel.status
    assert told == [
        {"type": "accepted", "text": long_paste, "view": "v1"},
        {"type": "returned", "text": long_paste.strip(), "view": "v1"},  # the box emptied: it is there to edit
    ]


def test_the_live_rate_counts_from_the_first_token_not_from_reading_the_prompt(monkeypatch):
    """Two minutes of reading a long prompt, then 100 tokens at 10 tok/s: the panel showed 0.8 tok/s."""
    from types import SimpleNamespace

    from glm_nb.chat import PromptProgress, TextDelta
    from glm_nb.render import Transcript, TranscriptBuilder
    from glm_nb.widget import panel_sink

    now = [0.0]
    monkeypatch.setattr(panel_sink.time, "monotonic", lambda: now[0])
    panel = SimpleNamespace(tokens_per_s=0.0, live_prompt="", _show_live=lambda page: None)
    builder = TranscriptBuilder(Transcript("chat", "m", "A long document"))
    sink = panel_sink.PanelSink(panel, builder, "A long document")
    for second in range(0, 121, 10):
        now[0] = float(second)
        builder.add(PromptProgress(second * 50, 6000))
        sink.update(builder.snapshot())
    for token in range(100):
        now[0] = 120.0 + token / 10
        builder.add(TextDelta("word "))
        sink.update(builder.snapshot())
    assert panel.tokens_per_s == pytest.approx(10.0, rel=0.02)


def test_the_module_doc_names_every_message_the_panel_sends_to_its_view():
    """The view's author learns the protocol from that doc: each `{"type": ...}` the widget's code sends is in it."""
    sent = set()
    for path in Path(chat_panel.__file__).parent.glob("*.py"):
        dicts = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Dict)]
        for keys, values in ((d.keys, d.values) for d in dicts):
            sent |= {
                v.value for k, v in zip(keys, values, strict=True) if _is_constant(k, "type") and _is_constant(v)
            }
    documented = " ".join(chat_panel.__doc__.split())

    assert {"accepted", "refused", "returned", "turn", "live", "synced"} <= sent
    assert [kind for kind in sorted(sent) if f'{{"type": "{kind}"' not in documented] == []


def _is_constant(node: ast.expr | None, value: object = None) -> bool:
    return isinstance(node, ast.Constant) and (value is None or node.value == value)


def test_stop_waits_for_a_reply_ending_at_that_moment_so_stopping_is_not_left_shown(session):
    """The reply thread ends under the panel's lock (it clears the status, then busy); Stop takes the lock too, so it
    cannot write "Stopping" after that clearing, where nothing would take it away until the next send."""
    panel = ChatPanel(session=session)
    panel.busy = True
    stopper = threading.Thread(target=panel.stop)
    with panel._lock:  # the reply's end, in progress
        stopper.start()
        stopper.join(0.5)
        assert stopper.is_alive()  # Stop waits for it
        panel.status, panel.busy = "", False
    stopper.join(10)

    assert not stopper.is_alive() and panel.status == ""
