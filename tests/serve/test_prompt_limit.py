"""A prompt that cannot fit the context is refused before it is tokenized or waits for the model, so a huge one
holds up no other request; a prompt that fits is never refused by the bound."""

from __future__ import annotations

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
