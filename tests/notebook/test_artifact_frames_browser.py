"""HTML artifacts in a real browser (chromium): the model's page runs, is sized, and cannot reach the network,
not even by navigating its own frame. The page hosting the frame is served from 127.0.0.1, as Jupyter is."""

from __future__ import annotations

import pytest

from glm_nb.render import iframe_html

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _show(page, server, name: str, source: str) -> None:
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
def test_the_model_page_reaches_nothing_outside_its_frame(page, leak_server, leak):
    _show(page, leak_server, f"leak{len(leak_server.pages)}", leak.format(url=leak_server.url))

    assert leak_server.leaks == []


def test_the_model_page_runs_and_its_frame_takes_its_height(page, leak_server):
    _show(page, leak_server, "tall", "<div id=box style='height:700px'></div><script>box.textContent='ran'</script>")

    height = page.eval_on_selector("iframe.glm-nb-frame", "frame => frame.style.height")
    texts = [frame.evaluate("document.body ? document.body.innerText : ''") for frame in page.frames]

    assert "ran" in texts
    assert 700 < int(height.removesuffix("px")) <= 800
