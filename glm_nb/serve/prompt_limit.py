"""`PromptLimit`: refuse a request whose prompt cannot fit the model's context, or leaves no room for the token limit
it sent (vLLM's 400 for prompt + `max_tokens` beyond the context), before it waits for its turn; and never let a
refused request touch the engine's KV cache.

Tokenizing is slow for a huge prompt (seconds for megabytes) and holds the GIL (`tokenizers`' `encode` does not
release it): a 2 MB prompt stalled another thread for all of its 12 s on the 2-core test machine. So what happens
before the queue, while another request's stream may be decoding, depends on the prompt's size:

- A token stands for at most `max_token_bytes` bytes of text (the longest the vocabulary decodes to), so a prompt of
  `b` bytes is at least `b / max_token_bytes` tokens: past the context (or past the room the limit leaves) it cannot
  fit, and the server says so at once, without tokenizing it.
- A prompt of up to `count_bytes` (64 KiB: about 70 ms of tokenizing) is counted exactly, and refused with the
  exact count and the most `max_tokens` that fits, as vLLM words it.
- A longer prompt that may fit is counted inside its turn (`check_in_turn`), where no stream is running, and only
  when it sent a limit: still before the engine sees it, because the engine's `set_prompt` first cuts its KV cache
  back to the prefix it shares with the new prompt, and a request refused after that would leave the next one to
  re-read what the cache held (the engine refuses a prompt of the whole context itself, before cutting).

A prompt counted here is not tokenized again for the model: LocalBackend keeps the ids (`encode_prompt`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..chat import Backend
from ..chat.local import TokenizerLike
from .errors import BadRequestError, ContextLengthError
from .requests import TokenLimit

__all__ = ["PromptLimit", "no_room_error", "too_long_error"]

# Text a normalizer would change (combining accent, Hangul jamo, a ligature, a full-width letter, odd whitespace).
# The bound counts the prompt's own bytes, which is only right when the tokenizer keeps the text as it is.
_ROUND_TRIP_SAMPLE = "e\u0301 \u1100\u1161\u11a8 \ufb01 \uff21\u00a0\t\r\n  x"
# Prompts up to this size are tokenized before the queue: 0.11 s per 100 KB (nano-GLM's tokenizer, 2-core machine).
COUNT_BYTES = 64 << 10


@dataclass(frozen=True)
class PromptLimit:
    context: int | None  # tokens; None: no bound (the backend cannot say how its tokens relate to bytes)
    max_token_bytes: int | None = None  # None: no bound from the bytes (the tokenizer changes the text)
    tokenizer: TokenizerLike | None = field(default=None, compare=False, repr=False)  # None: nothing is counted
    # how a prompt is counted: the backend's `encode_prompt` (LocalBackend's keeps the ids for its turn, so the
    # prompt is tokenized once), else the tokenizer's `encode`
    encode: Callable[[str], list[int]] | None = field(default=None, compare=False, repr=False)
    count_bytes: int = COUNT_BYTES

    @classmethod
    def of(cls, backend: Backend) -> PromptLimit:
        """The limits for a backend with a tokenizer (`LocalBackend`); none for one without."""
        tokenizer, context = getattr(backend, "tokenizer", None), backend.context_length
        vocab_size = getattr(tokenizer, "vocab_size", None)
        if tokenizer is None or not context or not vocab_size:
            return cls(None)
        encode = getattr(backend, "encode_prompt", None)
        if tokenizer.decode(tokenizer.encode(_ROUND_TRIP_SAMPLE)) != _ROUND_TRIP_SAMPLE:
            return cls(context, None, tokenizer, encode)
        # A token alone decodes to its bytes, or to U+FFFD (3 bytes) for each it cannot complete: never fewer.
        longest = max(len(tokenizer.decode([i]).encode()) for i in range(vocab_size))
        return cls(context, max(longest, 1), tokenizer, encode)

    def check(self, prompt: str, limit: TokenLimit | None = None) -> bool:
        """Before the queue: raise ContextLengthError when `prompt` cannot fit the context with room for `limit`,
        BadRequestError when it is not text a tokenizer can read. True when the prompt was counted (it fits);
        False leaves the count to `check_in_turn`."""
        size = _size(prompt)
        if self.context is None:
            return False
        least = -(-size // self.max_token_bytes) if self.max_token_bytes else 1  # tokens, at the least
        if least >= self.context:  # the engine needs room for one new token
            raise ContextLengthError(  # OpenAI's and vLLM's first words: client code looks for them
                f"This model's maximum context length is {self.context} tokens, but the prompt is {size} bytes, "
                f"at least {least} tokens. Shorten the prompt, or send fewer or shorter messages."
            )
        if self.tokenizer is not None and size <= self.count_bytes:
            self._check_count(self._count(prompt), limit)
            return True
        if limit is not None and least + limit.tokens > self.context:
            room = self.context - least
            raise ContextLengthError(  # vLLM's words first, as no_room_error
                f"'{limit.field}' is too large: {limit.tokens}. This model's maximum context length is "
                f"{self.context} tokens and your request has at least {least} input tokens, {size} bytes of prompt "
                f"({limit.tokens} > {self.context} - {least}). The most that could fit is {room}: send a smaller "
                f"'{limit.field}', or a shorter prompt.",
                param=limit.field,
            )
        return False

    def check_in_turn(self, prompt: str, limit: TokenLimit | None) -> None:
        """Inside the request's turn, before the engine sees the prompt: count a prompt `check` left uncounted
        when it sent a limit, and refuse it without touching the KV cache. (Without a limit there is nothing to
        count for: the engine refuses a prompt too long before changing its cache.)"""
        if self.context is not None and self.tokenizer is not None and limit is not None:
            self._check_count(self._count(prompt), limit)

    def _count(self, prompt: str) -> int:
        assert self.tokenizer is not None
        return len((self.encode or self.tokenizer.encode)(prompt))

    def _check_count(self, prompt_tokens: int, limit: TokenLimit | None) -> None:
        assert self.context is not None
        if prompt_tokens >= self.context:
            raise too_long_error(self.context, prompt_tokens)
        if limit is not None and prompt_tokens + limit.tokens > self.context:
            raise no_room_error(limit, self.context, prompt_tokens)


def too_long_error(context: int | None, prompt_tokens: int | None = None) -> ContextLengthError:
    """The prompt leaves no room for a single new token."""
    # OpenAI's and vLLM's first words: client code (context-window fallbacks, agents) looks for them
    said = f"This model's maximum context length is {context} tokens, and the prompt" if context else "The prompt"
    counted = f" ({prompt_tokens} tokens)" if prompt_tokens is not None else ""
    return ContextLengthError(
        f"{said}{counted} is too long to leave room for an answer. Shorten the prompt, or send fewer or shorter "
        "messages."
    )


def no_room_error(limit: TokenLimit, context: int, prompt_tokens: int) -> ContextLengthError:
    """The prompt fits, but leaves no room for the token limit the request sent."""
    room = context - prompt_tokens
    # vLLM's words first (clients read the limit out of them), then what to do
    return ContextLengthError(
        f"'{limit.field}' is too large: {limit.tokens}. This model's maximum context length is {context} tokens and "
        f"your request has {prompt_tokens} input tokens ({limit.tokens} > {context} - {prompt_tokens}). Send "
        f"'{limit.field}' of at most {room}, or a shorter prompt.",
        param=limit.field,
    )


def _size(prompt: str) -> int:
    """The prompt's UTF-8 bytes; BadRequestError when it is not text."""
    try:
        return len(prompt.encode())
    except UnicodeEncodeError as e:  # JSON can carry half of a UTF-16 pair ("\ud800"), which is no character
        raise BadRequestError(
            f"The prompt holds {prompt[e.start : e.end]!r}, half of a UTF-16 surrogate pair, which is not text. "
            "Send valid Unicode (both halves of the pair, or the character itself)."
        ) from e
