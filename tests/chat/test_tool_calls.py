"""parse_tool_calls on raw GLM-4 output (FORMAT.md, "What the model emits"), fuzzed with hypothesis."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glm_nb.tools import (
    ToolCall,
    classify_segment,
    format_tool_calls,
    opens_json_object,
    parse_arguments,
    parse_tool_calls,
)


def test_one_call():
    calls = parse_tool_calls('get_weather\n{"city": "Paris"}')

    assert calls == [ToolCall("get_weather", {"city": "Paris"})]


def test_several_calls_in_one_turn():
    calls = parse_tool_calls('f\n{"a": 1}<|assistant|>g\n{"b": [1, 2]}')

    assert [(c.name, c.arguments) for c in calls] == [("f", {"a": 1}), ("g", {"b": [1, 2]})]


def test_history_form_with_a_space_before_the_newline():
    assert parse_tool_calls('get_weather \n{"city": "巴黎"}') == [ToolCall("get_weather", {"city": "巴黎"})]


def test_python_literal_fallback():
    calls = parse_tool_calls("f\n{'flag': True, 'none': None, 'pair': (1, 2)}")

    assert calls == [ToolCall("f", {"flag": True, "none": None, "pair": [1, 2]})]


def test_code_fences_are_tolerated():
    text = 'f\n```json\n{"a": 1}\n```<|assistant|>g\n```\n{"b": 2}\n```'

    assert [c.arguments for c in parse_tool_calls(text)] == [{"a": 1}, {"b": 2}]


def test_plain_text_has_no_calls():
    assert parse_tool_calls("\nThe weather is fine.") == []
    assert parse_tool_calls("Paris") == []
    assert parse_tool_calls("Answer:\n{not a call}") == []
    assert parse_tool_calls("Two words\n{}") == []
    assert parse_tool_calls("") == []


def test_text_before_a_call_is_not_a_call():
    calls = parse_tool_calls('\nLet me check.<|assistant|>get_weather\n{"city": "Paris"}')

    assert [c.name for c in calls] == ["get_weather"]


def test_malformed_arguments_give_a_call_with_an_error():
    (call,) = parse_tool_calls('get_weather\n{"city": "Par')

    assert call.name == "get_weather"
    assert call.arguments == {}
    assert "not a JSON object" in call.error
    assert call.raw == 'get_weather\n{"city": "Par'


def test_arguments_that_are_not_an_object_are_an_error():
    (call,) = parse_tool_calls("f\n{1, 2}")  # a Python set literal

    assert call.error is not None


def test_classify_segment_while_streaming():
    assert classify_segment("") == "open"
    assert classify_segment("get_wea") == "open"
    assert classify_segment("\n") == "text"
    assert classify_segment("Hello world") == "text"
    assert classify_segment("get_weather\n") == "open"
    assert classify_segment("get_weather\n`") == "open"
    assert classify_segment("get_weather\n{") == "call"
    assert classify_segment("get_weather\nParis") == "text"


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
# A model cannot write a special token as text inside its arguments (it would be the special token itself, which
# ends the segment), so generated texts leave out the control-token strings.
_texts = st.text().filter(lambda t: "<|" not in t)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_texts, children, max_size=3),
    max_leaves=8,
)
_arguments = st.dictionaries(_texts, _json_values, max_size=4)


@given(st.lists(st.tuples(_names, _arguments), min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_render_then_parse_round_trips(calls):
    generated = [ToolCall(name, arguments) for name, arguments in calls]

    parsed = parse_tool_calls(format_tool_calls(generated))

    assert [(c.name, c.arguments, c.error) for c in parsed] == [(n, a, None) for n, a in calls]


@given(st.lists(st.tuples(_names, _arguments), min_size=1, max_size=3))
@settings(max_examples=50, deadline=None)
def test_history_form_round_trips(calls):
    text = "<|assistant|>".join(f"{n} \n{json.dumps(a, ensure_ascii=False)}" for n, a in calls)

    assert [(c.name, c.arguments) for c in parse_tool_calls(text)] == calls


_pieces = st.sampled_from(
    ["<|assistant|>", "\n", "{", "}", '"', "'", "```", "json", "get_weather", " ", "[", "(", ":"]
)


@given(st.lists(st.one_of(_pieces, st.text()), max_size=30).map("".join))
@settings(max_examples=400, deadline=None)
def test_never_raises(text):
    calls = parse_tool_calls(text)

    assert all(isinstance(c.arguments, dict) for c in calls)
    assert all((c.error is None) or c.arguments == {} for c in calls)


def test_arguments_that_are_json_but_not_an_object_are_a_call_told_to_use_an_object():
    for body, kind in (('["Paris"]', "list"), ('"Paris"', "str")):
        (call,) = parse_tool_calls(f"get_weather\n{body}")
        assert call.name == "get_weather" and call.error.startswith(
            f"the arguments must be a JSON object, not {kind}"
        )
    assert classify_segment("get_weather\n[") == "call"


@pytest.mark.parametrize(
    "text, opens",
    [
        ('{"name": "search", "argu', True),
        ('  {"name"', True),
        ('```json\n{"name": "click"', True),
        ("```js", True),  # cut in the fence's own line
        ("`", True),
        ("Beijing is sunny 【0†source】.", False),
        ("The answer: {braces} later", False),
        ("", False),
        ("   ", False),
    ],
)
def test_opens_json_object_tells_a_call_being_written_from_prose(text, opens):
    assert opens_json_object(text) is opens


def test_a_lone_surrogate_the_model_escapes_in_its_arguments_becomes_the_replacement_character():
    """JSON's "\\ud83d" decodes to a lone surrogate, which no prompt, notebook output or page can hold."""
    arguments = parse_arguments('{"path": "caf\\udce9.txt", "\\ud83d": ["cut \\ud83d"], "ok": "\\ud83d\\ude00"}')

    assert arguments == {"path": "caf\ufffd.txt", "\ufffd": ["cut \ufffd"], "ok": "\U0001f600"}
    ("".join(arguments) + arguments["path"] + arguments["\ufffd"][0]).encode("utf-8")  # and the text encodes
