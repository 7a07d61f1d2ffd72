"""The plain generation loop with timings: what `glm-nb generate` and the benchmarks run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .generator import Generator

__all__ = ["GenerationResult", "generate"]


@dataclass(frozen=True)
class GenerationResult:
    token_ids: list[int]  # generated tokens, the stop token included if one ended the run
    prompt_tokens: int
    reused_tokens: int
    ttft_ms: float  # prompt prefill + first sampled token
    decode_tok_s: float  # tokens after the first, per second (0 when fewer than two were generated)
    stopped_on: int | None  # the stop id that ended generation, if any
    finish_reason: str = "stop"  # "stop" (a stop id), "length" (max_new_tokens) or "context" (the context filled)


def generate(
    gen: Generator, prompt_ids: list[int], on_token: Callable[[int], None] | None = None
) -> GenerationResult:
    """Run `gen` (batch 1) from `prompt_ids` until it is done; `on_token` sees each new token as it comes."""
    start = time.perf_counter()
    reused = gen.set_prompt(prompt_ids)
    first = None
    new: list[int] = []
    while not gen.is_done():
        gen.generate_next_token()
        if first is None:
            first = time.perf_counter()
        new.append(gen.last_token)
        if on_token:
            on_token(gen.last_token)
    end = time.perf_counter()
    stop = new[-1] if new and new[-1] in gen.stop_ids else None
    decode_s = end - (first or end)
    if stop is not None:
        reason = "stop"
    else:
        reason = "length" if len(new) >= gen.sampling.max_new_tokens else "context"
    return GenerationResult(
        token_ids=new,
        prompt_tokens=len(prompt_ids),
        reused_tokens=reused,
        ttft_ms=1000 * ((first or end) - start),
        decode_tok_s=(len(new) - 1) / decode_s if len(new) > 1 and decode_s > 0 else 0.0,
        stopped_on=stop,
        finish_reason=reason,
    )
