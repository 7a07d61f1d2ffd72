"""One error hierarchy for everything a user of glm-nb can see.

Every message says what went wrong *and* what to do next. Code raises the most specific subclass; callers that
only want to report a problem catch `GlmError`.
"""

from __future__ import annotations

import functools

__all__ = [
    "GlmError",
    "CheckpointError",
    "ConversionError",
    "ModelLoadError",
    "MaxLengthError",
    "PromptTooLongError",
    "GenerationError",
    "SamplingError",
]


class GlmError(Exception):
    """Base class of every error glm-nb raises on purpose."""


class CheckpointError(GlmError):
    """A source checkpoint folder is missing, incomplete, damaged or of another architecture."""


class ConversionError(GlmError):
    """Converting a checkpoint to ONNX failed (bad option, disk, ...)."""


class ModelLoadError(GlmError):
    """A converted model folder cannot be loaded (missing or corrupted files, wrong version)."""


class MaxLengthError(ConversionError, ModelLoadError):
    """A max_length (tokens) beyond what a checkpoint or a conversion holds, refused before converting or loading
    (raised by either, so either's handler takes it). `asked` and `most` give the numbers; `needs_yarn` tells
    whether `asked` is past the checkpoint's own max_position_embeddings, where converting again cannot help
    (None: not known, for a conversion by an earlier glm-nb). A command line words its advice from these.
    (Not glm_nb.serve.errors.ContextLengthError, a request's prompt that does not fit, answered with a 400.)"""

    def __init__(self, message: str, *, asked: int, most: int, needs_yarn: bool | None):
        super().__init__(message)
        self.asked, self.most, self.needs_yarn = asked, most, needs_yarn

    def __reduce__(self):
        # An exception pickles as type(self)(*self.args), which leaves out the keyword-only numbers (a TypeError
        # when a worker process or a kernel's result queue unpickles it): they travel bound to the class.
        rebuild = functools.partial(type(self), asked=self.asked, most=self.most, needs_yarn=self.needs_yarn)
        return rebuild, self.args, self.__dict__


class PromptTooLongError(GlmError):
    """The prompt (plus what was asked to generate) does not fit the model's context window."""


class GenerationError(GlmError):
    """Generation was asked for something the generator's state cannot do."""


class SamplingError(GlmError, ValueError):
    """A sampling setting is out of its range (still a ValueError, as bad arguments are in Python)."""
