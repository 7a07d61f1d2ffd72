"""A scripted stand-in for the engine's `Generator`, so every branch of the chat layer runs without a model.

Like simonw/llm's mock model: each prompt gets the next scripted reply, "generated" token by token through a real
tokenizer (special tokens such as `<|assistant|>` or `<|observation|>` inside a reply become their special ids).
Its bookkeeping copies `glm_nb.engine.Generator`'s: `set_prompt` keeps the longest common prefix of what is "in
the KV cache", `stats` counts prefilled, decoded and reused tokens, so tests can assert that a follow-up turn
computes only its new tokens. Wrap it in a `LocalBackend` (`ScriptedGenerator.backend()`) to drive conversations.

    generator = ScriptedGenerator(tokenizer, ["\\nHello!", 'get_weather\\n{"city": "Paris"}<|observation|>'])
    conversation = Conversation(generator.backend(chat_template=template))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..engine import GeneratorStats, SamplingParams
from ..errors import GenerationError, PromptTooLongError
from .local import LocalBackend, TokenizerLike

__all__ = ["ScriptedGenerator", "ScriptedReply"]

_STOP_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")
_END_OF_TURN = "<|user|>"


@dataclass(frozen=True)
class ScriptedReply:
    """One reply. Without a stop token at its end, `<|user|>` (end of turn) follows it, again and again until the
    token limit for a backend that passes over stop tokens (`StopOptions.ignore_eos`; a script cannot honour
    `MaskedSampling.banned_ids`). `interrupt_after=n` raises KeyboardInterrupt inside the n+1-th token's
    generation."""

    text: str
    interrupt_after: int | None = None


class ScriptedGenerator:
    """Implements the Generator verbs `LocalBackend` uses; replies come from a script instead of a model."""

    def __init__(
        self,
        tokenizer: TokenizerLike,
        replies: Iterable[str | ScriptedReply] = (),
        *,
        max_length: int = 4096,
        sampling: SamplingParams | None = None,
    ):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.sampling = sampling or SamplingParams()
        self.stats = GeneratorStats()
        self.stop_ids: tuple[int, ...] = ()  # as LocalBackend.from_engine's Generator: its backend decides the stops
        self._end_ids = tuple(i for t in _STOP_TOKENS if (i := tokenizer.token_to_id(t)) is not None)
        self.prompts: list[list[int]] = []  # every prompt given to set_prompt, for tests to inspect
        self._script: deque[ScriptedReply] = deque()
        self._reply: list[int] = []
        self._interrupt_after: int | None = None
        self._tokens: list[int] = []
        self._kv_len = 0
        self._new = 0
        self._done = False
        self.add_replies(replies)

    def add_replies(self, replies: Iterable[str | ScriptedReply]) -> None:
        self._script.extend(r if isinstance(r, ScriptedReply) else ScriptedReply(r) for r in replies)

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    def backend(self, *, chat_template: str | None, name: str = "scripted") -> LocalBackend:
        return LocalBackend(
            self,
            self.tokenizer,
            stop_ids=self._end_ids,
            chat_template=chat_template,
            name=name,
            context_length=self.max_length,
        )

    # -- the Generator verbs --------------------------------------------------------------------------------------
    @property
    def tokens(self) -> list[int]:
        return list(self._tokens)

    @property
    def last_token(self) -> int:
        return self._tokens[-1]

    def is_done(self) -> bool:
        return self._done

    def set_prompt(self, ids: Sequence[int]) -> int:
        ids = [int(t) for t in ids]
        if len(ids) >= self.max_length:
            raise PromptTooLongError(
                f"The prompt is {len(ids)} tokens but the context holds {self.max_length}. Shorten the prompt or "
                "start a new conversation."
            )
        if not self._script:
            raise GenerationError("ScriptedGenerator has no reply left for this prompt: script one more reply.")
        reply = self._script.popleft()
        self._reply = self.tokenizer.encode(reply.text)
        self._interrupt_after = reply.interrupt_after
        self.prompts.append(list(ids))
        common = 0
        for a, b in zip(self._tokens[: self._kv_len], ids):
            if a != b:
                break
            common += 1
        common = min(common, len(ids) - 1)  # as the engine: the last prompt token runs to give logits
        self._tokens, self._kv_len = ids, common
        self._new, self._done = 0, False
        self.stats.reused_tokens += common
        return common

    def append_tokens(self, ids: Sequence[int]) -> None:
        self._tokens += [int(t) for t in ids]
        self._new, self._done = 0, False

    def rewind_to(self, n: int) -> None:
        del self._tokens[n:]
        self._kv_len = min(self._kv_len, max(len(self._tokens) - 1, 0))
        self._new, self._done = 0, False

    def generate_next_token(self) -> None:
        if self._done:
            raise GenerationError("Generation is done; append tokens or rewind before generating more.")
        if self._interrupt_after is not None and self._new == self._interrupt_after:
            self._interrupt_after = None
            raise KeyboardInterrupt
        pending = len(self._tokens) - self._kv_len
        if self._new > 0 and pending == 1:
            self.stats.decode_tokens += 1
        else:
            self.stats.prefill_tokens += pending
        self._kv_len = len(self._tokens)
        token = self._reply[self._new] if self._new < len(self._reply) else self.tokenizer.token_to_id(_END_OF_TURN)
        self._tokens.append(int(token))
        self._new += 1
        self._done = self._new >= self.sampling.max_new_tokens or len(self._tokens) >= self.max_length
