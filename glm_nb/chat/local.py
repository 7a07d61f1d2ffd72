"""`LocalBackend`: the `Backend` seam over our own engine's `Generator` (one model, one KV cache).

Each completion hands the whole prompt to `Generator.set_prompt`, which keeps the longest common prefix already
in the KV cache: a conversation's next turn re-renders the full history, and only the tokens after the previous
turn's are computed. Tokens are decoded one at a time through the engine's `IncrementalDetokenizer` (special
tokens kept as text, FORMAT.md "What the model emits"); stop tokens are reported, not decoded.

The backend, not the generator, decides where a completion stops (`from_engine` builds the Generator with no stop
ids of its own), so a request can pass over the stop tokens (`StopOptions.ignore_eos`) or ban them until its
`min_tokens` are generated: for those first tokens the generator samples with the stop ids in
`MaskedSampling.banned_ids` (vLLM sets their logits to -inf), then with the request's own settings again.

One generator serves one completion at a time: starting a completion supersedes any earlier one still open (an
abandoned stream raises GenerationError if resumed), and a lock serialises the generator calls between threads.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ..engine import Engine, Generator, IncrementalDetokenizer, SamplingParams
from ..engine.sampling import MaskedSampling
from ..errors import GenerationError
from .backend import CompletionEnd, CompletionItem, CompletionStart, PrefillProgress, StopOptions, TextChunk

__all__ = ["LocalBackend", "GeneratorLike", "TokenizerLike"]


class TokenizerLike(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str: ...
    def token_to_id(self, token: str) -> int | None: ...


class GeneratorLike(Protocol):
    """The part of `glm_nb.engine.Generator` a backend uses (batch 1)."""

    sampling: SamplingParams

    def set_prompt(self, ids: Sequence[int]) -> int: ...
    def generate_next_token(self) -> None: ...  # a `prefill() -> int` too, optionally: see Generator.prefill
    def is_done(self) -> bool: ...

    @property
    def last_token(self) -> int: ...


_ENCODED_KEPT = 4  # prompts whose ids LocalBackend.encode_prompt keeps (the requests a server counted and queued)


class LocalBackend:
    """A `Backend` that generates with a local `Generator`. Usually built with `LocalBackend.from_engine(engine)`;
    a generator given directly should have no stop ids of its own (`Generator(engine, stop_ids=())`): `stop_ids`
    here end the completions."""

    def __init__(
        self,
        generator: GeneratorLike,
        tokenizer: TokenizerLike,
        *,
        stop_ids: Iterable[int],
        chat_template: str | None,
        name: str = "local model",
        context_length: int | None = None,
    ):
        self.generator = generator
        self.tokenizer = tokenizer
        self.stop_ids = frozenset(stop_ids)
        self._chat_template = chat_template
        self._name = name
        self._context_length = context_length
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by each completion; an older stream finding it changed was superseded
        self._encoded: collections.OrderedDict[str, list[int]] = collections.OrderedDict()  # encode_prompt's
        self._encoded_lock = threading.Lock()

    @classmethod
    def from_engine(cls, engine: Engine, *, max_length: int | None = None) -> LocalBackend:
        """A backend over a fresh `Generator` of a loaded `Engine`; `max_length` sizes its KV cache (tokens)."""
        generator = Generator(engine, SamplingParams(), batch_size=1, max_length=max_length, stop_ids=())
        return cls(
            generator,
            engine.tokenizer,
            stop_ids=engine.stop_ids,
            chat_template=engine.chat_template,
            name=engine.metadata.name,
            context_length=generator.max_length,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def chat_template(self) -> str | None:
        return self._chat_template

    @property
    def context_length(self) -> int | None:
        return self._context_length

    def encode_prompt(self, prompt: str) -> list[int]:
        """The tokenizer's ids of `prompt`, kept for the last few prompts: a server that counts a request's prompt
        before its turn (serve's PromptLimit) does not tokenize it again here (seconds for a long one)."""
        with self._encoded_lock:
            ids = self._encoded.get(prompt)
            if ids is not None:
                self._encoded.move_to_end(prompt)
                return list(ids)
        ids = self.tokenizer.encode(prompt)
        with self._encoded_lock:
            self._encoded[prompt] = list(ids)
            while len(self._encoded) > _ENCODED_KEPT:
                self._encoded.popitem(last=False)
        return ids

    def complete(
        self, prompt: str, sampling: SamplingParams, stops: StopOptions | None = None
    ) -> Iterator[CompletionItem]:
        if stops is not None and stops.ignore_eos and getattr(self.generator, "stop_ids", None):
            raise GenerationError(
                "ignore_eos needs a generator that leaves stopping to the backend, but this one stops at its own "
                "stop ids. Build the backend with LocalBackend.from_engine(engine), or its generator with "
                "Generator(engine, stop_ids=())."
            )
        ids = self.encode_prompt(prompt)
        with self._lock:
            self._epoch += 1
            epoch = self._epoch
        return self._stream(ids, sampling, stops or _MODEL_STOPS, epoch)

    def _stream(
        self, ids: list[int], sampling: SamplingParams, stops: StopOptions, epoch: int
    ) -> Iterator[CompletionItem]:
        generator = self.generator
        ending = frozenset() if stops.ignore_eos else self.stop_ids  # the tokens that end this completion
        with self._lock:
            self._check_current(epoch)
            generator.sampling = self._early_sampling(sampling, stops)
            reused = generator.set_prompt(ids)  # raises PromptTooLongError, which says what to do
        yield CompletionStart(len(ids), reused)
        prefill = getattr(generator, "prefill", None)  # a long prompt runs in chunks (Generator.prefill_chunk)
        done, total = 0, len(ids) - reused
        while prefill is not None:
            with self._lock:
                self._check_current(epoch)
                ran = prefill()
            if not ran:
                break
            done = min(done + ran, total)
            yield PrefillProgress("", 0, done, total)  # a consumer may stop here (the panel's Stop, a client gone)
        detokenizer = IncrementalDetokenizer(self.tokenizer)
        generated = 0
        while True:
            with self._lock:
                self._check_current(epoch)
                if generator.is_done():
                    break
                generator.generate_next_token()
                token = generator.last_token
                generated += 1
                if generated == stops.min_tokens:  # the stop tokens may be drawn from the next one on
                    generator.sampling = sampling
            if token in ending and generated > stops.min_tokens:
                yield from self._tail(detokenizer)
                yield CompletionEnd("stop", self.tokenizer.decode([token]), tokens=1)
                return
            yield TextChunk(detokenizer.add(token))
        yield from self._tail(detokenizer)
        yield CompletionEnd("length")

    def _early_sampling(self, sampling: SamplingParams, stops: StopOptions) -> SamplingParams:
        """The settings of the first `min_tokens` draws: every stop token banned (vLLM masks the model's stop
        tokens, also under ignore_eos, and the request's own)."""
        if not stops.min_tokens:
            return sampling
        return MaskedSampling.of(sampling, self.stop_ids | stops.stop_ids)

    @staticmethod
    def _tail(detokenizer: IncrementalDetokenizer) -> Iterator[TextChunk]:
        if text := detokenizer.flush(drop_partial=True):
            yield TextChunk(text, tokens=0)

    def _check_current(self, epoch: int) -> None:
        if epoch != self._epoch:
            raise GenerationError(
                "This completion was superseded: a newer one started on the same model. Finish or cancel a "
                "response before starting the next."
            )


_MODEL_STOPS = StopOptions()  # no request options: the model's stop tokens end a completion
