"""The extension's entry points, and importing glm_nb without the notebook layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import glm_nb
from glm_nb.errors import GlmError
from glm_nb.magics import session as session_module


def test_importing_glm_nb_loads_neither_ipython_nor_widgets():
    code = "import sys, glm_nb; print(sorted(m for m in ('IPython', 'ipywidgets', 'anywidget') if m in sys.modules))"

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


def test_last_before_any_reply_says_what_to_do(monkeypatch):
    monkeypatch.setattr(session_module, "_SESSION", None)

    with pytest.raises(GlmError, match="run a %%glm cell"):
        glm_nb.last()


def test_unloading_removes_the_magics_and_the_cell_hook(kernel):
    shell = kernel.shell
    assert "glm" in shell.magics_manager.magics["cell"]

    shell.extension_manager.unload_extension("glm_nb")

    assert not {"glm", "glm_z1", "glm_rumination"} & set(shell.magics_manager.magics["cell"])
    assert not {"glm", "glm_model"} & set(shell.magics_manager.magics["line"])
    assert kernel.magics.remember_cell not in shell.events.callbacks["pre_run_cell"]
    shell.extension_manager.load_extension("glm_nb")  # the fixture unloads it again


def test_unknown_attributes_still_raise():
    with pytest.raises(AttributeError):
        glm_nb.no_such_thing  # noqa: B018


def test_the_demo_command_explains_itself_without_installing_anything():
    demo = Path(__file__).resolve().parents[2] / "scripts" / "demo"

    run = subprocess.run(["bash", str(demo), "--help"], capture_output=True, text=True, timeout=30)

    assert run.returncode == 0
    assert "--headless" in run.stdout and "jupyter lab notebooks/quickstart.ipynb" in run.stdout
