"""`StopOptions` through `LocalBackend`: vLLM's `ignore_eos` (stop tokens do not end a completion) and `min_tokens`
(stop tokens are banned, logits -inf, until that many tokens are generated), on a model of fixed logits that
samples as the engine's Generator does, and on the real engine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from glm_nb.chat import CompletionEnd, LocalBackend, ScriptedGenerator, TextChunk
from glm_nb.chat.backend import StopOptions
from glm_nb.engine import Generator, SamplingParams
from glm_nb.engine.sampling import make_rng, sample
from glm_nb.errors import GenerationError, SamplingError


class _Eager:
    """A model whose logits are the same at every step: `<|user|>` first, "a" second. It samples with
    `glm_nb.engine.sampling.sample` under whatever `sampling` the backend set, as `Generator` does."""

    def __init__(self, tokenizer):
        self.sampling = SamplingParams()
        self.stop_ids = ()  # stops at nothing itself, as LocalBackend.from_engine's Generator
        self.logits = np.zeros((1, tokenizer.vocab_size), np.float32)
        self.logits[0, tokenizer.token_to_id("<|user|>")] = 10.0
        self.logits[0, tokenizer.encode("a")[0]] = 5.0
        self.drawn_under: list[frozenset[int]] = []
        self._tokens: list[int] = []
        self._new = 0

    def set_prompt(self, ids: Sequence[int]) -> int:
        self._tokens, self._new = list(ids), 0
        return 0

    def generate_next_token(self) -> None:
        self.drawn_under.append(getattr(self.sampling, "banned_ids", frozenset()))
        self._tokens.append(int(sample(self.logits, self.sampling, make_rng(0))[0]))
        self._new += 1

    def is_done(self) -> bool:
        return self._new >= self.sampling.max_new_tokens

    @property
    def last_token(self) -> int:
        return self._tokens[-1]


@pytest.fixture
def eager(tokenizer):
    generator = _Eager(tokenizer)
    stops = [tokenizer.token_to_id(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")]
    return LocalBackend(generator, tokenizer, stop_ids=stops, chat_template=None), generator


def _run(backend, stops=None, max_new_tokens=6) -> tuple[str, int, CompletionEnd]:
    items = list(backend.complete("Hi", SamplingParams(max_new_tokens=max_new_tokens), stops))
    chunks = [i for i in items if isinstance(i, TextChunk)]
    return "".join(c.text for c in chunks), sum(c.tokens for c in chunks), items[-1]


def test_a_model_that_stops_at_once_gives_nothing_by_default(eager):
    backend, _ = eager

    assert _run(backend) == ("", 0, CompletionEnd("stop", "<|user|>", tokens=1))


def test_ignore_eos_generates_exactly_max_tokens_past_the_stop_tokens(eager):
    backend, _ = eager

    text, tokens, end = _run(backend, StopOptions(ignore_eos=True), max_new_tokens=5)

    assert (text, tokens, end) == ("<|user|>" * 5, 5, CompletionEnd("length"))


def test_min_tokens_bans_the_stop_tokens_until_then_and_the_model_stops_right_after(eager, tokenizer):
    backend, generator = eager

    text, tokens, end = _run(backend, StopOptions(min_tokens=3, stop_ids=frozenset({7})))

    assert (text, tokens, end) == ("aaa", 3, CompletionEnd("stop", "<|user|>", tokens=1))
    banned = frozenset(backend.stop_ids | {7})
    assert generator.drawn_under == [banned, banned, banned, frozenset()]  # the request's own settings after
    assert generator.sampling == SamplingParams(max_new_tokens=6)


def test_min_tokens_with_ignore_eos_still_bans_them_first(eager):
    backend, _ = eager

    text, tokens, end = _run(backend, StopOptions(ignore_eos=True, min_tokens=2), max_new_tokens=4)

    assert (text, tokens, end) == ("aa<|user|><|user|>", 4, CompletionEnd("length"))


def test_the_token_limit_bounds_min_tokens(eager):
    backend, _ = eager

    assert _run(backend, StopOptions(min_tokens=9), max_new_tokens=2) == ("aa", 2, CompletionEnd("length"))


def test_a_stop_token_drawn_anyway_before_min_tokens_does_not_end_it(tokenizer):
    backend = ScriptedGenerator(tokenizer, ["Hi"]).backend(chat_template=None)  # a script cannot ban its <|user|>

    text, tokens, end = _run(backend, StopOptions(min_tokens=4), max_new_tokens=9)

    assert (text, tokens, end) == ("Hi<|user|><|user|>", 4, CompletionEnd("stop", "<|user|>", tokens=1))


def test_negative_min_tokens_are_refused():
    with pytest.raises(SamplingError, match="min_tokens must be >= 0"):
        StopOptions(min_tokens=-1)


def test_ignore_eos_over_a_generator_that_stops_by_itself_says_how_to_build_one(tiny):
    backend = LocalBackend(
        Generator(tiny.engine, max_length=32),
        tiny.engine.tokenizer,
        stop_ids=tiny.engine.stop_ids,
        chat_template=None,
    )

    with pytest.raises(GenerationError, match=r"stop_ids=\(\)"):
        backend.complete("Hi", SamplingParams(), StopOptions(ignore_eos=True))


# -- the real engine ------------------------------------------------------------------------------------------------
def test_a_backend_from_the_engine_leaves_stopping_to_itself_so_it_takes_ignore_eos(tiny):
    backend = LocalBackend.from_engine(tiny.engine, max_length=32)

    items = list(backend.complete("Hi", SamplingParams(max_new_tokens=3), StopOptions(ignore_eos=True)))

    assert backend.generator.stop_ids == frozenset()
    assert items[-1] == CompletionEnd("length") and sum(i.tokens for i in items if isinstance(i, TextChunk)) == 3


def _first_greedy_token(tiny) -> tuple[LocalBackend, int]:
    """A backend on the tiny engine whose only stop token is the one greedy decoding draws first."""
    plain = LocalBackend.from_engine(tiny.engine, max_length=64)
    list(plain.complete("Hello", SamplingParams(max_new_tokens=1)))
    first = plain.generator.last_token
    backend = LocalBackend(
        Generator(tiny.engine, max_length=64, stop_ids=()),
        tiny.engine.tokenizer,
        stop_ids=[first],
        chat_template=None,
    )
    return backend, first


def test_on_the_engine_ignore_eos_runs_to_max_tokens_where_it_would_stop(tiny):
    backend, first = _first_greedy_token(tiny)

    stopped = list(backend.complete("Hello", SamplingParams(max_new_tokens=6)))
    ignored = list(backend.complete("Hello", SamplingParams(max_new_tokens=6), StopOptions(ignore_eos=True)))

    assert stopped[-1].reason == "stop" and not [i for i in stopped if isinstance(i, TextChunk)]
    assert ignored[-1] == CompletionEnd("length")
    assert sum(i.tokens for i in ignored if isinstance(i, TextChunk)) == 6
    assert backend.generator.tokens[-6] == first


def test_on_the_engine_min_tokens_keeps_the_stop_token_out_of_the_first_tokens(tiny):
    backend, first = _first_greedy_token(tiny)
    prompt = backend.tokenizer.encode("Hello")

    items = list(backend.complete("Hello", SamplingParams(max_new_tokens=8), StopOptions(min_tokens=3)))

    generated = backend.generator.tokens[len(prompt) :]
    assert first not in generated[:3] and len(generated) >= 4
    assert first not in generated[3:-1]  # after them the stop token ends it, the first time it comes
    assert items[-1].reason == ("stop" if generated[-1] == first else "length")
