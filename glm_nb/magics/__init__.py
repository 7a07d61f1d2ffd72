"""The notebook layer's magics and the session they share with the chat panel.

The `Magics` class lives in `cell_magics` and is imported by `glm_nb.load_ipython_extension` when a notebook asks
for it (`%load_ext glm_nb`); this package itself needs only IPython's argument parser (options.py).
"""

from .models import LoadedModel, ModelCard, load_model
from .options import GlmCellArgs, GlmLineArgs, ModelArgs, parse_cell_line, parse_glm_line, parse_model_line
from .replies import ReplySink, stream_reply
from .session import NotebookSession, current_session, last

__all__ = [
    "GlmCellArgs",
    "GlmLineArgs",
    "LoadedModel",
    "ModelArgs",
    "ModelCard",
    "NotebookSession",
    "ReplySink",
    "current_session",
    "last",
    "load_model",
    "parse_cell_line",
    "parse_glm_line",
    "parse_model_line",
    "stream_reply",
]
