"""The grader of nano_eval: the reply the corpus expects passes, a damaged one fails."""

from __future__ import annotations

import pytest

from glm_nb.nano.checks import grade, parse_calls
from glm_nb.nano.corpus import eval_samples, stages
from glm_nb.nano.skills import SKILLS


def perfect_reply(sample, stage) -> str:
    """What the model should emit at `stage`, stop token included."""
    first = stage.expected[0]
    if first.get("metadata"):
        return "<|assistant|>".join(f"{m['metadata']}\n{m['content']}" for m in stage.expected) + "<|observation|>"
    if sample.z1:
        return first["content"][len("<think>") :] + "<|user|>"
    return "\n" + first["content"] + (first.get("stop") or "<|user|>")


def _damage(text: str) -> str:
    # Change every digit and swap the first letter run's case: values and most formats break.
    return text.translate(str.maketrans("0123456789", "1234567890")).replace("<|observation|>", "").replace(
        "</think>", "").replace("```", "")  # fmt: skip


@pytest.mark.parametrize("skill", SKILLS)
@pytest.mark.parametrize("split", ["combos", "phrasings", "unseen"])
def test_the_expected_reply_passes(skill, split):
    for sample in eval_samples(skill, split, 4):
        for stage in stages(sample):
            g = grade(skill, stage, perfect_reply(sample, stage), sample.expect)
            assert (g.format_ok, g.values_ok) == (True, True), (g, stage)


@pytest.mark.parametrize("skill", ["weather", "add", "svg", "z1", "research"])
def test_a_damaged_reply_fails(skill):
    for sample in eval_samples(skill, "combos", 4):
        for stage in stages(sample):
            g = grade(skill, stage, _damage(perfect_reply(sample, stage)), sample.expect)
            assert not (g.format_ok and g.values_ok), stage


def test_wrong_city_keeps_the_format_but_fails_the_values():
    sample = eval_samples("weather", "combos", 1)[0]
    answer_stage = stages(sample)[1]
    text = perfect_reply(sample, answer_stage).replace(sample.expect["calls"][0][1]["city"], "Atlantis")
    g = grade("weather", answer_stage, text, sample.expect)
    assert g.format_ok and not g.values_ok


def test_parse_calls_reads_two_calls():
    text = 'f\n{"a": 1}<|assistant|>g\n{"b": "x"}<|observation|>'
    assert parse_calls(text) == [("f", {"a": 1}), ("g", {"b": "x"})]
    assert parse_calls("\nHello there.<|user|>") is None


def test_a_click_is_graded_on_its_own_and_the_wrong_result_fails_it():
    # Counted with the search and the finish, clicks right three times in five still read as ~87% research calls.
    sample = eval_samples("research", "combos", 1)[0]
    checks = [grade("research", s, perfect_reply(sample, s), sample.expect).check for s in stages(sample)]
    assert checks == ["research_call", "click", "research_call", "report"]
    click = stages(sample)[1]
    hit = sample.expect["calls"][1][1]["link_id"]
    wrong = perfect_reply(sample, click).replace(f'"link_id": {hit}', f'"link_id": {(hit + 1) % 3}')
    g = grade("research", click, wrong, sample.expect)
    assert (g.check, g.format_ok, g.values_ok) == ("click", True, False)
