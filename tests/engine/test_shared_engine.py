"""One Engine, several threads: a ChatPanel turn and a cell generating at once each have their own Generator over
the one loaded model. Nothing mutable is shared, so each gets exactly what it would get alone."""

from __future__ import annotations

import threading

from glm_nb.engine import Generator, IncrementalDetokenizer, SamplingParams

PROMPTS = ([7, 30, 111, 42, 9, 250, 3, 77], [5, 6, 7, 8, 200, 201, 99, 14, 2])


def generate(engine, prompt: list[int], seed: int) -> tuple[list[int], str]:
    gen = Generator(engine, SamplingParams(max_new_tokens=1000, temperature=0.9, seed=seed), max_length=96,
                    stop_ids=())  # fmt: skip
    detokenizer = IncrementalDetokenizer(engine.tokenizer)
    gen.append_tokens(prompt)
    ids, text = [], ""
    for _ in range(40):
        gen.generate_next_token()
        ids.append(gen.last_token)
        text += detokenizer.add(gen.last_token)
    return ids, text + detokenizer.flush()


def test_generators_of_one_engine_in_two_threads_match_their_runs_alone(tiny):
    alone = [generate(tiny.engine, prompt, seed) for seed, prompt in enumerate(PROMPTS)]
    together, errors = [None, None], []

    def run(row: int) -> None:
        try:
            for _ in range(5):  # several rounds, so that steps of the two interleave in many ways
                assert generate(tiny.engine, PROMPTS[row], row) == alone[row]
            together[row] = alone[row]
        except BaseException as e:  # reported by the main thread: an exception in a thread is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=run, args=(row,)) for row in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == [] and together == alone
