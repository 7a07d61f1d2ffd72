"""Request fields both endpoints read: numbers that are no numbers, parameters this server cannot honour, and errors
that name the field the client sent (no server needed)."""

from __future__ import annotations

import pytest

from glm_nb.serve.errors import BadRequestError
from glm_nb.serve.requests import parse_chat_request, parse_completion_request

MESSAGES = [{"role": "user", "content": "Hi"}]


def _chat(**fields):
    return parse_chat_request({"messages": MESSAGES, **fields}, "m", max_tokens=100)


def _completion(**fields):
    return parse_completion_request({"prompt": "Hi", **fields}, "m")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("top_k", float("nan")),
        ("max_tokens", float("inf")),
        ("seed", float("inf")),
        ("temperature", float("-inf")),
        ("top_p", float("nan")),
        ("temperature", 10**400),  # an integer too large for a float
    ],
    ids=["nan-top_k", "inf-max_tokens", "inf-seed", "-inf-temperature", "nan-top_p", "huge-temperature"],
)
def test_a_number_that_is_not_finite_is_a_bad_request(field, value):
    with pytest.raises(BadRequestError, match=f"'{field}' must be"):
        _completion(**{field: value})


def test_a_bad_max_completion_tokens_is_reported_under_its_own_name():
    with pytest.raises(BadRequestError, match="'max_completion_tokens' must be an integer"):
        _chat(max_completion_tokens="abc")


@pytest.mark.parametrize(("field", "parse"), [("max_tokens", _completion), ("max_completion_tokens", _chat)])
def test_a_token_limit_below_one_names_the_field_not_the_engine_setting(field, parse):
    with pytest.raises(BadRequestError, match=f"'{field}' must be at least 1, got 0") as caught:
        parse(**{field: 0})

    assert "max_new_tokens" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "instead"),
    [
        ("ignore_eos", True, "max_tokens"),
        ("min_tokens", 5, "max_tokens"),
        ("logit_bias", {"42": -100}, "leave it out"),
        ("frequency_penalty", 0.5, "repetition_penalty"),
        ("presence_penalty", -0.2, "repetition_penalty"),
        ("min_p", 0.05, "top_p or top_k"),
        ("stop_token_ids", [151336], "'stop'"),
        ("truncate_prompt_tokens", 512, "never cuts it"),
        ("guided_json", {"type": "object"}, "no constrained decoding"),
    ],
)
@pytest.mark.parametrize("parse", [_completion, _chat])
def test_sampling_controls_this_server_cannot_honour_are_refused_saying_what_to_use(parse, field, value, instead):
    with pytest.raises(BadRequestError, match=f"'{field}' is not supported") as caught:
        parse(**{field: value})

    assert instead in str(caught.value)


@pytest.mark.parametrize("parse", [_completion, _chat])
def test_the_neutral_values_clients_send_by_default_are_accepted(parse):
    neutral = {"ignore_eos": False, "min_tokens": 0, "logit_bias": {}, "frequency_penalty": 0, "presence_penalty": 0.0,
               "min_p": 0, "function_call": "auto", "stop_token_ids": [], "truncate_prompt_tokens": None,
               "use_beam_search": False}  # fmt: skip

    parse(**neutral)
    parse(**dict.fromkeys(neutral))  # all null


def test_legacy_functions_are_refused_pointing_to_tools():
    spec = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}

    with pytest.raises(BadRequestError, match="send them as 'tools'"):
        _chat(functions=[spec])


def test_a_legacy_function_call_that_names_a_function_is_refused_pointing_to_tool_choice():
    with pytest.raises(BadRequestError, match="send 'tool_choice'"):
        _chat(function_call={"name": "get_weather"})
