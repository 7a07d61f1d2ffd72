"""What a streaming response is made of: small frozen events, ending with `Done` and its `Usage`.

    ThinkingDelta*   TextDelta*   (ToolCallEvent+  ToolResultEvent+  ThinkingDelta* TextDelta* ...)*   Done

with PromptProgress events before a generation's first delta when the local engine reads a long prompt in chunks.

Deltas concatenate to the message text exactly (leading and trailing whitespace of a section is never sent), so
a display can append them as they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..tools import ToolCall, ToolResult

__all__ = [
    "Done",
    "Event",
    "FinishReason",
    "PromptProgress",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallEvent",
    "ToolResultEvent",
    "Usage",
]

# stop: a plain answer; length: the token limit; tool_calls: the model called a tool that has no Python function
# here (run it and add its result yourself); round_limit: too many tool or research rounds; cancelled: cancel()
# or an interrupt.
FinishReason = Literal["stop", "length", "tool_calls", "round_limit", "cancelled"]


@dataclass(frozen=True)
class Usage:
    """Token counts and timings of one response (summed over its generations)."""

    prompt_tokens: int = 0  # tokens of the prompt(s), reused ones included
    reused_prompt_tokens: int = 0  # of those, taken from the KV cache rather than computed
    new_tokens: int = 0  # tokens generated (the stop token included)
    time_to_first_token_s: float | None = None  # of the first generation: prompt processing + first token
    decode_tokens: int = 0  # tokens generated after each generation's first one ...
    decode_s: float = 0.0  # ... and the time they took

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.decode_tokens / self.decode_s if self.decode_s > 0 and self.decode_tokens else None

    @property
    def prefilled_tokens(self) -> int:
        """Prompt tokens actually computed."""
        return self.prompt_tokens - self.reused_prompt_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.reused_prompt_tokens + other.reused_prompt_tokens,
            self.new_tokens + other.new_tokens,
            self.time_to_first_token_s if self.time_to_first_token_s is not None else other.time_to_first_token_s,
            self.decode_tokens + other.decode_tokens,
            self.decode_s + other.decode_s,
        )


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCall  # call.error is set for a call the model wrote but that could not be read


@dataclass(frozen=True)
class ToolResultEvent:
    result: ToolResult  # result.status says ok, invalid, error, timeout, declined or not_run


@dataclass(frozen=True)
class PromptProgress:
    """The model has read `done` of the `total` prompt tokens it computes (not those reused from the KV cache); a
    long prompt is read in chunks, and this comes between them, before the reply's first delta."""

    done: int
    total: int


@dataclass(frozen=True)
class Done:
    finish_reason: FinishReason
    usage: Usage
    thinking_cut_off: bool = False  # the token limit ended the last turn inside its thinking: no answer was written
    stopped_in_thinking: bool = False  # the model itself ended the last turn inside its thinking: no answer either
    # The model stopped to wait for a tool result in a conversation that declared no tools: nothing was run, and
    # what it wrote (the call) is the answer text.
    undeclared_tool_call: bool = False
    # The model called again, exactly as before, a tool call that already failed in this reply as invalid (an
    # unknown tool, arguments that do not fit, an unreadable call): it was not run, and the reply ended there, since
    # an identical retry cannot succeed (a small model may otherwise repeat it until max_tool_rounds).
    repeated_failed_call: bool = False
    # The model looped twice: it made, a third time, a call that already ran twice in this reply and returned the
    # same result both times, was told that call was not run and asked to answer with what it had, and made such a
    # call again; that one was not run either, and the reply ended there (a small model may otherwise loop until
    # max_tool_rounds). A model that answers after the first refusal ends its reply as usual, with this False.
    looping_call: bool = False


Event = TextDelta | ThinkingDelta | ToolCallEvent | ToolResultEvent | PromptProgress | Done
