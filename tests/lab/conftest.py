"""Real-browser fixtures: a real `jupyter lab` on 127.0.0.1 (the installed glm-nb extension, nano-GLM as the model)
driven by Python Playwright in Debian's chromium.

Chromium comes from apt (`scripts/test` installs it where it is missing); `playwright install` cannot download
browsers here. Where chromium is absent the tests skip, except under CI (CI=1), where that is a failure.
Screenshots go to test-output/lab/.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import need_chromium as _need_chromium

from lab_page import SCREENSHOTS, Lab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """One `jupyter lab` process in its own folders (settings, workspaces, runtime), with a random token."""

    def __init__(self, root: Path, home: Path, cache: Path, extra_args: tuple[str, ...] = ()):
        self.root, self.port, self.token = root, _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = home / "settings"
        notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        # no news or update checks (they would reach for the network and put a toast over the page)
        notification.write_text(json.dumps({"checkForUpdates": False, "fetchNews": "false"}))
        env = {
            **os.environ,
            "GLM_NB_CACHE": str(cache),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "PYTHONUNBUFFERED": "1",
        }
        self.log = (home / "lab.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}", "--allow-root", "--LabApp.extension_manager=readonly", *extra_args,
            ],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=root,
        )  # fmt: skip
        self._wait_ready()

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
        return json.loads(data) if data else None

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: see {self.log.name}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not start in {timeout} s: see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """nano-GLM converted once for every kernel of the session (the kernels read the same cache)."""
    cache = tmp_path_factory.mktemp("glm-nb-cache")
    code = "from glm_nb.magics.models import load_model; from glm_nb.magics.options import ModelArgs; " \
        "load_model(ModelArgs(), progress=False)"  # fmt: skip
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "GLM_NB_CACHE": str(cache)}, check=True)
    return cache


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, model_cache) -> Iterator[LabServer]:
    _need_chromium()
    server = LabServer(tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home"), model_cache)
    yield server
    server.stop()


@pytest.fixture
def lab(request, browser, lab_server) -> Iterator[Lab]:
    """A fresh browser context on the lab server; a screenshot of the page is kept whatever the outcome."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab_server.url)
    page = context.new_page()
    lab = Lab(page, lab_server)
    yield lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
        for session in lab_server.api("sessions") or []:
            lab_server.api(f"sessions/{session['id']}", method="DELETE")


@pytest.fixture
def viewer_server(tmp_path_factory, model_cache) -> Iterator[LabServer]:
    """A second lab server on which no kernel can start (no kernelspec is allowed): a saved notebook's viewer."""
    _need_chromium()
    server = LabServer(
        tmp_path_factory.mktemp("viewer-root"), tmp_path_factory.mktemp("viewer-home"), model_cache,
        ("--KernelSpecManager.allowed_kernelspecs=['no-kernel-here']",),
    )  # fmt: skip
    yield server
    server.stop()
