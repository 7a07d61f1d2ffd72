"""glm-nb: the GLM-4-0414 family (GLM-4, GLM-Z1, GLM-Z1-Rumination) in Jupyter, on our own ONNX Runtime engine.

Importing this package loads no model and starts nothing. In a notebook: `%load_ext glm_nb`, then `%%glm`.
"""

import importlib
from typing import Any

from .chat import Conversation, LocalBackend, RemoteBackend, Response, Rumination
from .engine import Engine, Generator, IncrementalDetokenizer, SamplingParams, convert, open_model
from .errors import GlmError
from .tools import Tool, tool

__all__ = [
    "convert",
    "open_model",
    "Engine",
    "Generator",
    "SamplingParams",
    "IncrementalDetokenizer",
    "Conversation",
    "LocalBackend",
    "RemoteBackend",
    "Response",
    "Rumination",
    "Tool",
    "tool",
    "GlmError",
]
__version__ = "0.1.0"

# The notebook layer (IPython, ipywidgets) is imported on first use, not when glm_nb is imported: a plain script
# using the engine or the chat layer never pays for it (DESIGN.md, "No import-time side effects").
_LAZY = {"last": "glm_nb.magics.session", "ChatPanel": "glm_nb.widget"}
__all__ += ["ChatPanel", "last", "load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'glm_nb' has no attribute {name!r}")


_extension: dict[int, Any] = {}  # id(shell) -> the GlmMagics registered there


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext glm_nb`: register the magics (imported here: IPython sits above the chat layer)."""
    cell_magics = importlib.import_module("glm_nb.magics.cell_magics")
    session = importlib.import_module("glm_nb.magics.session").current_session()
    magics = cell_magics.GlmMagics(ipython, session)
    ipython.register_magics(magics)
    ipython.events.register("pre_run_cell", magics.remember_cell)
    _extension[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext glm_nb`: remove the magics; the loaded model and the conversations stay for a later load."""
    magics = _extension.pop(id(ipython), None)
    if magics is not None:
        ipython.events.unregister("pre_run_cell", magics.remember_cell)
        for kind in ("line", "cell"):
            for name in ("glm", "glm_z1", "glm_rumination", "glm_model"):
                ipython.magics_manager.magics[kind].pop(name, None)
