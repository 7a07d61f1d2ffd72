"""The chat panel's JavaScript view, run under Node's test runner against a fake model and DOM
(chat_panel_view.test.mjs). Skipped where Node is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (the view's tests run under `node --test`)")
def test_the_view_behaves():
    script = Path(__file__).with_name("chat_panel_view.test.mjs")

    run = subprocess.run([NODE, "--test", str(script)], capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout
