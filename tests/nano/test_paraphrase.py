"""Composed chat prompts (the corpus option `paraphrase`): many more English phrasings of each small-talk intent, for
training only, and never a held-out phrasing."""

from __future__ import annotations

import random
import re

import pytest

from glm_nb.nano import corpus
from glm_nb.nano.paraphrase import INTENTS, compose, held_out
from glm_nb.nano.phrasings import FACTS, FILLERS, PHRASINGS
from glm_nb.nano.sample import Mix, Picker
from glm_nb.nano.skills import generate

FACT_ANSWERS = {FACTS[int(intent)][1]: intent for intent in INTENTS if intent != "greet"}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9-]+", re.sub(r"\{\w+\}", " ", text.lower()).replace("'", " "))


def _held_out_lists() -> dict[str, list[str]]:
    lists = {"greet": PHRASINGS["greet_en"], **{str(i): FACTS[i][0] for i in range(len(FACTS))}}
    return {intent: [p for i, p in enumerate(options) if i % 5 == 4] for intent, options in lists.items()}


def _unfilled(text: str) -> str:
    """The prompt without the filler words `skills._user` put around it."""
    for before, after in FILLERS["en"]:
        if before and text.startswith(before):
            text = text[len(before) :]
        if after and text.endswith(after):
            text = text[: -len(after)]
    return text


def test_composed_prompts_never_hold_a_held_out_phrasing():
    rng = random.Random(0)
    for intent, held in _held_out_lists().items():
        assert held, intent
        made = {compose(rng, intent) for _ in range(3000)}
        assert len(made) >= 100, intent  # a few hundred prompts an intent, not a handful
        for text in made:
            words = " ".join(_words(text))
            for phrasing in held:
                assert f" {' '.join(_words(phrasing))} " not in f" {words} ", (intent, text, phrasing)


def test_held_out_names_the_phrasings_the_evaluation_uses():
    # The phrasings the `phrasings` split draws for each intent's list are exactly those the guard keeps out.
    rng = random.Random(2)
    for intent, held in _held_out_lists().items():
        options = PHRASINGS["greet_en"] if intent == "greet" else FACTS[int(intent)][0]
        drawn = {Picker(rng, "phrasings").phrase("key", options) for _ in range(300)}
        assert drawn == set(held)
        assert {" ".join(_words(p)) for p in drawn} == {" ".join(_words(h)) for h in held_out(intent)}


def test_paraphrase_composes_english_chat_prompts_that_keep_their_answers():
    rng = random.Random(1)
    samples = [generate("chat", Picker(rng, "train", paraphrase=1.0)) for _ in range(300)]
    listed = {p for options in [PHRASINGS["greet_en"], *(f[0] for f in FACTS)] for p in options}
    english = [s for s in samples if s.lang == "en"]
    assert len(english) >= 150 and len(english) < len(samples)  # Chinese samples keep their lists
    intents = set()
    for sample in english:
        user, answer = sample.messages[-2]["content"], sample.messages[-1]["content"]
        assert _unfilled(user) not in listed
        if answer in FACT_ANSWERS:
            intents.add(FACT_ANSWERS[answer])
        else:
            name = re.fullmatch(r"Hello (.+)! How can I help you today\?", answer).group(1)
            assert name in user
            intents.add("greet")
    assert intents == set(INTENTS)
    composed_for = {
        compose(random.Random(seed), intent): intent for seed in range(400) for intent in INTENTS if intent != "greet"
    }
    for sample in english:  # the fact answered is the intent the prompt was composed for
        intent = composed_for.get(_unfilled(sample.messages[-2]["content"]))
        if intent is not None:
            assert FACT_ANSWERS.get(sample.messages[-1]["content"]) == intent


def test_paraphrase_is_a_training_only_share():
    with pytest.raises(ValueError, match="is a share in"):
        Mix(paraphrase=1.5)
    with pytest.raises(AssertionError):
        Picker(random.Random(0), "phrasings", paraphrase=0.5)
    # Unused, it draws nothing (the pinned digests of test_corpus.py check that); used, it changes the corpus.
    rng = random.Random(0)
    stream = corpus.training_samples(3, mix=Mix(paraphrase=0.5))
    other = corpus.training_samples(3)
    texts = ["".join(t for t, _ in corpus.to_segments(next(s), rng)) for s in (stream, other) for _ in range(200)]
    assert texts[:200] != texts[200:]
