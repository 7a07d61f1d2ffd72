"""Errors of the chat layer, under the one `glm_nb.errors.GlmError` hierarchy.

A model's mistakes (a malformed tool call, a research action that does not parse) are never raised: they become
observations. These are for the person using the API.
"""

from __future__ import annotations

from ..errors import GlmError

__all__ = ["ChatError", "ChatTemplateError", "MessageFormatError", "ConversationBusyError"]


class ChatError(GlmError):
    """Base class of the chat layer's errors."""


class ChatTemplateError(ChatError):
    """The chat template is missing, does not compile, or failed while rendering."""


class MessageFormatError(ChatError):
    """A message (dict or value) cannot be read as one of system, user, assistant or observation."""


class ConversationBusyError(ChatError):
    """A new turn was asked for while a response of the same conversation is still running (e.g. from a tool)."""
