"""Errors of `glm-nb serve`, under the one `glm_nb.errors.GlmError` hierarchy. Each maps to an HTTP status and an
OpenAI-style JSON error body (`{"error": {"message", "type", "code"}}`) whose message says what to do."""

from __future__ import annotations

from ..errors import GlmError

__all__ = ["BadRequestError", "ServeError", "ServerBusyError", "UnauthorizedError"]


class ServeError(GlmError):
    """A request `glm-nb serve` cannot answer."""

    status = 500
    kind = "server_error"


class BadRequestError(ServeError):
    """The request body is not JSON, misses a field, or asks for something this server does not do."""

    status = 400
    kind = "invalid_request_error"


class UnauthorizedError(ServeError):
    """No bearer token, or the wrong one, on a server started with an API key."""

    status = 401
    kind = "authentication_error"


class ServerBusyError(ServeError):
    """The waiting queue is full, or the server is shutting down."""

    status = 503
    kind = "server_busy"
