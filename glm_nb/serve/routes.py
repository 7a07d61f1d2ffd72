"""The paths `glm-nb serve` answers, the methods each takes, and the 404 for any other path, worded as OpenAI words
it (type `invalid_request_error`, code `unknown_url`: its clients raise their NotFoundError from the status, and
show the message), with the paths this server has."""

from __future__ import annotations

from typing import Any

from .responses import error_body

__all__ = ["ENDPOINTS", "MODEL", "allow", "endpoint", "unknown_path"]

MODEL = "/v1/models/{id}"  # the one path with a parameter: everything after /v1/models/ is the model's id
ENDPOINTS = {  # path -> the methods it takes (besides OPTIONS)
    "/v1/models": ("GET", "HEAD"),
    MODEL: ("GET", "HEAD"),
    "/health": ("GET", "HEAD"),
    "/v1/completions": ("POST",),
    "/v1/chat/completions": ("POST",),
}


def endpoint(path: str) -> str | None:
    """The `ENDPOINTS` key that `path` is, if any."""
    if path.startswith("/v1/models/"):
        return MODEL
    return path if path in ENDPOINTS else None


def allow(endpoint: str) -> str:
    """The `Allow` header of an endpoint."""
    return ", ".join((*ENDPOINTS[endpoint], "OPTIONS"))


def unknown_path(method: str, path: str) -> dict[str, Any]:
    """The 404 body for a path this server does not have."""
    known = ", ".join(f"{methods[0]} {p}" for p, methods in ENDPOINTS.items())
    message = f"No {method} {path} here; this server has {known}. Check the base URL (it should end with /v1)."
    return error_body(message, "invalid_request_error", "unknown_url")
