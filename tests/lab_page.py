"""`Lab`: what the real-browser tests (tests/lab) do to a JupyterLab page, in the user's own gestures where it
matters (palette, context menu, buttons, typing) and through the REST API for setup (writing a notebook file)."""

from __future__ import annotations

import re
import time
import urllib.error
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "lab"

_SETTLED = re.compile(r"^(?!streaming$).+")  # any state a transcript is drawn in but streaming

STATES_SCRIPT = """() => {
  // Every state a glm-nb transcript was drawn in, as (data-state, answer length), in order: read from each
  // transcript after every change in the page (a transcript is redrawn in place: its blocks change, not itself).
  window.glmNbStates = [];
  const record = t => {
    const answer = Array.from(t.querySelectorAll('.glm-nb-answer')).map(a => a.textContent).join('');
    const entry = [t.dataset.state, answer.length];
    const last = window.glmNbStates[window.glmNbStates.length - 1];
    if (!last || last[0] !== entry[0] || last[1] !== entry[1]) window.glmNbStates.push(entry);
  };
  new MutationObserver(() => document.querySelectorAll('.glm-nb-lab-transcript').forEach(record))
    .observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-state']});
}"""


def notebook_json(cells: list[str], kernel: str | None = "python3") -> dict[str, Any]:
    metadata: dict[str, Any] = {"language_info": {"name": "python"}}
    if kernel:
        metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (ipykernel)", "language": "python"}
    return {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}
            for source in cells
        ],
        "metadata": metadata,
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Lab:
    def __init__(self, page: Page, server):
        self.page, self.server = page, server

    # -- files and opening ----------------------------------------------------------------------------------------
    def new_notebook(self, name: str, cells: list[str]) -> None:
        self.server.api(f"contents/{name}", "PUT", {"type": "notebook", "content": notebook_json(cells)})

    def open(self, name: str, *, kernel: bool = True) -> None:
        """Open notebook `name`; kernel=False answers JupyterLab's kernel dialog with "No Kernel"."""
        self.page.goto(f"{self.server.url}/lab/tree/{name}?reset&token={self.server.token}")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
        if kernel:
            self.wait_idle()
        else:
            no_kernel = self.page.locator(".jp-Dialog button", has_text="No Kernel")
            no_kernel.click(timeout=30_000)
            expect(self.page.locator(".jp-Dialog")).to_have_count(0)

    def wait_idle(self, timeout_s: float = 120) -> None:
        """The kernel is idle and no cell is queued or running."""
        indicator = self.page.locator(".jp-Notebook-ExecutionIndicator")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            running = self.page.locator(".jp-InputArea-prompt", has_text="[*]").count()
            if indicator.get_attribute("data-status") == "idle" and running == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"the kernel is still busy after {timeout_s} s")

    # -- cells ------------------------------------------------------------------------------------------------------
    def cells(self) -> Locator:
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Locator:
        return self.cells().nth(index)

    def source(self, index: int) -> str:
        lines = self.cell(index).locator(".cm-content .cm-line").all_inner_texts()
        return "\n".join(line.replace("\u200b", "") for line in lines)

    def select(self, index: int) -> None:
        """Make cell `index` the active one (command mode)."""
        self.cell(index).locator(".jp-InputPrompt").first.click()

    def run_all(self) -> None:
        """Run > Run All Cells, and wait until the first cell has started (a click can land before the menu is ready:
        then once more)."""
        first = self.cell(0).locator(".jp-InputPrompt").first
        for _ in range(2):
            self.menu("Run", "Run All Cells")
            try:
                expect(first).not_to_have_text("[ ]:", timeout=15_000)
                return
            except AssertionError:
                self.page.keyboard.press("Escape")
        expect(first).not_to_have_text("[ ]:")

    def menu(self, *path: str) -> None:
        """Click through the main menu bar: `menu("Run", "Run All Cells")`."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=path[0]).first.click()
        for label in path[1:]:
            item = self.page.locator(".lm-Menu:visible .lm-Menu-item", has_text=label).first
            expect(item).to_be_visible()
            item.click()

    def save(self, name: str, ready=lambda outputs: True, timeout_s: float = 20) -> list[dict[str, Any]]:
        """Ctrl+S in the notebook, then wait until the file on the server has outputs that satisfy `ready`
        (the save is asynchronous); returns those outputs.

        The file is read only once the server has answered the save's PUT and the page says the save ended (its tab
        no longer dirty): jupyter_server writes a notebook in place, so a read in the middle of the write gets a 400
        "Unreadable Notebook" (or, with its intermediate file present, puts the old file back). A read that meets
        another write (an autosave) is retried."""
        self.select(0)
        with self.page.expect_response(lambda r: _saves(r, name), timeout=timeout_s * 1000):
            self.page.keyboard.press("Control+s")  # returns once the server answered the PUT: the file is written
        deadline = time.monotonic() + timeout_s
        outputs: Any = "(not read: the save had not ended)"
        while True:
            if not self.page.locator(".lm-TabBar-tab.jp-mod-dirty").count():
                try:
                    outputs = self.saved_outputs(name)
                except urllib.error.HTTPError as e:
                    if e.code != 400:
                        raise
                    outputs = f"(read while written: {e})"
                else:
                    if ready(outputs):
                        return outputs
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was not saved with the outputs expected: {outputs!r:.2000}")
            time.sleep(0.3)

    # -- commands ----------------------------------------------------------------------------------------------------
    def palette(self, label: str) -> None:
        """Run a command through the command palette, as a user would."""
        search = self.page.locator(".jp-ModalCommandPalette .lm-CommandPalette-input")
        for _ in range(3):
            self.page.keyboard.press("Control+Shift+c")
            try:
                expect(search).to_be_visible(timeout=3000)
                break
            except AssertionError:  # the shortcut needs the focus inside the application: give it to the notebook
                self.page.locator(".jp-NotebookPanel:visible .jp-Cell.jp-mod-active .jp-InputPrompt").first.click()
        expect(search).to_be_visible()
        search.fill(label)
        item = self.page.locator(".jp-ModalCommandPalette .lm-CommandPalette-item", has_text=label).first
        expect(item).to_be_visible()
        item.click()

    def context_menu(self, index: int, label: str) -> None:
        self.cell(index).locator(".jp-InputPrompt").first.click(button="right")
        item = self.page.locator(".lm-Menu-item", has_text=label).first
        expect(item).to_be_visible()
        item.click()

    # -- transcripts ------------------------------------------------------------------------------------------------
    def watch_states(self) -> None:
        self.page.evaluate(STATES_SCRIPT)

    def states(self) -> list[tuple[str, int]]:
        return [tuple(s) for s in self.page.evaluate("window.glmNbStates || []")]

    def transcripts(self) -> Locator:
        return self.page.locator(".jp-NotebookPanel:visible .glm-nb-lab-transcript")

    def finished_transcript(self, index: int = 0, timeout_s: float = 120) -> Locator:
        transcript = self.transcripts().nth(index)
        expect(transcript).to_be_visible(timeout=timeout_s * 1000)
        # data-state is set once the first update is drawn (the node is on the page before): wait for one that is set
        # and not streaming, or a transcript still on its way in reads as finished
        expect(transcript).to_have_attribute("data-state", _SETTLED, timeout=timeout_s * 1000)
        return transcript

    def saved_outputs(self, name: str) -> list[dict[str, Any]]:
        content = self.server.api(f"contents/{name}")["content"]
        return [output for cell in content["cells"] for output in cell.get("outputs", [])]


def _saves(response, name: str) -> bool:
    """The answer to JupyterLab's PUT of notebook `name` (a save)."""
    return response.request.method == "PUT" and response.url.split("?")[0].endswith(f"/api/contents/{name}")
