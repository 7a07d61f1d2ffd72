"""GLM-Z1: forced thinking, thinking vs answer while streaming, thinking kept out of history, cut-off thinking."""

from __future__ import annotations

import pytest

from glm_nb.chat import Z1_SAMPLING, Conversation, ScriptedGenerator, TextDelta, ThinkingDelta
from glm_nb.engine import SamplingParams
from glm_nb.tools import tool

REPLY = "\nTwo and two.\nThat makes four.</think>\n\nThe answer is 4."


@pytest.fixture(scope="module")
def z1_template(glm_template) -> str:
    """The published template with Z1's two differences (FORMAT.md, "GLM-Z1"): the generation prompt opens
    `<think>`, and earlier messages keep only the text after the last `</think>`."""
    template = glm_template.replace(
        "{% if add_generation_prompt %}<|assistant|>{% endif %}",
        "{% if add_generation_prompt %}<|assistant|>\n<think>{% endif %}",
    )
    template = template.replace(
        "{%- set content = message['content'] %}",
        "{%- set content = message['content'].split('</think>')[-1].strip() %}",
    )
    assert template.count("<think>") == 1 and "split('</think>')" in template
    return template


def _z1(tokenizer, template, replies, **options):
    generator = ScriptedGenerator(tokenizer, replies)
    return Conversation(generator.backend(chat_template=template), **options), generator


def test_the_template_forcing_think_is_detected(tokenizer, z1_template):
    conversation, _ = _z1(tokenizer, z1_template, [REPLY])

    assert conversation.thinking
    assert conversation.sampling == Z1_SAMPLING
    assert conversation.prompt().endswith("<|assistant|>\n<think>")


def test_force_thinking_with_a_plain_template(tokenizer, glm_template):
    conversation, _ = _z1(tokenizer, glm_template, [REPLY], force_thinking=True)

    assert conversation.prompt().endswith("<|assistant|>\n<think>")


def test_thinking_and_answer_stream_apart_though_the_close_tag_spans_tokens(tokenizer, z1_template):
    conversation, generator = _z1(tokenizer, z1_template, [REPLY])
    assert len(tokenizer.encode("</think>")) > 1  # the tag really is split across tokens

    response = conversation.send("2+2?")
    events = list(response)

    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Two and two.\nThat makes four."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer is 4."
    assert (response.thinking(), response.text()) == ("Two and two.\nThat makes four.", "The answer is 4.")
    assert conversation.messages[-1].thinking_complete


def test_thinking_is_stripped_from_history(tokenizer, z1_template):
    conversation, generator = _z1(tokenizer, z1_template, [REPLY, "Fine.</think>Yes."])
    conversation.send("2+2?").finish()

    conversation.send("Sure?").finish()

    second_prompt = tokenizer.decode(generator.prompts[1])
    assert "makes four" not in second_prompt
    assert "<|assistant|>\nThe answer is 4.<|user|>\nSure?<|assistant|>\n<think>" in second_prompt


def test_thinking_cut_off_by_the_token_limit_is_reported(tokenizer, z1_template):
    conversation, _ = _z1(tokenizer, z1_template, [REPLY], sampling=SamplingParams(max_new_tokens=4))

    response = conversation.send("2+2?")
    done = list(response)[-1]

    assert (done.finish_reason, done.thinking_cut_off) == ("length", True)
    assert conversation.messages[-1].thinking_cut_off
    assert response.text() == ""


def test_thinking_the_model_ends_itself_before_any_answer_is_reported(tokenizer, z1_template):
    conversation, _ = _z1(tokenizer, z1_template, ["Two and two... or was it<|user|>"])

    response = conversation.send("2+2?")
    done = list(response)[-1]

    assert (done.finish_reason, done.stopped_in_thinking, done.thinking_cut_off) == ("stop", True, False)
    assert conversation.messages[-1].stopped_in_thinking and response.text() == ""


def test_a_thinking_that_closes_before_an_empty_answer_is_not_reported_as_unfinished(tokenizer, z1_template):
    conversation, _ = _z1(tokenizer, z1_template, ["Nothing to add.</think><|user|>"])

    done = list(conversation.send("Say nothing."))[-1]

    assert (done.finish_reason, done.stopped_in_thinking) == ("stop", False)


def test_a_tool_call_after_thinking(tokenizer, z1_template):
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    replies = ['I should use the tool.</think>\nadd\n{"a": 2, "b": 2}<|observation|>', "It said 4.</think>4."]
    conversation, _ = _z1(tokenizer, z1_template, replies, tools=[add])

    response = conversation.send("2+2?")

    assert response.tool_results()[0].content == "4"
    assert response.text() == "4."
