"""benchmarks/sampling_cost.py's decided shares go through the engine's StepSampler, and every draw it counts as
decided from the top-64 must be the whole row's token (the script asserts it; here on a few rows)."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
LOWERING = ("greedy, repetition penalty 1.1", "chat, repetition penalty 1.1", "chat, stop ids banned (min_tokens)")


@pytest.mark.parametrize("name", LOWERING)
def test_penalized_and_banned_presets_are_decided_from_the_top_k_on_confident_rows(monkeypatch, name):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import sampling_cost

    batch = sampling_cost.rows("confident", 3)
    params = sampling_cost.masked(batch[0], name, sampling_cost.PRESETS[name])
    assert params.repetition_penalty != 1.0 or params.banned_ids  # the preset lowers candidates
    assert sampling_cost.decided_share(batch, name, sampling_cost.PRESETS[name])[1] == "100%"
