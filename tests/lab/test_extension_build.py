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
from jupyter_core.paths import jupyter_path
from jupyterlab_server.config import get_federated_extensions

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


def test_jupyter_serves_the_current_build():
    # Jupyter serves the copy `pip install -e .` put in <prefix>/share/jupyter/labextensions (or a link made by
    # `jupyter labextension develop`), not glm_nb/labextension: after `npm run build` alone, the browser tests would
    # run the old extension. The first copy on Jupyter's path wins, as JupyterLab picks it.
    served = get_federated_extensions(jupyter_path("labextensions")).get("@glm-nb/labextension")
    assert served is not None, "JupyterLab finds no @glm-nb/labextension: run `pip install -e .`"
    served_dir = Path(served["ext_path"])
    built = [BUILT / "package.json", *sorted((BUILT / "static").iterdir())]

    differ = [p.relative_to(BUILT) for p in built if _bytes(served_dir / p.relative_to(BUILT)) != p.read_bytes()]

    assert not differ, (
        f"Jupyter serves a stale glm-nb extension from {served_dir}: {', '.join(map(str, differ[:5]))} differ from "
        f"the build in {BUILT}. Run `pip install -e .` (scripts/test does when labextension/ changed), or copy "
        f"{BUILT}/static and package.json there."
    )


def _bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


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
