"""The ChatPanel widget in a real JupyterLab: finished turns reach the page as their own messages, every view of the
panel draws them, "Save widget state" writes every turn into the notebook, and a reloaded page gets them all."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_SETTINGS = "lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin"

# What the panel sends through its comm, and what the page sends back as state (cell 2); then a summary (cell 3).
_RECORD = """\
import json
sent, received = [], []
_send, _set_state = panel.comm.send, panel.set_state

def _record(data=None, metadata=None, buffers=None):
    sent.append(data)
    _send(data=data, metadata=metadata, buffers=buffers)

def _receive(state):
    received.append(sorted(state))
    _set_state(state)

panel.comm.send, panel.set_state = _record, _receive"""
_SUMMARY = """\
print(json.dumps({
    "whole_lists": [len(d["state"]["turns"]) for d in sent if "turns" in d.get("state", {})],
    "turn_messages": [d["content"]["index"] for d in sent if d.get("content", {}).get("type") == "turn"],
    "from_the_page": received,
}))"""


def _save_widget_state(server, on: bool) -> None:
    """JupyterLab's "Save Widget State Automatically" (off by default: a save then writes no widget state)."""
    request = urllib.request.Request(
        f"{server.url}/{_SETTINGS}",
        method="PUT",
        data=json.dumps({"raw": json.dumps({"saveState": on})}).encode(),
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).close()


def _finished(view):
    return view.locator(".glm-nb-history > .glm-nb-turn:not(.glm-nb-streaming)")


def _send(lab, view, text: str, count: int) -> None:
    view.locator("textarea").fill(text)
    view.locator("textarea").press("Enter")
    expect(_finished(view)).to_have_count(count, timeout=60_000)
    expect(view.locator("button.glm-nb-send")).to_be_enabled(timeout=30_000)


def _run_cell(lab, index: int) -> str:
    lab.select(index)
    lab.page.keyboard.press("Shift+Enter")
    lab.wait_idle()
    return lab.cell(index).locator(".jp-OutputArea-output").last.inner_text()


def test_turns_go_as_their_own_messages_to_every_view_and_into_the_saved_widget_state(lab):
    panel = "%load_ext glm_nb\nfrom glm_nb import ChatPanel\n\npanel = ChatPanel(temperature=0, max_tokens=24)\npanel"
    lab.new_notebook("panel-state.ipynb", [panel, "panel", _RECORD, _SUMMARY])
    _save_widget_state(lab.server, True)
    try:
        lab.open("panel-state.ipynb")
        lab.run_all()
        views = lab.page.locator(".jp-NotebookPanel:visible .glm-nb-panel")
        expect(views).to_have_count(2, timeout=60_000)  # the panel, and a second view of the same widget
        lab.wait_idle()

        _send(lab, views.nth(0), "Say hello.", 1)
        _send(lab, views.nth(1), "Say goodbye.", 2)  # typed in the second view
        temperature = views.nth(0).locator("input[type=number]").first
        temperature.fill("0.3")
        temperature.press("Tab")  # a settings change: the page saves its model's changes to the kernel
        expect(_finished(views.nth(1))).to_have_count(2)
        summary = json.loads(_run_cell(lab, 3))

        assert summary["whole_lists"] == []  # no finished turn resent the list
        assert summary["turn_messages"] == [0, 1]
        assert ["temperature"] in summary["from_the_page"]
        assert not any("turns" in keys for keys in summary["from_the_page"])  # nor did the page send it back

        outputs = lab.save(
            "panel-state.ipynb", ready=lambda outputs: any(_WIDGET_VIEW in o.get("data", {}) for o in outputs)
        )
        model_id = next(o["data"][_WIDGET_VIEW]["model_id"] for o in outputs if _WIDGET_VIEW in o.get("data", {}))
        deadline = time.monotonic() + 20
        while True:
            metadata = lab.server.api("contents/panel-state.ipynb")["content"]["metadata"]
            state = metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {}).get(model_id, {})
            if state or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        saved = state["state"]
        assert [turn["prompt"] for turn in saved["turns"]] == ["Say hello.", "Say goodbye."]
        assert all(turn["html"] for turn in saved["turns"])

        lab.page.reload()  # the page made again from the running kernel's state
        views = lab.page.locator(".jp-NotebookPanel:visible .glm-nb-panel")
        expect(views).to_have_count(2, timeout=60_000)
        for index in range(2):
            expect(_finished(views.nth(index))).to_have_count(2, timeout=30_000)
        assert "Say goodbye." in _finished(views.nth(0)).nth(1).inner_text()
    finally:
        _save_widget_state(lab.server, False)
