"""glm-nb: the GLM-4-0414 family (GLM-4, GLM-Z1, GLM-Z1-Rumination) in Jupyter, on our own ONNX Runtime engine.

Importing this package loads no model and starts nothing.
"""

from .engine import Engine, Generator, IncrementalDetokenizer, SamplingParams, convert
from .errors import GlmError

__all__ = ["convert", "Engine", "Generator", "SamplingParams", "IncrementalDetokenizer", "GlmError"]
__version__ = "0.1.0"
