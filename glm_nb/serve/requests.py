"""Request bodies of `/v1/completions` and `/v1/chat/completions`, parsed once into frozen values.

Field names and defaults follow OpenAI's API and vLLM's extra parameters (so the same client code talks to either):
`max_tokens`, `temperature`, `top_p`, `top_k`, `repetition_penalty`, `seed`, `stop`, `stream`,
`stream_options.include_usage`, `skip_special_tokens`, `include_stop_str_in_output` (chat takes `stop` too, matched
in the generated text as vLLM does). Unknown fields are ignored, as vLLM does; features this one-sequence server
cannot honour (`n` > 1, `best_of`, `echo`, `logprobs`, `suffix`, beam search; `frequency_penalty`,
`presence_penalty`, `min_p`, `logit_bias`, `min_tokens`, `ignore_eos` unless at their neutral value; chat's legacy
`functions` / `function_call`) are refused with a 400 that says so, rather than silently answered differently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..chat import Message, messages_from_openai
from ..chat.errors import MessageFormatError
from ..engine import SamplingParams
from .errors import BadRequestError

__all__ = ["ChatRequest", "CompletionRequest", "parse_chat_request", "parse_completion_request"]

DEFAULT_MAX_TOKENS = 16  # OpenAI's and vLLM's default for /v1/completions

# Sampling controls vLLM honours that this server has not: refused when they ask for something, accepted at their
# neutral value (many clients always send presence_penalty 0, frequency_penalty 0, logit_bias {} or null).
_UNTIL_ASKED = {
    "frequency_penalty": "use repetition_penalty (e.g. 1.1) to discourage repeats",
    "presence_penalty": "use repetition_penalty (e.g. 1.1) to discourage repeats",
    "min_p": "use top_p or top_k to cut unlikely tokens",
    "logit_bias": "leave it out (or send {})",
    "min_tokens": "leave it out: the answer ends where the model ends it, and max_tokens bounds it",
    "ignore_eos": "leave it out: the answer ends where the model ends it, and max_tokens bounds it",
    # vLLM's extras, which its clients send only when they mean them
    "stop_token_ids": "send the tokens' text in 'stop' instead",
    "allowed_token_ids": "leave it out: this server samples from the whole vocabulary",
    "bad_words": "leave it out: this server bans no words",
    "truncate_prompt_tokens": "shorten the prompt yourself: this server never cuts it",
    "guided_json": "leave it out: this server has no constrained decoding (ask for JSON in the prompt)",
    "guided_regex": "leave it out: this server has no constrained decoding",
    "guided_choice": "leave it out: this server has no constrained decoding",
    "guided_grammar": "leave it out: this server has no constrained decoding",
}
_NEUTRAL = (None, False, 0, {}, [])


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    sampling: SamplingParams
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    skip_special_tokens: bool = True  # vLLM's default
    include_stop_str_in_output: bool = False


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[Mapping[str, Any], ...]
    sampling: SamplingParams
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False


def parse_completion_request(body: Any, model: str) -> CompletionRequest:
    body = _object(body)
    _check_model(body, model)
    _refuse_unsupported(body, ("echo", "suffix", "logprobs", "use_beam_search"), count_fields=("n", "best_of"))
    _refuse_unhonoured(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise BadRequestError(
            "'prompt' must be one non-empty string (this server takes no token-id or batch prompts)."
        )
    return CompletionRequest(
        prompt=prompt,
        sampling=_sampling(body, DEFAULT_MAX_TOKENS),
        stop=_stop(body.get("stop")),
        stream=_flag(body, "stream", False),
        include_usage=_include_usage(body),
        skip_special_tokens=_flag(body, "skip_special_tokens", True),
        include_stop_str_in_output=_flag(body, "include_stop_str_in_output", False),
    )


def parse_chat_request(body: Any, model: str, max_tokens: int) -> ChatRequest:
    body = _object(body)
    _check_model(body, model)
    if body.get("response_format") == {"type": "text"}:  # the default, which some clients always send
        body = {k: v for k, v in body.items() if k != "response_format"}
    _refuse_unsupported(body, ("logprobs", "top_logprobs", "response_format"), count_fields=("n",))
    _refuse_unhonoured(body)
    _refuse_functions(body)
    raw_messages = body.get("messages")
    if (
        not isinstance(raw_messages, list)
        or not raw_messages
        or not all(isinstance(m, Mapping) for m in raw_messages)
    ):
        raise BadRequestError("'messages' must be a non-empty list of {'role': ..., 'content': ...} objects.")
    try:
        messages = tuple(messages_from_openai(raw_messages))
    except (MessageFormatError, AttributeError, TypeError) as e:
        raise BadRequestError(f"'messages' cannot be read: {e}") from e
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        raise BadRequestError("'tools' must be a list of {'type': 'function', 'function': {...}} objects.")
    if body.get("tool_choice") not in (None, "auto", "none"):
        raise BadRequestError("Only tool_choice 'auto' (the default) or 'none' is supported; the model decides.")
    if body.get("tool_choice") == "none":
        tools = []
    # OpenAI's newer name; a null one leaves max_tokens in force
    limit = "max_tokens" if body.get("max_completion_tokens") is None else "max_completion_tokens"
    return ChatRequest(
        messages=messages,
        tools=tuple(tools),
        sampling=_sampling(body, max_tokens, limit),
        stop=_stop(body.get("stop")),
        stream=_flag(body, "stream", False),
        include_usage=_include_usage(body),
    )


# -- fields ---------------------------------------------------------------------------------------------------------
def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise BadRequestError("The request body must be one JSON object.")
    return body


def _check_model(body: Mapping[str, Any], model: str) -> None:
    asked = body.get("model")
    if asked is not None and asked != model:
        raise BadRequestError(f"This server serves {model!r}, not {asked!r}; pass model={model!r} or leave it out.")


def _refuse_unsupported(body: Mapping[str, Any], fields: tuple[str, ...], count_fields: tuple[str, ...]) -> None:
    for name in fields:
        if body.get(name) not in (None, False, [], ""):
            raise BadRequestError(f"'{name}' is not supported by glm-nb serve; leave it out.")
    for name in count_fields:
        if body.get(name) not in (None, 1):
            raise BadRequestError(f"'{name}' must be 1: glm-nb serve generates one sequence per request.")


def _refuse_unhonoured(body: Mapping[str, Any]) -> None:
    for name, instead in _UNTIL_ASKED.items():
        if body.get(name) not in _NEUTRAL:
            raise BadRequestError(f"'{name}' is not supported by glm-nb serve; {instead}.")


def _refuse_functions(body: Mapping[str, Any]) -> None:
    """OpenAI's deprecated `functions` / `function_call`. Refused, not taken as tools: a client that sends them reads
    the answer's legacy `function_call`, which this server does not write."""
    if body.get("functions"):
        raise BadRequestError(
            "'functions' is OpenAI's deprecated form of tools; send them as 'tools': [{'type': 'function', "
            "'function': {...}}, ...] instead."
        )
    if body.get("function_call") not in (None, "auto", "none"):
        raise BadRequestError(
            "'function_call' is OpenAI's deprecated form of tool_choice; send 'tool_choice' instead."
        )


def _sampling(body: Mapping[str, Any], default_max_tokens: int, limit: str = "max_tokens") -> SamplingParams:
    """Sampling settings; the token limit read from the field `limit` (chat takes `max_completion_tokens` too)."""
    max_tokens = _number(body, limit, default_max_tokens, int)
    if max_tokens < 1:
        raise BadRequestError(f"'{limit}' must be at least 1, got {max_tokens}.")
    top_k = _number(body, "top_k", 0, int)
    try:
        return SamplingParams(
            temperature=_number(body, "temperature", 1.0, float),
            top_p=_number(body, "top_p", 1.0, float),
            top_k=0 if top_k == -1 else top_k,  # vLLM's older "off"
            repetition_penalty=_number(body, "repetition_penalty", 1.0, float),
            seed=_number(body, "seed", None, int),
            max_new_tokens=max_tokens,
        )
    except ValueError as e:
        raise BadRequestError(f"Bad sampling parameter: {e}.") from e


def _number(body: Mapping[str, Any], name: str, default: Any, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return default
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = kind(value)
        except (OverflowError, ValueError):  # NaN or an infinity made an int, an integer too large for a float
            number = None  # refused below
    if number is None or (kind is int and number != value) or (kind is float and not math.isfinite(number)):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise BadRequestError(f"'{name}' must be a{'n integer' if kind is int else ' finite number'}, got {shown}.")
    return number


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequestError(f"'{name}' must be true or false, got {value!r}.")
    return value


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, Mapping):
        raise BadRequestError("'stream_options' must be an object such as {'include_usage': true}.")
    return bool(options.get("include_usage"))


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise BadRequestError("'stop' must be a string or a list of strings.")
    return tuple(s for s in value if s)
