"""`Response`: the lazy, replayable stream of one reply (after simonw/llm's Response).

Nothing runs until the response is iterated (or `text()` etc. is called); iterating again replays the events
already produced and continues. `cancel()` may be called from any thread: the running generation stops at its
next token and the partial answer stays in history marked "interrupted". A KeyboardInterrupt inside the loop
leaves the same history; if it lands in the caller's own loop body instead, the conversation finishes the
response (cancelled) before its next turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from ..tools import ToolCall, ToolResult
from .errors import ConversationBusyError
from .events import Done, Event, FinishReason, ToolCallEvent, ToolResultEvent, Usage
from .messages import AssistantMessage, Message

__all__ = ["Response"]


class Response:
    """Iterate for events (`TextDelta`, `ThinkingDelta`, `ToolCallEvent`, `ToolResultEvent`, `PromptProgress`,
    `Done`), or call `text()`, `thinking()`, `tool_calls()`, `tool_results()`, `usage()`, which finish the stream
    first."""

    def __init__(self, run: Callable[[Response], Iterator[Event]], on_message: Callable[[Message], None]):
        self._run = run
        self._on_message = on_message
        self._source: Iterator[Event] | None = None
        self._events: list[Event] = []
        self._added: list[Message] = []
        self._done = False
        self._running = False
        self._cancel = threading.Event()
        self.usage_so_far = Usage()  # updated after each generation; complete once done
        self.dropped_turns = 0  # earlier turns this reply dropped from the history to fit (drop_old_turns=True)

    # -- the stream -----------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        index = 0
        while index < len(self._events) or self._advance():
            yield self._events[index]
            index += 1

    def _advance(self) -> bool:
        """Produce one more event; False when the stream is over."""
        if self._done:
            return False
        if self._running:
            raise ConversationBusyError(
                "This response is already being generated (a tool or callback asked for it while it runs); "
                "wait for the reply to finish before sending another message."
            )
        if self._source is None:
            self._source = iter(self._run(self))
        self._running = True
        try:
            self._events.append(next(self._source))
            return True
        except StopIteration:
            self._done = True
            return False
        except BaseException:
            self._done = True  # the run recorded what it had; nothing more will come
            raise
        finally:
            self._running = False

    def cancel(self) -> None:
        """Stop at the next token (thread-safe). The partial answer stays in history, marked interrupted."""
        self._cancel.set()

    def discard(self) -> None:
        """End a response that never started without running it (its conversation was rewound or cleared): no
        generation, no tool runs, finish reason "cancelled"."""
        if self._source is None and not self._done:
            self._cancel.set()
            self._done = True
            self._events.append(Done("cancelled", Usage(), False))

    def finish(self) -> None:
        """Run the stream to its end (a cancelled one ends at once)."""
        while self._advance():
            pass

    # -- state ----------------------------------------------------------------------------------------------------
    @property
    def cancel_event(self) -> threading.Event:
        return self._cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def started(self) -> bool:
        return self._source is not None

    @property
    def done(self) -> bool:
        return self._done

    def record(self, message: Message) -> None:
        """Add a message to the conversation's history on this response's behalf."""
        self._added.append(message)
        self._on_message(message)

    def record_unstreamed(self, message: Message, event: Event) -> None:
        """Record `message` and its `event` when the stream cannot yield it (an interrupt is unwinding it): the
        event joins the events, so a replay (`events()`, `tool_results()`) shows what history holds."""
        self.record(message)
        self._events.append(event)

    def replace_message(self, old: Message, new: Message) -> None:
        """The conversation rewrote one of this response's messages (a tool result cut to fit the context)."""
        self._added = [new if m is old else m for m in self._added]

    @property
    def recorded(self) -> bool:
        """Whether this response has added any message to the conversation yet (does not run the stream)."""
        return bool(self._added)

    def forget_messages(self) -> None:
        """The conversation dropped this response's messages (a failed turn is rolled back)."""
        self._added.clear()

    # -- results (each finishes the stream first) -----------------------------------------------------------------
    def events(self) -> list[Event]:
        self.finish()
        return list(self._events)

    def messages(self) -> list[Message]:
        """The messages this response added to the conversation (assistant turns, observations)."""
        self.finish()
        return list(self._added)

    def text(self) -> str:
        """The answer: the text of the last assistant turn."""
        last = self._last_assistant()
        return last.text if last else ""

    def thinking(self) -> str:
        """The thinking of the last assistant turn ("" when it had none)."""
        last = self._last_assistant()
        return (last.thinking or "") if last else ""

    def tool_calls(self) -> list[ToolCall]:
        return [e.call for e in self.events() if isinstance(e, ToolCallEvent)]

    def tool_results(self) -> list[ToolResult]:
        return [e.result for e in self.events() if isinstance(e, ToolResultEvent)]

    def usage(self) -> Usage:
        self.finish()
        return self.usage_so_far

    @property
    def finish_reason(self) -> FinishReason | None:
        """Once done: why it ended (a response ended by an exception counts as cancelled); None before."""
        if not self._done:
            return None
        done = next((e for e in reversed(self._events) if isinstance(e, Done)), None)
        return done.finish_reason if done else "cancelled"

    def _last_assistant(self) -> AssistantMessage | None:
        self.finish()
        return next((m for m in reversed(self._added) if isinstance(m, AssistantMessage)), None)

    def __repr__(self) -> str:
        state = "done" if self._done else ("running" if self.started else "not started")
        return f"<Response {state}, {len(self._events)} events>"
