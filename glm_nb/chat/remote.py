"""`RemoteBackend`: the `Backend` seam over an OpenAI-compatible server's raw completions endpoint.

vLLM or SGLang (tensor-parallel GLM-4-32B-0414 on several GPUs) or `glm-nb serve`. The conversation renders the
prompt with the checkpoint's own template exactly as for the local engine, and this backend asks the server to
continue that text (`POST /v1/completions`, streamed), so tool calls, Z1 thinking and Rumination parse the same raw
text, special tokens kept. The request (see `request_body`) uses OpenAI's completions parameters and these of
vLLM's documented extra completion parameters (vllm/entrypoints/openai/protocol.py, `CompletionRequest`):

    skip_special_tokens=False            keep `<|assistant|>` between several tool calls (FORMAT.md)
    spaces_between_special_tokens=False  decode special tokens as they are, no added spaces
    include_stop_str_in_output=True      send the stop string, so this backend knows which stop ended the turn
    add_special_tokens=False             the template writes `[gMASK]<sop>` itself (FORMAT.md, "Tokenizer")
    top_k, repetition_penalty            sent only when not off
    ignore_eos, min_tokens               a completion's `StopOptions`, sent only when given (under ignore_eos the
                                         stop strings below are not sent: vLLM would still stop at them)
    stream_options.continuous_usage_stats  with min_tokens only: the tokens so far in every chunk (see below)

Under min_tokens the server matches no stop string in the text of the first min_tokens tokens, and neither may
this backend when it cuts the stop strings out of the stream: it needs the tokens each piece brings. They come
from the usage vLLM puts in every chunk when asked (`continuous_usage_stats`, as `glm-nb serve` does too); from a
server that sends none, each piece counts as one token (vLLM's default stream sends one a piece; one that sends
several a piece is undercounted, so a stop soon after min_tokens is honoured only in the piece the server ended
with). The token counts of the `TextChunk`s come from the same place; the final usage corrects their total.

Which stop ended the turn comes from the text (the stop string at its end), else from vLLM's `stop_reason` or
SGLang's `matched_stop` (a string, or a token id read back with the tokenizer). A stream that breaks off after the
chunk that says why the generation stopped, before `[DONE]`, still ends the turn: its text is whole. One that stalls
there ends it too, after `_FINISH_GRACE_S` (time for the usage chunk, kept when it comes), not the read timeout.

The tokenizer (a local copy of the checkpoint's tokenizer files, or the hub by name) counts prompt tokens and gives
the chat template (`remote_tokenizer`). A server of the nano-GLM this install bundles (`glm-nb serve "$(glm-nb nano
path)"`) is told apart by its model card's `root`, and the error that asks for the tokenizer names the bundled folder.

While the server is silent (a queued request, a long prefill) the stream yields an empty `TextChunk` (tokens=0)
every `remote_http._POLL_S` seconds, before `CompletionStart` too: the conversation checks its cancel flag on
every chunk, so Stop and `Response.cancel()` end the turn at once instead of after the server's next piece, and
`CompletionStart` still means the server answered (a refusal before it leaves no turn behind).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..engine import SamplingParams
from ..errors import PromptTooLongError
from .backend import CompletionEnd, CompletionItem, CompletionStart, StopOptions, TextChunk
from .local import TokenizerLike
from .remote_http import (
    RemoteAuthError,
    RemoteConnectionError,
    RemoteError,
    RemoteHTTPError,
    RemoteStreamError,
    RemoteTimeoutError,
    ServerEndpoint,
    read_api_key,
)
from .remote_tokenizer import bundled_nano_hint, load_tokenizer
from .stop_text import StopText

__all__ = [
    "GLM_STOP_STRINGS",
    "RemoteAuthError",
    "RemoteBackend",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteHTTPError",
    "RemoteStreamError",
    "RemoteTimeoutError",
    "load_tokenizer",
]

# FORMAT.md, "Tokenizer": the stop ids 151336, 151338, 151329, as text.
GLM_STOP_STRINGS = ("<|user|>", "<|observation|>", "<|endoftext|>")
# After the finish reason only the usage chunk and `[DONE]` are to come (vLLM sends both at once): a server silent
# longer than this is stalled, and the turn, whose text is whole, ends instead of waiting out the read timeout
_FINISH_GRACE_S = 2.0
_FINISH_LIMIT_S = 10.0  # ...and a stream that keeps sending events after it (empty chunks) ends this long after it
# vLLM (and glm-nb serve) refuse prompt + max_tokens beyond their context with a 400; knowing the context, this
# backend cuts max_tokens to fit instead, as the local engine stops at its end
_UNKNOWN_CONTEXT_HINT = (
    "If it refused max_tokens as too large for its context: glm-nb cuts max_tokens to fit only when it knows the "
    "context, and this server lists none (no max_model_len in GET /v1/models). Connect with context_length= the "
    "server's context (in %glm_model: --context N)."
)


class RemoteBackend:
    """A `Backend` that streams from `POST {url}/completions`. Usually built with `RemoteBackend.connect(url)`."""

    def __init__(
        self,
        endpoint: ServerEndpoint,
        tokenizer: TokenizerLike,
        *,
        model: str,
        chat_template: str | None,
        context_length: int | None = None,
        stop: Sequence[str] = GLM_STOP_STRINGS,
        root: str | None = None,
    ):
        self.endpoint = endpoint
        self.tokenizer = tokenizer
        self.model = model
        # the model the server loaded, as its card names it (vLLM's `root`): nano-GLM's own name says it is a demo
        # model, whatever it is served as
        self.root = root
        self.stop = tuple(stop)
        self._chat_template = chat_template
        self._context_length = context_length

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        api_key_env: str | None = None,
        model: str | None = None,
        tokenizer: str | os.PathLike | None = None,
        chat_template: str | None = None,
        context_length: int | None = None,
        timeout: float = 120.0,
    ) -> RemoteBackend:
        """Connect to an OpenAI-compatible server and check it serves `model`.

        url: `http://host:port/v1` (`/v1` may be left out, or an endpoint's whole URL such as
        `.../v1/chat/completions` given; no user name, password or query). api_key_env: the
        environment variable holding the server's API key (sent as a bearer token). model: the served model's name
        (default: the only or first one `GET /v1/models` lists). tokenizer: a folder with the checkpoint's
        tokenizer.json and tokenizer_config.json, or a hub name such as "THUDM/GLM-4-32B-0414" (default: the
        model's name). chat_template: overrides the tokenizer's. context_length: the most tokens prompt + answer
        hold, when the server does not say (or fewer than it says). timeout: seconds to wait to connect and for
        each streamed piece.
        """
        endpoint = ServerEndpoint.from_url(
            url, api_key=read_api_key(api_key_env), timeout_s=timeout, api_key_env=api_key_env
        )
        served = _served_models(endpoint)
        name = _pick_model(endpoint, served, model)
        root = served.get(name, {}).get("root")
        root = root if isinstance(root, str) and root else None
        try:
            tok, template = load_tokenizer(tokenizer if tokenizer is not None else name)
        except RemoteError as e:
            if tokenizer is None and (hint := bundled_nano_hint(endpoint, root or name)):
                raise RemoteError(hint) from e
            raise
        reported = served.get(name, {}).get("max_model_len")
        if not isinstance(reported, int) or isinstance(reported, bool) or reported <= 0:
            reported = None
        if context_length is not None and reported is not None:
            context_length = min(context_length, reported)  # the server refuses more than it holds
        return cls(
            endpoint,
            tok,
            model=name,
            chat_template=chat_template if chat_template is not None else template,
            context_length=context_length if context_length is not None else reported,
            root=root,
        )

    @property
    def name(self) -> str:
        """The served name, after the model's own when the server serves it under another (`--served-model-name`)."""
        return self.model if self.root in (None, self.model) else f"{self.root} as {self.model}"

    @property
    def chat_template(self) -> str | None:
        return self._chat_template

    @property
    def context_length(self) -> int | None:
        return self._context_length

    def request_body(self, prompt: str, sampling: SamplingParams, stops: StopOptions | None = None) -> dict[str, Any]:
        """The JSON body of the completions request for `prompt` (see the module docstring for each field)."""
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
            "stop": list(self._stops(stops)),
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            "include_stop_str_in_output": True,
            "add_special_tokens": False,
        }
        if sampling.top_k > 0:  # older vLLM rejects top_k=0 (its "off" was -1): leave it out when off
            body["top_k"] = sampling.top_k
        if sampling.repetition_penalty != 1.0:
            body["repetition_penalty"] = sampling.repetition_penalty
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if stops is not None and stops.ignore_eos:
            body["ignore_eos"] = True
        if stops is not None and stops.min_tokens:
            body["min_tokens"] = stops.min_tokens
            body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}  # vLLM's: see above
            if stops.stop_ids:  # vLLM bans them before min_tokens too (and stops at them after, as at their text)
                body["stop_token_ids"] = sorted(stops.stop_ids)
        return body

    def _stops(self, stops: StopOptions | None) -> tuple[str, ...]:
        return () if stops is not None and stops.ignore_eos else self.stop

    def complete(
        self, prompt: str, sampling: SamplingParams, stops: StopOptions | None = None
    ) -> Iterator[CompletionItem]:
        return self._stream(prompt, sampling, stops)

    def _stream(self, prompt: str, sampling: SamplingParams, options: StopOptions | None) -> Iterator[CompletionItem]:
        prompt_tokens = len(self.tokenizer.encode(prompt))
        body = self.request_body(prompt, sampling, options)
        if (context := self._context_length) is not None:
            if prompt_tokens >= context:
                # checked here, as the local engine does, so that the conversation rolls the turn back the same way
                raise PromptTooLongError(
                    f"The prompt is {prompt_tokens} tokens but {self.model} holds {context}. Shorten the prompt or "
                    "start a new conversation."
                )
            # vLLM refuses prompt + max_tokens beyond its context; the local engine stops at the end: do the same
            body["max_tokens"] = min(body["max_tokens"], context - prompt_tokens)
            if "min_tokens" in body:  # the server refuses min_tokens above max_tokens: no more than the room left
                body["min_tokens"] = min(body["min_tokens"], body["max_tokens"])
        events = self.endpoint.stream("/completions", body)
        stops = StopText(self._stops(options))
        floor = body.get("min_tokens", 0)
        finish: Mapping[str, Any] | None = None
        counted, used, started = 0, None, False
        grace_until = float("inf")  # once the finish reason came: when to stop waiting for the rest
        try:
            for event in events:
                now = time.monotonic()
                if (event is None and now > grace_until) or now > grace_until + _FINISH_LIMIT_S:
                    break  # finished, then silent past the grace (or chattering well past it): the answer is whole
                if event is None:  # the server is silent: an empty chunk lets the conversation check its cancel
                    yield TextChunk("", tokens=0)
                    continue
                if not started:  # the first event: the server has the prompt in place
                    started = True
                    yield CompletionStart(prompt_tokens)
                used = event.get("usage") or used
                choice = _choice(event)
                if choice is None:
                    continue  # the usage-only chunk at the end
                piece = self._piece(choice)
                ended = choice.get("finish_reason")
                guess = counted + (1 if piece or not ended else 0)  # an empty closing chunk has no token
                tokens = max(_tokens_so_far(event, guess) - counted, 0)
                counted += tokens
                # A stop in the text of the first min_tokens tokens did not end it on the server, nor here: only a
                # piece wholly past them may match (one straddling them could hold a stop inside them); the piece
                # the server stopped at holds one that did.
                text, _ = stops.feed(piece, match=counted - tokens >= floor or ended == "stop")
                yield TextChunk(text, tokens=tokens)
                if ended:
                    finish = choice
                    grace_until = min(grace_until, time.monotonic() + _FINISH_GRACE_S)
        except RemoteHTTPError as e:
            if started or e.status != 400 or self._context_length is not None:
                raise
            raise RemoteHTTPError(f"{e} {_UNKNOWN_CONTEXT_HINT}", e.status) from e
        except (RemoteStreamError, RemoteTimeoutError):
            if finish is None:
                raise
            # Not an error for this answer: the server said why it stopped, so its text is whole. The stream broke
            # off (or stalled) after that, before `[DONE]`, which loses at most the usage chunk; the chunks' token
            # counts stand in for it.
        finally:
            events.close()  # also when the caller cancels: closing the connection stops the server's generation
        if finish is None:
            raise RemoteStreamError(
                f"{self.endpoint.base_url} ended the stream without saying why it stopped; the answer may be "
                "incomplete. Send the message again."
            )
        yield from self._end(finish, stops, counted, used)

    def _piece(self, choice: Mapping[str, Any]) -> str:
        piece = choice.get("text")
        if piece is None:
            return ""
        if not isinstance(piece, str):
            raise RemoteStreamError(
                f"{self.endpoint.base_url} sent a chunk whose text is not a string ({type(piece).__name__}): "
                f"{str(dict(choice))[:200]}. Is this an OpenAI-compatible completions server?"
            )
        return piece

    def _end(self, finish: Mapping[str, Any], stops: StopText, chunks: int, used: Any) -> Iterator[CompletionItem]:
        reason = finish.get("finish_reason")
        reported = finish.get("stop_reason")  # vLLM; SGLang says matched_stop
        stop = stops.stop or self._stop_name(reported if reported is not None else finish.get("matched_stop"))
        if stops.stop is None and (tail := stops.flush()):
            yield TextChunk(tail, tokens=0)
        total = used.get("completion_tokens") if isinstance(used, Mapping) else None
        extra = max(total - chunks, 0) if isinstance(total, int) else 0
        if reason == "length":
            yield CompletionEnd("length", tokens=extra)
        elif reason == "stop":
            yield CompletionEnd("stop", stop, tokens=extra)
        else:
            raise RemoteStreamError(
                f"{self.endpoint.base_url} stopped the generation early (finish_reason {reason!r}); the answer is "
                "incomplete. Send the message again."
            )

    def _stop_name(self, value: Any) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):  # a stop token id (generation_config's eos ids)
            try:
                return self.tokenizer.decode([value])
            except (OverflowError, ValueError, TypeError):  # no id of this vocabulary: the stop is not known
                return None
        return None

    def __repr__(self) -> str:
        return f"<RemoteBackend {self.model} at {self.endpoint.base_url}>"


def _served_models(endpoint: ServerEndpoint) -> dict[str, dict[str, Any]]:
    body = endpoint.get_json("/models")
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise RemoteHTTPError(f"{endpoint.base_url}/models did not list models; is this an OpenAI-compatible server?")
    return {str(m["id"]): m for m in items if isinstance(m, dict) and "id" in m}


def _pick_model(endpoint: ServerEndpoint, served: Mapping[str, Any], model: str | None) -> str:
    if model is None:
        if not served:
            raise RemoteHTTPError(f"{endpoint.base_url} serves no model; start it with one.")
        return next(iter(served))
    if model not in served:
        raise RemoteHTTPError(
            f"{endpoint.base_url} does not serve {model!r}; it serves {', '.join(served) or 'nothing'}. Pass "
            "model= one of those (in %glm_model: --model NAME)."
        )
    return model


def _tokens_so_far(event: Mapping[str, Any], guess: int) -> int:
    """The completion tokens generated so far, as the chunk's usage says (vLLM's continuous_usage_stats), else
    `guess`."""
    used = event.get("usage")
    total = used.get("completion_tokens") if isinstance(used, Mapping) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else guess


def _choice(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = event.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None
