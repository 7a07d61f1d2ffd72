"""What goes from a conversation's history when it overflows the context: its oldest turns, or a long tool result.

A history that fills the context is refused (`PromptTooLongError`) or cuts the answer short, unless
`drop_old_turns=True`: then, before a model turn whose prompt leaves the answer no room, the oldest turns go from the
history until a quarter of the context is free besides (a rolling window, as LM Studio's "context overflow policy" and
Ollama's truncation keep a chat going). A turn goes whole: a user message and everything the assistant did for it
(calls with their results), so a call is never parted from its observation; system messages, the tool list and the
turn being answered always stay, and a prompt too long by itself is refused as before. If the turn is then rolled back
(refused, or a server that could not be reached), the dropped turns come back with it. `Response.dropped_turns` counts
them. Tool results that leave the next answer no room are cut instead (`halve_longest_result`): the tools already ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .messages import Message, ObservationMessage, SystemMessage, UserMessage, halve_observation

__all__ = ["DROP_HEADROOM", "DroppedTurns", "halve_longest_result"]

# Of the context, left free when drop_old_turns has to drop (see DroppedTurns.drop_for_headroom).
DROP_HEADROOM = 0.25
# Whether these messages, as a prompt, leave the answer room and `DROP_HEADROOM` of the context free besides.
Fits = Callable[[Sequence[Message]], bool]


class DroppedTurns:
    """The turns one reply dropped from the history, oldest first, each as (its index when dropped, message)s."""

    def __init__(self) -> None:
        self._turns: list[list[tuple[int, Message]]] = []

    def __len__(self) -> int:
        return len(self._turns)

    def drop_oldest(self, messages: list[Message]) -> bool:
        """Drop the oldest turn before the one being answered (its system messages stay where they are); False
        when there is none. A turn: a user message and what followed it until the next one (what came before the
        first user message, e.g. an imported greeting, is a turn of its own)."""
        users = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
        if not users:
            return False
        current = users[-1]  # the turn being answered: never dropped
        start = next((i for i, m in enumerate(messages) if not isinstance(m, SystemMessage)), current)
        end = next((i for i in users if i > start), current)
        turn = [(i, m) for i, m in enumerate(messages[start:end], start) if not isinstance(m, SystemMessage)]
        if not turn:
            return False
        for index, _ in reversed(turn):
            del messages[index]
        self._turns.append(turn)
        return True

    def drop_for_headroom(self, messages: list[Message], fits: Fits) -> None:
        """Once turns must go, go on until `DROP_HEADROOM` of the context is free besides the answer's room. Each drop
        changes the start of the prompt, so the backend computes the whole history again (nothing of the KV cache
        is reused): dropping one turn a message would recompute a full context at every message (minutes on a CPU);
        this makes it once every few messages (llama.cpp's context shift frees half for the same reason). Not when
        the headroom is out of reach (a long message: every earlier turn gone would not free it), where it would
        only throw the history away."""
        users = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
        current = users[-1] if users else 0
        floor = [m for i, m in enumerate(messages) if i >= current or isinstance(m, SystemMessage)]
        if not fits(floor):
            return
        while not fits(messages):
            if not self.drop_oldest(messages):
                return

    def roll_back(self, messages: list[Message], turn_start: int) -> None:
        """Remove the messages of the turn that began at `turn_start` (its index before any drop) and put the
        dropped turns back where they were."""
        del messages[turn_start - sum(len(turn) for turn in self._turns) :]
        for turn in reversed(self._turns):
            for index, message in turn:
                messages.insert(index, message)
        self._turns.clear()


def halve_longest_result(messages: Sequence[Message]) -> tuple[int, ObservationMessage] | None:
    """The index of the longest result of the last tool round and that result halved (its head kept, the cut
    said); None when none is worth cutting."""
    tail = len(messages)
    while tail > 0 and isinstance(messages[tail - 1], ObservationMessage):
        tail -= 1
    index = max(range(tail, len(messages)), key=lambda i: len(messages[i].content), default=None)
    cut = None if index is None else halve_observation(messages[index])
    return None if index is None or cut is None else (index, cut)
