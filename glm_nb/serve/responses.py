"""The bodies `glm-nb serve` answers with, in OpenAI's shapes as vLLM writes them (vllm/entrypoints/openai/
protocol.py): whole answers, stream chunks, usage and errors. No HTTP here: `handler` sends what these build.

Every choice carries vLLM's `stop_reason` beside `finish_reason` (completions and chat alike, as vLLM's
`CompletionResponseChoice` and `ChatCompletionResponseChoice` and their stream choices do): the stop string that
ended the answer, or the id of a stop token the request named in `stop_token_ids`; null while streaming and when
the token limit ended it. The model's own stop tokens are given as vLLM gives them: the tokenizer's eos token
(`<|endoftext|>`) as null, the others that generation_config adds (`<|user|>`, `<|observation|>`) by id (vLLM
makes them stop_token_ids: vllm/sampling_params.py, `update_from_generation_config`; vllm/v1/core/sched/utils.py,
`check_stop`, sets stop_reason to a stop token's id and leaves it None for eos).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..chat import TextDelta, ThinkingDelta
from .generation import EOS_TEXT, Finish

__all__ = ["Reply", "StopReason", "chat_delta", "chat_message", "error_body", "stop_reason", "usage"]

StopReason = str | int | None


class Reply:
    """One answer's id, object type and model, shared by its chunks (or its whole body)."""

    def __init__(self, prefix: str, kind: str, model: str):
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.kind = kind  # "text_completion" or "chat.completion"
        self.model = model
        self.created = int(time.time())

    def chunk(
        self,
        delta: dict[str, Any],
        finish: str | None = None,
        stop: StopReason = None,
        tokens: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """A stream chunk: `delta` (chat) or the choice's fields (completions), `tokens` the usage so far
        (vLLM's `continuous_usage_stats`; absent otherwise)."""
        if self.kind == "chat.completion":
            choice: dict[str, Any] = {"index": 0, "delta": delta}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, **delta}
            kind = self.kind
        choice.update(logprobs=None, finish_reason=finish, stop_reason=stop)
        body = {**self._head(kind), "choices": [choice]}
        if tokens is not None:
            body["usage"] = dict(tokens)
        return body

    def usage_chunk(self, finish: Finish) -> dict[str, Any]:
        """The stream's last chunk under `include_usage`: no choices, the whole usage."""
        kind = "chat.completion.chunk" if self.kind == "chat.completion" else self.kind
        return {**self._head(kind), "choices": [], "usage": usage(finish.prompt_tokens, finish.completion_tokens)}

    def whole(self, choice: dict[str, Any], finish: Finish, stop: StopReason) -> dict[str, Any]:
        """A whole (not streamed) answer of one choice."""
        choice = {"index": 0, **choice, "logprobs": None, "finish_reason": finish.reason, "stop_reason": stop}
        tokens = usage(finish.prompt_tokens, finish.completion_tokens)
        return {**self._head(self.kind), "choices": [choice], "usage": tokens}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


def stop_reason(finish: Finish, stop_ids: Mapping[str, int]) -> StopReason:
    """vLLM's `stop_reason`: the id of the stop token that ended the answer (None for the eos token), else of a stop
    token named in `stop_token_ids` (text -> id), else the stop string; None when no stop ended the answer."""
    if finish.reason not in ("stop", "tool_calls") or finish.stop is None:
        return None
    if finish.stop_token is not None:
        return None if finish.stop == EOS_TEXT else finish.stop_token
    return stop_ids.get(finish.stop, finish.stop)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_delta(event: object, include_reasoning: bool) -> dict[str, str]:
    """The chat `delta` of one chat-layer event: content, reasoning_content, or nothing."""
    if isinstance(event, TextDelta):
        return {"content": event.text}
    if isinstance(event, ThinkingDelta) and include_reasoning:
        return {"reasoning_content": event.text}
    return {}  # tool calls are sent once the turn is over, from its parsed message


def chat_message(content: str, reasoning: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message of a whole chat answer."""
    # OpenAI's content is null, not "", beside tool calls with no text
    message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object: all four keys, `param` (the request field at fault) and `code` null when unknown."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
