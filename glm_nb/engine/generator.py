"""`Generator`: the mutable side of generation: tokens, KV cache, bound buffers, sampling state.

Verbs (after onnxruntime-genai): `append_tokens`, `generate_next_token`, `is_done`, `rewind_to`, plus
`set_prompt` (prefix reuse) and `score` (logits at every position).

Tokens are fed lazily: the sequence is `tokens`; the KV cache holds the first `kv_len` of them; the rest are
*pending* and run through the model at the next `generate_next_token`, in chunks of `prefill_chunk` (prefill; also
one chunk a call with `prefill()`) or as the single token just sampled (decode). So rewinding is only bookkeeping,
and a prompt sharing a prefix with what is cached costs only its new suffix.

Running the graph (the KV cache, the bound buffers, what each step binds) is step_runner.py's, turning a step into
the next ids step_sampler.py's, checking the ids callers pass token_rows.py's, the defaults and checks of a
Generator's arguments and the advice when a sequence outgrows its context generator_options.py's; the Generator
keeps the sequences and decides what runs next.

On CUDA every bound input and output lives on the device. A decode step copies the new ids and `seqlens_k` up
(12 bytes a row) and one of two things down: what the draw needs of the graph's top-k (values and ids for greedy),
when the graph has a top-k tail (converted with `top_k_output`) and that decides the draw exactly (step_sampler.py,
topk_sampling.py), or else the whole last logits row. With `Engine.load(..., cuda_graph=True)` decode steps are
captured as a CUDA graph once per Generator and replayed; prefill and scoring run uncaptured (graph_plan.py says why
and how).

A Generator is one sequence's state, used by one thread at a time: a verb called while another thread is inside
one raises `GenerationError` instead of interleaving two steps over the same buffers. Generators of one Engine
run side by side safely (each owns its buffers; the session is shared).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import GenerationError, PromptTooLongError
from .engine import Engine
from .generator_options import DEFAULT_CONTEXT, PREFILL_CHUNK, READBACKS, check_arguments, more_room
from .sampling import SamplingParams, make_rng
from .step_runner import StepRunner
from .step_sampler import StepSampler
from .token_rows import parse_rows, parse_stop_ids, whole

__all__ = ["Generator", "GeneratorStats", "DEFAULT_CONTEXT", "PREFILL_CHUNK", "READBACKS"]


@dataclass
class GeneratorStats:
    prefill_tokens: int = 0  # prompt tokens run through the model (cumulative)
    decode_tokens: int = 0  # sampled tokens run through the model (cumulative)
    reused_tokens: int = 0  # prompt tokens served from the KV cache by set_prompt (cumulative)
    forward_calls: int = 0
    top_k_draws: int = 0  # draws decided by the graph's top-k output, no logits row read (cumulative)


def _exclusive(verb):
    """Run `verb` holding the generator's own lock; another thread inside a verb makes this call fail at once
    (re-entry from the same thread, as set_prompt calling append_tokens, is fine)."""

    @functools.wraps(verb)
    def guarded(self, *args, **kwargs):
        if not self._busy.acquire(blocking=False):
            raise GenerationError(
                f"Generator.{verb.__name__}() was called while another thread is using this Generator. Give each "
                "thread its own Generator(engine) (they share the Engine safely), or serialize the calls with a lock."
            )
        try:
            return verb(self, *args, **kwargs)
        finally:
            self._busy.release()

    return guarded


class Generator:
    """The mutable side of generation over an `Engine`: tokens, KV cache, sampling state. Verbs: `append_tokens`,
    `set_prompt` (reuses the longest cached prefix), `prefill` (one chunk of a long prompt), `generate_next_token`,
    `is_done`, `rewind_to`, `score`. One thread at a time: a verb called while another thread is inside one raises
    `GenerationError`."""

    def __init__(
        self,
        engine: Engine,
        sampling: SamplingParams | None = None,
        *,
        batch_size: int = 1,
        max_length: int | None = None,
        stop_ids: tuple[int, ...] | None = None,
        cuda_graph: bool | None = None,
        readback: str = "auto",
        prefill_chunk: int | None = None,
    ):
        """stop_ids: tokens that end generation (default: the model's; `()` to always run max_new_tokens).

        cuda_graph: capture decode steps as a CUDA graph (default: whatever the engine was loaded with; False runs
        them uncaptured on a graph-enabled engine). On the CPU, which captures nothing, True runs decode with
        exactly the inputs a captured graph would see: that is how the CPU tests check the graph path.
        readback: "auto" samples from the graph's device top-k when it has one and the sampling settings allow,
        "logits" always copies the whole last logits row to the host. Both give the same tokens for the same seed,
        but for temperature alone (banned ids or a penalty of at least 1 too): "auto" walks the top-k first
        (topk_sampling.py), "logits" the vocabulary.
        prefill_chunk: the most prompt tokens one model call runs (batch 1; default PREFILL_CHUNK for the device).
        A long prompt runs in chunks: Ctrl-C stops it between them, losing only the chunk it stopped, and its
        activations stay the size of a chunk (8,000 tokens through a 512-wide test model took 458 MiB in one call,
        125 MiB in chunks of 512: benchmarks/prefill_chunks.py; GLM-4-9B is eight times wider).
        """
        check_arguments(engine, batch_size, max_length, readback, prefill_chunk)
        graph = engine.cuda_graph if cuda_graph is None else cuda_graph
        if graph and engine.device == "cuda" and not engine.cuda_graph:
            raise GenerationError("cuda_graph=True needs an engine loaded with Engine.load(..., cuda_graph=True).")
        meta = engine.metadata
        self._busy = threading.RLock()
        self.engine = engine
        self.readback = readback
        self.batch_size = batch_size
        self.max_length = int(max_length or min(meta.max_length, DEFAULT_CONTEXT))
        self.sampling = sampling or SamplingParams()
        self.prefill_chunk = int(prefill_chunk or PREFILL_CHUNK[engine.device])
        self.stats = GeneratorStats()
        self._stop = frozenset(meta.stop_ids if stop_ids is None else parse_stop_ids(stop_ids))
        self._steps = StepRunner(engine, batch_size, self.max_length, graph)
        self.cache = self._steps.cache
        guard = meta.compute_dtype == "fp16"  # its logits may overflow: step_sampler.py
        self._sampler = StepSampler(self._steps.buf, self._steps.top_k, meta.vocab_size, readback, guard)
        self._tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self._kv_len = [0] * batch_size  # tokens of each row already in the KV cache
        self._new = 0  # tokens sampled since the last prompt change
        self._done = np.zeros(batch_size, bool)
        self._rng = make_rng(self.sampling.seed)
        self._seed = self.sampling.seed

    # -- state ----------------------------------------------------------------------------------------------------
    @property
    def tokens(self) -> list[int]:
        """The whole sequence (batch 1); `sequence(row)` for a batch."""
        return list(self._tokens[0])

    def sequence(self, row: int) -> list[int]:
        return list(self._tokens[row])

    @property
    def last_token(self) -> int:
        if not self._tokens[0]:
            raise GenerationError("No tokens yet: call append_tokens() or set_prompt() first.")
        return self._tokens[0][-1]

    @property
    def stop_ids(self) -> frozenset[int]:
        """The tokens that end generation for this generator (the model's unless overridden)."""
        return self._stop

    def is_done(self) -> bool:
        """True when every row has produced a stop id, reached max_new_tokens, or filled the context."""
        return bool(self._done.all())

    # -- verbs ----------------------------------------------------------------------------------------------------
    @_exclusive
    def append_tokens(self, ids) -> None:
        """Append prompt tokens: a list of ids (batch 1) or one list per row."""
        rows = self._rows(ids)
        for row, new in enumerate(rows):
            if len(self._tokens[row]) + len(new) >= self.max_length:
                raise PromptTooLongError(self._too_long(len(self._tokens[row]) + len(new)))
        pending = {len(t) + len(new) - k for t, new, k in zip(self._tokens, rows, self._kv_len)}
        if any(self._kv_len) and len(pending) > 1:  # refused here, before the rows change, not at the next step
            raise GenerationError(
                "Rows of a batch can differ in prompt length only in the first chunk; append the same number of "
                "tokens to every row afterwards (or rewind_to(0) and append whole prompts)."
            )
        for row, new in enumerate(rows):
            self._tokens[row].extend(new)
        self._new = 0
        self._done[:] = False
        self._reseed()

    def _reseed(self) -> None:
        """A new prompt with a seed draws as it would on a fresh generator: the same prompt, seed and settings give
        the same tokens however many requests came before (OpenAI's and vLLM's `seed`, a re-run `%%glm --seed`)."""
        if self.sampling.seed is not None:
            self._rng, self._seed = make_rng(self.sampling.seed), self.sampling.seed

    @_exclusive
    def set_prompt(self, ids) -> int:
        """Make the sequence (batch 1) equal `ids`, reusing the longest prefix already in the KV cache.
        Returns how many tokens were reused; only the rest is run through the model."""
        if self.batch_size != 1:
            raise GenerationError("set_prompt works on batch 1; for a batch use rewind_to() and append_tokens().")
        ids = list(ids)
        if not ids:
            raise GenerationError(
                "The prompt is empty: give at least one token (a GLM-4 chat prompt starts with [gMASK]<sop>)."
            )
        [ids] = self._rows(ids)  # checked before the sequence is cut back to the common prefix, which a bad id kept
        if len(ids) >= self.max_length:
            raise PromptTooLongError(self._too_long(len(ids)))
        cached = self._tokens[0][: int(self._kv_len[0])]
        common = 0
        for a, b in zip(cached, ids):
            if a != b:
                break
            common += 1
        common = min(common, len(ids) - 1)  # the last prompt token must run to produce logits
        self._truncate(common, keep_last_pending=False)  # the suffix appended next gives the logits
        self.append_tokens(ids[common:])
        self.stats.reused_tokens += common
        return common

    @_exclusive
    def rewind_to(self, n: int) -> None:
        """Truncate every row to its first n tokens (the KV cache follows; nothing is recomputed now)."""
        if not whole(n) or n < 0:
            raise GenerationError(f"rewind_to needs a whole number of tokens to keep, 0 or more, got {n!r}.")
        # Keep the last token pending so that the next step has logits to sample from.
        self._truncate(n, keep_last_pending=True)
        self._reseed()

    def _truncate(self, n: int, keep_last_pending: bool) -> None:
        for row in range(self.batch_size):
            if len(self._tokens[row]) > n:  # shortened: it may generate again (n < max_length, so it fits)
                del self._tokens[row][n:]
                self._done[row] = False
            # A row rewound to its own length or beyond keeps its state: one that ended on a stop id or filled the
            # context stays done, so it never generates past them.
            in_cache = len(self._tokens[row]) - (1 if keep_last_pending else 0)
            self._kv_len[row] = min(self._kv_len[row], max(in_cache, 0))
        self._new = 0

    @_exclusive
    def prefill(self) -> int:
        """Run the next `prefill_chunk` tokens of the prompt (batch 1) when more than that is pending; how many it
        ran (0: none). `while gen.prefill(): ...` feeds a long prompt call by call, so that a caller can stop or
        report between them; the last chunk runs in `generate_next_token`, which samples from its logits (and
        which also runs every pending chunk by itself)."""
        if self.batch_size != 1:
            return 0
        start = self._kv_len[0]
        if len(self._tokens[0]) - start <= self.prefill_chunk:
            return 0
        self._run_prefill([self._tokens[0][start : start + self.prefill_chunk]], np.array([start], np.int64))
        return self.prefill_chunk

    @_exclusive
    def generate_next_token(self) -> None:
        """Run the pending tokens through the model, sample one token per row and append it."""
        if self.is_done():
            raise GenerationError(
                "Generation is done (a stop id, max_new_tokens or a full context); append tokens or rewind before "
                "generating more."
            )
        if any(len(t) == 0 for t in self._tokens):
            raise GenerationError("No tokens yet: call append_tokens() or set_prompt() first.")
        if self.sampling.seed != self._seed:
            self._rng, self._seed = make_rng(self.sampling.seed), self.sampling.seed
        self._forward()
        next_ids = self._next_ids()
        self._new += 1
        for row, token in enumerate(next_ids):
            if self._done[row]:
                # A finished row keeps its tokens: the step re-ran its last token at the same position, rewriting
                # the same KV rows, so that token stays pending and the batch keeps decoding one token a row. (A
                # padding token appended instead would show in `sequence(row)` and could run past max_length.)
                self._kv_len[row] -= 1
                continue
            token = int(token)
            self._tokens[row].append(token)
            if (
                token in self._stop
                or self._new >= self.sampling.max_new_tokens
                or len(self._tokens[row]) >= self.max_length
            ):
                self._done[row] = True

    @_exclusive
    def score(self, ids) -> np.ndarray:
        """Logits at every position of `ids` (batch 1) run from an empty cache: [len(ids), V] float32, computed
        `prefill_chunk` positions a call. Afterwards the sequence is `ids`, ready to continue."""
        if self.batch_size != 1:
            raise GenerationError("score works on batch 1.")
        ids = list(ids)
        if not ids:
            raise GenerationError("score needs at least one token.")
        [ids] = self._rows(ids)  # before the rewind, as the length below: a refused score keeps the sequence
        if len(ids) >= self.max_length:  # refused before the rewind, so the sequence so far survives the error
            raise PromptTooLongError(self._too_long(len(ids)))
        self.rewind_to(0)
        self.append_tokens(ids)
        self.stats.prefill_tokens += len(ids)
        self.stats.forward_calls += -(-len(ids) // self.prefill_chunk)
        logits = self._steps.run_scoring(self._tokens[0], self.prefill_chunk)
        self._kv_len[0] = len(ids) - 1  # leave the last token pending so generation can continue from here
        return logits

    def last_logits(self) -> np.ndarray:
        """The logits the last step was sampled from, copied to the host: [B, V] float32."""
        return self._steps.buf.last_logits().copy()

    # -- the model ------------------------------------------------------------------------------------------------
    def _forward(self) -> None:
        lengths = [len(t) for t in self._tokens]
        if all(k >= n for k, n in zip(self._kv_len, lengths)):
            # Only after an interrupt (Ctrl-C between running the model and appending the sampled token): the
            # logits of the last token may be gone, so run it again; it rewrites its own KV rows identically.
            self._kv_len = [min(k, n - 1) for k, n in zip(self._kv_len, lengths)]
        if self._new > 0 and all(n - k == 1 for n, k in zip(lengths, self._kv_len)):
            # Decode, the hot path: plain ints, no numpy bookkeeping (a step of a small model is ~1 ms).
            self.stats.forward_calls += 1
            self._steps.run_decode(self._tokens, self._kv_len)
            self.stats.decode_tokens += self.batch_size - int(np.count_nonzero(self._done))  # finished rows only idle
            self._kv_len = lengths
            return
        kv = np.array(self._kv_len, np.int64)
        pending = [t[int(k) :] for t, k in zip(self._tokens, kv)]
        counts = np.array([len(p) for p in pending], np.int64)
        if (kv > 0).any() and len(set(counts.tolist())) > 1:
            raise GenerationError(
                "Rows of a batch can differ in prompt length only in the first chunk; append the same number of "
                "tokens to every row afterwards."
            )
        if self.batch_size > 1 and (kv > 0).any() and counts[0] > 1:
            # GroupQueryAttention runs a chunk of several tokens after cached ones only at batch 1 ("batch_size must
            # be 1 when sequence_length > 1 and past context is given"), so a batch continues one column at a time.
            chunks = [([p[i : i + 1] for p in pending], kv + i) for i in range(int(counts[0]))]
        elif self.batch_size == 1:
            size = self.prefill_chunk
            chunks = [([pending[0][i : i + size]], kv + i) for i in range(0, int(counts[0]), size)]
        else:
            chunks = [(pending, kv)]
        for chunk, start in chunks:
            self._run_prefill(chunk, start)

    def _run_prefill(self, chunk: list[list[int]], start: np.ndarray) -> None:
        """One prefill call: row r's `chunk` tokens at positions start[r], .... The cache lengths follow call by
        call, so an interrupt (Ctrl-C) loses at most the call it stopped, and the next step or set_prompt goes on
        from there."""
        self.stats.forward_calls += 1
        self._steps.run_prefill(chunk, start)
        ran = np.array([len(c) for c in chunk], np.int64)
        self.stats.prefill_tokens += int(ran.sum())
        self._kv_len = (start + ran).tolist()

    def _next_ids(self) -> np.ndarray:
        """One id per row from the step just run (step_sampler.py: from the device top-k when that decides the draw
        exactly, copying only what the draw needs, else from the whole logits row)."""
        picks, from_top_k = self._sampler.next_ids(self.sampling, self._rng, self._tokens)
        self.stats.top_k_draws += from_top_k
        return picks

    # -- helpers --------------------------------------------------------------------------------------------------
    def _rows(self, ids) -> list[list[int]]:
        return parse_rows(ids, self.batch_size, self.engine.metadata.vocab_size)

    def _too_long(self, n: int) -> str:
        return (
            f"The sequence would be {n} tokens but this generator's context holds {self.max_length} "
            f"(including room for one new token). Shorten the prompt or start a new conversation, or "
            f"{more_room(self.engine, self.max_length, n + 1)}."
        )
