"""A saved transcript as a reader opens it, in a real browser (tests/lab/conftest.py): its markdown drawn as
JupyterLab draws a markdown output, so that a link looks like a link and inline code stands out in the light and the
dark theme, and a drawing that gives only its viewBox shown whole in its frame."""

from __future__ import annotations

import json

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
