"""One generation: prompt in, events out, one `AssistantMessage` committed to history, however it ends.

`run_turn` is a generator of events whose return value is a `TurnOutcome` (use `yield from`). It checks the
cancel flag after every chunk (one per token from `LocalBackend`), and commits the message exactly once: at the
end, when cancelled, and also when a KeyboardInterrupt or a `close()` stops it midway (then marked
"interrupted", with whatever text was visible), so the history a conversation holds is always well formed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass

from ..engine import SamplingParams
from ..tools import ToolCall, parse_tool_calls
from .backend import Backend, CompletionEnd, CompletionStart, PrefillProgress, TextChunk
from .events import Event, PromptProgress, TextDelta, ThinkingDelta, ToolCallEvent, Usage
from .messages import AssistantEnd, AssistantMessage
from .streaming import THINK_OPEN, AnswerStream, ThinkingSplitter

__all__ = ["OBSERVATION_TOKEN", "TurnOutcome", "run_turn"]

OBSERVATION_TOKEN = "<|observation|>"  # FORMAT.md: stopping on it means "a tool call waits for its result"


@dataclass(frozen=True)
class TurnOutcome:
    message: AssistantMessage
    stop: str | None  # the stop token that ended the turn, if any
    usage: Usage


def run_turn(
    backend: Backend,
    prompt: str,
    sampling: SamplingParams,
    *,
    cancel: threading.Event,
    commit: Callable[[AssistantMessage], None],
    tool_calls: bool = True,
    tool_names: Collection[str] = (),
) -> Generator[Event, None, TurnOutcome]:
    """Generate one assistant turn for `prompt`, streaming thinking and text deltas, then its tool calls.

    tool_calls=False: the answer is read as text only (a conversation that declared no tools; the Rumination loop,
    which parses its own action format).
    tool_names: the declared tools. An answer shaped like a call ("Solution" on a line, then a code block) is a
    call when the model stops to wait for its result (`<|observation|>`) or names a declared tool; otherwise the
    turn is over and it was text.
    """
    state = _TurnState(thinking=prompt.rstrip().endswith(THINK_OPEN), tool_calls=tool_calls, names=tool_names)
    stream = backend.complete(prompt, sampling)
    end: CompletionEnd | None = None
    committed = False
    try:
        for item in stream:
            if isinstance(item, PrefillProgress):
                yield PromptProgress(item.done, item.total)
            elif isinstance(item, TextChunk):
                state.count(item.tokens)
                yield from state.feed(item.text)
            elif isinstance(item, CompletionStart):
                state.start = item
            else:
                end = item
                state.count(item.tokens)
                break
            if cancel.is_set():
                break
        yield from state.flush(end.stop if end else None)
        message = state.message(_end_reason(end), end.stop if end else None)
        commit(message)
        committed = True
        for call in message.tool_calls:
            yield ToolCallEvent(call)
        return TurnOutcome(message, end.stop if end else None, state.usage())
    except Exception:  # PromptTooLongError, a server that refused or could not be reached, ...
        if state.start is None and not state.thinking and not state.answer.raw:
            committed = True  # the prompt never went in: no turn began, so there is none to keep
        raise
    finally:
        if not committed:  # KeyboardInterrupt, GeneratorExit or a backend error: keep history well formed
            commit(state.message("interrupted", None))
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def leaves_room(backend: Backend, prompt: str, sampling: SamplingParams, spare: float = 0.0) -> bool:
    """Whether `prompt` leaves the answer room in the backend's context: its `max_new_tokens`, or an eighth of the
    context if that is less, and `spare` of the context besides. A loop that cut a tool result or a page to make the
    prompt fit asks this too, since a prompt that only just fits leaves no room for the answer. True when the
    backend cannot count tokens."""
    tokenizer, context = getattr(backend, "tokenizer", None), backend.context_length
    if tokenizer is None or not context:
        return True
    room = min(sampling.max_new_tokens, max(context // 8, 1)) + int(spare * context)
    return len(tokenizer.encode(prompt)) + room <= context


def _end_reason(end: CompletionEnd | None) -> AssistantEnd:
    if end is None:
        return "interrupted"
    return "length" if end.reason == "length" else "stop"


class _TurnState:
    """The splitters and counters of one turn."""

    def __init__(self, thinking: bool, tool_calls: bool, names: Collection[str] = ()):
        self.splitter = ThinkingSplitter(thinking)
        self.answer = AnswerStream(tool_calls)
        self.tool_calls = tool_calls
        self.names = frozenset(names)
        self.released = False  # the call-shaped answer turned out to be text
        self.thinking: list[str] = []
        self.start: CompletionStart | None = None
        self._t0 = time.perf_counter()
        self._first: float | None = None
        self._last: float | None = None
        self._tokens = 0
        self._first_tokens = 0

    def count(self, tokens: int) -> None:
        if tokens <= 0:
            return
        now = time.perf_counter()
        if self._first is None:
            self._first, self._first_tokens = now, tokens
        self._last = now
        self._tokens += tokens

    def feed(self, text: str) -> Generator[Event, None, None]:
        yield from self._events(self.splitter.feed(text))

    def flush(self, stop: str | None = None) -> Generator[Event, None, None]:
        yield from self._events(self.splitter.flush())
        names = self.answer.segment_names()
        self.released = bool(names) and stop != OBSERVATION_TOKEN and not self.names.intersection(names)
        if text := self.answer.finish(release_calls=self.released):
            yield TextDelta(text)

    def _events(self, pieces: list) -> Generator[Event, None, None]:
        for section, text in pieces:
            if section == "thinking":
                self.thinking.append(text)
                yield ThinkingDelta(text)
            elif visible := self.answer.feed(text):
                yield TextDelta(visible)

    def message(self, end: AssistantEnd, stop: str | None) -> AssistantMessage:
        thinking = "".join(self.thinking) if self.splitter.has_thinking else None
        complete = self.splitter.closed or not self.splitter.has_thinking
        calls: tuple[ToolCall, ...] = ()
        if end != "interrupted" and self.tool_calls and not self.released:
            calls = tuple(parse_tool_calls(self.answer.raw))
            if not calls and stop == OBSERVATION_TOKEN:
                calls = (_missing_call(self.answer.raw, in_thinking=not complete),)
            if calls and end == "stop":
                end = "tool_calls"
        return AssistantMessage(self.answer.text, thinking, calls, end, complete)

    def usage(self) -> Usage:
        first, last = self._first, self._last
        return Usage(
            prompt_tokens=self.start.prompt_tokens if self.start else 0,
            reused_prompt_tokens=self.start.reused_prompt_tokens if self.start else 0,
            new_tokens=self._tokens,
            time_to_first_token_s=None if first is None else first - self._t0,
            decode_tokens=self._tokens - self._first_tokens,
            decode_s=0.0 if first is None or last is None else last - first,
        )


def _missing_call(raw: str, in_thinking: bool) -> ToolCall:
    """The model stopped to wait for a tool result but wrote no readable call: inside its thinking (which never
    closed), after text (a call must begin the message), or nothing at all."""
    if in_thinking:
        problem = " inside your thinking, and wrote no call after it. Close your thinking with </think>, then write"
    elif raw.strip():
        problem = ", but wrote no call at the start of your message. With nothing before it, write"
    else:
        problem = ", but wrote no call. Write"
    return ToolCall(
        "",
        error=f"you stopped to wait for a tool result{problem} the tool name alone on the first line, then its "
        'arguments as one JSON object, e.g.\nget_weather\n{"city": "Paris"}',
        raw=raw,
    )
