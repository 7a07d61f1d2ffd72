"""One corpus example (`Sample`) and the seeded chooser (`Picker`) that keeps the evaluation sets held out.

Splits:
- `train`: training phrasings and values, and not one of the combinations reserved for evaluation (with
  `invent`, that share of its cities and names is invented instead, with `invent_topics` that share of its
  search topics, with `invent_labels` that share of its button labels and card titles: `vocab.made_up`);
- `combos`: training phrasings and values, in combinations that training never draws (a stable hash of the
  skill, phrasing and values picks one in ten for evaluation);
- `phrasings`: the held-out phrasings (every fifth of each list), training values;
- `unseen`: training phrasings, values from `vocab.UNSEEN` and held-out numbers.

`local_research` (any split) is the share of Rumination samples whose observations are generated documents shown
as the research loop shows `LocalCorpus` results (`documents.py`); `notebook_research` (training only) the share of
English ones that search the notebook's own documents in a checkout drawn at random (`documents.notebook_results`);
`loop_history` (training only) the share of Rumination samples shown as the research loop shows them: one
generation, after the earlier actions without their thinking; `casual` (training only) the share of chat
messages typed casually, without the closing punctuation and often in lower case ("hi", "who are you"), and
of every other skill's requests too (without their first capital).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from .phrasings import FILLERS
from .vocab import INVENTABLE, INVENTABLE_LABELS, INVENTABLE_TOPICS, TRAIN, UNSEEN, made_up, number_is_unseen

__all__ = ["SPLITS", "Sample", "Mix", "FIRST_RECIPE", "Picker", "Retry"]

SPLITS = ("train", "combos", "phrasings", "unseen")
_HELD_OUT_EVERY = 5
_COMBO_BUCKETS = 10
_DEMO_NUMBERS = frozenset({10, 17, 19, 23, 40, 42})  # in the notebooks' demo prompts: always training values


@dataclass(frozen=True)
class Sample:
    """A dialog in chat-message form. Assistant messages the model must produce carry `"gen": True`, and an
    optional `"stop"` when the token the model emits after them is not the next message's role token."""

    skill: str
    lang: str
    messages: tuple[dict, ...]
    tools: tuple[dict, ...] | None = None
    z1: bool = False
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Mix:
    """The options of a training corpus, each a share, 0 in the first recipe: `invent` of cities and names,
    `invent_topics` of search topics, `invent_labels` of button labels and card titles (invented instead of listed:
    `vocab.made_up`), `local_research` of Rumination samples that search generated local documents,
    `notebook_research` of English Rumination samples that search the notebook's own documents, `loop_history`
    of Rumination samples that train one generation after a history without thinking, as the loop renders it,
    `casual` of messages typed casually (corpus.casual), and `openers` of extra samples that open a conversation
    with a bare greeting, thanks or short question, typed as people type one (corpus.typed_opener)."""

    invent: float = 0.0
    local_research: float = 0.0
    invent_topics: float = 0.0
    invent_labels: float = 0.0
    notebook_research: float = 0.0
    loop_history: float = 0.0
    casual: float = 0.0
    openers: float = 0.0

    def __post_init__(self):
        # Every Rumination sample may search local documents; inventing every value would leave no listed one.
        for name, share in asdict(self).items():
            closed = name in ("local_research", "notebook_research", "loop_history", "casual")
            if not (0.0 <= share <= 1.0 if closed else 0.0 <= share < 1.0):
                raise ValueError(f"{name} is a share in [0, 1{']' if closed else ')'}, got {share}")

    def invents(self) -> bool:
        return bool(self.invent or self.invent_topics or self.invent_labels)

    def training_only(self) -> bool:
        """Whether an option is on that only training may use (the evaluation's sets stay what they were)."""
        return self.invents() or bool(self.notebook_research or self.loop_history or self.casual or self.openers)


FIRST_RECIPE = Mix()  # no option on: the corpus the shipped checkpoint began with


class Retry(Exception):
    """The drawn combination belongs to another split: draw again."""


class Picker:
    """Seeded choices for one sample in one split; remembers what it chose, to place the combination."""

    def __init__(self, rng: random.Random, split: str, invent: float = 0.0, local_research: float = 0.0,
                 invent_topics: float = 0.0, invent_labels: float = 0.0, notebook_research: float = 0.0,
                 loop_history: float = 0.0, casual: float = 0.0, openers: float = 0.0):  # fmt: skip
        assert split in SPLITS, split
        self.mix = Mix(invent, local_research, invent_topics, invent_labels, notebook_research, loop_history, casual,
                       openers)  # fmt: skip
        assert not self.mix.training_only() or split == "train", "these corpus options are for training only"
        self.rng = rng
        self.split = split
        self._key: list[str] = []

    @classmethod
    def mixed(cls, rng: random.Random, split: str, mix: Mix) -> Picker:
        """A picker for `split` with the corpus options of `mix`."""
        return cls(rng, split, **asdict(mix))

    def phrase(self, key: str, options: tuple[str, ...]) -> str:
        """A phrasing from a list: held-out ones only in the `phrasings` split, never in the others."""
        held = [i for i in range(len(options)) if i % _HELD_OUT_EVERY == _HELD_OUT_EVERY - 1]
        if self.split == "phrasings" and held:
            idx = self.rng.choice(held)
        else:
            idx = self.rng.choice([i for i in range(len(options)) if i not in held] or list(range(len(options))))
        self._key.append(f"{key}#{idx}")
        return options[idx]

    def value(self, kind: str) -> str:
        if self._invents(kind):
            choice = made_up(kind, self.rng)
        else:
            choice = self.rng.choice(UNSEEN[kind] if self.split == "unseen" else TRAIN[kind])
        self._key.append(choice)
        return choice

    def values(self, kind: str, n: int) -> list[str]:
        """`n` different values of `kind`."""
        if not self._share(kind):
            chosen = self.rng.sample(UNSEEN[kind] if self.split == "unseen" else TRAIN[kind], n)
            self._key.extend(chosen)
            return chosen
        chosen: list[str] = []
        while len(chosen) < n:
            value = self.value(kind)
            if value in chosen:
                self._key.pop()
            else:
                chosen.append(value)
        return chosen

    def _share(self, kind: str) -> float:
        """The share of `kind`'s values that this picker invents (0 for kinds never invented)."""
        if kind in INVENTABLE_TOPICS:
            return self.mix.invent_topics
        if kind in INVENTABLE_LABELS:
            return self.mix.invent_labels
        return self.mix.invent if kind in INVENTABLE else 0.0

    def _invents(self, kind: str) -> bool:
        # No draw at all when the share is 0, so the corpus of a seed stays what it was before an option existed.
        share = self._share(kind)
        return bool(share) and self.rng.random() < share

    def local_pages(self) -> bool:
        """Whether this Rumination sample's observations are generated documents as `LocalCorpus` shows them
        (`documents.local_results`) rather than the first recipe's three short web results."""
        # No draw without `local_research`, as for `invent`.
        return bool(self.mix.local_research) and self.rng.random() < self.mix.local_research

    def notebook_pages(self) -> bool:
        """Whether this (English) Rumination sample searches the notebook's own documents
        (`documents.notebook_results`)."""
        return bool(self.mix.notebook_research) and self.rng.random() < self.mix.notebook_research

    def loop_turn(self) -> bool:
        """Whether this Rumination sample trains one generation after a history as the research loop renders it."""
        return bool(self.mix.loop_history) and self.rng.random() < self.mix.loop_history

    def number(self, low: int, high: int, decimals: int = 0) -> int | float:
        """An integer (or a number with `decimals` places) in [low, high], seen or unseen as the split wants."""
        want_unseen = self.split == "unseen"
        for _ in range(200):
            n: int | float = self.rng.randint(low, high)
            if decimals:
                n = round(n + self.rng.randint(0, 10**decimals - 1) / 10**decimals, decimals)
            if n in _DEMO_NUMBERS or number_is_unseen(n) == want_unseen:
                if not (want_unseen and n in _DEMO_NUMBERS):
                    self._key.append(repr(n))
                    return n
        raise Retry

    def digits(self) -> int:
        """A number of 1 to 4 digits, short ones more often."""
        width = self.rng.choices((1, 2, 3, 4), weights=(2, 4, 3, 2))[0]
        return int(self.number(0 if width == 1 else 10 ** (width - 1), 10**width - 1))

    def filler(self, lang: str, keyed: bool = False, bare: bool = False) -> tuple[str, str]:
        """Words around a prompt; `keyed`: part of the combination, as a phrasing or a value is; `bare`: none (the
        combination of the filler `("", "")`)."""
        before, after = ("", "") if bare else self.rng.choice(FILLERS[lang])
        if keyed:
            self._key.append(f"filler:{before}|{after}")
        return before, after

    def check_combination(self, skill: str) -> None:
        """Raise `Retry` when the combination drawn belongs to the other side of the train/combos divide."""
        if self.split not in ("train", "combos"):
            return
        bucket = zlib.crc32("|".join([skill, *self._key]).encode()) % _COMBO_BUCKETS
        if (bucket == 0) != (self.split == "combos"):
            raise Retry
