"""Debian's chromium for the real-browser tests, driven by Python Playwright (`playwright install` cannot download
browsers here). One Playwright session serves the whole test run: its sync API refuses to start a second one while
the first is open, so every browser test takes the `browser` fixture of tests/conftest.py."""

from __future__ import annotations

import http.server
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


class LeakServer(http.server.ThreadingHTTPServer):
    """A server on 127.0.0.1, as Jupyter's is, that a hostile artifact tries to reach. It serves the pages put in
    `pages` at /host/NAME (a test's page with an artifact frame); every other request is recorded as a leak."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _LeakHandler)
        self.pages: dict[str, str] = {}
        self.leaks: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _LeakHandler(http.server.BaseHTTPRequestHandler):
    server: LeakServer

    def do_GET(self):
        body = self.server.pages.get(self.path.removeprefix("/host/"))
        if body is None:
            if self.path != "/favicon.ico":
                self.server.leaks.append(self.path)
            body = "<p>landed</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass
