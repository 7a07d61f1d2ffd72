"""What `glm-nb serve` refuses in a request body, each with a 400 naming the field and saying what to do: a field
that would change the answer in a way this one-sequence server does not (`n` > 1, `best_of`, `echo`, `logprobs`,
`suffix`, beam search, `frequency_penalty`, constrained decoding, chat's `add_generation_prompt: false`, ...,
each unless at vLLM's default), never silently answered differently; and a JSON true or false in a number field,
which Python would read as 1 or 0 (bool is an int) where OpenAI's API refuses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import BadRequestError

__all__ = [
    "COMPLETION_UNLESS_NULL",
    "refuse_booleans",
    "refuse_functions",
    "refuse_unhonoured",
    "refuse_unless_default",
    "refuse_unsupported",
]

# Sampling controls vLLM honours that this server has not: refused when they ask for something, accepted at their
# neutral value (many clients always send presence_penalty 0, frequency_penalty 0, logit_bias {} or null).
_UNTIL_ASKED = {
    "frequency_penalty": "use repetition_penalty (e.g. 1.1) to discourage repeats",
    "presence_penalty": "use repetition_penalty (e.g. 1.1) to discourage repeats",
    "min_p": "use top_p or top_k to cut unlikely tokens",
    "logit_bias": "leave it out (or send {})",
    # vLLM's extras, which its clients send only when they mean them
    "allowed_token_ids": "leave it out: this server samples from the whole vocabulary",
    "bad_words": "leave it out: this server bans no words",
    "truncate_prompt_tokens": "shorten the prompt yourself: this server never cuts it",
    "guided_json": "leave it out: this server has no constrained decoding (ask for JSON in the prompt)",
    "guided_regex": "leave it out: this server has no constrained decoding",
    "guided_choice": "leave it out: this server has no constrained decoding",
    "guided_grammar": "leave it out: this server has no constrained decoding",
    "structural_tag": "leave it out: this server has no constrained decoding",
    "structured_outputs": "leave it out: this server has no constrained decoding",
    "logits_processors": "leave it out: this server runs no custom logits processors",
}
# The values that ask for nothing. No False: refuse_booleans runs first, so a number field here (min_p, ...) is never
# a bool, and the other fields' false (guided_json: false) is neutral anyway, equal to 0 in an `in` check.
_NEUTRAL = (None, 0, {}, [])
# Fields whose every value but null changes the answer (0 too).
_UNLESS_NULL = {
    "prompt_logprobs": "leave it out: this server returns no log probabilities",
    "prompt_embeds": "send the prompt as text in 'prompt'",
}
# Completions' `logprobs` is a count: 0 asks for the log probability of each sampled token (OpenAI and vLLM return
# them), so it is no "off" as chat's `logprobs: false` is.
COMPLETION_UNLESS_NULL = {"logprobs": "leave it out (0 too, which asks for the sampled tokens' log probabilities)"}
_RAW_PROMPT = "send the prompt rendered (the template's text, [gMASK]<sop> first) to /v1/completions instead"
# Chat fields that change the prompt or the answer: refused unless at vLLM's default (default, what to do instead).
_CHAT_DEFAULTS = {
    "add_generation_prompt": (True, _RAW_PROMPT),
    "continue_final_message": (False, _RAW_PROMPT),
    "add_special_tokens": (False, "the chat template writes the special tokens itself; leave it out"),
    "echo": (False, "leave it out; the answer holds only the new message"),
    "skip_special_tokens": (True, "the answer is parsed into content, reasoning_content and tool_calls, which hold "
                                  "no special tokens; use /v1/completions for the raw text"),
    "include_stop_str_in_output": (False, "leave it out; finish_reason 'stop' says a stop string ended the answer, "
                                          "or use /v1/completions, which can include it"),
}  # fmt: skip

# The number fields of OpenAI's and vLLM's request bodies (both endpoints), read, refused or ignored (priority,
# length_penalty); completions' `logprobs` is a count too, chat's a flag (the callers say which)
_INTEGER_FIELDS = ("max_tokens", "max_completion_tokens", "n", "best_of", "seed", "top_k", "min_tokens",
                   "top_logprobs", "prompt_logprobs", "truncate_prompt_tokens", "priority")  # fmt: skip
_NUMBER_FIELDS = ("temperature", "top_p", "min_p", "repetition_penalty", "frequency_penalty", "presence_penalty",
                  "length_penalty")  # fmt: skip


def refuse_booleans(body: Mapping[str, Any], integers: tuple[str, ...] = ()) -> None:
    """A number field sent as true or false: refused (as OpenAI does), never read as 1 or 0. Checked before any
    other field: `n: true` would pass the check that n is 1."""
    for name in (*_INTEGER_FIELDS, *integers, *_NUMBER_FIELDS):
        if isinstance(value := body.get(name), bool):
            what = "a number" if name in _NUMBER_FIELDS else "an integer"
            raise BadRequestError(
                f"'{name}' must be {what}, got {json.dumps(value)}; send {what} (or leave the field out).", param=name
            )


def refuse_unsupported(body: Mapping[str, Any], fields: tuple[str, ...], count_fields: tuple[str, ...]) -> None:
    """`fields` this server has not, unless off (null, false, empty); `count_fields` (n, best_of) unless 1."""
    for name in fields:
        if body.get(name) not in (None, False, [], ""):
            raise BadRequestError(f"'{name}' is not supported by glm-nb serve; leave it out.", param=name)
    for name in count_fields:
        if body.get(name) not in (None, 1):
            raise BadRequestError(f"'{name}' must be 1: glm-nb serve generates one sequence per request.", param=name)


def refuse_unhonoured(body: Mapping[str, Any], unless_null: Mapping[str, str] | None = None) -> None:
    """vLLM's sampling controls this server does not honour, unless neutral; `unless_null`: more refused unless null
    (the endpoint's own), each with what to do instead."""
    for name, instead in _UNTIL_ASKED.items():
        if body.get(name) not in _NEUTRAL:
            raise BadRequestError(f"'{name}' is not supported by glm-nb serve; {instead}.", param=name)
    for name, instead in {**_UNLESS_NULL, **(unless_null or {})}.items():
        if body.get(name) is not None:
            raise BadRequestError(f"'{name}' is not supported by glm-nb serve; {instead}.", param=name)


def refuse_unless_default(body: Mapping[str, Any]) -> None:
    """Chat fields that change the prompt or the answer, refused unless at vLLM's default."""
    for name, (default, instead) in _CHAT_DEFAULTS.items():
        if body.get(name) not in (None, default):
            raise BadRequestError(
                f"'{name}' {json.dumps(body[name])[:40]} is not supported by glm-nb serve; {instead}.", param=name
            )
    if body.get("audio") is not None or body.get("modalities") not in (None, ["text"]):
        name = "audio" if body.get("audio") is not None else "modalities"
        raise BadRequestError(
            f"'{name}' asks for a spoken answer, but GLM-4-0414 answers in text only; leave it out (or send "
            "'modalities': ['text']) and read the answer's text.",
            param=name,
        )
    if body.get("chat_template"):
        raise BadRequestError(
            "'chat_template' is not supported by glm-nb serve: it renders with the checkpoint's own template. "
            "Leave it out, or render the prompt with yours and send it to /v1/completions.",
            param="chat_template",
        )
    if body.get("documents"):
        raise BadRequestError(
            "'documents' is not supported by glm-nb serve: GLM's chat template reads none. Put them in a message.",
            param="documents",
        )


def refuse_functions(body: Mapping[str, Any]) -> None:
    """OpenAI's deprecated `functions` / `function_call`. Refused, not taken as tools: a client that sends them reads
    the answer's legacy `function_call`, which this server does not write."""
    if body.get("functions"):
        raise BadRequestError(
            "'functions' is OpenAI's deprecated form of tools; send them as 'tools': [{'type': 'function', "
            "'function': {...}}, ...] instead.",
            param="functions",
        )
    if body.get("function_call") not in (None, "auto", "none"):
        raise BadRequestError(
            "'function_call' is OpenAI's deprecated form of tool_choice; send 'tool_choice' instead.",
            param="function_call",
        )
