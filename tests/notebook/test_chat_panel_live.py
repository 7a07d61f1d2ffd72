"""ChatPanel's streaming turn on the wire: a front end that applies edits gets what changed, not the whole turn."""

from __future__ import annotations

import json
import random

import pytest
from jupyter_client.session import json_packer

from glm_nb.chat import TextDelta, ThinkingDelta, ToolCallEvent, ToolResultEvent
from glm_nb.magics import NotebookSession
from glm_nb.render import Transcript, TranscriptBuilder
from glm_nb.tools import ToolCall, ToolResult
from glm_nb.widget import ChatPanel
from glm_nb.widget.live_edits import html_edits, utf16_length
from glm_nb.widget.panel_sink import PanelSink


def _comm_messages(panel) -> list[dict]:
    """What the panel sends through its comm, trait updates and custom messages alike (a DummyComm here), as JSON
    at the time of the send, as a kernel's comm serialises it (`live` changes in place after)."""
    sent = []
    send = panel.comm.send

    def record(data=None, metadata=None, buffers=None):
        sent.append(json.loads(json.dumps(data)))
        send(data=data, metadata=metadata, buffers=buffers)

    panel.comm.send = record
    return sent


def _apply(old: str, edits) -> str:
    """chat_panel.js's applyLive, in UTF-16 code units as JavaScript counts them."""
    units, out, at = old.encode("utf-16-le"), b"", 0
    for start, end, text in edits:
        out += units[2 * at : 2 * start] + text.encode("utf-16-le")
        at = end
    return (out + units[2 * at :]).decode("utf-16-le")


def _words(count: int, seed: int) -> list[str]:
    """Markdown as a model writes it: paragraphs, **bold** that closes later, `code`, a list, CJK and an emoji."""
    pick = random.Random(seed).choice
    vocabulary = ["the", "model", "**attention**", "`kv_cache`", "注意力", "🙂", "layers", "*norm*", "rotary", "a"]
    words = []
    for index in range(count):
        word = pick(vocabulary)
        if index % 60 == 59:
            word += "\n\n"  # a new paragraph
        elif index % 97 == 0:
            word = "\n- " + word  # a list item
        words.append(word + " ")
    return words


def _stream_long_reply(panel: ChatPanel) -> tuple[list[str], list[dict]]:
    """300 words of thinking, a tool card, then 2,000 words of answer, an update per 25 words (fewer than the panel's
    0.1 s refresh makes, so the test is quick): (the live HTML after each update, the messages sent meanwhile)."""
    sent = _comm_messages(panel)
    builder = TranscriptBuilder(Transcript("z1", "scripted-GLM", "Explain attention at length"))
    sink = PanelSink(panel, builder, "Explain attention at length")
    pages = []
    events = [ThinkingDelta(w) for w in _words(300, 1)]
    events += [ToolCallEvent(ToolCall("search", {"query": "attention"}))] + [TextDelta(w) for w in _words(2000, 2)]
    for index, event in enumerate(events):
        builder.add(event)
        if index % 25 == 24 or isinstance(event, ToolCallEvent):  # a tool card is shown at once
            sink.update(builder.snapshot())
            pages.append(panel.live["html"])
    return pages, list(sent)


def _live_bytes(sent: list[dict]) -> int:
    carrying = [d for d in sent if "live" in d.get("state", {}) or d.get("content", {}).get("type") == "live"]
    return sum(len(json.dumps(d)) for d in carrying)


def test_a_long_reply_sends_what_changed_not_the_whole_turn_with_each_update():
    """Resending the whole live turn with each update sent 1.4 MB for this reply; the edits send 40 kB."""
    panel = ChatPanel(session=NotebookSession(refresh_s=0.0))
    panel._on_view_message(panel, {"type": "sync", "turns": 0}, [])  # what chat_panel.js's initialize says

    pages, sent = _stream_long_reply(panel)

    assert len(pages[-1]) > 15_000 and "glm-nb-tool" in pages[-1]
    assert _live_bytes(sent) < 10 * len(pages[-1]), _live_bytes(sent)  # whole updates: ~70 times the last one
    page, version = "", None  # the page's copy, from the first update (as a whole) and then the edits
    for data in sent:
        if "live" in data.get("state", {}):
            page, version = data["state"]["live"]["html"], data["state"]["live"]["version"]
        elif data.get("content", {}).get("type") == "live":
            message = data["content"]
            assert message["from"] == version
            page, version = _apply(page, message["edits"]), message["to"]
            assert len(page.encode("utf-16-le")) // 2 == message["size"]
    assert page == pages[-1] and panel.get_state()["live"] == {"html": page, "version": version}  # a reload too


def test_a_tool_card_reaches_the_page_with_the_update_that_shows_it():
    panel = ChatPanel(session=NotebookSession(refresh_s=0.0))
    panel._on_view_message(panel, {"type": "sync", "turns": 0}, [])
    builder = TranscriptBuilder(Transcript("chat", "scripted-GLM", "Weather?"))
    sink = PanelSink(panel, builder, "Weather?")
    builder.add(TextDelta("Let me check."))
    sink.update(builder.snapshot())
    sent = _comm_messages(panel)

    builder.add(ToolCallEvent(ToolCall("get_weather", {"city": "Paris"})))
    sink.update(builder.snapshot())

    (message,) = [d["content"] for d in sent if d.get("content", {}).get("type") == "live"]
    assert any("glm-nb-tool" in text and "get_weather" in text for _, _, text in message["edits"])


def test_a_front_end_that_asks_mid_reply_gets_the_streaming_turn_whole_then_synced():
    panel = ChatPanel(session=NotebookSession(refresh_s=0.0))
    panel._on_view_message(panel, {"type": "sync", "turns": 0}, [])
    builder = TranscriptBuilder(Transcript("chat", "scripted-GLM", "Hi"))
    sink = PanelSink(panel, builder, "Hi")
    for word in ("One ", "two ", "three."):
        builder.add(TextDelta(word))
        sink.update(builder.snapshot())
    sent = _comm_messages(panel)

    panel._on_view_message(panel, {"type": "sync", "turns": 0}, [])  # a copy that missed an edit asks again

    snapshot, synced = (d["content"] for d in sent)
    assert snapshot == {
        "type": "live", "from": None, "to": 3, "edits": [[0, 0, panel.live["html"]]],
        "size": len(panel.live["html"]),
    }  # fmt: skip
    assert synced == {"type": "synced"}  # a kernel is behind this model: it is not one saved mid-reply


@pytest.mark.parametrize("seed", range(200))
def test_edits_make_the_new_html_from_the_old_in_javascript_positions(seed):
    pick = random.Random(seed)
    alphabet = ["a", "b", "<p>", "</p>", " ", "🙂", "é", "注"]
    old = "".join(pick.choice(alphabet) for _ in range(pick.randint(0, 120)))
    new = list(old)
    for _ in range(pick.randint(0, 6)):  # insertions, deletions and replacements anywhere
        at = pick.randint(0, len(new))
        new[at : at + pick.randint(0, 4)] = [pick.choice(alphabet) for _ in range(pick.randint(0, 4))]
    new = "".join(new)

    assert _apply(old, html_edits(old, new)) == new


def test_a_lone_surrogate_in_a_streaming_turn_reaches_the_page_as_the_kernel_counts_it():
    """A call's arguments may hold '\\udce9' (the model wrote "\\udce9" in its JSON; a tool's result never does, see
    glm_nb/tools/tool.py): the update sends, and the page's copy (what the kernel's JSON makes of it, read as UTF-8
    by the browser) has the length the message says, and is the kernel's copy."""
    panel = ChatPanel(session=NotebookSession(refresh_s=0.0))
    panel._on_view_message(panel, {"type": "sync", "turns": 0}, [])
    wire = []  # each message as the page reads it: the kernel's JSON bytes, decoded as a browser does
    panel.comm.send = lambda data=None, metadata=None, buffers=None: wire.append(
        json.loads(json_packer(data).decode("utf-8", "replace"))
    )
    builder = TranscriptBuilder(Transcript("chat", "scripted-GLM", "What is here?"))
    sink = PanelSink(panel, builder, "What is here?")
    call = ToolCall("list_files", {"folder": "caf\udce9 \ud800 odd"})
    builder.add(TextDelta("Looking 🙂"))
    sink.update(builder.snapshot())  # the turn's first update: `live` as a whole

    builder.add(ToolCallEvent(call))
    builder.add(ToolResultEvent(ToolResult.success(call, ["caf\udce9.txt", "\ud800 odd"])))
    builder.add(TextDelta("Two files."))
    sink.update(builder.snapshot())

    (state,) = [d["state"]["live"] for d in wire if "live" in d.get("state", {})]
    (message,) = [d["content"] for d in wire if d.get("content", {}).get("type") == "live"]
    page = _apply(state["html"], message["edits"])
    assert len(page.encode("utf-16-le")) // 2 == message["size"] == utf16_length(panel.live["html"])
    assert page == panel.live["html"] and "caf\ufffd.txt" in page and "caf\ufffd \ufffd odd" in page
