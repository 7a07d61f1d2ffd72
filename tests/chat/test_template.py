"""Prompt rendering: our sandboxed Jinja renderer equals transformers' apply_chat_template on the published template."""

from __future__ import annotations

import random

import pytest
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from glm_nb.chat import (
    AssistantMessage,
    ChatTemplate,
    ChatTemplateError,
    ObservationMessage,
    SystemMessage,
    UserMessage,
    messages_to_template,
)
from glm_nb.tools import Tool, ToolCall

_TEXTS = [
    "Weather in Paris?",
    "北京今天天气怎么样？",
    "",
    "Line one\nline two\n\n  indented",
    "Quotes \" and ' and {braces} and {{ not jinja }} and <b>html</b> & more",
    "混合 mixed 文本 with emoji 🙂",
    "   padded   ",
]
_ARGUMENTS = [{"city": "Paris"}, {"city": "北京", "days": 3}, {}, {"nested": {"list": [1, 2.5, None, True]}}]
_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "获取天气 / get the weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {"name": "search", "description": "Search the web <&>", "parameters": {"type": "object", "properties": {}}},
    {"type": "function", "function": {"name": "noop", "description": "", "parameters": {"type": "object"}}},
]


def _random_case(seed: int) -> tuple[list[dict], list[dict] | None, bool]:
    """A deterministic message list exercising tools, calls, observations, odd system messages, Chinese, empties."""
    rng = random.Random(seed)
    messages = []
    for _ in range(rng.randint(1, 7)):
        kind = rng.choice(["system", "user", "user", "assistant", "call", "calls", "observation"])
        text = rng.choice(_TEXTS)
        if kind == "system":
            messages.append(SystemMessage(text))
        elif kind == "user":
            messages.append(UserMessage(text))
        elif kind == "assistant":
            messages.append(AssistantMessage(text, thinking=rng.choice([None, "hidden reasoning"])))
        elif kind in ("call", "calls"):
            calls = tuple(ToolCall(rng.choice(["get_weather", "search"]), rng.choice(_ARGUMENTS)) for _ in range(2))
            messages.append(AssistantMessage(rng.choice(["", text]), tool_calls=calls[: 1 if kind == "call" else 2]))
        else:
            messages.append(ObservationMessage(rng.choice([text, '{"temp": 21, "城市": "北京"}'])))
    tools = rng.choice([None, _TOOLS[:1], _TOOLS[:2], _TOOLS])
    return messages_to_template(messages), tools, rng.random() < 0.8


@pytest.fixture(scope="module")
def hf_reference(tokenizer_folder, glm_template) -> PreTrainedTokenizerFast:
    """transformers' own renderer, around the tiny tokenizer, with the published template."""
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(str(tokenizer_folder / "tokenizer.json")))
    fast.chat_template = glm_template
    return fast


@pytest.mark.parametrize("seed", range(60))
def test_rendering_equals_transformers(seed, glm_template, hf_reference):
    messages, tools, generation_prompt = _random_case(seed)

    ours = ChatTemplate(glm_template).render(messages, tools=tools, add_generation_prompt=generation_prompt)
    theirs = hf_reference.apply_chat_template(
        messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt
    )

    assert ours == theirs


def test_a_conversation_renders_given_dicts_as_transformers_does(scripted, glm_template, hf_reference):
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "description": "F."}},
        {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}, "strict": True}},
    ]  # keys in another order, a key we do not use, no description: the template prints them as they are
    messages = [
        {"role": "user", "content": "Both?"},
        {"role": "assistant", "metadata": "f", "content": '{"a":1}'},
        {"role": "assistant", "metadata": "g", "content": '{\n  "city": "\\u5317\\u4eac"\n}'},
        {"role": "assistant", "metadata": "f", "content": ""},
        {"role": "observation", "content": "1"},
        {"role": "observation", "content": "2"},
        {"role": "observation", "content": "3"},
    ]  # call arguments as some client wrote them: compact, pretty-printed with escapes, empty

    conversation, _ = scripted(tools=tools, messages=messages)

    theirs = hf_reference.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    assert conversation.prompt() == theirs


def test_the_format_md_example(glm_template):
    weather = Tool.from_dict(_TOOLS[0])
    messages = [
        SystemMessage("You are helpful."),
        UserMessage("Weather in Paris?"),
        AssistantMessage(tool_calls=(ToolCall("get_weather", {"city": "Paris"}),)),
        ObservationMessage('{"temp": 21}'),
        AssistantMessage("It is 21C."),
        UserMessage("Thanks"),
    ]

    prompt = ChatTemplate(glm_template).render(messages_to_template(messages), tools=[weather.to_dict()])

    tools_json = (
        '{\n    "name": "get_weather",\n    "description": "获取天气 / get the weather",\n    "parameters": {\n'
        '        "type": "object",\n        "properties": {\n            "city": {\n                "type": "string"\n'
        '            }\n        },\n        "required": [\n            "city"\n        ]\n    }\n}'
    )
    assert prompt == (
        "[gMASK]<sop><|system|>\n# 可用工具\n\n## get_weather\n\n"
        + tools_json
        + "\n在调用上述函数时，请使用 Json 格式表示调用的参数。"
        "<|system|>\nYou are helpful.<|user|>\nWeather in Paris?<|assistant|>get_weather \n"
        '{"city": "Paris"}<|observation|>\n{"temp": 21}<|assistant|>\nIt is 21C.<|user|>\nThanks<|assistant|>'
    )


def test_tojson_options_like_transformers():
    template = ChatTemplate("{{ x | tojson }}|{{ x | tojson(indent=2, sort_keys=True, separators=(',', ':')) }}")

    assert template.render([], x={"b": "<é>", "a": 1}) == '{"b": "<é>", "a": 1}|{\n  "a":1,\n  "b":"<é>"\n}'


def test_loop_controls_and_generation_blocks_render():
    source = "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"

    assert ChatTemplate(source).render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]) == "a"


def test_the_sandbox_refuses_unsafe_access():
    template = ChatTemplate("{{ messages.__class__.__mro__ }}")

    with pytest.raises(ChatTemplateError, match="failed while rendering"):
        template.render([])


def test_raise_exception_and_syntax_errors_become_chat_template_errors():
    with pytest.raises(ChatTemplateError, match="only users"):
        ChatTemplate("{{ raise_exception('only users') }}").render([])
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatTemplate("{% if %}")
    with pytest.raises(ChatTemplateError, match="empty"):
        ChatTemplate("  ")
