"""A prompt that cannot fit the context is refused before it is tokenized or waits for the model, so a huge one
holds up no other request; a prompt that fits is never refused by the bound. A token limit the prompt leaves no room
for is refused before the wait too, and a refused request leaves the KV cache as it found it."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading

import pytest

from glm_nb.chat import LocalBackend, ScriptedGenerator
from glm_nb.engine import Tokenizer
from glm_nb.serve import BadRequestError, GlmServer
from glm_nb.serve.errors import ContextLengthError
from glm_nb.serve.prompt_limit import PromptLimit

CONTEXT = 64


class _CountingTokenizer:
    """The test tokenizer, recording the length of every text it encodes."""

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self.encoded: list[int] = []
        self.vocab_size = tokenizer.vocab_size

    def encode(self, text):
        self.encoded.append(len(text))
        return self._tokenizer.encode(text)

    def decode(self, ids, skip_special_tokens=False):
        return self._tokenizer.decode(ids, skip_special_tokens)

    def token_to_id(self, token):
        return self._tokenizer.token_to_id(token)


@pytest.fixture
def tokenizer(tokenizer_folder) -> Tokenizer:
    return Tokenizer(tokenizer_folder / "tokenizer.json")


def _backend(tokenizer) -> LocalBackend:
    generator = ScriptedGenerator(tokenizer, ["\nHi."], max_length=CONTEXT)
    return LocalBackend(generator, tokenizer, stop_ids=generator.stop_ids, chat_template=None, context_length=CONTEXT)


def test_the_densest_prompt_that_fits_is_not_refused(tokenizer):
    limit = PromptLimit.of(_backend(tokenizer))
    longest = max((tokenizer.decode([i]) for i in range(tokenizer.vocab_size)), key=lambda t: len(t.encode()))
    prompt = longest * (CONTEXT - 1)  # as many bytes as CONTEXT - 1 tokens can hold

    limit.check(prompt)

    assert len(tokenizer.encode(prompt)) < CONTEXT  # it does fit
    with pytest.raises(ContextLengthError, match=f"^This model's maximum context length is {CONTEXT} tokens"):
        limit.check(prompt + longest * 2)


def test_a_prompt_that_cannot_fit_is_refused_without_tokenizing_it_or_waiting_for_the_model(tokenizer):
    counting = _CountingTokenizer(tokenizer)
    server = GlmServer(_backend(counting), port=0, max_queue=0, quiet=True)  # a request that reaches the queue: 503
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    prompt = "weather " * 20_000
    try:
        with server.queue.turn(threading.Event()):  # another request holds the model
            connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
            connection.request("POST", "/v1/completions", body=json.dumps({"prompt": prompt}))
            response = connection.getresponse()
            status, error = response.status, json.loads(response.read())["error"]
            connection.close()
    finally:
        server.stop()
        thread.join(30)
        server.server_close()

    assert (status, error["code"]) == (400, "context_length_exceeded")
    assert "Shorten the prompt" in error["message"]
    assert len(prompt) not in counting.encoded


def test_half_a_surrogate_pair_is_a_bad_request_not_a_tokenizer_crash(tokenizer):
    limit = PromptLimit.of(_backend(tokenizer))

    with pytest.raises(BadRequestError, match="surrogate"):
        limit.check("Hello \ud800 there")


def test_a_backend_that_cannot_count_tokens_gets_no_bound():
    class _Remote:
        context_length = 8

    PromptLimit.of(_Remote()).check("word " * 10_000)  # the backend itself says whether it fits


# -- a token limit the prompt leaves no room for --------------------------------------------------------------------
ASK = [{"role": "user", "content": "Weather in Paris?"}]
PROMPT = "[gMASK]<sop><|user|>\nWeather in Paris?<|assistant|>"
FOLLOW_UP = PROMPT + "\nHi.<|user|>\nAnd in Rome?<|assistant|>"  # the first answer is "\nHi."


def _post(server: GlmServer, path: str, body: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request("POST", path, body=json.dumps(body))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/completions", {"prompt": PROMPT, "max_tokens": CONTEXT}, "max_tokens"),
        ("/v1/chat/completions", {"messages": ASK, "max_completion_tokens": CONTEXT - 3}, "max_completion_tokens"),
    ],
    ids=["completions", "chat"],
)
def test_a_limit_the_prompt_leaves_no_room_for_is_refused_without_waiting_for_the_model(
    inline_server, tokenizer, path, body, field
):
    server = inline_server(["\nHi."], max_length=CONTEXT, max_queue=0)  # a request that reaches the queue: 503
    prompt = PROMPT if "prompt" in body else server.template.render(ASK, add_generation_prompt=True)
    held = len(tokenizer.encode(prompt))

    with server.queue.turn(threading.Event()):  # another request holds the model
        status, answer = _post(server, path, body)

    assert (status, answer["error"]["code"]) == (400, "context_length_exceeded")
    assert answer["error"]["message"] == (
        f"'{field}' is too large: {body[field]}. This model's maximum context length is {CONTEXT} tokens and your "
        f"request has {held} input tokens ({body[field]} > {CONTEXT} - {held}). Send '{field}' of at most "
        f"{CONTEXT - held}, or a shorter prompt."
    )


def test_a_long_prompt_certain_to_leave_no_room_is_refused_without_counting_or_waiting(inline_server):
    server = inline_server(["\nHi."], max_length=CONTEXT, max_queue=0)
    server.prompt_limit = dataclasses.replace(server.prompt_limit, count_bytes=0)  # too long to count before
    prompt = PROMPT * 2
    least = -(-len(prompt) // server.prompt_limit.max_token_bytes)  # tokens it has at the least (ASCII: 1 byte each)

    with server.queue.turn(threading.Event()):
        status, answer = _post(server, "/v1/completions", {"prompt": prompt, "max_tokens": CONTEXT - 4})

    assert (status, answer["error"]["code"]) == (400, "context_length_exceeded")
    assert answer["error"]["message"].startswith(
        f"'max_tokens' is too large: {CONTEXT - 4}. This model's maximum context length is {CONTEXT} tokens and your "
        f"request has at least {least} input tokens"
    )
    assert f"The most that could fit is {CONTEXT - least}" in answer["error"]["message"]


# -- a refused request leaves the KV cache alone --------------------------------------------------------------------
def _prefilled_by_follow_up(server: GlmServer, refused: dict | None) -> int:
    """Prompt tokens the model reads for a follow-up of a first completion, with a refused request between."""
    stats = server.backend.generator.stats
    assert _post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 4})[0] == 200
    if refused is not None:
        assert _post(server, "/v1/completions", refused)[0] == 400
    before = stats.prefill_tokens
    assert _post(server, "/v1/completions", {"prompt": FOLLOW_UP, "max_tokens": 4})[0] == 200
    return stats.prefill_tokens - before


OTHER = "[gMASK]<sop><|user|>\nA different question, about Rome and its weather.<|assistant|>"


@pytest.mark.parametrize("count_bytes", [None, 0], ids=["counted-before-the-queue", "counted-in-its-turn"])
@pytest.mark.parametrize("refusal", ["no-room-for-max_tokens", "prompt-too-long"])
def test_a_refused_request_leaves_the_cache_to_the_next_one(inline_server, tokenizer, count_bytes, refusal):
    servers = [inline_server(["\nHi.", "\nSunny."], max_length=CONTEXT) for _ in range(2)]
    for server in servers:
        if count_bytes is not None:
            server.prompt_limit = dataclasses.replace(server.prompt_limit, count_bytes=count_bytes)
    if refusal == "prompt-too-long":  # no limit of its own: in its turn the engine refuses it (before cutting)
        refused = {"prompt": OTHER + " weather" * 40, "max_tokens": None}
        assert len(tokenizer.encode(refused["prompt"])) >= CONTEXT
        assert len(refused["prompt"]) < CONTEXT * servers[0].prompt_limit.max_token_bytes  # not by the bytes' bound
    else:
        refused = {"prompt": OTHER, "max_tokens": CONTEXT - len(tokenizer.encode(OTHER)) + 1}  # one token too many

    alone = _prefilled_by_follow_up(servers[0], None)
    after_refused = _prefilled_by_follow_up(servers[1], refused)

    assert after_refused == alone
    assert alone <= len(tokenizer.encode(FOLLOW_UP)) - len(tokenizer.encode(PROMPT))  # the cache served the rest


@pytest.mark.parametrize("count_bytes", [None, 0], ids=["counted-before-the-queue", "counted-in-its-turn"])
def test_a_prompt_the_server_counted_is_not_tokenized_again_for_the_model(inline_server, count_bytes):
    server = inline_server(["\nHi."], max_length=CONTEXT)
    counting = _CountingTokenizer(server.backend.tokenizer)
    server.backend.tokenizer = counting  # what a tokenize costs: seconds, for a long prompt
    limit = dataclasses.replace(server.prompt_limit, tokenizer=counting)
    server.prompt_limit = limit if count_bytes is None else dataclasses.replace(limit, count_bytes=count_bytes)

    assert _post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 4})[0] == 200

    assert counting.encoded.count(len(PROMPT)) == 1


def test_a_stream_counted_only_in_its_turn_waits_silent_so_a_refusal_is_still_a_400(
    inline_server, tokenizer, monkeypatch
):
    from glm_nb.serve import handler

    monkeypatch.setattr(handler, "_WAITING_COMMENT_S", 0.05)
    server = inline_server(["\nHi."], max_length=CONTEXT)
    server.prompt_limit = dataclasses.replace(server.prompt_limit, count_bytes=0)  # too long to count before
    room = CONTEXT - len(tokenizer.encode(PROMPT))
    body = {"prompt": PROMPT, "max_tokens": room + 1, "stream": True}  # one too many: refused in its turn
    hold = threading.Event()

    def busy():  # another request holds the model for a while
        with server.queue.turn(threading.Event()):
            hold.wait(0.5)

    holder = threading.Thread(target=busy)
    holder.start()
    while not server.queue.busy:
        pass
    status, answer = _post(server, "/v1/completions", body)
    holder.join()

    assert (status, answer["error"]["code"]) == (400, "context_length_exceeded")
