"""A saved transcript as a reader opens it, in a real browser (tests/lab/conftest.py): its markdown drawn as
JupyterLab draws a markdown output, so that a link looks like a link and inline code stands out in the light and the
dark theme, a drawing that gives only its viewBox shown whole in its frame, a long chat's collapsed thoughts kept as
text (found by the browser's find-in-page) until they are opened, a tag the model leaves open taking in none of the
markdown after it, a code block in a list item drawn in the item with its buttons and its invisible characters
marked, and a thought's lines drawn as one paragraph."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from glm_nb.render import MIME_TYPE

from lab_page import notebook_json

pytestmark = pytest.mark.slow

ANSWER = "See [the docs](https://example.com/docs) and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |"
RECORD = {
    "version": 1, "kind": "reply", "variant": "z1", "model": "forged", "prompt": "Where?",
    "parts": [{"type": "thinking", "text": "Maybe [the guide](https://example.com/guide) says."},
              {"type": "text", "text": ANSWER}],
    "answer": ANSWER, "format": "markdown", "finish_reason": "stop", "thinking_display": "shown",
}  # fmt: skip

# A link's colour, the colour of the text around it, and the theme's link colour (resolved where the link is)
LINK_COLOURS = """link => {
  const probe = link.parentElement.appendChild(document.createElement('span'));
  probe.style.color = 'var(--jp-content-link-color)';
  const colours = {link: getComputedStyle(link).color, text: getComputedStyle(link.parentElement).color,
                   theme: getComputedStyle(probe).color};
  probe.remove();
  return colours;
}"""

# The background of inline code, and of the bubble it is in
CODE_BACKGROUNDS = """code => ({code: getComputedStyle(code).backgroundColor,
  bubble: getComputedStyle(code.closest('.glm-nb-bubble')).backgroundColor})"""


def _open_saved(lab, server, name: str, record: dict):
    """`record` saved as a notebook's output on `server` (a viewer: no kernel), opened; the viewer and transcript."""
    notebook = notebook_json(["# shown from the saved output"], kernel=None)
    output = {"output_type": "display_data", "data": {MIME_TYPE: record, "text/plain": "saved"}, "metadata": {}}
    notebook["cells"][0]["outputs"] = [output]
    (server.root / name).write_text(json.dumps(notebook))
    viewer = type(lab)(lab.page, server)
    viewer.open(name, kernel=False)
    return viewer, viewer.finished_transcript()


def test_links_and_inline_code_stand_out_from_the_text_in_the_light_and_the_dark_theme(lab, viewer_server):
    viewer, transcript = _open_saved(lab, viewer_server, "links.ipynb", RECORD)  # its own settings keep the theme
    links = [transcript.locator(".glm-nb-answer a[href]"), transcript.locator(".glm-nb-thinking a[href]")]

    for theme in ("light", "dark"):
        if theme == "dark":
            viewer.menu("Settings", "Theme", "JupyterLab Dark")
            expect(lab.page.locator("body")).to_have_attribute("data-jp-theme-light", "false", timeout=30_000)
        for link in links:
            colours = link.evaluate(LINK_COLOURS)
            assert colours["link"] == colours["theme"] != colours["text"], (theme, colours)
        code = transcript.locator(".glm-nb-answer code").evaluate(CODE_BACKGROUNDS)
        assert code["code"] != code["bubble"], (theme, code)  # inline code stands out from the bubble around it


def test_a_drawing_that_gives_only_its_viewbox_is_shown_whole_in_its_frame(lab, viewer_server):
    # models often write no width or height: the drawing then fills the frame's width, whatever its height
    drawing = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300"><rect width="400" height="300"/></svg>'
    answer = f"A drawing:\n\n```svg\n{drawing}\n```"
    record = {**RECORD, "parts": [{"type": "text", "text": answer}], "answer": answer}
    _, transcript = _open_saved(lab, viewer_server, "drawing.ipynb", record)

    frame = transcript.locator("iframe.glm-nb-svg-frame")
    rect = transcript.frame_locator("iframe.glm-nb-svg-frame").frame_locator("iframe").locator("rect")
    expect(rect).to_be_visible()
    shown, room = rect.bounding_box(), frame.bounding_box()

    assert shown["width"] > 200 and shown["height"] > 150, shown
    assert shown["y"] + shown["height"] <= room["y"] + room["height"], (shown, room)  # not cut off at the bottom
    assert shown["x"] + shown["width"] <= room["x"] + room["width"], (shown, room)


def _long_thought(turn: int) -> str:
    """About 20,000 words of markdown, in paragraphs of about a hundred, one of them with a word found only here."""
    paragraph = " ".join(["Let me **check** case", str(turn), "again: `x`."] + ["word"] * 94)
    paragraphs = [paragraph] * 200
    paragraphs[100] = paragraphs[100].replace("again", f"zebracorn{turn}")
    return "\n\n".join(paragraphs)


def test_a_long_chats_collapsed_thoughts_are_text_until_opened_and_the_browser_search_finds_them(lab, viewer_server):
    turns = [{**RECORD, "thinking_display": "collapsed", "prompt": f"Question {turn}?",
              "parts": [{"type": "thinking", "text": _long_thought(turn)}, {"type": "text", "text": "Done."}]}
             for turn in range(20)]  # fmt: skip
    started = time.monotonic()
    _, transcript = _open_saved(lab, viewer_server, "long.ipynb", {"version": 1, "kind": "chat", "turns": turns})
    print(f"\n20 turns of 20,000-word thoughts: opened and drawn in {time.monotonic() - started:.1f} s")
    thought = transcript.locator("details.glm-nb-thinking").nth(7)

    assert transcript.locator("details.glm-nb-thinking .jp-RenderedHTMLCommon strong").count() == 0  # not drawn
    assert not thought.evaluate("d => d.open")
    # the text is in the page: found as the browser's search finds it (its find bar, which Playwright cannot drive,
    # also opens the <details> around a match, which fires the same `toggle` as the click below)
    assert lab.page.evaluate("window.find('zebracorn7')")

    thought.locator("summary").click()

    expect(thought.locator("strong").first).to_have_text("check")  # drawn as markdown once opened
    assert "zebracorn7" in thought.inner_text()
    assert thought.locator("[data-glm-nb-lazy]").count() == 0
    assert transcript.locator("details.glm-nb-thinking").nth(6).locator("strong").count() == 0  # the others wait


def test_jupyterlabs_search_opens_the_collapsed_thought_and_tool_result_its_match_is_in(lab, viewer_server):
    parts = [{"type": "thinking", "text": "Let me **think** of the kiwiword."},
             {"type": "tool", "name": "look", "arguments": {}, "status": "ok", "result": "a mangoword", "error": None,
              "duration_s": 0.1},
             {"type": "text", "text": "Done."}]  # fmt: skip
    record = {**RECORD, "thinking_display": "collapsed", "parts": parts}
    viewer, transcript = _open_saved(lab, viewer_server, "search.ipynb", record)
    thought, result = transcript.locator("details.glm-nb-thinking"), transcript.locator("details.glm-nb-tool-result")
    assert not thought.evaluate("d => d.open") and not result.evaluate("d => d.open")

    lab.page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    lab.page.keyboard.press("Escape")  # command mode
    lab.page.keyboard.press("Control+f")
    lab.page.locator(".jp-DocumentSearch-filter-button").click()
    lab.page.locator(".jp-DocumentSearch-search-filter", has_text="Search Cell Outputs").locator("input").check()
    search = lab.page.locator(".jp-DocumentSearch-input").first
    for word, box in (("kiwiword", thought), ("mangoword", result)):
        search.fill(word)
        search.press("Enter")

        expect(box).to_have_js_property("open", True)  # opened around the match, which shows
        expect(box.locator("mark.jp-current-match")).to_be_visible()

    lab.page.keyboard.press("Escape")  # the search ends: the thought, kept as text meanwhile, is drawn
    expect(thought.locator("strong")).to_have_text("think")


def test_a_tag_the_model_leaves_open_mid_line_hides_or_takes_in_none_of_the_blocks_after_it(lab, viewer_server):
    later = "\n\nLater paragraph.\n\n## Later heading"
    answers = [
        "Text <details> more, <div hidden> too." + later + "\n\nSee [the docs][d].\n\n[d]: https://example.com/d",
        "Text <details> more, <div hidden> too." + later,  # drawn in blocks, not whole: the same
    ]
    turns = [{**RECORD, "parts": [{"type": "text", "text": answer}], "answer": answer} for answer in answers]

    _, transcript = _open_saved(lab, viewer_server, "tags.ipynb", {"version": 1, "kind": "chat", "turns": turns})

    for answer in transcript.locator(".glm-nb-answer").all():
        expect(answer.locator("p", has_text="Later paragraph.")).to_be_visible()
        expect(answer.locator("h2", has_text="Later heading")).to_be_visible()
        assert answer.locator("details, [hidden]").count() == 0
        assert answer.locator("p").first.inner_text() == "Text <details> more, <div hidden> too."


def test_a_tag_whose_quoted_value_holds_a_lt_or_after_an_escaped_backtick_hides_no_later_block(lab, viewer_server):
    answers = ['Text <details title="<"> more', "A \\`<details> b` more"]
    turns = [
        {**RECORD, "parts": [{"type": "text", "text": text}], "answer": text}
        for text in (answer + "\n\nNext paragraph.\n\n<br>\n\nLast words." for answer in answers)
    ]

    _, transcript = _open_saved(lab, viewer_server, "tags2.ipynb", {"version": 1, "kind": "chat", "turns": turns})

    for answer in transcript.locator(".glm-nb-answer").all():
        expect(answer.locator("p", has_text="Next paragraph.")).to_be_visible()
        expect(answer.locator("p", has_text="Last words.")).to_be_visible()
        assert answer.locator("details").count() == 0


def test_a_code_block_in_a_list_item_is_drawn_in_the_item_with_its_buttons_and_invisible_marks(lab, viewer_server):
    answer = "Steps:\n\n1. Install it:\n   ```bash\n   pip install glm-nb \u202e# harmless\u202c\n   ```\n" \
        "2. Load it:\n   ```python\n   %load_ext glm_nb\n   ```\n3. Ask.\n\nDone."  # fmt: skip
    record = {**RECORD, "parts": [{"type": "text", "text": answer}], "answer": answer}
    lab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=viewer_server.url)

    viewer, transcript = _open_saved(lab, viewer_server, "list.ipynb", record)

    items = transcript.locator(".glm-nb-answer ol > li")
    expect(items).to_have_count(3)  # one list: no code block cut it in two
    first = items.nth(0).locator(".glm-nb-code")
    expect(first.locator("pre code")).to_have_text("pip install glm-nb ⟨U+202E⟩# harmless⟨U+202C⟩")
    expect(first.locator(".glm-nb-code-language")).to_have_text("bash")
    expect(items.nth(1).locator(".glm-nb-code pre code")).to_have_text("%load_ext glm_nb")
    assert transcript.locator(".glm-nb-answer ol").count() == 1
    first.locator(".glm-nb-copy").click()
    expect(first.locator(".glm-nb-copy")).to_have_text("Copied")
    assert lab.page.evaluate("navigator.clipboard.readText()") == "pip install glm-nb \u202e# harmless\u202c"
    first.locator(".glm-nb-insert").click()
    expect(viewer.cells()).to_have_count(2)
    inserted = viewer.source(1)  # CodeMirror shows each control character as a bullet of its own
    assert inserted.startswith("pip install glm-nb ") and "⟨" not in inserted and len(inserted) == 31, inserted


def test_a_thought_with_single_line_breaks_is_one_paragraph_drawn_from_its_lines(lab, viewer_server):
    thought = "Line one of the thought.\nLine **two** with `code`.\nLine three, [a link](https://example.com)."
    record = {**RECORD, "thinking_display": "shown", "parts": [{"type": "thinking", "text": thought}]}

    _, transcript = _open_saved(lab, viewer_server, "lines.ipynb", record)

    paragraph = transcript.locator("details.glm-nb-thinking p")
    expect(paragraph).to_have_count(1)
    expect(paragraph.locator(":scope > span")).to_have_count(3)  # drawn line by line, as it streamed
    assert paragraph.inner_text() == "Line one of the thought. Line two with code. Line three, a link."
    expect(paragraph.locator("strong")).to_have_text("two")
    expect(paragraph.locator("code")).to_have_text("code")
    expect(paragraph.locator("a[href]")).to_have_attribute("href", "https://example.com/")
