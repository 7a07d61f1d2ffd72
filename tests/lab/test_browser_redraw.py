"""The extension's transcript as it changes and as it is read, in a real browser (tests/lab/conftest.py): a
streaming update redraws only what changed, a `#section` link scrolls the output instead of opening another
JupyterLab, and a record saved mid-reply does not claim to be generating forever."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from glm_nb.render import MIME_TYPE

from lab_page import notebook_json

pytestmark = pytest.mark.slow

PAGE = "<p>a page</p><script>document.body.append('ran')</script>"
LONG_TEXT = "\n\n".join(f"Paragraph {i} of a long answer." for i in range(40))  # taller than the window
FINISHED_TURN = {
    "version": 1, "kind": "reply", "variant": "z1", "model": "forged", "prompt": "first question",
    "parts": [{"type": "thinking", "text": "first thoughts"},
              {"type": "tool", "name": "add", "arguments": {"a": 1}, "status": "ok", "result": "2", "error": None,
               "duration_s": 0.1},
              {"type": "text", "text": f"Here:\n\n```html\n{PAGE}\n```\n\n{LONG_TEXT}"}],
    "answer": "", "format": "markdown", "finish_reason": "stop",
}  # fmt: skip


def streaming_cell(define: str, name: str) -> str:
    """A cell that defines `name(n, reason=None)` (a record n steps long) with `define`, shows it, and updates it in
    place ten times a second, one step longer each time, as a kernel does, until the file `stop` appears (at most
    60 s); then it finishes it."""
    return f"""\
import json, os, time
from IPython.display import display
{define}
handle = display({name}(1), raw=True, display_id=True)
n, started = 1, time.monotonic()
while not os.path.exists("stop") and time.monotonic() - started < 60:
    time.sleep(0.1)
    n += 1
    handle.update({name}(n), raw=True)
handle.update({name}(n, "stop"), raw=True)"""


# A chat whose second turn streams a word at a time.
STREAMING_CHAT = streaming_cell(
    f"""
finished = json.loads({json.dumps(json.dumps(FINISHED_TURN))})

def chat(words, reason=None):
    live = {{**finished, "prompt": "second question", "finish_reason": reason,
            "parts": [{{"type": "thinking", "text": "more thoughts"}}, {{"type": "text", "text": "word " * words}}]}}
    return {{{MIME_TYPE!r}: {{"version": 1, "kind": "chat", "turns": [finished, live]}}}}
""",
    "chat",
)


def test_a_streaming_update_keeps_finished_turns_and_what_the_user_opened_closed_or_ran(lab):
    (lab.server.root / "stop").unlink(missing_ok=True)
    lab.new_notebook("redraw.ipynb", [STREAMING_CHAT])
    lab.open("redraw.ipynb")
    lab.run_all()
    transcript = lab.transcripts().first
    expect(transcript).to_have_attribute("data-state", "streaming", timeout=30_000)
    expect(transcript).to_have_attribute("aria-busy", "true")  # a screen reader waits for the end
    first, second = transcript.locator(".glm-nb-turn").nth(0), transcript.locator(".glm-nb-turn").nth(1)
    first.evaluate("turn => { turn.glmNbMark = 'kept'; }")

    first.locator(".glm-nb-tool-result summary").click()  # opened by the user
    first.locator(".glm-nb-thinking summary").click()  # opened (a finished turn's thinking starts collapsed)
    first.locator("button.glm-nb-run-scripts").click()
    expect(first.frame_locator("iframe.glm-nb-html-frame").frame_locator("iframe").locator("body")).to_contain_text(
        "ran"
    )
    lab.page.wait_for_timeout(500)  # the running page reports its height once loaded
    first.locator("iframe").evaluate("frame => { frame.glmNbMark = 'kept'; }")  # the frame "Run scripts" made
    second.locator(".glm-nb-thinking summary").click()  # closed (a streaming turn's thinking starts open)
    second.locator(".glm-nb-user").scroll_into_view_if_needed()
    where = second.locator(".glm-nb-user").bounding_box()
    grown = len(second.locator(".glm-nb-answer").inner_text())
    lab.page.wait_for_timeout(1500)  # about fifteen updates

    assert len(second.locator(".glm-nb-answer").inner_text()) > grown  # it streamed meanwhile
    assert transcript.get_attribute("data-state") == "streaming"
    assert first.evaluate("turn => turn.glmNbMark") == "kept"  # the same nodes, not a redraw of them
    assert first.locator("iframe").evaluate("frame => frame.glmNbMark") == "kept"
    expect(first.locator("button.glm-nb-run-scripts")).to_have_text("Scripts running")
    assert first.locator("iframe.glm-nb-html-frame").get_attribute("sandbox") == "allow-scripts"
    assert first.locator(".glm-nb-tool-result").evaluate("d => d.open")
    assert first.locator(".glm-nb-thinking").evaluate("d => d.open")
    assert not second.locator(".glm-nb-thinking").evaluate("d => d.open")
    assert second.locator(".glm-nb-user").bounding_box() == where  # the reader was not moved

    (lab.server.root / "stop").write_text("")
    expect(transcript).to_have_attribute("data-state", "stop", timeout=30_000)
    expect(transcript).to_have_attribute("aria-busy", "false")
    assert first.evaluate("turn => turn.glmNbMark") == "kept"
    assert first.locator(".glm-nb-tool-result").evaluate("d => d.open")
    assert not second.locator(".glm-nb-thinking").evaluate("d => d.open")


# A reply whose code block grows a line at a time.
STREAMING_CODE = streaming_cell(
    f"""
def reply(lines, reason=None):
    text = "Here:\\n\\n```python\\n" + "x += 1\\n" * lines
    return {{{MIME_TYPE!r}: {{"version": 1, "kind": "reply", "model": "forged", "prompt": "code?", "answer": text,
        "parts": [{{"type": "text", "text": text}}], "format": "markdown", "finish_reason": reason}}}}
""",
    "reply",
)


def test_the_buttons_of_a_growing_code_block_keep_the_keyboard_focus_and_copy_what_it_shows_now(lab):
    (lab.server.root / "stop").unlink(missing_ok=True)
    lab.new_notebook("code.ipynb", [STREAMING_CODE])
    lab.open("code.ipynb")
    lab.run_all()
    transcript = lab.transcripts().first
    expect(transcript).to_have_attribute("data-state", "streaming", timeout=30_000)
    copy = transcript.locator("button.glm-nb-copy")
    copy.focus()  # a keyboard user on "Copy"
    copy.evaluate("button => { button.glmNbMark = 'kept'; }")
    shown = transcript.locator(".glm-nb-code code").inner_text().count("x += 1")
    lab.page.wait_for_timeout(1500)  # about fifteen updates

    copy.press("Enter")

    expect(copy).to_have_text("Copied")
    assert transcript.get_attribute("data-state") == "streaming"
    assert copy.evaluate("button => button.glmNbMark") == "kept"  # the same button, not drawn again
    assert copy.evaluate("button => document.activeElement === button")
    copied = lab.page.evaluate("navigator.clipboard.readText()")
    assert copied.count("x += 1") > shown  # what the block showed when the key was pressed, not when it was drawn
    (lab.server.root / "stop").write_text("")
    expect(transcript).to_have_attribute("data-state", "stop", timeout=30_000)


def _shown(record: dict) -> str:
    """A cell that displays `record` as a transcript, as a kernel (or a forged file) could send it."""
    shown = f"{{{MIME_TYPE!r}: json.loads({json.dumps(json.dumps(record))})}}"
    return f"import json\nfrom IPython.display import display\n\ndisplay({shown}, raw=True)"


LONG_ANSWER = "\n\n".join(
    ["# Contents", "Jump [to the end](#The-end) or [nowhere](#no-such-heading)."]
    + [LONG_TEXT]
    + ["## The end", "The last words."]
)


def test_a_section_link_or_heading_anchor_scrolls_the_output_and_opens_no_tab(lab):
    record = {**FINISHED_TURN, "kind": "reply", "parts": [{"type": "text", "text": LONG_ANSWER}]}
    lab.new_notebook("anchors.ipynb", [_shown(record)])
    lab.open("anchors.ipynb")
    url, pages = lab.page.url, len(lab.page.context.pages)
    lab.run_all()
    markdown = lab.finished_transcript().locator(".glm-nb-markdown")
    end = markdown.locator("h2", has_text="The end")
    expect(end).to_be_attached()
    assert not _in_view(end)

    markdown.get_by_text("nowhere", exact=True).click()  # no such heading: nothing happens
    markdown.get_by_text("to the end", exact=True).click()
    lab.page.wait_for_timeout(500)
    assert _in_view(end)
    end.hover()  # its ¶ shows
    end.locator(".jp-InternalAnchorLink").click(modifiers=["Control"])  # a new tab, if anything could open one
    lab.page.wait_for_timeout(1000)

    assert len(lab.page.context.pages) == pages and lab.page.url == url
    assert markdown.locator("a[href], a[target]").count() == 0  # nothing left to open, by any click or menu


def _in_view(locator) -> bool:
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    )


def _save_with_output(server, name: str, record: dict) -> None:
    """A notebook whose one cell shows `record`, saved where `server` opens it."""
    notebook = notebook_json([_shown(record)])
    output = {"output_type": "display_data", "data": {MIME_TYPE: record, "text/plain": "saved"}, "metadata": {}}
    notebook["cells"][0]["outputs"] = [output]
    (server.root / name).write_text(json.dumps(notebook))


def test_a_record_saved_mid_reply_says_it_may_have_been_interrupted_not_generating_forever(lab, viewer_server):
    saved = {**FINISHED_TURN, "finish_reason": None, "updated_at": time.time() - 3 * 3600}
    _save_with_output(viewer_server, "died.ipynb", saved)
    viewer = type(lab)(lab.page, viewer_server)

    viewer.open("died.ipynb", kernel=False)

    transcript = viewer.transcripts().first
    expect(transcript).to_have_attribute("data-state", "stale", timeout=30_000)
    expect(transcript).to_have_attribute("aria-busy", "false")  # no end to wait for
    footer = transcript.locator(".glm-nb-footer").inner_text()
    assert "generating… or interrupted: no update for over 3 h" in footer, footer
    assert "saved before it ended" in footer


def test_a_chinese_thought_counts_each_character_as_a_word(lab, viewer_server):
    # 13 characters (not the commas) and 3 English words, as the Python fallback counts them; split at spaces: 3
    thought = "用户问北京的天气，我先查一下。Then GLM answers."
    parts = [{"type": "thinking", "text": thought}, {"type": "text", "text": "晴。"}]
    _save_with_output(viewer_server, "chinese.ipynb", {**FINISHED_TURN, "parts": parts})
    viewer = type(lab)(lab.page, viewer_server)

    viewer.open("chinese.ipynb", kernel=False)

    summary = viewer.finished_transcript().locator("details.glm-nb-thinking summary")
    expect(summary).to_have_text("Thinking (16 words)", timeout=30_000)


def test_chinese_emphasis_after_punctuation_is_bold_and_leaves_nothing_hidden_in_the_page(lab, viewer_server):
    # plain CommonMark (JupyterLab's marked) leaves these asterisks literal; the Python renderer makes them bold
    answer = "## **注意：**标题\n\n**注意：**这是 `**代码：**里` 。"
    record = {**FINISHED_TURN, "parts": [{"type": "text", "text": answer}], "answer": answer}
    _save_with_output(viewer_server, "emphasis.ipynb", record)
    viewer = type(lab)(lab.page, viewer_server)

    viewer.open("emphasis.ipynb", kernel=False)

    shown = viewer.finished_transcript().locator(".glm-nb-answer")
    expect(shown.locator("p strong")).to_have_text("注意：", timeout=30_000)
    expect(shown.locator("h2 strong")).to_have_text("注意：")
    assert shown.locator("code").inner_text() == "**代码：**里"  # code as written
    page = shown.evaluate("node => node.outerHTML")
    assert "\u2060" not in page and "%e2%81%a0" not in page.lower()  # the word joiners the renderer put in
