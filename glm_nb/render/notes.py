"""The notes a transcript's record ends with when its answer needs explaining: no answer text (why, and what to
do), code cut short, a tool call written with no tools given, a failed call repeated, a call looping. Each note says
what happened and what the user can do next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # transcript imports this module; the types are only for annotations
    from ..chat import Done
    from .transcript import Part, ThinkingDisplay

__all__ = ["CUT_CODE", "LOOPING_CALL", "REPEATED_CALL", "UNDECLARED_CALL", "silence_note"]

CUT_CODE = "The token limit cut this code short: what went into the next cell is incomplete."

# Done.undeclared_tool_call: what the model wrote to call a tool is the answer text, shown as it is.
UNDECLARED_CALL = (
    "The model stopped to call a tool, but this conversation gives it no tools: nothing was run, and what it wrote "
    "is shown as its answer. Ask again, or give it the tools it should use (a cell's --tools, or tools=[...] in "
    "Python)."
)

# Done.repeated_failed_call: the last card is a call that already failed, made again as it was.
REPEATED_CALL = (
    "The model made again a tool call that had already failed (see its first card), so it was not run and the "
    "reply ended there. Ask again in other words, or check that the tool it wants is given to it with the right "
    "parameters (a cell's --tools, or tools=[...] in Python)."
)

# Done.looping_call: a call made a third time after it returned the same result twice was not run, the model was
# asked to answer with what it had, and it looped again; the last card is that call, not run either.
LOOPING_CALL = (
    "The model made the same tool call a third time after it had returned the same result twice, was told it was "
    "not run and to answer with what it had, and made such a call again (see its cards), so that one was not run "
    "either and the reply ended there. Ask again, e.g. for an answer from the results it has, or check that the tool "
    "returns what the model needs (a tool meant to be polled, such as a job's status, takes "
    "@glm_nb.tool(repeatable=True))."
)


def silence_note(parts: list[Part], reason: str, done: Done | None, thinking: ThinkingDisplay) -> str:
    """A note for a reply that shows no answer text, so an empty output is never a mystery. Its last turn may have
    ended inside its thinking after tool rounds, too: their cards do not explain the missing answer."""
    if done is not None and done.stopped_in_thinking:
        if not parts or parts[-1].kind != "thinking":  # nothing thought this turn: no thinking to point to
            return "The model stopped as soon as it began thinking, so there is no answer. Ask again."
        read = "show its thinking (--thinking shown)" if thinking == "hidden" else "open its thinking"
        return (
            "The model stopped while still thinking (it never closed its thinking), so there is no answer. Ask "
            f"again, or {read} to see how far it got."
        )
    if done is not None and done.thinking_cut_off:
        return "The model reached the token limit while still thinking; allow more tokens (-n)."
    if any(p.kind == "tool" for p in parts):
        return ""
    if reason == "length":
        thought = any(p.kind == "thinking" for p in parts)
        where = "while still thinking" if thought else "before writing any answer text"
        return f"The model reached the token limit {where}; allow more tokens (-n)."
    if reason == "cancelled":
        return "Interrupted before any answer text."
    return "The model wrote no answer text."
