"""glm-nb as a user installs it: the wheel and the sdist carry what the code reads at run time.

The rest of the suite runs against `pip install -e .`, which reads every file from the checkout, so a data file the
wheel leaves out (the nano-GLM checkpoint, a chat template, the widget's JS, the JupyterLab extension) would pass
it. Here hatchling builds both archives with its build hooks off (the JupyterLab extension is the one
`pip install -e .` already built into glm_nb/labextension; rebuilding it needs Node.js and ~30 s), and the slow test
installs the wheel into a fresh venv and runs the bundled model from outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import glm_nb

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "glm_nb"
SHARE = "share/jupyter/labextensions/@glm-nb/labextension"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The folder holding the wheel and the sdist built from this checkout."""
    if Path(glm_nb.__file__).resolve().parent != PACKAGE:
        pytest.skip("glm_nb is not imported from this checkout (run the tests from a `pip install -e .` checkout)")
    assert (PACKAGE / "labextension" / "package.json").is_file(), (
        "glm_nb/labextension is missing: `pip install -e .` builds it (Node.js >= 20.19 and npm needed)"
    )
    out = tmp_path_factory.mktemp("dist")
    build = "import sys, hatchling.build as b; b.build_wheel(sys.argv[1]); b.build_sdist(sys.argv[1])"
    env = {**os.environ, "HATCH_BUILD_NO_HOOKS": "true"}
    run = subprocess.run([sys.executable, "-c", build, str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist) -> Path:
    (path,) = dist.glob("glm_nb-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel_files(wheel) -> dict[str, int]:
    """Each file of the wheel and its size."""
    with zipfile.ZipFile(wheel) as z:
        return {i.filename: i.file_size for i in z.infolist()}


def _package_data() -> list[Path]:
    """The files under glm_nb/ other than Python sources: what the code opens at run time (the checkpoint, the chat
    templates, the widget's JS and CSS). glm_nb/labextension is checked on its own (it is installed elsewhere)."""
    return sorted(
        p
        for p in PACKAGE.rglob("*")
        if p.is_file()
        and p.suffix not in {".py", ".pyc"}
        and "__pycache__" not in p.parts
        and (PACKAGE / "labextension") not in p.parents
    )


def test_the_checkout_has_the_run_time_data_the_wheel_is_checked_for():
    names = {p.relative_to(PACKAGE).as_posix() for p in _package_data()}

    assert {"nano/checkpoint/model.safetensors", "nano/checkpoint/tokenizer.json", "nano/checkpoint/config.json",
            "nano/templates/glm4.jinja", "nano/templates/glm4_z1.jinja", "widget/chat_panel.js",
            "widget/chat_panel.css"} <= names  # fmt: skip


def test_the_wheel_carries_every_data_file_of_the_package(wheel_files):
    expected = {p.relative_to(ROOT).as_posix(): p.stat().st_size for p in _package_data()}

    missing = {name for name in expected if name not in wheel_files}
    resized = {name for name in expected if name in wheel_files and wheel_files[name] != expected[name]}

    assert not missing and not resized, f"missing from the wheel: {sorted(missing)}; other sizes: {sorted(resized)}"


def test_the_wheel_carries_every_python_module(wheel_files):
    modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}

    assert not modules - set(wheel_files), sorted(modules - set(wheel_files))


def test_the_wheel_installs_the_jupyterlab_extension_where_jupyterlab_looks(wheel_files):
    found = [name.split("/")[0] for name in wheel_files if name.endswith(".data/data/" + SHARE + "/package.json")]
    assert found, "the wheel lacks the lab extension's share data (pyproject's shared-data mapping)"
    data = found[0]
    shared = f"{data}/data/{SHARE}"
    built = PACKAGE / "labextension"
    package = json.loads((built / "package.json").read_text())
    install = json.loads((ROOT / "labextension" / "install.json").read_text())

    static = {f"{shared}/{p.relative_to(built).as_posix()}" for p in built.rglob("*") if p.is_file()}

    assert package["name"] == "@glm-nb/labextension" and install["packageName"] == "glm-nb"
    assert f"{shared}/install.json" in wheel_files
    assert f"{shared}/{package['jupyterlab']['_build']['load']}" in wheel_files
    assert static <= set(wheel_files), sorted(static - set(wheel_files))


def test_the_wheel_needs_neither_torch_nor_transformers(wheel):
    with zipfile.ZipFile(wheel) as z:
        metadata_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(z.read(metadata_name).decode())
    required = [Requirement(r) for r in metadata.get_all("Requires-Dist")]

    names = {r.name.lower() for r in required if r.marker is None}  # an extra's requirement has a marker

    assert "onnxruntime" in names
    assert not names & {"torch", "transformers", "safetensors"}, names


def test_the_sdist_holds_only_files_git_does_not_ignore(dist):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")  # fmt: skip
    (sdist,) = dist.glob("glm_nb-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}

    built = {n for n in names if n.startswith("glm_nb/labextension/")}  # prebuilt, so git-ignored, but shipped
    stray = names - set(listed) - built - {"PKG-INFO"}

    assert not stray, f"the sdist carries files git ignores (caches, build output): {sorted(stray)[:10]}"
    assert {"labextension/package.json", "labextension/package-lock.json", "labextension/install.json",
            "glm_nb/nano/checkpoint/model.safetensors"} <= names  # fmt: skip
    assert "glm_nb/labextension/package.json" in built


_NO_TORCH = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "transformers", "safetensors"}:
            raise ImportError(f"the installed glm-nb imported {name}")
sys.meta_path.insert(0, Refuse())
"""

_RUN = (
    _NO_TORCH
    + """
import glm_nb, glm_nb.magics, glm_nb.widget, glm_nb.serve, glm_nb.chat.research
from glm_nb.cli import main
from glm_nb.nano import checkpoint_path
from glm_nb.widget.chat_panel import ChatPanel
assert "export default" in str(ChatPanel._esm), "the widget's JS is missing"
print("module", glm_nb.__file__)
main(["generate", str(checkpoint_path()), "--chat", "Hello", "--max-new-tokens", "8", "--json"])
"""
)


@pytest.mark.slow
def test_the_installed_wheel_runs_the_nano_model_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True)  # fmt: skip
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    # The dependencies come from this venv, appended after the fresh one's site-packages: its editable glm_nb
    # (a .pth naming the checkout) is not processed from there, so glm_nb is the wheel's.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "GLM_NB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}

    path = subprocess.run([venv / "bin" / "glm-nb", "nano", "path"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    run = subprocess.run([python, "-c", _RUN], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert Path(path).parent.parent == site / "glm_nb", path
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in Path(path).iterdir()}
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"module {site / 'glm_nb' / '__init__.py'}" in run.stdout
    assert len(json.loads(run.stdout.splitlines()[-1])["token_ids"]) == 8, run.stdout
    assert (venv / SHARE / "install.json").is_file() and (venv / SHARE / "package.json").is_file()
