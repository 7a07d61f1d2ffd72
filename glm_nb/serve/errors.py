"""Errors of `glm-nb serve`, under the one `glm_nb.errors.GlmError` hierarchy. Each maps to an HTTP status and an
OpenAI-style JSON error body (`{"error": {"message", "type", "param", "code"}}`, the four keys of OpenAI's error
object, as vLLM's ErrorInfo writes them too) whose message says what to do; `param` names the request field at fault
where one is, else null."""

from __future__ import annotations

from ..errors import GlmError

__all__ = [
    "BadRequestError",
    "BodyTimeoutError",
    "ContextLengthError",
    "ModelNotFoundError",
    "ServeError",
    "ServerBusyError",
    "UnauthorizedError",
]


class ServeError(GlmError):
    """A request `glm-nb serve` cannot answer."""

    status = 500
    kind = "server_error"
    code: str | None = None  # OpenAI's machine-readable `code`, for the errors clients tell apart by it

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param  # OpenAI's `param`: the request field at fault ("max_tokens", "messages"), if one is


class BadRequestError(ServeError):
    """The request body is not JSON, misses a field, or asks for something this server does not do."""

    status = 400
    kind = "invalid_request_error"


class BodyTimeoutError(ServeError):
    """The request body did not arrive in time (a client that trickles it in)."""

    status = 408
    kind = "invalid_request_error"


class ContextLengthError(BadRequestError):
    """The prompt does not fit the model's context."""

    code = "context_length_exceeded"


class ModelNotFoundError(ServeError):
    """A request (or `GET /v1/models/{id}`) for a model this server does not serve."""

    status = 404
    kind = "invalid_request_error"
    code = "model_not_found"


class UnauthorizedError(ServeError):
    """No bearer token, or the wrong one, on a server started with an API key."""

    status = 401
    kind = "authentication_error"


class ServerBusyError(ServeError):
    """The waiting queue is full, or the server is shutting down: retry in `retry_after_s` seconds (the 503's
    `Retry-After`, which OpenAI's clients wait before they retry)."""

    status = 503
    kind = "server_busy"

    def __init__(self, message: str, *, retry_after_s: int = 5):
        super().__init__(message)
        self.retry_after_s = retry_after_s
