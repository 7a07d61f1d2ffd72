"""The extension's transcript by keyboard and to a screen reader, in a real browser (tests/lab/conftest.py): its
sections open and close from the keyboard inside a notebook, and chromium's accessibility tree (what a screen
reader is given) says whether each is open, what each tool call was and what each artifact frame holds."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from glm_nb.render import MIME_TYPE

from lab_page import notebook_json

pytestmark = pytest.mark.slow

RECORD = {
    "version": 1, "kind": "reply", "variant": "z1", "model": "forged", "prompt": "What is 1 + 1?",
    "parts": [{"type": "thinking", "text": "Add them."},
              {"type": "tool", "name": "add", "arguments": {"a": 1, "b": 1}, "status": "ok", "result": "2",
               "error": None, "duration_s": 0.25},
              {"type": "text", "text": "Two.\n\n```svg\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" "
                                       "height=\"40\"><circle cx=\"20\" cy=\"20\" r=\"10\"/></svg>\n```"}],
    "answer": "", "format": "markdown", "finish_reason": "stop",
}  # fmt: skip


def _open_saved(lab, name: str, record: dict):
    """A notebook whose one cell shows `record` as saved, opened; its transcript once drawn."""
    notebook = notebook_json(["# shown from the saved output"], kernel=None)
    output = {"output_type": "display_data", "data": {MIME_TYPE: record, "text/plain": "saved"}, "metadata": {}}
    notebook["cells"][0]["outputs"] = [output]
    (lab.server.root / name).write_text(json.dumps(notebook))
    lab.open(name)  # its kernel starts, and runs nothing: the output is the one saved
    return lab.finished_transcript()


def _ax_nodes(lab) -> list[dict]:
    """Chromium's accessibility tree of the page, as a screen reader is given it."""
    cdp = lab.page.context.new_cdp_session(lab.page)
    try:
        return cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()


def _ax_node(lab, name_starts: str) -> dict:
    """The one element of the accessibility tree (not its text) whose name starts with `name_starts`, with its
    properties by name."""
    found = [
        node
        for node in _ax_nodes(lab)
        if not node.get("ignored")
        and node["role"]["value"] not in ("StaticText", "InlineTextBox")
        and str(node.get("name", {}).get("value", "")).startswith(name_starts)
    ]
    assert len(found) == 1, [(n["role"]["value"], n["name"]["value"]) for n in found]
    node = found[0]
    return {"role": node["role"]["value"], "name": node["name"]["value"]} | {
        p["name"]: p["value"].get("value") for p in node.get("properties", [])
    }


def test_thinking_opens_and_closes_from_the_keyboard_and_says_so_to_a_screen_reader(lab):
    transcript = _open_saved(lab, "keyboard.ipynb", RECORD)
    thinking = transcript.locator("details.glm-nb-thinking")
    summary = thinking.locator("summary")
    assert _ax_node(lab, "Thinking (")["expanded"] is False

    summary.focus()
    lab.page.keyboard.press("Enter")
    expect(thinking).to_have_js_property("open", True)
    assert _ax_node(lab, "Thinking (")["expanded"] is True
    lab.page.keyboard.press("Space")
    expect(thinking).to_have_js_property("open", False)
    assert _ax_node(lab, "Thinking (")["expanded"] is False

    # the notebook took none of those keys as its own: no edit mode, no cell added, the focus where it was
    assert lab.cells().count() == 1
    assert lab.page.locator(".jp-Notebook.jp-mod-editMode").count() == 0
    assert summary.evaluate("node => node === document.activeElement")


FOCUSED = (
    "(() => { const e = document.activeElement; return `${e.localName}: ${e.title || e.textContent.trim()}`; })()"
)


def test_tab_reaches_every_control_of_a_transcript_in_order(lab):
    transcript = _open_saved(lab, "tabbing.ipynb", RECORD)
    transcript.locator("details.glm-nb-thinking summary").focus()

    reached = []
    for _ in range(3):
        lab.page.keyboard.press("Tab")
        reached.append(lab.page.evaluate(FOCUSED))
    lab.page.keyboard.press("Enter")  # opens the drawing's source: its buttons come next
    for _ in range(2):
        lab.page.keyboard.press("Tab")
        reached.append(lab.page.evaluate(FOCUSED))

    assert reached == [
        "summary: result", "iframe: Drawing from the model", "summary: svg source",
        "button: Copy", "button: Insert as cell below",
    ], reached  # fmt: skip


def test_a_tool_call_and_an_artifact_frame_are_named_for_a_screen_reader(lab):
    _open_saved(lab, "named.ipynb", RECORD)

    tool = _ax_node(lab, "Tool call add")
    assert tool["name"] == "Tool call add: ok, 0.25 s", tool
    assert tool["role"] == "group"
    frame = _ax_node(lab, "Drawing from the model")
    assert frame["role"] == "Iframe", frame
    # the wrench is drawn, not read out
    read = [n for n in _ax_nodes(lab) if not n.get("ignored") and "🔧" in str(n.get("name", {}).get("value", ""))]
    assert not read, read
