"""HTML artifacts in a real browser (chromium): the model's page runs, is sized, and cannot reach the network,
not even by navigating its own frame. The page hosting the frame is served from 127.0.0.1, as Jupyter is."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from glm_nb.render import iframe_html

pytestmark = pytest.mark.slow


class _Server(http.server.ThreadingHTTPServer):
    """Serves /host/NAME (a page with one artifact frame) and records every other request: a leak."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages: dict[str, str] = {}
        self.leaks: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self):
        name = self.path.removeprefix("/host/")
        if name in self.server.pages:
            body = self.server.pages[name]
        else:
            if self.path != "/favicon.ico":
                self.server.leaks.append(self.path)
            body = "<p>landed</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    server = _Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _show(page, server: _Server, name: str, source: str) -> None:
    server.pages[name] = f"<!doctype html><body>{iframe_html(source)}</body>"
    page.goto(f"{server.url}/host/{name}", wait_until="load")
    page.wait_for_timeout(1000)  # a meta refresh or a script's navigation happens after load


@pytest.mark.parametrize(
    "leak",
    [
        "<script>location.href = '{url}/script?secret=42'</script>",
        '<meta http-equiv="refresh" content="0;url={url}/refresh?secret=42">',
        "<script>fetch('{url}/fetch?secret=42')</script><img src='{url}/img?secret=42'>",
    ],
)
def test_the_model_page_reaches_nothing_outside_its_frame(page, server, leak):
    _show(page, server, f"leak{len(server.pages)}", leak.format(url=server.url))

    assert server.leaks == []


def test_the_model_page_runs_and_its_frame_takes_its_height(page, server):
    _show(page, server, "tall", "<div id=box style='height:700px'></div><script>box.textContent='ran'</script>")

    height = page.eval_on_selector("iframe.glm-nb-frame", "frame => frame.style.height")
    texts = [frame.evaluate("document.body ? document.body.innerText : ''") for frame in page.frames]

    assert "ran" in texts
    assert 700 < int(height.removesuffix("px")) <= 800
