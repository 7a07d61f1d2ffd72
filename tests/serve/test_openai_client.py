"""`glm-nb serve` through OpenAI's own Python client (`openai`), as users drive it: what it parses and the exception
types it raises must be those OpenAI's API (and vLLM, which serve mirrors where the API is silent) would give. The
server runs in a thread over a scripted model (`inline_server`, conftest.py)."""

from __future__ import annotations

import json

import openai
import pytest

from glm_nb.engine import Tokenizer
from glm_nb.serve import GlmServer

CALL = 'get_weather\n{"city": "Paris"}<|observation|>'
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]


def _client(server: GlmServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=30)


def _token_id(tokenizer_folder, text: str) -> int:
    return Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id(text)


# -- errors ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_an_unknown_model_is_the_clients_not_found_error(inline_server, endpoint):
    client = _client(inline_server())

    with pytest.raises(openai.NotFoundError) as caught:  # a 404, as from OpenAI and vLLM (it was a 400)
        if endpoint == "chat":
            client.chat.completions.create(model="gpt-4o", messages=ASK)
        else:
            client.completions.create(model="gpt-4o", prompt="Hi")

    assert caught.value.code == "model_not_found"
    assert "'gpt-4o' does not exist here: this server serves 'scripted'" in caught.value.message


@pytest.mark.parametrize(("field", "value"), [("n", True), ("frequency_penalty", False), ("top_p", 0)])
def test_a_bad_number_is_the_clients_bad_request_naming_the_param(inline_server, field, value):
    client = _client(inline_server(["\nHi"]))

    with pytest.raises(openai.BadRequestError) as caught:  # n: true was answered as n=1; top_p 0 named no param
        client.chat.completions.create(model="scripted", messages=ASK, **{field: value})

    assert caught.value.param == field


def test_max_tokens_beyond_the_context_is_a_400_naming_the_limit(inline_server, tokenizer_folder):
    client = _client(inline_server(["\nHi"] * 2, max_length=64))
    prompt = "[gMASK]<sop><|user|>\nHello<|assistant|>"
    held = len(Tokenizer(tokenizer_folder / "tokenizer.json").encode(prompt))

    with pytest.raises(openai.BadRequestError) as caught:  # vLLM refuses it; it was cut to fit, answered 200
        client.completions.create(model="scripted", prompt=prompt, max_tokens=100)
    fits = client.completions.create(model="scripted", prompt=prompt, max_tokens=64 - held)

    assert (caught.value.code, caught.value.param) == ("context_length_exceeded", "max_tokens")
    assert caught.value.body["message"].startswith(
        f"'max_tokens' is too large: 100. This model's maximum context length is 64 tokens and your request has "
        f"{held} input tokens (100 > 64 - {held}). Send 'max_tokens' of at most {64 - held}"
    )
    assert fits.choices[0].text == "\nHi"


def test_a_chat_limit_beyond_the_context_is_refused_but_none_runs_to_its_end(inline_server):
    client = _client(inline_server(["\nHi", "\nHi"], max_length=64))

    with pytest.raises(openai.BadRequestError, match="'max_completion_tokens' is too large: 500") as caught:
        client.chat.completions.create(model="scripted", messages=ASK, max_completion_tokens=500, stream=True)
    unlimited = client.chat.completions.create(model="scripted", messages=ASK)  # vLLM: up to the context's end

    assert caught.value.code == "context_length_exceeded"
    assert (unlimited.choices[0].message.content, unlimited.choices[0].finish_reason) == ("Hi", "stop")


def test_a_prompt_over_the_context_has_openais_words_for_client_code(inline_server):
    client = _client(inline_server(max_length=64))

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "weather " * 100}])

    # client code (context-window fallbacks, agents) tells a full context by these words, OpenAI's and vLLM's
    assert caught.value.body["message"].startswith("This model's maximum context length is 64 tokens")
    assert caught.value.code == "context_length_exceeded"


# -- vLLM's stop_reason ---------------------------------------------------------------------------------------------
def test_the_models_stop_tokens_are_vllms_stop_reason_ids_and_eos_is_null(inline_server, tokenizer_folder):
    server = inline_server(["\nHi", "\nBye<|endoftext|>", CALL, "\nOne. Two."])
    client = _client(server)

    by_user = client.completions.create(model="scripted", prompt="Hi", max_tokens=20).choices[0]
    by_eos = client.completions.create(model="scripted", prompt="Hi", max_tokens=20).choices[0]
    call = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL]).choices[0]
    by_text = client.completions.create(model="scripted", prompt="Hi", max_tokens=20, stop=["Two"]).choices[0]

    assert (by_user.finish_reason, by_user.stop_reason) == ("stop", _token_id(tokenizer_folder, "<|user|>"))
    assert (by_eos.text, by_eos.finish_reason, by_eos.stop_reason) == ("\nBye", "stop", None)
    assert (call.finish_reason, call.stop_reason) == ("tool_calls", _token_id(tokenizer_folder, "<|observation|>"))
    assert by_text.stop_reason == "Two"  # a stop string stays its text


# -- answers as the client reads them -------------------------------------------------------------------------------
def test_a_tool_call_round_trip_through_the_clients_own_types(inline_server):
    client = _client(inline_server([CALL, "\nIt is 21C in Paris.", CALL]))

    first = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    result = {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp": 21})}
    answer = client.chat.completions.create(
        model="scripted", messages=[*ASK, first.choices[0].message, result], tools=[WEATHER_TOOL]
    )  # the client's message object sent back as it is (its null refusal, audio, function_call)
    with client.chat.completions.stream(model="scripted", messages=ASK, tools=[WEATHER_TOOL]) as stream:
        streamed = stream.get_final_completion()

    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert answer.choices[0].message.content == "It is 21C in Paris."
    streamed_call = streamed.choices[0].message.tool_calls[0]
    assert (streamed_call.function.name, streamed_call.function.arguments) == ("get_weather", call.function.arguments)
    assert streamed.choices[0].finish_reason == "tool_calls"


def test_a_stream_with_include_usage_ends_with_the_usage_chunk(inline_server):
    client = _client(inline_server(["\nHello there"]))

    chunks = list(
        client.chat.completions.create(
            model="scripted", messages=ASK, stream=True, stream_options={"include_usage": True}
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_completions_with_max_tokens_null_run_to_the_end_of_the_context_as_vllm(inline_server, tokenizer_folder):
    long_reply = "\n" + "One two three four five six seven eight nine ten eleven twelve thirteen fourteen."
    client = _client(inline_server([long_reply], max_length=120))
    prompt = "[gMASK]<sop><|user|>\nCount to fourteen in words, please.<|assistant|>"
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    assert len(tokenizer.encode(long_reply)) > 16 and len(tokenizer.encode(prompt + long_reply)) < 120
    assert 120 - 16 < len(tokenizer.encode(prompt * 3)) < 120

    with pytest.raises(openai.BadRequestError, match="'max_tokens' is too large: 16"):
        client.completions.create(model="scripted", prompt=prompt * 3)  # left out: OpenAI's 16, which must fit
    answer = client.completions.create(model="scripted", prompt=prompt, max_tokens=None)  # sent as null

    assert (answer.choices[0].text, answer.choices[0].finish_reason) == (long_reply, "stop")
