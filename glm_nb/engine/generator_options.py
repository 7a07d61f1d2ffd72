"""A Generator's options: their defaults, the refusal of values it cannot take, and the advice when a sequence
outgrows its context.

Three lengths meet here: the Generator's `max_length` (its KV cache), the engine's `metadata.max_length` (which
`Engine.load` / `open_model` may cap below the conversion) and `Engine.graph_max_length` (what the graph was
converted for), past which only a new conversion gives more, and past the checkpoint's max_position_embeddings
only YaRN. Each piece of advice names the smallest of those steps that gives the room asked for.
"""

from __future__ import annotations

from ..errors import GenerationError
from .engine import Engine
from .token_rows import whole

__all__ = ["DEFAULT_CONTEXT", "PREFILL_CHUNK", "READBACKS", "check_arguments", "more_room"]

DEFAULT_CONTEXT = 8192  # KV buffer length when the caller gives none (capped by the graph's max_length)
# The most prompt tokens one prefill call runs (batch 1), so that Ctrl-C answers between calls. Chunks cost no time
# measured: 8,000 tokens took 5.36 s in chunks of 512, 5.48 s in one call (benchmarks/prefill_chunks.py, CPU).
PREFILL_CHUNK = {"cpu": 512, "cuda": 4096}
READBACKS = ("auto", "logits")  # auto: the device top-k when the graph has one and it decides the draw exactly


def check_arguments(engine: Engine, batch_size, max_length, readback, prefill_chunk) -> None:
    """Refuse a Generator's arguments before anything is allocated, saying what to pass instead."""
    limit = engine.metadata.max_length
    if not whole(batch_size) or batch_size < 1:
        raise GenerationError(f"batch_size must be a whole number >= 1 (rows decoded together), got {batch_size!r}.")
    # A context of one token holds a prompt token and no room for a new one (the prompt must be shorter than
    # max_length), so it could never generate: 2 is the least, as Engine.load and open_model take.
    if max_length is not None and (not whole(max_length) or max_length < 2):
        raise GenerationError(
            f"max_length must be a whole number of tokens, 2 or more (the longest sequence this Generator holds: a "
            f"prompt token and a new one), or None for the default (up to {min(limit, DEFAULT_CONTEXT)}); got "
            f"{max_length!r}."
        )
    if max_length is not None and max_length > limit:
        if max_length <= engine.graph_max_length:  # the engine was opened capped below its conversion
            raise GenerationError(
                f"max_length {max_length} exceeds this engine's context, {limit} tokens, the max_length it was "
                f"opened with; its conversion holds up to {engine.graph_max_length}, so open the model again with "
                f"max_length={max_length} or more (or None for all of it), or give at most {limit}."
            )
        raise GenerationError(
            f"max_length {max_length} exceeds what the model was converted for ({engine.graph_max_length}): give "
            f"at most that, or {_reconvert(engine, max_length)}."
        )
    if readback not in READBACKS:
        raise GenerationError(f"readback must be one of {', '.join(READBACKS)}, got {readback!r}.")
    if prefill_chunk is not None and (not whole(prefill_chunk) or prefill_chunk < 1):
        raise GenerationError(
            f"prefill_chunk must be a whole number >= 1 (prompt tokens a model call runs), or None for the "
            f"default ({PREFILL_CHUNK[engine.device]} here), got {prefill_chunk!r}."
        )


def more_room(engine: Engine, held: int, needed: int) -> str:
    """How to get a context of `needed` tokens from a generator holding `held`: a larger Generator when the engine
    allows it, the model opened again when its conversion holds it (Engine.load and open_model may cap an engine
    below that), and only beyond that a new conversion."""
    limit, graph = engine.metadata.max_length, engine.graph_max_length
    if held < limit and needed <= limit:
        return f"create the Generator with max_length up to {limit}"
    if needed <= graph:
        return (
            f"open the model again with max_length={needed} or more and create the Generator with as much (this "
            f"engine was opened with max_length={limit}; its conversion holds up to {graph} tokens)"
        )
    return _reconvert(engine, needed)


def _reconvert(engine: Engine, needed: int) -> str:
    """Advice for a context longer than the engine's conversion holds."""
    most = engine.checkpoint_max_length
    if most is not None and needed > most:
        return (
            f"for more than the checkpoint's max_position_embeddings ({most}), enable YaRN in its config.json and "
            "raise max_position_embeddings with it (the model card's recipe), then convert again"
        )
    permitting = "" if most is not None else ", if the checkpoint's max_position_embeddings allows"
    return f"convert the model with --max-length {needed} or more{permitting}"
