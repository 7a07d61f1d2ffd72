"""The inference engine: checkpoint -> ONNX graph (convert), ONNX Runtime session (Engine), and the
stateful token loop (Generator). Knows nothing of chat or notebooks."""

from .conversion import PRECISIONS, convert
from .engine import Engine
from .generator import Generator, GeneratorStats
from .loading import conversion_for, open_model
from .metadata import ModelMetadata
from .model_cache import CachedModel, cached_models, clear_cache
from .sampling import SamplingParams, sample
from .tokenizer import IncrementalDetokenizer, Tokenizer

__all__ = [
    "convert",
    "PRECISIONS",
    "Engine",
    "Generator",
    "open_model",
    "conversion_for",
    "cached_models",
    "clear_cache",
    "CachedModel",
    "GeneratorStats",
    "ModelMetadata",
    "SamplingParams",
    "sample",
    "IncrementalDetokenizer",
    "Tokenizer",
]
