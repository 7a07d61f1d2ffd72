"""What an exception raised while answering a request becomes for its client: an HTTP status, OpenAI's error object
and its headers (`Failure`).

The request's fault stays a 4xx that says what to change: a `ServeError` it caused, a prompt too long for the
context, and the chat layer's and engine's errors that only bad input raises (messages the template refuses, a
sampling value out of range, a tool definition that cannot be read). Anything else is the server's: a 500
`server_error`, as OpenAI and vLLM answer their own failures, that says to look at the server's log (the handler
prints the traceback there), never a 400 that would send the client looking for a mistake it did not make. A stream
already started carries the same `type` in its error event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chat.errors import ChatTemplateError, MessageFormatError
from ..errors import PromptTooLongError, SamplingError
from ..tools import ToolDefinitionError
from .errors import ContextLengthError, ServeError, ServerBusyError
from .prompt_limit import too_long_error
from .responses import error_body

__all__ = ["Failure", "failure_of"]

# GlmErrors that only a request's own content raises (the rest, such as the engine's GenerationError or a remote
# backend's RemoteError, are the server's)
_REQUEST_FAULTS = (ChatTemplateError, MessageFormatError, SamplingError, ToolDefinitionError)


@dataclass(frozen=True)
class Failure:
    status: int
    message: str
    kind: str  # OpenAI's `type`
    code: str | None = None
    param: str | None = None  # the request field at fault, if one is
    retry_after_s: int | None = None  # a 503's `Retry-After`: when a busy server may take the request

    @property
    def servers_fault(self) -> bool:
        """A failure of the server itself (a bug, the engine, the backend): its traceback belongs in the log."""
        return self.status == 500

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.kind, self.code, self.param)

    def headers(self) -> dict[str, str]:
        if self.status == 401:
            return {"WWW-Authenticate": "Bearer"}
        if self.retry_after_s is not None:  # seconds, as OpenAI's clients (and glm-nb's remote backend) read it
            return {"Retry-After": str(self.retry_after_s)}
        return {}


def failure_of(error: Exception, context_length: int | None, prompt_field: str | None) -> Failure:
    """The answer to `error`; `prompt_field` ("prompt" or "messages") is the `param` of a prompt at fault."""
    if isinstance(error, ContextLengthError):  # the prompt (else the token limit, which the error names) is at fault
        return Failure(error.status, str(error), error.kind, error.code, error.param or prompt_field)
    if isinstance(error, ServerBusyError):
        return Failure(error.status, str(error), error.kind, error.code, error.param, error.retry_after_s)
    if isinstance(error, ServeError):
        return Failure(error.status, str(error), error.kind, error.code, error.param)
    if isinstance(error, PromptTooLongError):  # the engine's message advises whoever runs it (--max-length)
        refusal = too_long_error(context_length)
        return Failure(refusal.status, str(refusal), refusal.kind, refusal.code, prompt_field)
    if isinstance(error, _REQUEST_FAULTS):
        param = prompt_field if isinstance(error, (ChatTemplateError, MessageFormatError)) else None
        return Failure(400, str(error), "invalid_request_error", param=param)
    return Failure(
        500,
        f"Internal server error ({type(error).__name__}: {error}). Not a mistake in the request: the server's log "
        "has the details; retry, and tell whoever runs the server if it happens again.",
        "server_error",
    )
