"""Streaming one reply into a display, shared by the magics and the chat panel (no IPython here).

A `ReplySink` receives `Transcript` snapshots while the reply streams (at most one per `refresh_s`, so a fast model
does not flood the frontend) and the final record once. A snapshot is rendered from the whole reply so far (its
markdown and HTML), so it costs more as the reply grows (~0.1 s for 8,000 words here): the next one waits at least
`UPDATE_SPACING` times as long as the last took, which keeps the generation running at least 80% of the time however
long the reply (a 30,000-token GLM-Z1 thinking otherwise spent most of its time redrawing itself). Only text and
thinking wait so: a tool call, its result or the end is shown as it comes. Interrupting
(KeyboardInterrupt, from the kernel's interrupt or raised in a sink) cancels the response: the chat layer commits the
partial answer to history marked interrupted, the backend is left ready for the next turn, and the record ends with
finish reason "cancelled", its tool cards as history has them (a call the interrupt cut short "may have done its
work", not "not run"). One that lands after the reply ended, while its record is made or shown, shows the record all
the same and goes on to the caller as `RecordInterrupted`, which keeps the turn, then stops.
Any other exception (a context that fills up during a tool round, a failing backend) ends the record with finish
reason "error" and the message as its note, so the display never stays "generating…"; then the exception goes on
to the caller, which says what to do.

A reply cut at the token limit may have been cut by its own limit (-n) or by the context, full of the conversation;
the record's note says which when it was the context, and how to go on: a new conversation, or dropping the oldest
turns (`drop_old_turns`). A reply that dropped turns to fit says how many in its record's note (one ended by an
error says only the error: its caller keeps neither its turn nor the drops).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Protocol

from ..chat import Conversation, Response, TextDelta, ThinkingDelta
from ..render import Transcript, TranscriptBuilder

__all__ = ["RecordInterrupted", "ReplySink", "UPDATE_SPACING", "context_full_note", "stream_reply"]

UPDATE_SPACING = 5.0  # a snapshot's interval is at least this many times what the last one took (render + send)


class ReplySink(Protocol):
    def update(self, transcript: Transcript) -> None:
        """A snapshot while streaming (finish_reason None)."""

    def finish(self, transcript: Transcript) -> None:
        """The final record."""


def stream_reply(
    response: Response,
    builder: TranscriptBuilder,
    sink: ReplySink,
    *,
    refresh_s: float = 0.1,
    final_answer: Callable[[Response], str | None] = lambda response: None,
    length_note: Callable[[], str | None] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
) -> Transcript:
    """Iterate `response` into `sink`; returns the final transcript (also given to `sink.finish`). `length_note()`:
    why a reply that ended at the token limit was cut, when not by its own limit (see `context_full_note`).
    refresh_s <= 0 shows every event (tests)."""
    shown, spacing = float("-inf"), 0.0
    interrupted = False
    added = 0  # events given to the builder
    try:
        for event in response:
            builder.add(event)
            added += 1
            now = clock()
            # A tool call or result is shown at once: the reply may wait on the tool for a minute.
            due = refresh_s <= 0 or not isinstance(event, (TextDelta, ThinkingDelta))
            if due or now - shown >= max(refresh_s, spacing):
                sink.update(builder.snapshot())
                shown, spacing = now, UPDATE_SPACING * (clock() - now)
    except KeyboardInterrupt:
        interrupted = True
        response.cancel()  # if it landed outside the response's own loop, this stops it at its next token
        response.finish()
        for event in response.events()[added:]:  # what came after (e.g. the result of the call it cut short)
            builder.add(event)
    except Exception as error:
        sink.finish(builder.finish(usage=response.usage_so_far, error=str(error) or type(error).__name__))
        raise
    try:
        transcript = _final_record(response, builder, interrupted, final_answer, length_note)
        sink.finish(transcript)
    except KeyboardInterrupt:
        # The reply had ended (history has it), so only its record was left to make and show: done again, or the
        # saved notebook would say "generating…" for good. The caller keeps the turn, then stops.
        transcript = _final_record(response, builder, interrupted, final_answer, length_note)
        sink.finish(transcript)
        raise RecordInterrupted(transcript) from None
    return transcript


class RecordInterrupted(KeyboardInterrupt):
    """An interrupt that landed while the final record of an ended reply was made or shown; it is shown all the
    same, and `transcript` is it. An interrupt still: the caller keeps the turn as usual, then stops."""

    def __init__(self, transcript: Transcript):
        super().__init__()
        self.transcript = transcript


def _final_record(
    response: Response,
    builder: TranscriptBuilder,
    interrupted: bool,
    final_answer: Callable[[Response], str | None],
    length_note: Callable[[], str | None],
) -> Transcript:
    answer = None if interrupted else final_answer(response)
    reason = "cancelled" if interrupted else (response.finish_reason or "cancelled")
    transcript = builder.finish(answer, finish_reason=reason, usage=response.usage_so_far)
    if reason == "length" and (why := length_note()):
        # Without an answer the builder's note advises more tokens (-n), which cannot help here: replaced.
        note = " ".join(filter(None, (transcript.note, why))) if transcript.answer else why
        transcript = dataclasses.replace(transcript, note=note)
    return _with_dropped_note(transcript, response)


def _with_dropped_note(transcript: Transcript, response: Response) -> Transcript:
    """The record, its note first saying how many earlier turns the reply dropped to fit the context, if any."""
    count = response.dropped_turns
    if not count:
        return transcript
    turns = "turn" if count == 1 else f"{count} turns"
    dropped = (
        f"To fit the model's context, the oldest {turns} of the conversation {'was' if count == 1 else 'were'} "
        "dropped: the model no longer sees them."
    )
    return dataclasses.replace(transcript, note=" ".join(filter(None, (dropped, transcript.note))))


def context_full_note(response: Response, conversation: Conversation, way_on: str) -> str | None:
    """The note for a reply cut at the token limit by the context rather than by its own limit, with `way_on`: how
    to start a new conversation where the user is; None when its own limit may have cut it. A reply that generated
    fewer tokens than its limit allows can only have been cut by the context (also a GLM-Z1 reply whose thinking,
    which history does not keep, filled it); otherwise the context is full when the history leaves no room."""
    if response.usage_so_far.new_tokens >= conversation.sampling.max_new_tokens and conversation.leaves_room():
        return None
    context = conversation.backend.context_length
    if conversation.drop_old_turns:  # `way_on` offers it, or a new conversation: the next message goes on by itself
        way_on = "The next message drops the oldest turns to make room for its answer."
    size = f" ({context:,} tokens)" if context else ""  # a server that lists no max_model_len
    return f"This reply was cut short: with the conversation before it, it filled the model's context{size}. {way_on}"
