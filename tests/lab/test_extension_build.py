"""The JupyterLab extension as installed: built into the package, registered with JupyterLab, its logic tested.
(The real-browser tests are in test_browser.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import glm_nb

ROOT = Path(__file__).resolve().parents[2]
BUILT = Path(glm_nb.__file__).parent / "labextension"
NODE = shutil.which("node")


def test_the_extension_is_built_into_the_package():
    package = json.loads((BUILT / "package.json").read_text())

    assert package["name"] == "@glm-nb/labextension"
    assert package["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    assert {"extension", "mimeExtension"} <= set(package["jupyterlab"]["_build"])
    assert (BUILT / package["jupyterlab"]["_build"]["load"]).exists()


def test_jupyterlab_lists_it_enabled():
    run = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    listing = run.stdout + run.stderr

    line = next((line for line in listing.splitlines() if "@glm-nb/labextension" in line), "")
    assert "enabled" in line and "OK" in line and "glm-nb" in line, listing


@pytest.mark.skipif(NODE is None and not os.environ.get("CI"), reason="Node.js is not installed")
def test_the_extension_logic_passes_its_node_tests():
    lib = ROOT / "labextension" / "lib" / "transcript.js"
    assert lib.exists(), "labextension/lib is built by `pip install -e .` (npm run build): run scripts/test"

    run = subprocess.run(
        [NODE or "node", "--test", "test/"], cwd=ROOT / "labextension", capture_output=True, text=True, timeout=120
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout
