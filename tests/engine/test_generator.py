"""Generator state: rewind, prefix reuse, batching, stopping, the shared KV buffers."""

from __future__ import annotations

import numpy as np
import pytest

import glm_nb
from glm_nb.engine import Engine, Generator, SamplingParams
from glm_nb.errors import GenerationError, PromptTooLongError

PROMPT = [7, 30, 111, 42, 9, 250, 3, 77, 15, 100, 2, 64]


def run(gen: Generator, n: int) -> list[int]:
    out = []
    for _ in range(n):
        gen.generate_next_token()
        out.append(gen.last_token)
    return out


def fresh(engine, prompt, n, **sampling) -> list[int]:
    gen = Generator(engine, SamplingParams(max_new_tokens=1000, **sampling), max_length=128, stop_ids=())
    gen.append_tokens(prompt)
    return run(gen, n)


def test_rewind_then_regenerate_equals_a_fresh_run(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=())
    gen.append_tokens(PROMPT)
    first = run(gen, 20)
    gen.rewind_to(len(PROMPT) + 5)
    assert gen.tokens == PROMPT + first[:5]
    again = run(gen, 15)
    assert again == first[5:]
    gen.rewind_to(len(PROMPT))
    gen.append_tokens([33])
    assert run(gen, 10) == fresh(tiny.engine, PROMPT + [33], 10)


def test_prefix_reuse_prefills_only_the_new_suffix(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=4), max_length=128)
    assert gen.set_prompt(PROMPT) == 0
    run(gen, 4)
    assert gen.stats.prefill_tokens == len(PROMPT)
    second = gen.tokens + [5, 6, 7]  # the conversation goes on: old prompt + answer + new user tokens
    reused = gen.set_prompt(second)
    assert reused == len(PROMPT) + 3  # everything that went through the model already (the 4th answer token did not)
    gen.generate_next_token()
    assert gen.stats.prefill_tokens == len(PROMPT) + (len(second) - reused)
    assert gen.last_token == fresh(tiny.engine, second, 1)[0]


def test_set_prompt_with_a_diverging_prompt_recomputes_from_the_divergence(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=128)
    gen.set_prompt(PROMPT)
    gen.generate_next_token()
    other = PROMPT[:4] + [99, 98, 97]
    assert gen.set_prompt(other) == 4
    assert run(gen, 6) == fresh(tiny.engine, other, 6)


def test_set_prompt_of_an_identical_prompt_reruns_only_its_last_token(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=128)
    gen.set_prompt(PROMPT)
    gen.generate_next_token()
    before = gen.stats.prefill_tokens
    assert gen.set_prompt(PROMPT) == len(PROMPT) - 1
    gen.generate_next_token()
    assert gen.stats.prefill_tokens == before + 1


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_batch_of_two_prompts_of_different_lengths_equals_two_single_runs(fixture, request):
    engine = request.getfixturevalue(fixture).engine
    short, long = PROMPT[:5], PROMPT + [21, 22, 23]
    gen = Generator(engine, SamplingParams(max_new_tokens=1000), batch_size=2, max_length=128, stop_ids=())
    gen.append_tokens([short, long])
    logits_first = []
    for _ in range(12):
        gen.generate_next_token()
        logits_first.append(gen._steps.buf.logits.numpy()[:, 0].copy())
    assert gen.sequence(0)[5:] == fresh(engine, short, 12)
    assert gen.sequence(1)[len(long) :] == fresh(engine, long, 12)
    single = Generator(engine, max_length=64).score(short)[-1]
    assert np.abs(logits_first[0][0] - single).max() <= 1e-4


def test_stops_on_a_stop_id_and_on_max_new_tokens(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=5), max_length=128)
    gen.set_prompt(PROMPT)
    n = 0
    while not gen.is_done():
        gen.generate_next_token()
        n += 1
    assert n == 5 or gen.last_token in tiny.engine.stop_ids
    with pytest.raises(GenerationError, match="done"):
        gen.generate_next_token()
    # Force a stop: make the greedy pick a stop id by putting it in the stop set.
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=50), max_length=128)
    gen.set_prompt(PROMPT)
    gen.generate_next_token()
    first = gen.last_token
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=50), max_length=128, stop_ids=(first,))
    gen.set_prompt(PROMPT)
    gen.generate_next_token()
    assert gen.is_done() and gen.last_token == first


def test_prompt_longer_than_the_context_is_a_clear_error(tiny):
    gen = Generator(tiny.engine, max_length=16)
    with pytest.raises(PromptTooLongError, match="context holds 16"):
        gen.set_prompt(list(range(20)))
    with pytest.raises(PromptTooLongError):
        gen.append_tokens(list(range(16)))
    with pytest.raises(GenerationError, match="convert again"):
        Generator(tiny.engine, max_length=10_000)


def test_generation_stops_when_the_context_fills(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=16, stop_ids=())
    gen.set_prompt(PROMPT)
    while not gen.is_done():
        gen.generate_next_token()
    assert len(gen.tokens) == 16


def test_sampling_is_reproducible_from_a_seed(tiny):
    kw = dict(temperature=1.0, top_p=0.9, top_k=50, seed=1234)
    a, b = fresh(tiny.engine, PROMPT, 16, **kw), fresh(tiny.engine, PROMPT, 16, **kw)
    c = fresh(tiny.engine, PROMPT, 16, **{**kw, "seed": 99})
    assert a == b and a != c


def test_the_same_prompt_and_seed_draw_the_same_tokens_on_a_generator_that_has_already_sampled(tiny):
    sampling = SamplingParams(temperature=1.0, seed=7, max_new_tokens=12)
    gen = Generator(tiny.engine, sampling, max_length=128, stop_ids=())
    answers = []
    for _ in range(3):  # as a server or a re-run cell does: the same request again on the same generator
        gen.set_prompt(PROMPT)
        answers.append(run(gen, 12))
    assert answers[0] == answers[1] == answers[2] == fresh(tiny.engine, PROMPT, 12, temperature=1.0, seed=7)
    gen.rewind_to(len(PROMPT))
    assert run(gen, 12) == answers[0]  # rewinding to the prompt draws it again too
    gen.sampling = SamplingParams(temperature=1.0, max_new_tokens=12)  # no seed: fresh randomness each time
    gen.set_prompt(PROMPT)
    first = run(gen, 12)
    gen.set_prompt(PROMPT)
    assert run(gen, 12) != first


def test_kv_buffers_are_written_in_place_and_never_reallocated(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=64)
    pointers = [v.data_ptr() for v in gen.cache.keys + gen.cache.values]
    gen.set_prompt(PROMPT)
    run(gen, 3)
    key0 = gen.cache.keys[0].numpy()  # [B, Nkv, max_len, D]; CPU values share memory
    filled = len(PROMPT) + 2  # the 3rd sampled token is still pending
    assert np.abs(key0[0, :, :filled]).sum(axis=-1).min() > 0
    assert [v.data_ptr() for v in gen.cache.keys + gen.cache.values] == pointers
    assert gen.cache.keys[0].shape() == [1, tiny.engine.metadata.num_kv_heads, 64, tiny.engine.metadata.head_dim]


def test_an_interrupt_between_steps_leaves_the_generator_usable_and_exact(tiny, monkeypatch):
    """Ctrl-C can land after the model ran but before the token was appended; the next step must recover."""
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=())
    gen.set_prompt(PROMPT)
    run(gen, 3)
    real = gen._next_ids
    calls = {"n": 0}

    def interrupted():
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real()

    monkeypatch.setattr(gen, "_next_ids", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_next_token()
    assert run(gen, 5) == fresh(tiny.engine, PROMPT, 8)[3:]


LONG = [int(t) for t in np.random.default_rng(3).integers(5, 250, size=45)]


@pytest.fixture(scope="module")
def topk_scoring_engine(tiny, tmp_path_factory):
    """The tiny model with a top-k tail, as CUDA conversions have."""
    out = glm_nb.convert(tiny.src, tmp_path_factory.mktemp("topk") / "m", top_k_output=8, progress=False)
    return Engine.load(out, device="cpu", threads=1)


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_a_long_prompt_runs_in_chunks_with_the_logits_and_tokens_of_one_call(fixture, request):
    engine = request.getfixturevalue(fixture).engine
    whole = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=(), prefill_chunk=1000)
    chunked = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=(), prefill_chunk=8)
    for gen in (whole, chunked):
        gen.set_prompt(LONG)
        gen.generate_next_token()
    np.testing.assert_allclose(chunked.last_logits(), whole.last_logits(), atol=1e-4)
    assert (whole.stats.forward_calls, chunked.stats.forward_calls) == (1, 6)  # 45 tokens: 5 chunks of 8, then 5
    assert chunked.stats.prefill_tokens == whole.stats.prefill_tokens == len(LONG)
    assert run(chunked, 12) == run(whole, 12)


def test_prefill_runs_one_chunk_a_call_and_leaves_the_last_for_the_step(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=(), prefill_chunk=10)
    gen.set_prompt(LONG)
    ran = 0
    while gen.prefill():
        ran += 1
        assert gen.stats.prefill_tokens == 10 * ran
    assert ran == 4 and gen.stats.forward_calls == 4  # 45 = 4 x 10 + the last 5, which generate_next_token runs
    gen.generate_next_token()
    assert gen.stats.forward_calls == 5
    assert gen.tokens[-1:] == fresh(tiny.engine, LONG, 1)
    assert not gen.prefill()  # nothing pending but the token just drawn


def test_an_interrupt_during_a_long_prompt_keeps_the_chunks_already_run(tiny, monkeypatch):
    """Ctrl-C lands between two chunks of a prompt: the chunks before stay in the cache, and asking again for the
    same prompt goes on from there (the next cell, the next message) with the tokens of an uninterrupted run."""
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=(), prefill_chunk=10)
    real = gen._steps.run_prefill
    calls = {"n": 0}

    def stopped_third(chunk, start):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(chunk, start)

    monkeypatch.setattr(gen._steps, "run_prefill", stopped_third)
    gen.set_prompt(LONG)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_next_token()
    assert gen.set_prompt(LONG) == 20  # the two chunks that ran are reused
    assert run(gen, 8) == fresh(tiny.engine, LONG, 8)
    assert gen.stats.prefill_tokens == len(LONG)  # 20, then the other 25: no token ran twice


def test_scoring_runs_in_chunks_with_the_logits_of_one_call(topk_scoring_engine):
    """A top-k graph's tail runs over every row asked for, so scoring a long text in one call held three times its
    logits; in chunks it holds a chunk's."""
    whole = Generator(topk_scoring_engine, max_length=128, stop_ids=(), prefill_chunk=1000)
    chunked = Generator(topk_scoring_engine, max_length=128, stop_ids=(), prefill_chunk=8)
    rows = []  # how many rows each model call computed
    real = chunked._steps._run_chunk
    chunked._steps._run_chunk = lambda binding, pending, start: (
        rows.append(len(pending[0])) or real(binding, pending, start)
    )
    np.testing.assert_allclose(chunked.score(LONG), whole.score(LONG), atol=1e-4)
    assert rows == [8, 8, 8, 8, 8, 5] and (whole.stats.forward_calls, chunked.stats.forward_calls) == (1, 6)
    np.testing.assert_allclose(chunked.last_logits(), whole.last_logits(), atol=1e-4)
    assert run(chunked, 6) == run(whole, 6)  # and both go on from the text alike


def test_prefill_chunk_must_be_a_whole_number(tiny):
    for bad in (0, -4, 2.5, True):
        with pytest.raises(GenerationError, match="prefill_chunk must be a whole number"):
            Generator(tiny.engine, prefill_chunk=bad)


def finish(gen: Generator) -> None:
    while not gen.is_done():
        gen.generate_next_token()


def single(engine, prompt, stop_ids, then=None, max_new_tokens=12, max_length=128) -> tuple[list[int], int]:
    """A batch-1 run to the end (and on after `then(gen)`): its tokens and its decode step count."""
    gen = Generator(engine, SamplingParams(max_new_tokens=max_new_tokens), max_length=max_length, stop_ids=stop_ids)
    gen.append_tokens(prompt)
    finish(gen)
    if then:
        then(gen)
        finish(gen)
    return gen.tokens, gen.stats.decode_tokens


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_a_row_that_stops_early_keeps_its_tokens_while_the_batch_goes_on(fixture, request):
    engine = request.getfixturevalue(fixture).engine
    short, long = PROMPT[:5], PROMPT + [21, 22, 23]
    short_answer, long_answer = fresh(engine, short, 12), fresh(engine, long, 12)
    stop = next(t for t in short_answer[1:] if t not in long_answer)  # ends the short row early, not the long one
    gen = Generator(engine, SamplingParams(max_new_tokens=12), batch_size=2, max_length=128, stop_ids=(stop,))
    gen.append_tokens([short, long])
    finish(gen)
    (a, a_steps), (b, b_steps) = single(engine, short, (stop,)), single(engine, long, (stop,))
    assert [gen.sequence(0), gen.sequence(1)] == [a, b]  # no padding after the short row's stop id
    assert gen.stats.decode_tokens == a_steps + b_steps  # a finished row only idles


@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_a_batch_continued_with_the_same_new_tokens_on_every_row_equals_single_runs(fixture, request):
    """A chunk after cached tokens at batch 2, which GroupQueryAttention runs only at batch 1."""
    engine = request.getfixturevalue(fixture).engine
    short, long = PROMPT[:5], PROMPT + [21, 22, 23]
    gen = Generator(engine, SamplingParams(max_new_tokens=12), batch_size=2, max_length=128, stop_ids=())
    gen.append_tokens([short, long])
    finish(gen)
    gen.append_tokens([[5, 6, 8], [5, 6, 8]])
    finish(gen)

    def more(single_gen):
        single_gen.append_tokens([5, 6, 8])

    assert [gen.sequence(0), gen.sequence(1)] == [single(engine, p, (), more)[0] for p in (short, long)]


def test_a_batch_goes_on_after_its_longer_row_fills_the_context(tiny):
    short, long = PROMPT[:5], PROMPT + [21, 22, 23]
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=100), batch_size=2, max_length=24, stop_ids=())
    gen.append_tokens([short, long])
    finish(gen)
    alone = [single(tiny.engine, p, (), max_new_tokens=100, max_length=24)[0] for p in (short, long)]
    assert [gen.sequence(0), gen.sequence(1)] == alone  # the long row stopped at 24 tokens, the short one went on


def test_rewinding_a_full_context_to_its_own_length_leaves_it_done(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=100), max_length=16, stop_ids=())
    gen.set_prompt(PROMPT)
    finish(gen)
    gen.rewind_to(16)
    assert gen.is_done()
    with pytest.raises(GenerationError, match="full context"):
        gen.generate_next_token()
    assert len(gen.tokens) == 16


def test_a_batch_refuses_uneven_follow_ups_before_changing_its_rows(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=2), batch_size=2, max_length=64, stop_ids=())
    gen.append_tokens([PROMPT[:5], PROMPT])
    finish(gen)
    before = [gen.sequence(0), gen.sequence(1)]
    with pytest.raises(GenerationError, match="same number of tokens"):
        gen.append_tokens([[5], [5, 6]])
    assert [gen.sequence(0), gen.sequence(1)] == before


def test_score_counts_its_prefill_and_a_refused_score_keeps_the_sequence(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=32, stop_ids=())
    gen.set_prompt(PROMPT)
    run(gen, 3)
    with pytest.raises(PromptTooLongError):
        gen.score(list(range(40)))
    assert gen.tokens[: len(PROMPT)] == PROMPT and len(gen.tokens) == len(PROMPT) + 3
    before = gen.stats.prefill_tokens
    gen.score(PROMPT)
    assert gen.stats.prefill_tokens == before + len(PROMPT)
    assert run(gen, 5) == fresh(tiny.engine, PROMPT, 5)


def test_last_logits_after_score_are_its_last_position(tiny):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=())
    gen.set_prompt([5, 6, 7])
    run(gen, 2)  # last_logits now hold the second decode step's
    scored = gen.score(PROMPT)
    np.testing.assert_array_equal(gen.last_logits()[0], scored[-1])


def test_a_generator_used_from_two_threads_at_once_is_refused(tiny):
    import threading

    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=())
    gen.set_prompt(PROMPT)
    inside, release = threading.Event(), threading.Event()
    real = gen._forward

    def slow_forward():  # the other thread is inside a step when this one calls in
        inside.set()
        release.wait(5)
        real()

    gen._forward = slow_forward
    worker = threading.Thread(target=gen.generate_next_token)
    worker.start()
    assert inside.wait(5)
    try:
        for verb in (gen.generate_next_token, lambda: gen.append_tokens([1]), lambda: gen.rewind_to(3),
                     lambda: gen.set_prompt(PROMPT), lambda: gen.score(PROMPT)):  # fmt: skip
            with pytest.raises(GenerationError, match="another thread"):
                verb()
    finally:
        release.set()
        worker.join(5)
    gen._forward = real
    assert len(gen.tokens) == len(PROMPT) + 1  # the first thread's step completed untouched
    run(gen, 2)  # and the generator is usable again
    assert gen.tokens == PROMPT + fresh(tiny.engine, PROMPT, 3)


def test_a_batch_rewind_reopens_only_the_rows_it_shortens(tiny):
    short, long = PROMPT[:5], PROMPT + [21, 22, 23]
    stop = next(t for t in fresh(tiny.engine, short, 12)[1:] if t not in fresh(tiny.engine, long, 12))
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=12), batch_size=2, max_length=128, stop_ids=(stop,))
    gen.append_tokens([short, long])
    finish(gen)
    stopped = gen.sequence(0)
    assert stopped[-1] == stop and len(stopped) < len(long)
    gen.rewind_to(len(long) + 2)  # shortens the long row only
    finish(gen)
    assert gen.sequence(0) == stopped  # nothing generated past its stop id
    assert gen.sequence(1) == single(tiny.engine, long, (stop,), lambda g: g.rewind_to(len(long) + 2))[0]


@pytest.mark.parametrize(("options", "says"), [
    ({"max_length": 0}, "max_length must be a whole number of tokens, 2 or more"),
    ({"max_length": 1}, "max_length must be a whole number of tokens, 2 or more (the longest sequence this "
                        "Generator holds: a prompt token and a new one)"),
    ({"max_length": -5}, "max_length must be a whole number of tokens, 2 or more"),
    ({"max_length": 2.5}, "max_length must be a whole number of tokens, 2 or more"),
    ({"batch_size": 0}, "batch_size must be a whole number >= 1"),
    ({"batch_size": -1}, "batch_size must be a whole number >= 1"),
])  # fmt: skip
def test_a_context_without_room_for_a_new_token_or_a_batch_below_one_is_refused(tiny, options, says):
    with pytest.raises(GenerationError) as e:
        Generator(tiny.engine, **options)

    assert says in str(e.value)


@pytest.mark.parametrize("verb", ["set_prompt", "score"])
@pytest.mark.parametrize("bad, says", [(99999, "outside this model's vocabulary"), (1.5, "whole numbers; got 1.5")])
def test_a_refused_prompt_keeps_the_sequence_and_a_fraction_is_never_rounded(tiny, verb, bad, says):
    gen = Generator(tiny.engine, SamplingParams(max_new_tokens=3), max_length=64)
    gen.set_prompt(PROMPT)
    while not gen.is_done():
        gen.generate_next_token()
    before = gen.tokens

    with pytest.raises(GenerationError, match=says):
        getattr(gen, verb)(PROMPT[:4] + [bad])  # int(1.5) would quietly have been token 1

    assert gen.tokens == before and gen.is_done()


def test_appending_no_tokens_says_so_rather_than_a_row_count(tiny):
    gen = Generator(tiny.engine, max_length=64)

    with pytest.raises(GenerationError, match=r"^No token ids were given: pass a list of ids"):
        gen.append_tokens([])


@pytest.mark.parametrize("n", [-1, 2.5, "3"])
def test_rewinding_to_a_count_that_is_not_a_whole_number_of_tokens_is_refused_and_keeps_the_sequence(tiny, n):
    gen = Generator(tiny.engine, max_length=64)
    gen.set_prompt(PROMPT)

    with pytest.raises(GenerationError, match=r"rewind_to needs a whole number of tokens to keep, 0 or more, got"):
        gen.rewind_to(n)  # 2.5 and "3" were a TypeError from deep inside before

    assert gen.tokens == PROMPT


def test_prompts_as_numpy_arrays_or_torch_tensors_are_the_same_ids(tiny):
    torch = pytest.importorskip("torch")
    ids = [7, 30, 111, 42, 9]
    kept = []
    for prompt in (ids, np.array(ids), np.array([ids]), torch.tensor(ids), [np.int64(t) for t in ids]):
        gen = Generator(tiny.engine, max_length=32)
        gen.set_prompt(prompt)
        kept.append(gen.tokens)
        assert all(type(t) is int for t in kept[-1])
    assert all(k == ids for k in kept)
    with pytest.raises(GenerationError, match="Token ids are whole numbers"):
        Generator(tiny.engine, max_length=32).set_prompt(np.array([1.0, 2.0]))


def test_stop_ids_that_are_not_whole_numbers_are_refused(tiny):
    with pytest.raises(GenerationError, match="stop_ids are token ids, whole numbers; got \\(1.5,\\)"):
        Generator(tiny.engine, max_length=32, stop_ids=(1.5,))
    assert Generator(tiny.engine, max_length=32, stop_ids=(np.int64(3), 4)).stop_ids == {3, 4}
