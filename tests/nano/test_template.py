"""nano-GLM's own chat templates against the published GLM-4-0414 template, through transformers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from glm_nb.nano.sample import Picker
from glm_nb.nano.skills import SKILLS, TOOLS, generate
from glm_nb.nano.templates import chat_template, render

PUBLISHED = Path(__file__).resolve().parents[3] / "shared" / "glm4" / "glm4-0414.chat_template.jinja"
_W = {"type": "function", "function": TOOLS["get_weather"]}


def _handwritten() -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "late system"},
                      {"role": "assistant", "content": "b"}, {"role": "system", "content": "second"}]},
        {"messages": [{"role": "user", "content": "w?"}], "tools": [_W, TOOLS["add"]]},
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]},
        {"messages": [{"role": "user", "content": "w?"}, {"role": "assistant", "metadata": "get_weather",
                       "content": '{"city": "Paris"}'}, {"role": "observation", "content": '{"t": 1}'}],
         "tools": [_W]},
    ]  # fmt: skip


def _from_corpus() -> list[dict]:
    rng = random.Random(0)
    cases = []
    for skill in SKILLS:
        for _ in range(2):
            s = generate(skill, Picker(rng, "train"))
            messages = [{k: v for k, v in m.items() if k not in ("gen", "stop")} for m in s.messages]
            cases.append({"messages": messages, "tools": list(s.tools) if s.tools else None})
    return cases


CASES = _handwritten() + _from_corpus()


@pytest.fixture(scope="module")
def hf_tokenizers(small_tokenizer):
    from transformers import PreTrainedTokenizerFast

    def make(template: str):
        tok = PreTrainedTokenizerFast(tokenizer_object=small_tokenizer, eos_token="<|endoftext|>")
        tok.chat_template = template
        return tok

    return make(PUBLISHED.read_text(encoding="utf-8")), make(chat_template("chat"))


def test_there_are_enough_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_renders_exactly_like_the_published_template(hf_tokenizers, case, generation_prompt):
    published, ours = hf_tokenizers
    kwargs = dict(tools=CASES[case].get("tools"), add_generation_prompt=generation_prompt, tokenize=False)
    expected = published.apply_chat_template(CASES[case]["messages"], **kwargs)
    assert ours.apply_chat_template(CASES[case]["messages"], **kwargs) == expected
    assert (
        render(CASES[case]["messages"], CASES[case].get("tools"), add_generation_prompt=generation_prompt) == expected
    )


def test_z1_forces_thinking_and_strips_it_from_history():
    messages = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "<think>hmm</think>\n\n A1 "},
                {"role": "user", "content": "q2"}]  # fmt: skip
    text = render(messages, kind="z1")
    assert text == "[gMASK]<sop><|user|>\nq1<|assistant|>\nA1<|user|>\nq2<|assistant|>\n<think>"


def test_z1_matches_the_chat_template_when_there_is_no_thinking():
    for case in [c for c in CASES if not any("</think>" in m["content"] for m in c["messages"])]:
        assert render(case["messages"], case.get("tools"), kind="z1", add_generation_prompt=False) == render(
            [dict(m, content=m["content"].strip()) if m["role"] == "assistant" and not m.get("metadata") else m
             for m in case["messages"]], case.get("tools"), add_generation_prompt=False)  # fmt: skip
