"""A magic's conversation between cells: its messages, system prompt and tools, and which cell wrote which turn.

A re-run of a cell rewinds its thread to where that cell's turn began: the later turns go, and the system prompt and
tools are put back as that turn found them, so the cell runs as it now reads (its `-s` or `--tools` may be gone),
as it would after a restart. Without cell ids (a terminal IPython) a cell is known by its text, and only the last
turn is replaced. A turn is never replaced by one of the same run: a loop calling the magic keeps every turn.

A cell's `--new` sets the conversation so far aside rather than forget it: cells A, B (`--new`), C, then A again
goes back to A's own conversation, rewound to before A's turn, as a restart and "Run all" would run it (not after C
in B's); then C again goes back to B's. A new cell goes on from the cell run last. Only the latest `KEPT_ASIDE`
conversations per magic are kept aside (a cell of an older one goes on from the cell run last, as before). B re-run
without its `--new` goes on from the conversation before its own (`joined_thread`), as a restart would run it: after
A's turn rather than afresh; the conversation it began is forgotten.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from ..chat import Message

__all__ = ["KEPT_ASIDE", "CellThread", "CellTurn", "home_thread", "joined_thread", "set_aside"]

KEPT_ASIDE = 20  # conversations set aside by --new, per magic


class CellTurn(NamedTuple):
    """Where a cell's turn begins in its thread, and the thread's settings then (a re-run puts them back)."""

    key: tuple[str, str]  # the cell's id, or its text
    start: int  # messages before it
    run: int  # the cell run that asked for it
    system: str | None
    own_system: bool
    tool_names: tuple[str, ...]
    new: bool = False  # the cell's --new began the thread with this turn


@dataclass
class CellThread:
    """One variant's conversation between cells. messages: without the system prompt, which is kept apart."""

    messages: list[Message] = field(default_factory=list)
    system: str | None = None
    tool_names: tuple[str, ...] = ()
    turns: list[CellTurn] = field(default_factory=list)
    own_system: bool = False  # a cell's -s set `system`: `%glm config -s` no longer replaces it

    def rewind_for(self, key: tuple[str, str], run: int) -> bool:
        """Drop the turn `key` wrote in an earlier run than `run`, and every later one, and put back the system
        prompt and tools of before it. By text, only the last turn counts."""
        turn = self.replaced_turn(key, run)
        if turn is None:
            return False
        del self.messages[turn.start :]
        del self.turns[self.turns.index(turn) :]
        self.system, self.own_system, self.tool_names = turn.system, turn.own_system, turn.tool_names
        return True

    def replaced_turn(self, key: tuple[str, str], run: int) -> CellTurn | None:
        """The turn a cell `key` in run `run` replaces, if any (see `rewind_for`)."""
        for index, turn in enumerate(self.turns):
            if turn.key == key and turn.run != run and (key[0] == "cell" or index == len(self.turns) - 1):
                return turn
        return None

    def turn(self, key: tuple[str, str], start: int, run: int, new: bool = False) -> CellTurn:
        """A turn of cell `key` beginning here, with the settings it found (take them before the cell's own)."""
        return CellTurn(key, start, run, self.system, self.own_system, self.tool_names, new)

    def forget_configured_system(self) -> None:
        """`%glm config --clear`: the system prompt the defaults gave goes, also from the turns' settings, which a
        re-run would put back; one a cell's own -s set stays."""
        if not self.own_system:
            self.system = None
        self.turns = [turn if turn.own_system else turn._replace(system=None) for turn in self.turns]

    def copy(self) -> CellThread:
        """A copy whose messages and turns change apart from this thread's."""
        return dataclasses.replace(self, messages=list(self.messages), turns=list(self.turns))

    def has_cell_turns(self) -> bool:
        """Whether a re-run of one of its cells (known by id) can find it."""
        return any(turn.key[0] == "cell" for turn in self.turns)


def home_thread(
    current: CellThread | None, aside: list[CellThread], key: tuple[str, str], run: int
) -> CellThread | None:
    """The thread holding the turn a re-run of cell `key` replaces: the current one, else one set aside (by cell id
    only: a cell known by its text replaces only the current thread's last turn); None for a cell not run before."""
    if current is not None and current.replaced_turn(key, run) is not None:
        return current
    if key[0] != "cell":
        return None
    return next((thread for thread in reversed(aside) if thread.replaced_turn(key, run) is not None), None)


def joined_thread(current: CellThread | None, aside: list[CellThread], home: CellThread) -> CellThread | None:
    """The thread a re-run cell goes on from once its `--new` is gone (its turn began `home`): the current one, as a
    new cell would, or when that is `home` itself, the one set aside last (the conversation before it); None: none."""
    if current is not home:
        return current
    return aside[-1] if aside else None


def set_aside(aside: list[CellThread], current: CellThread | None, following: CellThread) -> list[CellThread]:
    """The threads set aside once `following` becomes the current thread: `current` joins them (the latest last),
    `following` leaves them, and so does one no cell can come back to."""
    threads = [*aside, *([current] if current is not None else [])]
    return [thread for thread in threads if thread is not following and thread.has_cell_turns()][-KEPT_ASIDE:]
