"""Debian's chromium for the real-browser tests, driven by Python Playwright (`playwright install` cannot download
browsers here). One Playwright session serves the whole test run: its sync API refuses to start a second one while
the first is open, so every browser test takes the `browser` fixture of tests/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("GLM_NB_CHROMIUM", "/usr/bin/chromium")


def need_chromium() -> None:
    """Skip where chromium is absent, except under CI (CI=1), where that is a failure."""
    if Path(CHROMIUM).exists():
        return
    message = f"chromium is not at {CHROMIUM}: `apt-get install -y chromium` (scripts/test does this when it can)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
