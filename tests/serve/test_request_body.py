"""What RemoteBackend sends, and how it reads which stop ended a turn (no server needed: a fake endpoint)."""

from __future__ import annotations

import pytest

from glm_nb.chat import CompletionEnd, TextChunk
from glm_nb.chat.backend import StopOptions
from glm_nb.chat.remote import (
    GLM_STOP_STRINGS,
    RemoteBackend,
    RemoteConnectionError,
    RemoteError,
    RemoteStreamError,
    load_tokenizer,
)
from glm_nb.chat.remote_http import ServerEndpoint
from glm_nb.chat.stop_text import StopText
from glm_nb.engine import SamplingParams, Tokenizer

# vLLM's documented /v1/completions parameters: OpenAI's completions fields plus vLLM's "Extra Parameters for
# Completions API" (docs.vllm.ai, serving/openai_compatible_server; the fields of `CompletionRequest` in
# vllm/entrypoints/openai/protocol.py, between its completion-sampling-params and completion-extra-params markers).
VLLM_COMPLETION_PARAMS = {
    # OpenAI
    "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
    "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user",
    # vLLM sampling extras
    "use_beam_search", "top_k", "min_p", "repetition_penalty", "length_penalty", "stop_token_ids",
    "include_stop_str_in_output", "ignore_eos", "min_tokens", "skip_special_tokens",
    "spaces_between_special_tokens", "truncate_prompt_tokens", "allowed_token_ids", "prompt_logprobs",
    # vLLM other extras
    "add_special_tokens", "response_format", "priority", "request_id", "logits_processors",
    "return_tokens_as_token_ids", "cache_salt",
}  # fmt: skip


@pytest.fixture
def backend(tokenizer_folder) -> RemoteBackend:
    tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
    endpoint = ServerEndpoint.from_url("http://127.0.0.1:9/v1")
    return RemoteBackend(endpoint, tokenizer, model="glm-4-32b", chat_template=None)


@pytest.mark.parametrize(
    "sampling",
    [SamplingParams(), SamplingParams(temperature=0.6, top_p=0.95, top_k=40, repetition_penalty=1.1, seed=3)],
)
def test_request_body_uses_only_vllm_documented_parameters(backend, sampling):
    body = backend.request_body("[gMASK]<sop><|user|>\nHi<|assistant|>", sampling)

    assert set(body) <= VLLM_COMPLETION_PARAMS
    assert body["prompt"] == "[gMASK]<sop><|user|>\nHi<|assistant|>"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["stop"] == ["<|user|>", "<|observation|>", "<|endoftext|>"]
    assert body["skip_special_tokens"] is False and body["spaces_between_special_tokens"] is False
    assert body["include_stop_str_in_output"] is True and body["add_special_tokens"] is False
    assert body["max_tokens"] == sampling.max_new_tokens


def test_sampling_switched_off_is_left_out(backend):
    body = backend.request_body("x", SamplingParams(top_k=0, repetition_penalty=1.0))

    assert "top_k" not in body and "repetition_penalty" not in body and "seed" not in body


def test_sampling_values_are_sent(backend):
    body = backend.request_body("x", SamplingParams(temperature=0.6, top_p=0.9, top_k=40, seed=7, max_new_tokens=99))

    assert (body["temperature"], body["top_p"], body["top_k"], body["seed"], body["max_tokens"]) == (
        0.6,
        0.9,
        40,
        7,
        99,
    )


def test_stop_options_are_sent_as_vllms_ignore_eos_and_min_tokens(backend):
    plain = backend.request_body("x", SamplingParams())
    ignored = backend.request_body("x", SamplingParams(), StopOptions(ignore_eos=True))
    floor = backend.request_body("x", SamplingParams(), StopOptions(min_tokens=4, stop_ids=frozenset({9, 3})))

    assert "ignore_eos" not in plain and "min_tokens" not in plain and "stop_token_ids" not in plain
    assert set(ignored) <= VLLM_COMPLETION_PARAMS and set(floor) <= VLLM_COMPLETION_PARAMS
    assert ignored["ignore_eos"] is True and ignored["stop"] == []  # GLM's stop strings would still stop vLLM
    assert (floor["min_tokens"], floor["stop_token_ids"], floor["stop"]) == (4, [3, 9], list(GLM_STOP_STRINGS))
    assert plain["stream_options"] == {"include_usage": True}  # what every OpenAI-compatible server takes
    assert floor["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}  # tokens per chunk


def test_under_ignore_eos_the_stop_tokens_text_streams_as_text(backend):
    backend.endpoint = _Endpoint([_text("Hi<|user|>"), _text("<|observation|>", "length")])

    items = list(backend.complete("prompt", SamplingParams(), StopOptions(ignore_eos=True)))

    assert "".join(i.text for i in items if isinstance(i, TextChunk)) == "Hi<|user|><|observation|>"
    assert items[-1] == CompletionEnd("length")


class _Endpoint:
    """Stands in for ServerEndpoint: replays canned SSE events."""

    base_url = "http://fake/v1"

    def __init__(self, events):
        self.events = events

    def stream(self, path, body):
        yield from self.events


def _run(backend, events):
    backend.endpoint = _Endpoint(events)
    return list(backend.complete("prompt", SamplingParams()))


def _text(piece, finish=None, **extra):
    return {"choices": [{"index": 0, "text": piece, "finish_reason": finish, **extra}]}


def test_stop_string_in_the_text_is_cut_and_reported(backend):
    items = _run(
        backend, [_text("Hello"), _text(" there<|obser"), _text("vation|>", "stop", stop_reason="<|observation|>")]
    )

    assert "".join(i.text for i in items if isinstance(i, TextChunk)) == "Hello there"
    assert items[-1] == CompletionEnd("stop", "<|observation|>")


def test_stop_token_id_from_vllm_is_read_back(backend, tokenizer_folder):
    user_id = Tokenizer(tokenizer_folder / "tokenizer.json").token_to_id("<|user|>")

    items = _run(backend, [_text("Hi"), _text("", "stop", stop_reason=user_id)])

    assert items[-1] == CompletionEnd("stop", "<|user|>")


@pytest.mark.parametrize("reported", [-1, 10**30, True])
def test_a_stop_token_id_no_vocabulary_has_ends_the_turn_as_an_unknown_stop(backend, reported):
    items = _run(backend, [_text("Hi"), _text("", "stop", stop_reason=reported)])

    assert items[-1] == CompletionEnd("stop", None)


def test_matched_stop_from_sglang_is_reported(backend):
    items = _run(backend, [_text("Hi"), _text("", "stop", matched_stop="<|user|>")])

    assert items[-1] == CompletionEnd("stop", "<|user|>")


def test_usage_counts_the_tokens_not_streamed(backend):
    events = [_text("Hi"), _text("", "stop", stop_reason=None), {"choices": [], "usage": {"completion_tokens": 5}}]

    items = _run(backend, events)

    assert items[-1] == CompletionEnd("stop", None, tokens=4)  # 5 generated, 1 streamed with text


def _floor(backend, events, min_tokens=3):
    backend.endpoint = _Endpoint(events)
    items = list(backend.complete("prompt", SamplingParams(), StopOptions(min_tokens=min_tokens)))
    return "".join(i.text for i in items if isinstance(i, TextChunk)), items


def _counted(piece, tokens, finish=None, **extra):
    """A chunk with vLLM's continuous usage stats: `tokens` generated so far."""
    return {**_text(piece, finish, **extra), "usage": {"prompt_tokens": 9, "completion_tokens": tokens}}


def test_under_min_tokens_the_servers_token_counts_decide_which_stops_count(backend):
    # three tokens in one piece, then a stop the server honoured (token 4, past min_tokens 3) in a piece of its own
    # that does not end the stream (SGLang sends the finish apart)
    events = [_counted("One two three", 3), _counted("<|user|>", 4), _counted("", 4, "stop", matched_stop="<|user|>")]

    text, items = _floor(backend, events)

    assert text == "One two three"  # counted as pieces (2), the stop would pass for text
    assert items[-1] == CompletionEnd("stop", "<|user|>")
    assert sum(i.tokens for i in items if isinstance(i, (TextChunk, CompletionEnd))) == 4


def test_under_min_tokens_a_stop_in_the_first_tokens_stays_text(backend):
    events = [_counted("Hi", 1), _counted("<|user|>", 2), _counted(" more", 3), _counted("<|user|>", 4, "stop")]

    text, items = _floor(backend, events)

    assert text == "Hi<|user|> more"
    assert items[-1] == CompletionEnd("stop", "<|user|>")


def test_without_token_counts_the_piece_the_server_stopped_at_ends_the_text(backend):
    # a server that packs tokens into pieces and sends no counts: 2 pieces, though 4 tokens came
    events = [_text("One two three"), _text("<|user|>", "stop", stop_reason="<|user|>")]

    text, items = _floor(backend, events)

    assert text == "One two three" and items[-1] == CompletionEnd("stop", "<|user|>")


def test_length_ends_with_length(backend):
    assert _run(backend, [_text("Hi", "length")])[-1] == CompletionEnd("length")


def test_a_stream_without_a_finish_reason_is_an_error(backend):
    with pytest.raises(RemoteStreamError, match="without saying why"):
        _run(backend, [_text("Hi")])


def test_an_aborted_generation_is_an_error(backend):
    with pytest.raises(RemoteStreamError, match="abort"):
        _run(backend, [_text("Hi", "abort")])


def test_stop_text_finds_stops_split_across_pieces():
    stops = StopText(GLM_STOP_STRINGS)

    assert stops.feed("Hello <|u") == ("Hello ", None)
    assert stops.feed("ser|> ignored") == ("", "<|user|>")
    assert stops.feed("more") == ("", "<|user|>")


def test_stop_text_fed_without_matching_ignores_stops_ending_there_but_not_later():
    stops = StopText([".", "2."])

    assert stops.feed("1.2", match=False) == ("1.", None)  # "." ended in it; "2" may begin "2."
    assert stops.feed(".") == ("", "2.")  # begun in the unmatched piece, ended in this one: vLLM counts it
    assert StopText(["."]).feed("1.", match=False) == ("1.", None)


def test_stop_text_remembers_unmatched_text_it_still_holds():
    stops = StopText(["ab", "abcde"])

    assert stops.feed("ab", match=False) == ("", None)  # held: it may begin "abcde"
    assert stops.feed("c") == ("", None)
    assert stops.feed("x") == ("abcx", None)  # "ab" ended in the unmatched piece: it never counts


def test_stop_text_releases_a_false_start():
    stops = StopText(GLM_STOP_STRINGS)

    assert stops.feed("a <|") == ("a ", None)
    assert stops.feed("assistant|>b") == ("<|assistant|>b", None)
    assert stops.feed("<") == ("", None)
    assert stops.flush() == "<"


@pytest.mark.parametrize(
    "url",
    ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/", "http://h:8000/v1/completions",
     "http://h:8000/v1/chat/completions/", "http://h:8000/v1/models", "http://h:8000/v1/chat",
     "http://h:8000/completions", "http://h:8000/chat/completions"],
)  # fmt: skip
def test_base_url_gets_v1_once(url):
    assert ServerEndpoint.from_url(url).base_url == "http://h:8000/v1"


@pytest.mark.parametrize(
    ("url", "base"),
    [("http://h:8000/proxy/glm", "http://h:8000/proxy/glm/v1"), ("https://h/api/v1/completions", "https://h/api/v1")],
)
def test_a_path_before_v1_is_kept_as_a_prefix(url, base):
    assert ServerEndpoint.from_url(url).base_url == base


@pytest.mark.parametrize(
    ("url", "rest"),
    [("http://h:8000/v1/completions/v1", "/completions/v1"), ("http://h:8000/v1/embeddings", "/embeddings"),
     ("http://h:8000/v1/chat/completion", "/chat/completion")],
)  # fmt: skip
def test_another_endpoint_after_v1_is_refused_saying_what_to_write(url, rest):
    with pytest.raises(RemoteConnectionError, match="ending with /v1, http://h:8000/v1:") as caught:
        ServerEndpoint.from_url(url)

    assert repr(rest) in str(caught.value)


def test_a_hub_tokenizer_that_cannot_be_fetched_is_a_clear_error(monkeypatch, tmp_path):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no network in tests: the hub answers "offline"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))

    with pytest.raises(RemoteError, match="Pass tokenizer= a local folder"):
        load_tokenizer("THUDM/GLM-4-32B-0414")


def test_a_tokenizer_folder_without_tokenizer_json_is_a_clear_error(tmp_path):
    with pytest.raises(RemoteError, match="has no tokenizer.json"):
        load_tokenizer(tmp_path)


def test_a_tokenizer_folder_gives_its_chat_template(tokenizer_folder):
    tokenizer, template = load_tokenizer(tokenizer_folder)

    assert tokenizer.token_to_id("<|user|>") is not None
    assert "<|assistant|>" in template


def test_max_tokens_is_cut_to_the_room_left_in_the_served_context(backend):
    sent = []

    class Recording(_Endpoint):
        def stream(self, path, body):
            sent.append(body)
            yield from self.events

    backend = RemoteBackend(
        Recording([_text("Hi", "length")]), backend.tokenizer, model="m", chat_template=None, context_length=50
    )
    prompt = "[gMASK]<sop><|user|>\nHello<|assistant|>"

    list(backend.complete(prompt, SamplingParams(max_new_tokens=30000)))

    assert sent[0]["max_tokens"] == 50 - len(backend.tokenizer.encode(prompt))


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:abc/v1"])
def test_a_bad_port_is_a_connection_error(url):
    with pytest.raises(RemoteConnectionError, match="bad port"):
        ServerEndpoint.from_url(url)


def test_credentials_in_the_url_are_refused_without_showing_the_password():
    with pytest.raises(RemoteConnectionError, match="--api-key-env") as caught:
        ServerEndpoint.from_url("http://bob:s3cret@gpu-box:8000/v1")

    assert "s3cret" not in str(caught.value) and "http://gpu-box:8000/v1" in str(caught.value)


@pytest.mark.parametrize("url", ["http://gpu-box:8000/v1?api_key=s3cret", "http://gpu-box:8000/v1#s3cret"])
def test_a_query_or_fragment_in_the_url_is_refused_without_showing_it(url):
    with pytest.raises(RemoteConnectionError, match="query string") as caught:
        ServerEndpoint.from_url(url)

    assert "s3cret" not in str(caught.value) and "http://gpu-box:8000/v1" in str(caught.value)


def test_a_long_hub_error_is_cut_at_a_word_after_its_first_line(monkeypatch):
    hub = pytest.importorskip("huggingface_hub")

    def unreachable(*args, **kwargs):
        raise OSError("Cannot reach the hub:" + " offline" * 40 + " set HF_HUB_OFFLINE=0.\nSecond line.")

    monkeypatch.setattr(hub, "snapshot_download", unreachable)

    with pytest.raises(RemoteError, match=r"(offline )+\.\.\.\)") as caught:
        load_tokenizer("THUDM/GLM-4-32B-0414")

    assert "Second line" not in str(caught.value)


def test_under_min_tokens_a_piece_straddling_them_keeps_its_stop_as_text(backend):
    # min_tokens 3: the piece brings tokens 2 to 4, its stop is token 2 (inside the floor: the server went on)
    events = [_counted("Hi", 1), _counted("<|user|> more", 4), _counted(" end", 5, "length")]

    text, _ = _floor(backend, events)

    assert text == "Hi<|user|> more end"
