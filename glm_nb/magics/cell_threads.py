"""A magic's conversation between cells: its messages, system prompt and tools, and which cell wrote which turn.

A re-run of a cell rewinds its thread to where that cell's turn began: the later turns go, and the system prompt and
tools are put back as that turn found them, so the cell runs as it now reads (its `-s` or `--tools` may be gone),
as it would after a restart. Without cell ids (a terminal IPython) a cell is known by its text, and only the last
turn is replaced. A turn is never replaced by one of the same run: a loop calling the magic keeps every turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..chat import Message

__all__ = ["CellThread", "CellTurn"]


class CellTurn(NamedTuple):
    """Where a cell's turn begins in its thread, and the thread's settings then (a re-run puts them back)."""

    key: tuple[str, str]  # the cell's id, or its text
    start: int  # messages before it
    run: int  # the cell run that asked for it
    system: str | None
    own_system: bool
    tool_names: tuple[str, ...]


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

    def turn(self, key: tuple[str, str], start: int, run: int) -> CellTurn:
        """A turn of cell `key` beginning here, with the settings it found (take them before the cell's own)."""
        return CellTurn(key, start, run, self.system, self.own_system, self.tool_names)
