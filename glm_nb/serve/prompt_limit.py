"""`PromptLimit`: refuse a prompt that cannot fit the model's context without tokenizing it (and one that is not
text at all).

Tokenizing is slow for a huge prompt (seconds for megabytes) and holds the GIL (`tokenizers`' `encode` does not
release it), so a request that is bound to be refused would stall every other request while it tokenized. A token
stands for at most `max_token_bytes` bytes of text (the longest the vocabulary decodes to), so a prompt of `b`
bytes is at least `b / max_token_bytes` tokens: past `context * max_token_bytes` bytes it cannot fit, and the
server says so at once, before the request takes its turn in the queue. Prompts under the bound are checked exactly
by the engine, as before.

Those are tokenized inside the queue turn (the backend's `complete` encodes), on purpose: `encode` holds the GIL for
its whole run (a 2 MB prompt stalled another thread for all of its 12 s on the 2-core test machine), so tokenizing
in the request thread before the turn would freeze the stream then being decoded, while inside the turn no stream
is running. Either way the model waits as long; the difference is only whose answer stops mid-stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..chat import Backend
from .errors import BadRequestError, ContextLengthError

__all__ = ["PromptLimit"]

# Text a normalizer would change (combining accent, Hangul jamo, a ligature, a full-width letter, odd whitespace).
# The bound counts the prompt's own bytes, which is only right when the tokenizer keeps the text as it is.
_ROUND_TRIP_SAMPLE = "e\u0301 \u1100\u1161\u11a8 \ufb01 \uff21\u00a0\t\r\n  x"


@dataclass(frozen=True)
class PromptLimit:
    context: int | None  # tokens; None: no bound (the backend cannot say how its tokens relate to bytes)
    max_token_bytes: int = 1

    @classmethod
    def of(cls, backend: Backend) -> PromptLimit:
        """The bound for a backend with a tokenizer (`LocalBackend`); no bound for one without."""
        tokenizer, context = getattr(backend, "tokenizer", None), backend.context_length
        vocab_size = getattr(tokenizer, "vocab_size", None)
        if tokenizer is None or not context or not vocab_size:
            return cls(None)
        if tokenizer.decode(tokenizer.encode(_ROUND_TRIP_SAMPLE)) != _ROUND_TRIP_SAMPLE:
            return cls(None)
        # A token alone decodes to its bytes, or to U+FFFD (3 bytes) for each it cannot complete: never fewer.
        longest = max(len(tokenizer.decode([i]).encode()) for i in range(vocab_size))
        return cls(context, max(longest, 1))

    def check(self, prompt: str) -> None:
        """Raise ContextLengthError when `prompt` is certainly longer than the context, BadRequestError when it is
        not text a tokenizer can read."""
        try:
            size = len(prompt.encode())
        except UnicodeEncodeError as e:  # JSON can carry half of a UTF-16 pair ("\ud800"), which is no character
            raise BadRequestError(
                f"The prompt holds {prompt[e.start : e.end]!r}, half of a UTF-16 surrogate pair, which is not text. "
                "Send valid Unicode (both halves of the pair, or the character itself)."
            ) from e
        if self.context is not None and size > self.context * self.max_token_bytes:
            raise ContextLengthError(  # OpenAI's and vLLM's first words: client code looks for them
                f"This model's maximum context length is {self.context} tokens, but the prompt is {size} bytes, "
                f"at least {-(-size // self.max_token_bytes)} tokens. Shorten the prompt, or send fewer or shorter "
                "messages."
            )
