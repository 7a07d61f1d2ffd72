"""The seam between conversations and whatever generates text: a `Backend` streams the continuation of a prompt.

Conversations render the prompt themselves (with the checkpoint's template) and parse what comes back, so a
backend is only "prompt text in, text pieces out": the local engine (`LocalBackend`) is one, and an
OpenAI-compatible `/v1/completions` server can be another. A completion is an iterator of

    CompletionStart(prompt_tokens, reused_prompt_tokens)     once, after the prompt is in place
    PrefillProgress("", 0, done, total)                       between the chunks of a long prompt (a TextChunk)
    TextChunk(text, tokens)                                   per generated token (or group of tokens)
    CompletionEnd(reason, stop, tokens)                       once, last

TextChunk text keeps special tokens such as `<|assistant|>` (FORMAT.md: several tool calls are separated by it);
the stop token is not in any chunk but named by CompletionEnd (`<|observation|>` means "waiting for a tool
result"). A chunk may carry empty text (a token that ends inside a multi-byte character): the conversation
checks its cancel flag on every chunk, so a backend should yield one per token, and one that waits on something
else yields empty chunks with tokens=0 while it waits: a remote server, before CompletionStart too; the local engine
between the chunks of a long prompt. Closing the
iterator early (cancel) must leave the backend ready for the next completion.

`complete` may take per-request `StopOptions` (vLLM's `ignore_eos` and `min_tokens`); conversations never pass
any, `glm-nb serve` passes them only when a request asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ..engine import SamplingParams
from ..errors import SamplingError

__all__ = [
    "Backend",
    "CompletionEnd",
    "CompletionItem",
    "CompletionStart",
    "PrefillProgress",
    "StopOptions",
    "TextChunk",
]


@dataclass(frozen=True)
class CompletionStart:
    prompt_tokens: int
    reused_prompt_tokens: int = 0


@dataclass(frozen=True)
class TextChunk:
    text: str
    tokens: int = 1


@dataclass(frozen=True)
class PrefillProgress(TextChunk):
    """An empty chunk between two chunks of a long prompt (the local engine's): `done` of the `total` prompt tokens
    it computes are read. A consumer that knows only TextChunk reads it as one that carries nothing."""

    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class CompletionEnd:
    reason: Literal["stop", "length"]  # stop: a stop token (or sequence); length: token limit or full context
    stop: str | None = None  # the stop token's text, e.g. "<|user|>" or "<|observation|>"
    tokens: int = 0  # tokens generated but not in any chunk (the stop token)


CompletionItem = CompletionStart | TextChunk | CompletionEnd


@dataclass(frozen=True)
class StopOptions:
    """Where one completion may stop, as vLLM's sampling parameters of the same names say.

    ignore_eos: the model's stop tokens (`<|user|>`, `<|observation|>`, `<|endoftext|>`) do not end it; they are
    generated as text, and only the token limit or a full context ends it (or a request's own stop strings).
    min_tokens: until this many tokens are generated no stop token can be drawn (vLLM sets their logits to -inf),
    neither the model's nor `stop_ids`, and a stop string ending in their text does not count.
    stop_ids: the request's own stop tokens (vLLM's `stop_token_ids`), banned with the model's before min_tokens.
    """

    ignore_eos: bool = False
    min_tokens: int = 0
    stop_ids: frozenset[int] = frozenset()

    def __post_init__(self):
        if self.min_tokens < 0:
            raise SamplingError(
                f"min_tokens must be >= 0 (0: the model may end the answer at once), got {self.min_tokens}"
            )


@runtime_checkable
class Backend(Protocol):
    """Something that continues a prompt. See the module docstring for the stream it must produce."""

    @property
    def name(self) -> str:
        """The model's name, for display."""
        ...

    @property
    def chat_template(self) -> str | None:
        """The model's own Jinja chat template, if the backend knows it."""
        ...

    @property
    def context_length(self) -> int | None:
        """The most tokens prompt + answer can hold, if known."""
        ...

    def complete(
        self, prompt: str, sampling: SamplingParams, stops: StopOptions | None = None
    ) -> Iterator[CompletionItem]:
        """Stream the continuation of `prompt` (rendered text, special tokens written as text). `stops`: see
        `StopOptions`; None, the default, stops where the model ends the answer."""
        ...
