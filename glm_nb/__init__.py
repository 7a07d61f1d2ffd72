"""glm-nb: the GLM-4-0414 family (GLM-4, GLM-Z1, GLM-Z1-Rumination) in Jupyter, on our own ONNX Runtime engine.

Importing this package loads no model and starts nothing.
"""

from .chat import Conversation, LocalBackend, Response, Rumination
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
    "Response",
    "Rumination",
    "Tool",
    "tool",
    "GlmError",
]
__version__ = "0.1.0"
