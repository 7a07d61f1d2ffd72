"""The corpus generator: deterministic, template-exact, and keeping its evaluation sets held out."""

from __future__ import annotations

import random

import pytest

from glm_nb.nano import corpus
from glm_nb.nano.phrasings import PHRASINGS
from glm_nb.nano.sample import Picker
from glm_nb.nano.skills import SKILLS, generate
from glm_nb.nano.templates import render
from glm_nb.nano.vocab import TRAIN, UNSEEN


def _texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    stream = corpus.training_samples(seed, progress=lambda: 0.0)
    return ["".join(t for t, _ in corpus.to_segments(next(stream), rng)) for _ in range(n)]


def test_same_seed_same_corpus():
    assert _texts(7, 40) == _texts(7, 40)


def test_other_seed_other_corpus():
    assert _texts(7, 40) != _texts(8, 40)


def _history_form(sample):
    return [{k: v for k, v in m.items() if k not in ("gen", "stop")} for m in sample.messages]


@pytest.mark.parametrize("skill", SKILLS)
def test_segments_concatenate_to_the_template_rendering(skill):
    # With every message in history form, the training segments are exactly what the chat template renders.
    rng = random.Random(skill)
    for _ in range(10):
        sample = generate(skill, Picker(rng, "train"))
        plain = corpus.Sample(sample.skill, sample.lang, tuple(_history_form(sample)), sample.tools, sample.z1)
        text = "".join(t for t, _ in corpus.to_segments(plain))
        kind = "z1" if sample.z1 else "chat"
        assert text == render(plain.messages, sample.tools, kind=kind, add_generation_prompt=False)


def test_a_tool_call_is_trained_as_the_model_emits_it():
    sample = generate("weather", Picker(random.Random(3), "train"))
    segments = corpus.to_segments(sample)
    trained = [t for t, w in segments if w == corpus.REPLY_WEIGHT]
    assert trained[0].startswith("get_weather\n{") and trained[1] == "<|observation|>"
    assert trained[-1] == "<|user|>"


def test_two_calls_in_one_turn_are_one_stage():
    sample = generate("weather2", Picker(random.Random(5), "combos"))
    first = corpus.stages(sample)[0]
    assert first.prompt.endswith("<|assistant|>")
    assert [m["metadata"] for m in first.expected] == ["get_weather", "get_weather"]


def test_z1_stage_prompt_forces_thinking():
    sample = generate("z1", Picker(random.Random(1), "train"))
    assert corpus.stages(sample)[0].prompt.endswith("<|assistant|>\n<think>")


def test_unseen_split_uses_only_unseen_values():
    cities = set(UNSEEN["city_en"]) | set(UNSEEN["city_zh"])
    for sample in corpus.eval_samples("weather", "unseen", 30):
        assert sample.expect["calls"][0][1]["city"] in cities


def test_training_never_draws_an_unseen_city_or_a_held_out_phrasing():
    held_out = {p.split("{")[0] for lang in ("en", "zh") for i, p in enumerate(PHRASINGS[f"weather_{lang}"])
                if i % 5 == 4 and p.split("{")[0]}  # fmt: skip
    rng = random.Random(0)
    for _ in range(200):
        sample = generate("weather", Picker(rng, "train"))
        assert sample.expect["calls"][0][1]["city"] in set(TRAIN["city_en"]) | set(TRAIN["city_zh"])
    phrasing_samples = corpus.eval_samples("weather", "phrasings", 20)
    assert any(any(h in s.messages[0]["content"] for h in held_out) for s in phrasing_samples)


def test_combination_split_is_disjoint_from_training():
    combos = {str(s.messages) for s in corpus.eval_samples("add", "combos", 50)}
    rng = random.Random(0)
    train = {str(generate("add", Picker(rng, "train")).messages) for _ in range(2000)}
    assert not combos & train


def test_copy_share_decays():
    assert corpus.copy_share(0.0) == pytest.approx(0.3)
    assert corpus.copy_share(1.0) == pytest.approx(0.05)
