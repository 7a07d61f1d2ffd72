"""The chat layer on the real engine: a random tiny GLM-4 checkpoint (tests/tiny_checkpoint.py), converted and run
by ONNX Runtime, checked token for token against transformers' greedy generation."""

from __future__ import annotations

import torch

from glm_nb.chat import CompletionStart, Conversation, LocalBackend, PrefillProgress, PromptProgress, TextDelta
from glm_nb.engine import SamplingParams

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=8)


def _transformers_greedy(model, ids: list[int], stop_ids, n: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=list(stop_ids),
            pad_token_id=stop_ids[0],
        )
    return out[0, len(ids) :].tolist()


def test_a_conversation_on_the_real_engine_matches_transformers_and_reuses_the_cache(tiny):
    backend = LocalBackend.from_engine(tiny.engine)
    conversation = Conversation(backend, sampling=GREEDY, system="You are a tiny model.")
    assert conversation.template.source == tiny.engine.chat_template  # the checkpoint's own template
    generator = backend.generator

    first = conversation.send("Hello! How can I help you today?")
    deltas = [e.text for e in first if isinstance(e, TextDelta)]
    prompt_ids = backend.tokenizer.encode(
        conversation.template.render(
            [
                {"role": "system", "content": "You are a tiny model."},
                {"role": "user", "content": "Hello! How can I help you today?"},
            ]
        )
    )

    generated = generator.tokens[len(prompt_ids) :]
    assert generated == _transformers_greedy(tiny.reference, prompt_ids, tiny.engine.stop_ids, 8)
    assert first.usage().prompt_tokens == len(prompt_ids)
    assert first.usage().new_tokens == len(generated)
    assert first.finish_reason in ("stop", "length")
    assert "".join(deltas) == first.text() == conversation.messages[-1].text

    prefilled_before = generator.stats.prefill_tokens
    second = conversation.send("Thanks")
    second.finish()

    usage = second.usage()
    assert usage.reused_prompt_tokens >= len(prompt_ids)
    assert generator.stats.prefill_tokens - prefilled_before == usage.prompt_tokens - usage.reused_prompt_tokens
    # (A random model's answer need not re-encode to the tokens it was generated as, nor start with the "\n" the
    # template writes after <|assistant|>, so reuse is only guaranteed up to the first turn's prompt here; the
    # scripted tests pin the exact count.)


def test_cancel_on_the_real_engine_leaves_the_generator_usable(tiny):
    backend = LocalBackend.from_engine(tiny.engine)
    conversation = Conversation(backend, sampling=SamplingParams(max_new_tokens=30))
    response = conversation.send("Count to ten")
    step, steps = backend.generator.generate_next_token, []

    def third_step_cancels():  # a random model's bytes seldom form text, so no TextDelta need come to cancel on
        step()
        steps.append(1)
        if len(steps) == 3:
            response.cancel()

    backend.generator.generate_next_token = third_step_cancels
    response.finish()
    backend.generator.generate_next_token = step
    again = conversation.send("Again")
    again.finish()

    assert conversation.messages[1].end == "interrupted"
    assert again.finish_reason in ("stop", "length")
    assert again.usage().reused_prompt_tokens > 0


def test_stop_during_a_long_prompt_ends_between_its_chunks_and_the_next_message_reuses_them(tiny):
    """A long prompt runs chunk by chunk (Generator.prefill_chunk); the backend yields between chunks, so a Stop
    (the panel's button, cancel() from another thread) ends the reply there instead of after the whole prompt."""
    backend = LocalBackend.from_engine(tiny.engine)
    generator = backend.generator
    generator.prefill_chunk = 8
    conversation = Conversation(backend, sampling=GREEDY, system="You are a tiny model. " * 6)
    response = conversation.send("Tell me about Jupyter notebooks and ONNX Runtime, briefly.")
    real = generator.prefill

    def cancel_after_two():
        ran = real()
        if generator.stats.forward_calls == 2:
            response.cancel()
        return ran

    generator.prefill = cancel_after_two
    response.finish()
    assert response.finish_reason == "cancelled"
    assert generator.stats.forward_calls == 2 and generator.stats.decode_tokens == 0  # stopped within the prompt
    generator.prefill = real
    again = conversation.send("Tell me about Jupyter notebooks and ONNX Runtime, briefly.")
    again.finish()
    assert again.usage().reused_prompt_tokens >= 16  # the two chunks that ran


def test_a_long_prompt_reports_how_far_it_is_read_before_the_reply(tiny):
    backend = LocalBackend.from_engine(tiny.engine)
    backend.generator.prefill_chunk = 8
    items = list(backend.complete("[gMASK]<sop>" + "word " * 30, GREEDY))
    start = items[0]
    assert isinstance(start, CompletionStart)
    progress = [(i.done, i.total) for i in items if isinstance(i, PrefillProgress)]
    total = start.prompt_tokens - start.reused_prompt_tokens
    assert progress == [(d, total) for d in range(8, total, 8)]  # the last chunk runs with the first token

    conversation = Conversation(backend, sampling=GREEDY, system="You are a tiny model. " * 6)
    events = list(conversation.send("Tell me about Jupyter notebooks and ONNX Runtime, briefly."))
    reading = [e.done for e in events if isinstance(e, PromptProgress)]
    assert reading and reading == sorted(reading)
    assert all(isinstance(e, PromptProgress) for e in events[: len(reading)])  # all before the reply's first event


def test_progress_comes_from_what_prefill_ran_not_from_a_chunk_size_attribute(tiny):
    """A generator need only have prefill() (returning the tokens it ran) for the backend to report progress."""
    from glm_nb.engine import Generator

    class Duck:  # the engine's generator without its prefill_chunk attribute
        def __init__(self, inner):
            object.__setattr__(self, "_inner", inner)

        def __getattr__(self, name):
            if name == "prefill_chunk":
                raise AttributeError(name)
            return getattr(self._inner, name)

        def __setattr__(self, name, value):
            setattr(self._inner, name, value)

    inner = Generator(tiny.engine, max_length=256, stop_ids=(), prefill_chunk=8)
    backend = LocalBackend(Duck(inner), tiny.engine.tokenizer, stop_ids=tiny.engine.stop_ids, chat_template=None)
    items = list(backend.complete("[gMASK]<sop>" + "word " * 30, GREEDY))
    done = [i.done for i in items if isinstance(i, PrefillProgress)]
    assert done and done == list(range(8, 8 * len(done) + 1, 8))
