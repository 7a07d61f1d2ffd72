"""Request bodies of `/v1/completions` and `/v1/chat/completions`, parsed once into frozen values.

Field names and defaults follow OpenAI's API and vLLM's extra parameters (vllm/entrypoints/openai/protocol.py,
`CompletionRequest` and `ChatCompletionRequest`), so the same client code talks to either: `max_tokens`,
`temperature`, `top_p`, `top_k`, `repetition_penalty`, `seed`, `stop`, `stop_token_ids` (special tokens: see
`generation.stop_token_texts`), `ignore_eos`, `min_tokens` (`chat.backend.StopOptions`), `stream`,
`stream_options.include_usage`; completions take `skip_special_tokens`, `include_stop_str_in_output` and
`stream_options.continuous_usage_stats`, chat takes `include_reasoning` and `chat_template_kwargs`.

Fields that do not change the answer (`user`, `priority`, `request_id`, `length_penalty` without beam search, ...)
and unknown ones are ignored, as vLLM does. A field that would change the answer in a way this one-sequence server
does not, or a number sent as true or false, is refused with a 400 naming it and saying what to do (`refusals`),
never silently answered differently.

The token limit, as vLLM reads it (`get_max_tokens` in vllm/entrypoints/utils.py): a completion that leaves out
`max_tokens` gets OpenAI's 16; `"max_tokens": null` sent explicitly sets no limit of the request's own, and the
answer may run to the end of the context, as a chat request's does without `max_tokens` / `max_completion_tokens`
(or with null). A limit the request sets (`TokenLimit`) is checked against the context: one the prompt leaves no
room for is refused (`prompt_limit.PromptLimit`), never cut to fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..chat import Message
from ..engine import SamplingParams
from .chat_messages import read_messages
from .errors import BadRequestError, ModelNotFoundError
from .refusals import (
    COMPLETION_UNLESS_NULL,
    refuse_booleans,
    refuse_functions,
    refuse_unhonoured,
    refuse_unless_default,
    refuse_unsupported,
)

__all__ = ["ChatRequest", "CompletionRequest", "TokenLimit", "parse_chat_request", "parse_completion_request"]

DEFAULT_MAX_TOKENS = 16  # OpenAI's and vLLM's default for /v1/completions

_SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "repetition_penalty", "seed")  # named alike in SamplingParams
_TEMPLATE_NAMES = ("messages", "tools", "documents", "add_generation_prompt")  # set by the request's own fields


@dataclass(frozen=True)
class TokenLimit:
    """A token limit the request set (or OpenAI's default 16 of completions), which the prompt must leave room for."""

    field: str  # "max_tokens" or "max_completion_tokens": the error names the field the client sent
    tokens: int


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    sampling: SamplingParams
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    continuous_usage: bool = False  # vLLM's stream_options.continuous_usage_stats: the usage so far in every chunk
    skip_special_tokens: bool = True  # vLLM's default
    include_stop_str_in_output: bool = False
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False  # vLLM's: the model's stop tokens do not end the answer
    min_tokens: int = 0  # vLLM's: no stop token or stop string ends the answer before this many tokens
    # The field of sampling.max_new_tokens (its default 16 counts too); None: sent as null, the answer may run to
    # the end of the context (vLLM's reading of null)
    limit_field: str | None = "max_tokens"

    @property
    def token_limit(self) -> TokenLimit | None:
        return TokenLimit(self.limit_field, self.sampling.max_new_tokens) if self.limit_field else None


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[Mapping[str, Any], ...]
    sampling: SamplingParams
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    stop_token_ids: tuple[int, ...] = ()
    include_reasoning: bool = True  # vLLM's: false leaves reasoning_content (Z1's thinking) out of the answer
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)  # vLLM's chat_template_kwargs
    ignore_eos: bool = False
    min_tokens: int = 0
    # The field that set sampling.max_new_tokens, "max_tokens" or "max_completion_tokens"; None: neither was sent,
    # and the answer may run to the end of the context (vLLM's default)
    limit_field: str | None = None

    @property
    def token_limit(self) -> TokenLimit | None:
        return TokenLimit(self.limit_field, self.sampling.max_new_tokens) if self.limit_field else None


def parse_completion_request(body: Any, model: str, rest_of_context: int) -> CompletionRequest:
    """`rest_of_context`: the token limit of a request that sends `"max_tokens": null` (vLLM's reading: up to the
    end of the context); one that leaves the field out gets OpenAI's 16."""
    body = _object(body)
    _check_model(body, model)
    refuse_booleans(body, integers=("logprobs",))  # a count here, a flag in chat
    refuse_unsupported(body, ("echo", "suffix", "use_beam_search"), count_fields=("n", "best_of"))
    refuse_unhonoured(body, COMPLETION_UNLESS_NULL)
    if body.get("response_format") not in (None, {"type": "text"}):
        raise BadRequestError(
            "'response_format' is not supported by glm-nb serve; ask for JSON in the prompt.", param="response_format"
        )
    if body.get("add_special_tokens") is True:  # vLLM's default here; this server never adds any to the prompt
        raise BadRequestError(
            "'add_special_tokens' true is not supported by glm-nb serve: it encodes the prompt as it is. Write "
            "[gMASK]<sop> at its start yourself (as the chat template does), and leave the field out.",
            param="add_special_tokens",
        )
    skip_special_tokens = _flag(body, "skip_special_tokens", True)
    if body.get("spaces_between_special_tokens") is True and not skip_special_tokens:
        raise BadRequestError(
            "'spaces_between_special_tokens' true is not supported by glm-nb serve: special tokens are written as "
            "they are, no spaces between them. Send it false or leave it out.",
            param="spaces_between_special_tokens",
        )
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise BadRequestError(
            "'prompt' must be one non-empty string (this server takes no token-id or batch prompts).", param="prompt"
        )
    unlimited = "max_tokens" in body and body["max_tokens"] is None
    sampling = _sampling(body, rest_of_context if unlimited else DEFAULT_MAX_TOKENS)
    include_usage, continuous_usage = _stream_options(body, continuous=True)
    return CompletionRequest(
        prompt=prompt,
        sampling=sampling,
        stop=_stop(body.get("stop")),
        stream=_flag(body, "stream", False),
        include_usage=include_usage,
        continuous_usage=continuous_usage,
        skip_special_tokens=skip_special_tokens,
        include_stop_str_in_output=_flag(body, "include_stop_str_in_output", False),
        stop_token_ids=_token_ids(body, "stop_token_ids"),
        ignore_eos=_flag(body, "ignore_eos", False),
        min_tokens=_min_tokens(body, sampling, "max_tokens"),
        limit_field=None if unlimited else "max_tokens",
    )


def parse_chat_request(body: Any, model: str, max_tokens: int) -> ChatRequest:
    """`max_tokens`: the token limit of a request that sends none (or null): the rest of the context, as vLLM."""
    body = _object(body)
    _check_model(body, model)
    refuse_booleans(body)
    if body.get("response_format") == {"type": "text"}:  # the default, which some clients always send
        body = {k: v for k, v in body.items() if k != "response_format"}
    refuse_unsupported(
        body, ("logprobs", "top_logprobs", "response_format", "use_beam_search"), count_fields=("n", "best_of")
    )
    refuse_unhonoured(body)
    refuse_unless_default(body)
    refuse_functions(body)
    messages = read_messages(body.get("messages"))
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        raise BadRequestError(
            "'tools' must be a list of {'type': 'function', 'function': {...}} objects.", param="tools"
        )
    if body.get("tool_choice") not in (None, "auto", "none"):
        raise BadRequestError(
            f"'tool_choice' {json.dumps(body['tool_choice'])[:80]} is not supported by glm-nb serve: GLM-4-0414 "
            "itself decides whether to call a tool. Send 'auto' (or leave it out) and ask for the tool in the "
            "message; 'none' turns the tools off.",
            param="tool_choice",
        )
    if body.get("tool_choice") == "none":
        tools = []
    # OpenAI's newer name; a null one leaves max_tokens in force
    limit = "max_tokens" if body.get("max_completion_tokens") is None else "max_completion_tokens"
    sampling = _sampling(body, max_tokens, limit)
    return ChatRequest(
        messages=messages,
        tools=tuple(tools),
        sampling=sampling,
        stop=_stop(body.get("stop")),
        stream=_flag(body, "stream", False),
        include_usage=_stream_options(body)[0],
        stop_token_ids=_token_ids(body, "stop_token_ids"),
        include_reasoning=_flag(body, "include_reasoning", True),
        template_kwargs=_template_kwargs(body),
        ignore_eos=_flag(body, "ignore_eos", False),
        min_tokens=_min_tokens(body, sampling, limit),
        limit_field=limit if body.get(limit) is not None else None,
    )


# -- fields ---------------------------------------------------------------------------------------------------------
_JSON_KINDS = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}  # and numbers


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        got = _JSON_KINDS.get(type(body), "a number")
        raise BadRequestError(f'The request body must be one JSON object, such as {{"prompt": "Hi"}}; got {got}.')
    return body


def _check_model(body: Mapping[str, Any], model: str) -> None:
    asked = body.get("model")
    if asked is not None and asked != model:  # a 404, as OpenAI and vLLM answer (the SDKs raise NotFoundError)
        raise ModelNotFoundError(
            f"The model {asked!r} does not exist here: this server serves {model!r}. Pass model={model!r} (GET "
            "/v1/models lists it).",
            param="model",
        )


def _sampling(body: Mapping[str, Any], default_max_tokens: int, limit: str = "max_tokens") -> SamplingParams:
    """Sampling settings; the token limit read from the field `limit` (chat takes `max_completion_tokens` too)."""
    max_tokens = _number(body, limit, default_max_tokens, int)
    if max_tokens < 1:
        raise BadRequestError(f"'{limit}' must be at least 1, got {max_tokens}.", param=limit)
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
    except ValueError as e:  # out of range: the engine's message ("top_p must be in (0, 1], got 0") names the field
        name = next((n for n in _SAMPLING_FIELDS if str(e).startswith(f"{n} ")), None)
        if name is None:
            raise BadRequestError(f"Bad sampling parameter: {e}; send a value in range, or leave it out.") from e
        raise BadRequestError(
            f"'{name}'{str(e)[len(name) :]}; send a value in that range, or leave '{name}' out for its default.",
            param=name,
        ) from e


def _min_tokens(body: Mapping[str, Any], sampling: SamplingParams, limit: str) -> int:
    """vLLM's `min_tokens`: 0 or more, and no more than the token limit (vLLM refuses both alike)."""
    min_tokens = _number(body, "min_tokens", 0, int)
    if min_tokens < 0:
        raise BadRequestError(f"'min_tokens' must be 0 or more, got {min_tokens}.", param="min_tokens")
    if min_tokens > sampling.max_new_tokens:
        given = "" if body.get(limit) is not None else ", its default"
        raise BadRequestError(
            f"'min_tokens' ({min_tokens}) must not exceed '{limit}' ({sampling.max_new_tokens}{given}); send a "
            f"larger '{limit}' or a smaller 'min_tokens'.",
            param="min_tokens",
        )
    return min_tokens


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
        what = "an integer" if kind is int else "a finite number"
        raise BadRequestError(f"'{name}' must be {what}, got {shown}.", param=name)
    return number


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequestError(f"'{name}' must be true or false, got {value!r}.", param=name)
    return value


def _stream_options(body: Mapping[str, Any], continuous: bool = False) -> tuple[bool, bool]:
    """`stream_options` as (include_usage, continuous_usage_stats). As vLLM does, usage goes in every chunk only
    when both are true; `continuous`: whether this endpoint can count the tokens of every chunk."""
    options = body.get("stream_options")
    if options is None:
        return False, False
    if body.get("stream") is not True:  # OpenAI and vLLM refuse it too: it would be silently ignored
        raise BadRequestError(
            "'stream_options' is only allowed with 'stream': true; send both, or neither.", param="stream_options"
        )
    if not isinstance(options, Mapping):
        raise BadRequestError(
            "'stream_options' must be an object such as {'include_usage': true}.", param="stream_options"
        )
    for name in ("include_usage", "continuous_usage_stats"):  # "false" as a string would be read as true
        if options.get(name) is not None and not isinstance(options[name], bool):
            raise BadRequestError(
                f"'stream_options.{name}' must be true or false, got {json.dumps(options[name])[:40]}.",
                param="stream_options",
            )
    include = bool(options.get("include_usage"))
    if options.get("continuous_usage_stats") and not continuous:
        raise BadRequestError(
            "'stream_options.continuous_usage_stats' is supported on /v1/completions only in glm-nb serve; leave "
            "it out here: 'include_usage' sends the usage once, at the end of the stream.",
            param="stream_options",
        )
    return include, include and bool(options.get("continuous_usage_stats"))


def _token_ids(body: Mapping[str, Any], name: str) -> tuple[int, ...]:
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise BadRequestError(
            f"'{name}' must be a list of token ids (integers), got {json.dumps(value)[:60]}.", param=name
        )
    return tuple(value)


def _template_kwargs(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """vLLM's `chat_template_kwargs`: more variables for the chat template (a template ignores those it does not
    read); the ones the request's own fields set are refused."""
    value = body.get("chat_template_kwargs")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError(
            "'chat_template_kwargs' must be an object of template variables.", param="chat_template_kwargs"
        )
    if taken := sorted(set(value) & set(_TEMPLATE_NAMES)):
        raise BadRequestError(
            f"'chat_template_kwargs' cannot set {', '.join(taken)}: the request's own fields do. Send them as "
            "'messages' and 'tools' (the generation prompt is always added).",
            param="chat_template_kwargs",
        )
    return dict(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise BadRequestError("'stop' must be a string or a list of strings.", param="stop")
    return tuple(s for s in value if s)
