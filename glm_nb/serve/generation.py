"""What one request generates, independent of HTTP: text pieces for `/v1/completions`, chat events for
`/v1/chat/completions`, each ending with a `Finish`.

Both check a cancel event on every generated token (the client went away, or the server is shutting down) and close
the backend's stream when they stop, so the model is free for the next request at once. Chat completions go through
the chat layer's own `run_turn`: the prompt is rendered with the checkpoint's template, Z1 thinking is split off
(OpenAI's `reasoning_content`, as vLLM names it), and tool calls are parsed from the raw text exactly as
`Conversation` does (FORMAT.md, "What the model emits"). A request's stop strings, vLLM's `ignore_eos` and
`min_tokens`, and its token limit's check against the context are `_RequestBackend`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..chat import (
    Backend,
    ChatTemplate,
    CompletionEnd,
    CompletionItem,
    CompletionStart,
    Event,
    PrefillProgress,
    TextChunk,
    as_tool,
    messages_to_template,
)
from ..chat.backend import StopOptions
from ..chat.messages import AssistantMessage
from ..chat.stop_text import StopText
from ..chat.turn import run_turn
from ..engine import SamplingParams
from ..tools import ToolCall, ToolDefinitionError
from .errors import BadRequestError
from .prompt_limit import no_room_error
from .requests import ChatRequest, CompletionRequest

__all__ = [
    "EOS_TEXT",
    "Finish",
    "Piece",
    "chat_prompt",
    "generate_chat",
    "generate_text",
    "stop_token_texts",
    "strip_special_tokens",
    "tool_calls_json",
]

# FORMAT.md, "Tokenizer": the special tokens of the GLM-4-0414 vocabulary, as text.
SPECIAL_TOKENS = (
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>",
    "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>",
)  # fmt: skip

# FORMAT.md, "Tokenizer": the stop tokens of GLM-4-0414 (generation_config's eos_token_id), as text; the first is
# also the tokenizer's own eos token.
MODEL_STOP_TEXTS = ("<|endoftext|>", "<|user|>", "<|observation|>")
EOS_TEXT = MODEL_STOP_TEXTS[0]

FinishReason = Literal["stop", "length", "tool_calls", "abort"]


@dataclass(frozen=True)
class Finish:
    reason: FinishReason  # abort: cancelled (client gone or server stopping); nothing is sent for it
    stop: str | None  # the stop string or token text that ended it
    prompt_tokens: int
    completion_tokens: int
    stop_token: int | None = None  # the id of the model's own stop token that ended it, if one did (not a string)


@dataclass(frozen=True)
class Piece:
    """Text of a completion, with the tokens counted so far (vLLM's `continuous_usage_stats` sends them)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    reading: bool = False  # a chunk of a long prompt was read: nothing to send, but the client may hear of it


def strip_special_tokens(text: str) -> str:
    for token in SPECIAL_TOKENS:
        text = text.replace(token, "")
    return text


def generate_text(
    backend: Backend, request: CompletionRequest, cancel: threading.Event
) -> Generator[Piece, None, Finish]:
    """Yield the completion's text piece by piece (one per backend chunk, possibly empty); return how it ended."""
    backend = _RequestBackend(backend, request)
    prompt_tokens = generated = 0
    end: CompletionEnd | None = None
    stream = backend.complete(request.prompt, request.sampling)
    try:
        for item in stream:
            if isinstance(item, CompletionStart):
                prompt_tokens = item.prompt_tokens
            elif isinstance(item, PrefillProgress):
                yield Piece("", prompt_tokens, generated, reading=True)
            elif isinstance(item, TextChunk):
                generated += item.tokens
                yield Piece(_visible(item.text, request), prompt_tokens, generated)
            else:
                generated += item.tokens
                end = item
                break
            if cancel.is_set():
                break
    finally:
        close = getattr(stream, "close", None)  # a generator: closing it ends the backend's generation now
        if close is not None:
            close()
    if end is None:
        return Finish("abort", None, prompt_tokens, generated)
    if end.reason == "stop" and end.stop and request.include_stop_str_in_output:
        yield Piece(_visible(end.stop, request), prompt_tokens, generated)
    return Finish(end.reason, end.stop, prompt_tokens, generated, backend.stop_token(end.stop))


def stop_token_texts(backend: Backend, ids: tuple[int, ...]) -> dict[str, int]:
    """The text of each of vLLM's `stop_token_ids` (text -> id), to stop at as a stop string. Only special tokens:
    their text stands for them alone (the chat layer reads them so, FORMAT.md), so stopping at it is stopping at the
    token, and like a stop token it is left out of the answer unless `include_stop_str_in_output`. An ordinary
    token's text can come from other tokens too (or sit inside a longer one): refused, with its text for 'stop'."""
    if not ids:
        return {}
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None:
        raise BadRequestError(
            "'stop_token_ids' needs the model's tokenizer, which this server has not; send the tokens' text in "
            "'stop'.",
            param="stop_token_ids",
        )
    special = {i: text for text in SPECIAL_TOKENS if (i := tokenizer.token_to_id(text)) is not None}
    for token_id in ids:
        if token_id not in special:
            listed = ", ".join(f"{i} {text}" for i, text in sorted(special.items()))
            if 0 <= token_id < getattr(tokenizer, "vocab_size", 0):
                todo = f"is the ordinary token {tokenizer.decode([token_id])!r}: send its text in 'stop' instead"
            else:
                todo = "is no token of this model: leave it out"
            raise BadRequestError(
                f"'stop_token_ids' may name only special tokens here ({listed}); {token_id} {todo}.",
                param="stop_token_ids",
            )
    return {special[i]: i for i in ids}


def _visible(text: str, request: CompletionRequest) -> str:
    return strip_special_tokens(text) if request.skip_special_tokens else text


def chat_prompt(template: ChatTemplate, request: ChatRequest) -> str:
    """The prompt text for a chat request: its messages and tools rendered with the checkpoint's template."""
    try:
        tools = [as_tool(t).to_dict() for t in request.tools]
    except (ToolDefinitionError, KeyError, TypeError, ValueError) as e:
        raise BadRequestError(f"A tool definition cannot be read: {e}", param="tools") from e
    return template.render(
        messages_to_template(request.messages), tools=tools, add_generation_prompt=True, **request.template_kwargs
    )


def generate_chat(
    backend: Backend, prompt: str, request: ChatRequest, cancel: threading.Event
) -> Generator[Event, None, tuple[Finish, list[dict[str, Any]]]]:
    """Yield the chat layer's events (ThinkingDelta, TextDelta, ToolCallEvent); return how it ended and the
    OpenAI `tool_calls` of the turn."""
    committed: list[AssistantMessage] = []
    # Stop tokens passed over are left out of what the chat layer reads, as vLLM's skip_special_tokens (always on
    # for chat here) leaves them out of the content; a request's own stop strings are still matched.
    drop = tuple(t for t in MODEL_STOP_TEXTS if t not in request.stop) if request.ignore_eos else ()
    backend = _RequestBackend(backend, request, drop)
    names = tuple(as_tool(t).name for t in request.tools)  # read by chat_prompt already
    outcome = yield from run_turn(
        backend,
        prompt,
        request.sampling,
        cancel=cancel,
        commit=committed.append,
        tool_calls=bool(request.tools),  # no tools sent, or tool_choice "none": the answer is text, never a call
        tool_names=names,
    )
    message, usage = outcome.message, outcome.usage
    calls = tool_calls_json(message)
    reason: FinishReason
    if message.end == "interrupted":
        reason = "abort"
    elif message.end == "length":
        reason = "length"
    else:
        reason = "tool_calls" if calls else "stop"
    finish = Finish(reason, outcome.stop, usage.prompt_tokens, usage.new_tokens, backend.stop_token(outcome.stop))
    return finish, calls


def _stop_options(request: CompletionRequest | ChatRequest) -> StopOptions | None:
    """The request's `ignore_eos` and `min_tokens` for the backend; None when it sends neither (or their defaults).
    Its `stop_token_ids` are stop strings here (`stop_token_texts`), and banned before min_tokens as vLLM does."""
    if not request.ignore_eos and not request.min_tokens:
        return None
    return StopOptions(request.ignore_eos, request.min_tokens, frozenset(request.stop_token_ids))


class _RequestBackend:
    """A backend whose completions follow one request's settings, as vLLM's do:

    - its `stop` strings end them (the text before one is kept, the rest never generated; vLLM matches them in the
      generated text too, but not in the text of the first `min_tokens` tokens); `matched` is the one that did;
    - its `StopOptions` go to the backend (only when it asks: otherwise the backend is called as a conversation
      calls it, so any backend serves requests that ask for neither);
    - a token limit it sent that the prompt leaves no room for is refused (ContextLengthError) once the backend
      has counted the prompt (`CompletionStart`), before anything is generated: vLLM refuses prompt + max_tokens
      beyond its context with a 400 that names the limit, rather than cutting the answer short. (A backend with a
      tokenizer never gets there: `PromptLimit` refuses such a request before its prompt reaches the KV cache.)

    `drop`: texts left out of the stream before stop strings are matched."""

    def __init__(self, backend: Backend, request: CompletionRequest | ChatRequest, drop: tuple[str, ...] = ()):
        self._backend = backend
        self._stops = request.stop
        self._options = _stop_options(request)
        self._drop = drop
        self._limit = request.token_limit
        self.matched: str | None = None

    @property
    def name(self) -> str:
        return self._backend.name

    @property
    def chat_template(self) -> str | None:
        return self._backend.chat_template

    @property
    def context_length(self) -> int | None:
        return self._backend.context_length

    def stop_token(self, stop: str | None) -> int | None:
        """The id of the model's stop token that ended the completion with `stop`, its text; None when a stop
        string ended it, or the backend has no tokenizer to say."""
        tokenizer = getattr(self._backend, "tokenizer", None)
        if stop is None or stop == self.matched or tokenizer is None:
            return None
        return tokenizer.token_to_id(stop)

    def complete(
        self, prompt: str, sampling: SamplingParams, stops: StopOptions | None = None
    ) -> Iterator[CompletionItem]:
        options = stops or self._options
        if options is None:
            stream = self._backend.complete(prompt, sampling)
        else:
            stream = self._backend.complete(prompt, sampling, options)
        min_tokens = options.min_tokens if options else 0
        matcher = StopText(self._stops)
        generated = 0
        try:
            for item in stream:
                if isinstance(item, CompletionStart):
                    self._check_room(item.prompt_tokens)
                elif isinstance(item, PrefillProgress):
                    yield item  # no text: nothing to match
                    continue
                elif isinstance(item, TextChunk):
                    generated += item.tokens
                    text = item.text
                    for dropped in self._drop:
                        text = text.replace(dropped, "")
                    text, stop = matcher.feed(text, match=generated > min_tokens)
                    yield TextChunk(text, item.tokens)
                    if stop is not None:
                        self.matched = stop
                        yield CompletionEnd("stop", stop)
                        return
                    continue
                elif tail := matcher.flush():
                    yield TextChunk(tail, tokens=0)
                yield item
        finally:
            close = getattr(stream, "close", None)  # ends the backend's generation at the stop string
            if close is not None:
                close()

    def _check_room(self, prompt_tokens: int) -> None:
        context = self._backend.context_length
        if self._limit is not None and context and prompt_tokens + self._limit.tokens > context:
            raise no_room_error(self._limit, context, prompt_tokens)


def tool_calls_json(message: AssistantMessage) -> list[dict[str, Any]]:
    """OpenAI `tool_calls` of an assistant message. A call whose arguments could not be read keeps them as the
    model wrote them (the client's tool sees the mistake); a stop for a result without any call gives none."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _arguments(c)}}
        for c in message.tool_calls
        if c.name
    ]


def _arguments(call: ToolCall) -> str:
    written = call.error is None or call.arguments_text is not None
    return call.arguments_json if written else call.raw.partition("\n")[2].strip()
