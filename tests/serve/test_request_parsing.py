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
    return parse_completion_request({"prompt": "Hi", **fields}, "m", rest_of_context=100)


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
    ("parse", "fields"),
    [(_completion, {"max_tokens": None}), (_chat, {}), (_chat, {"max_tokens": None}),
     (_chat, {"max_completion_tokens": None})],
    ids=["completion-null", "chat-absent", "chat-null", "chat-null-max_completion_tokens"],
)  # fmt: skip
def test_a_null_token_limit_lets_the_answer_run_to_the_end_of_the_context_as_vllm(parse, fields):
    request = parse(**fields)  # vLLM's get_max_tokens: no limit of the request's own, only the context's

    assert request.sampling.max_new_tokens == 100
    assert request.token_limit is None  # nothing to refuse for want of room


def test_a_completion_without_max_tokens_gets_openais_16_which_the_prompt_must_leave_room_for():
    request = _completion()

    assert request.sampling.max_new_tokens == 16
    assert (request.token_limit.field, request.token_limit.tokens) == ("max_tokens", 16)


@pytest.mark.parametrize(
    ("field", "value", "instead"),
    [
        ("logit_bias", {"42": -100}, "leave it out"),
        ("frequency_penalty", 0.5, "repetition_penalty"),
        ("presence_penalty", -0.2, "repetition_penalty"),
        ("min_p", 0.05, "top_p or top_k"),
        ("truncate_prompt_tokens", 512, "never cuts it"),
        ("guided_json", {"type": "object"}, "no constrained decoding"),
        ("structured_outputs", {"json": {"type": "object"}}, "no constrained decoding"),
        ("logits_processors", ["my.Processor"], "no custom logits processors"),
        ("prompt_logprobs", 0, "no log probabilities"),
    ],
)
@pytest.mark.parametrize("parse", [_completion, _chat])
def test_sampling_controls_this_server_cannot_honour_are_refused_saying_what_to_use(parse, field, value, instead):
    with pytest.raises(BadRequestError, match=f"'{field}' is not supported") as caught:
        parse(**{field: value})

    assert instead in str(caught.value)


@pytest.mark.parametrize("count", [0, 1, 5])
def test_completions_logprobs_is_refused_for_any_count_even_0(count):
    with pytest.raises(BadRequestError, match="'logprobs' is not supported") as caught:  # 0 was answered without any
        _completion(logprobs=count)

    assert "0 too" in str(caught.value)
    assert _completion(logprobs=None).prompt == "Hi"  # null: none asked for


def test_chat_logprobs_false_asks_for_nothing_and_is_accepted():
    assert _chat(logprobs=False, top_logprobs=0).sampling.max_new_tokens == 100


@pytest.mark.parametrize("parse", [_completion, _chat])
def test_vllm_ignore_eos_and_min_tokens_are_read(parse):
    request = parse(ignore_eos=True, min_tokens=3, max_tokens=10)

    assert (request.ignore_eos, request.min_tokens) == (True, 3)
    assert (parse().ignore_eos, parse().min_tokens) == (False, 0)  # vLLM's defaults


@pytest.mark.parametrize("parse", [_completion, _chat])
@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"min_tokens": -1}, "'min_tokens' must be 0 or more, got -1"),
        ({"min_tokens": 2.5}, "'min_tokens' must be an integer"),
        (
            {"min_tokens": 11, "max_tokens": 10},
            "'min_tokens' \\(11\\) must not exceed 'max_tokens' \\(10\\); send a larger",
        ),
        ({"ignore_eos": "yes"}, "'ignore_eos' must be true or false"),
    ],
)
def test_bad_ignore_eos_and_min_tokens_are_a_400_naming_the_field(parse, fields, said):
    with pytest.raises(BadRequestError, match=said):
        parse(**fields)


def test_min_tokens_beyond_the_default_limit_names_it_as_the_default():
    with pytest.raises(
        BadRequestError, match="'min_tokens' \\(17\\) must not exceed 'max_tokens' \\(16, its default\\)"
    ):
        _completion(min_tokens=17)
    with pytest.raises(BadRequestError, match="must not exceed 'max_completion_tokens' \\(5\\)"):
        _chat(min_tokens=6, max_completion_tokens=5)


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


@pytest.mark.parametrize(
    ("field", "value", "instead"),
    [
        ("add_generation_prompt", False, "/v1/completions"),
        ("continue_final_message", True, "/v1/completions"),
        ("echo", True, "only the new message"),
        ("skip_special_tokens", False, "/v1/completions"),
        ("include_stop_str_in_output", True, "/v1/completions"),
        ("add_special_tokens", True, "writes the special tokens itself"),
        ("chat_template", "{{ messages }}", "/v1/completions"),
        ("documents", [{"title": "a", "text": "b"}], "in a message"),
    ],
)
def test_chat_fields_that_change_the_prompt_or_answer_are_refused_unless_at_vllms_default(field, value, instead):
    with pytest.raises(BadRequestError, match=f"'{field}'.* is not supported") as caught:
        _chat(**{field: value})

    assert instead in str(caught.value)


def test_chat_fields_at_vllms_default_are_accepted():
    defaults = {"add_generation_prompt": True, "continue_final_message": False, "echo": False,
                "skip_special_tokens": True, "include_stop_str_in_output": False, "add_special_tokens": False,
                "chat_template": None, "documents": None, "best_of": 1, "use_beam_search": False}  # fmt: skip

    _chat(**defaults)


@pytest.mark.parametrize(("field", "value"), [("use_beam_search", True), ("best_of", 2)])
def test_beam_search_and_best_of_are_refused_in_chat_as_in_completions(field, value):
    with pytest.raises(BadRequestError, match=f"'{field}'"):
        _chat(**{field: value})


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"response_format": {"type": "json_object"}}, "'response_format' is not supported"),
        ({"add_special_tokens": True}, "[gMASK]<sop>"),
        ({"skip_special_tokens": False, "spaces_between_special_tokens": True}, "no spaces between them"),
    ],
)
def test_completion_fields_this_server_would_answer_differently_are_refused(fields, says):
    with pytest.raises(BadRequestError) as caught:
        _completion(**fields)

    assert says in str(caught.value)


def test_usage_in_every_chunk_is_taken_on_completions_with_include_usage_as_vllm_does():
    both = {"include_usage": True, "continuous_usage_stats": True}

    assert _completion(stream=True, stream_options=both).continuous_usage
    assert not _completion(stream=True, stream_options={"continuous_usage_stats": True}).continuous_usage


def test_usage_in_every_chunk_is_refused_on_chat_with_what_to_do():
    with pytest.raises(BadRequestError, match="on /v1/completions only .* sends the usage once, at the end"):
        _chat(stream=True, stream_options={"include_usage": True, "continuous_usage_stats": True})


@pytest.mark.parametrize("stream", [False, None])
def test_stream_options_without_a_stream_are_refused_as_openai_and_vllm_do(stream):
    extra = {} if stream is None else {"stream": stream}
    for parse in (_completion, _chat):
        with pytest.raises(BadRequestError, match="'stream_options' is only allowed with 'stream': true"):
            parse(stream_options={"include_usage": True}, **extra)
    assert not _completion(stream=False, stream_options=None).include_usage  # null is no options


def test_completion_fields_at_their_effective_values_are_accepted():
    request = _completion(
        response_format={"type": "text"}, add_special_tokens=False, spaces_between_special_tokens=True
    )

    assert request.skip_special_tokens  # with special tokens skipped, spaces between them are moot


@pytest.mark.parametrize("parse", [_completion, _chat])
def test_stop_token_ids_are_read_as_integers(parse):
    assert parse(stop_token_ids=[7, 9]).stop_token_ids == (7, 9)
    with pytest.raises(BadRequestError, match="'stop_token_ids' must be a list of token ids"):
        parse(stop_token_ids=["<|user|>"])


def test_chat_template_kwargs_cannot_replace_the_requests_own_fields():
    with pytest.raises(BadRequestError, match="cannot set messages"):
        _chat(chat_template_kwargs={"messages": []})


INTEGER_FIELDS = ["max_tokens", "n", "best_of", "seed", "top_k", "min_tokens", "prompt_logprobs",
                  "truncate_prompt_tokens", "priority"]  # fmt: skip
NUMBER_FIELDS = ["temperature", "top_p", "min_p", "repetition_penalty", "frequency_penalty", "presence_penalty",
                 "length_penalty"]  # fmt: skip


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize(
    ("parse", "field"),
    [*((_completion, f) for f in [*INTEGER_FIELDS, *NUMBER_FIELDS, "logprobs"]),
     *((_chat, f) for f in [*INTEGER_FIELDS, *NUMBER_FIELDS, "max_completion_tokens", "top_logprobs"])],
)  # fmt: skip
def test_a_number_field_sent_as_true_or_false_is_refused_naming_it(parse, field, value):
    with pytest.raises(
        BadRequestError, match=f"'{field}' must be an? (integer|number), got {str(value).lower()}"
    ) as caught:
        parse(**{field: value})  # Python reads True as 1 (n: true passed as n=1), False as 0 (a neutral penalty)

    assert caught.value.param == field and caught.value.status == 400


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [("top_p", 0, "'top_p' must be in (0, 1], got 0.0"), ("temperature", -1, "'temperature' must be >= 0"),
     ("repetition_penalty", 0, "'repetition_penalty' must be > 0"), ("top_k", -2, "'top_k' must be >= 0"),
     ("seed", -1, "'seed' must be >= 0")],
)  # fmt: skip
@pytest.mark.parametrize("parse", [_completion, _chat])
def test_a_sampling_value_out_of_range_names_the_field_and_what_to_send(parse, field, value, said):
    with pytest.raises(BadRequestError) as caught:
        parse(**{field: value})

    assert str(caught.value).startswith(said)
    assert f"send a value in that range, or leave '{field}' out" in str(caught.value)
    assert caught.value.param == field  # OpenAI's client shows it as e.param


@pytest.mark.parametrize("parse", [_completion, _chat])
@pytest.mark.parametrize("option", ["include_usage", "continuous_usage_stats"])
def test_a_stream_option_that_is_not_true_or_false_is_refused_not_read_as_true(parse, option):
    with pytest.raises(BadRequestError, match=f"'stream_options.{option}' must be true or false, got \"false\""):
        parse(stream=True, stream_options={option: "false"})  # a non-empty string: bool() would read it as true


@pytest.mark.parametrize(("body", "got"), [([], "an array"), ("Hi", "a string"), (None, "null"), (3, "a number")])
@pytest.mark.parametrize("parse", [parse_completion_request, parse_chat_request])
def test_a_body_that_is_not_an_object_is_a_400_showing_one_that_is(parse, body, got):
    with pytest.raises(BadRequestError, match=f'one JSON object, such as {{"prompt": "Hi"}}; got {got}'):
        parse(body, "m", 100)
