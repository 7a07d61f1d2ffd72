"""The errors of the remote backend (`remote_http`, `remote_net`, `remote`): each says what failed and what to do."""

from __future__ import annotations

from .errors import ChatError

__all__ = [
    "RemoteAuthError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteHTTPError",
    "RemoteStreamError",
    "RemoteTimeoutError",
]


class RemoteError(ChatError):
    """Talking to a remote completions server failed."""


class RemoteConnectionError(RemoteError):
    """The server cannot be reached (refused, unknown host, bad URL, TLS failure, reset before answering)."""


class RemoteTimeoutError(RemoteError):
    """The server took longer than the timeout to connect or to send the next piece."""


class RemoteAuthError(RemoteError):
    """The server refused the API key (HTTP 401 or 403), or the key cannot be sent as it is."""


class RemoteHTTPError(RemoteError):
    """The server answered with an HTTP error, a redirect, or something that is not an event stream (or an error
    event inside a stream)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RemoteStreamError(RemoteError):
    """A stream broke off or could not be read: the answer is incomplete."""
