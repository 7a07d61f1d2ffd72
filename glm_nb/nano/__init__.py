"""nano-GLM: a tiny demo model with the GLM-4-0414 architecture, trained here on a synthetic corpus.

It is not GLM-4: a few million parameters that learned the GLM-4 prompt format, tool calls, SVG and HTML
artifacts, Z1 thinking and Rumination calls from generated dialogs (corpus.py), so every demo and test runs
offline through the real engine. The checkpoint ships in `checkpoint/`; the engine converts it to ONNX on first
use and caches the result.

    from glm_nb.nano import load_nano_engine
    engine = load_nano_engine()
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..engine import Engine, open_model
from ..errors import GlmError
from .templates import chat_template

__all__ = ["checkpoint_path", "load_nano_engine", "chat_template"]


def checkpoint_path() -> Path:
    """The folder of the bundled nano-GLM checkpoint (safetensors, tokenizer, chat template)."""
    folder = Path(str(resources.files(__package__).joinpath("checkpoint")))
    if not (folder / "config.json").is_file():
        raise GlmError(
            f"The bundled nano-GLM checkpoint is missing from {folder}. Reinstall glm-nb, or train one with "
            "`python -m glm_nb.nano.train --out DIR` (it needs torch and transformers) and open DIR instead."
        )
    return folder


def load_nano_engine(device: str = "cpu", **kwargs) -> Engine:
    """Open the bundled nano-GLM through the engine (converted to ONNX on first use, then cached)."""
    return open_model(checkpoint_path(), device=device, **kwargs)
