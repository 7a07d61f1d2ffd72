"""A magic's conversation between cells: its messages, system prompt and tools, and which cell wrote which turn.

A re-run of a cell rewinds its thread to where that cell's turn began: the later turns go, and the system prompt and
tools are put back as that turn found them, so the cell runs as it now reads (its `-s` or `--tools` may be gone),
as it would after a restart. Without cell ids (a terminal IPython) a cell is known by its text, and only the last
turn is replaced. A turn is never replaced by one of the same run: a loop calling the magic keeps every turn.

A cell's `--new` sets the conversation so far aside rather than forget it: cells A, B (`--new`), C, then A again
goes back to A's own conversation, rewound to before A's turn, as a restart and "Run all" would run it (not after C
in B's); then C again goes back to B's. A new cell goes on from the cell run last. Only the latest `KEPT_ASIDE`
conversations per magic are kept aside (a cell of an older one goes on from the cell run last, as before).

B re-run without its `--new` goes on from the conversation before its own, as a restart would run it: the turn its
`--new` began notes the cell before it (`CellTurn.after`: the last turn of the conversation it set aside), and B
goes on from that cell's conversation, rewound to just after that cell's turn (`joined_thread`); afresh if that
turn is gone. A cell whose turn lands right after that one is now the cell before B (`placed_after`), so a cell
run in between (a new one below A) is not dropped by B's re-run, and every turn stays in one conversation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

from ..chat import Message

__all__ = [
    "KEPT_ASIDE", "CellThread", "CellTurn", "Placement", "home_thread", "joined_thread", "placed_after", "set_aside",
]  # fmt: skip

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
    after: tuple[str, str] | None = None  # with `new`: the cell before it, whose conversation it set aside


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
        self._rewind_to(turn)
        return True

    def rewind_after(self, key: tuple[str, str]) -> None:
        """Drop every turn after the last one cell `key` wrote, as a restart would leave the thread for the cell
        that follows it; settings as that cell left them."""
        following = self._turn_after(key)
        if following is not None:
            self._rewind_to(following)

    def tools_after(self, key: tuple[str, str]) -> tuple[str, ...]:
        """The tools a turn right after cell `key`'s finds (see `rewind_after`)."""
        following = self._turn_after(key)
        return self.tool_names if following is None else following.tool_names

    def has_turn_of(self, key: tuple[str, str]) -> bool:
        """Whether cell `key` wrote one of its turns (in any run)."""
        return any(turn.key == key for turn in self.turns)

    def _turn_after(self, key: tuple[str, str]) -> CellTurn | None:
        index = max(i for i, turn in enumerate(self.turns) if turn.key == key)
        return self.turns[index + 1] if index + 1 < len(self.turns) else None

    def _rewind_to(self, turn: CellTurn) -> None:
        del self.messages[turn.start :]
        del self.turns[self.turns.index(turn) :]
        self.system, self.own_system, self.tool_names = turn.system, turn.own_system, turn.tool_names

    def replaced_turn(self, key: tuple[str, str], run: int) -> CellTurn | None:
        """The turn a cell `key` in run `run` replaces, if any (see `rewind_for`)."""
        for index, turn in enumerate(self.turns):
            if turn.key == key and turn.run != run and (key[0] == "cell" or index == len(self.turns) - 1):
                return turn
        return None

    def turn(
        self, key: tuple[str, str], start: int, run: int, new: bool = False, after: tuple[str, str] | None = None
    ) -> CellTurn:
        """A turn of cell `key` beginning here, with the settings it found (take them before the cell's own)."""
        return CellTurn(key, start, run, self.system, self.own_system, self.tool_names, new, after if new else None)

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


def joined_thread(threads: list[CellThread], home: CellThread, after: tuple[str, str] | None) -> CellThread | None:
    """The thread a re-run cell goes on from once its `--new` is gone (its turn began `home`): the one with the
    turn of `after`, the cell before it (rewind it with `rewind_after`); None: that turn is gone, start afresh."""
    if after is None:
        return None
    return next((thread for thread in reversed(threads) if thread is not home and thread.has_turn_of(after)), None)


class Placement(NamedTuple):
    """Where a cell's turn goes (`Placement.of`), worked out before anything changes."""

    following: CellThread  # the thread its turn goes on, not yet rewound (a new one: not yet kept)
    home: CellThread | None  # the thread with the turn a re-run replaces
    replaced: CellTurn | None  # that turn
    after: tuple[str, str] | None  # the cell before it as a restart would run them, when `following` is not home

    @classmethod
    def of(
        cls, current: CellThread | None, aside: list[CellThread], key: tuple[str, str] | None, run: int, new: bool
    ) -> Placement:
        """A cell `key` of run `run` (`new`: with --new) goes on a new thread with --new, else on its own (`home`),
        except one its --new began when the --new is gone: then on the cell before it's (`joined_thread`); else on
        the current one (a new cell goes on from the cell run last)."""
        home = None if key is None else home_thread(current, aside, key, run)
        replaced = None if home is None or key is None else home.replaced_turn(key, run)
        if replaced is not None and replaced.new:
            after = replaced.after  # the cell before it stays, with or without --new
        elif not new:
            after = None
        elif home is not None and replaced is not None:  # --new added: the cell before it in its conversation
            index = home.turns.index(replaced)
            after = home.turns[index - 1].key if index > 0 else None
        else:
            after = current.turns[-1].key if current is not None and current.turns else None  # the cell run last
        if new:
            following = None
        elif home is not None and replaced is not None and replaced.new:  # as a restart would run it, not afresh
            following = joined_thread([*aside, *([current] if current is not None else [])], home, after)
        else:
            following = home if home is not None else current
        return cls(CellThread() if following is None else following, home, replaced, after)

    @property
    def joins(self) -> bool:
        """Whether the turn goes on right after the cell before it, in another thread than its own."""
        return self.following is not self.home and self.after is not None and self.following.has_turn_of(self.after)

    def tool_names(self) -> tuple[str, ...]:
        """The tools the turn finds: as before the turn a re-run replaces, or as the cell before it left them."""
        if self.replaced is not None and self.following is self.home:
            return self.replaced.tool_names
        return self.following.tools_after(self.after) if self.joins and self.after else self.following.tool_names


def placed_after(
    threads: list[CellThread], previous: Collection[tuple[str, str] | None], key: tuple[str, str]
) -> None:
    """Cell `key`'s turn now follows the cells `previous` (a re-run dropped those after it, or it was run right after
    one): a `--new` turn that noted one of them as the cell before it notes `key` instead, so that its re-run without
    `--new` goes on right after `key`'s turn and drops no turn."""
    for thread in threads:
        thread.turns = [
            turn._replace(after=key) if turn.new and turn.after in previous and turn.key != key else turn
            for turn in thread.turns
        ]


def set_aside(aside: list[CellThread], current: CellThread | None, following: CellThread) -> list[CellThread]:
    """The threads set aside once `following` becomes the current thread: `current` joins them (the latest last),
    `following` leaves them, and so does one no cell can come back to."""
    threads = [*aside, *([current] if current is not None else [])]
    return [thread for thread in threads if thread is not following and thread.has_cell_turns()][-KEPT_ASIDE:]
