"""The `messages` of a `/v1/chat/completions` body, read into chat `Message` values: each refusal is a 400 that
names the message at fault as OpenAI's `param` does (`messages[2].content`), and says what to send instead."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..chat import Message, message_from_dict, messages_from_openai
from ..chat.errors import MessageFormatError
from .errors import BadRequestError

__all__ = ["read_messages"]

# OpenAI's (and vLLM's) content parts that are no text
_MEDIA_PARTS = (
    "image_url",
    "input_image",
    "image",
    "input_audio",
    "audio",
    "video_url",
    "video",
    "file",
    "input_file",
)
_TEXT_ONLY = "GLM-4-0414 is a text-only model: glm-nb serve reads no images, audio, video or files"


def read_messages(raw_messages: Any) -> tuple[Message, ...]:
    """The request's messages; a BadRequestError for a list that is not one, a media part, or a message the chat
    layer cannot read (a MessageFormatError, worded by it: content that is no text, a user message without any, a
    call id that is no string)."""
    if (
        not isinstance(raw_messages, list)
        or not raw_messages
        or not all(isinstance(m, Mapping) for m in raw_messages)
    ):
        raise BadRequestError(
            "'messages' must be a non-empty list of {'role': ..., 'content': ...} objects.", param="messages"
        )
    _refuse_media(raw_messages)
    handed: list[int] = []  # the messages handed on so far, so that a failure pairing them names the one at fault
    try:
        return tuple(messages_from_openai(_each_read(raw_messages, handed)))
    except (MessageFormatError, AttributeError, TypeError) as e:
        # Pairing a tool message with its call: message_from_dict has refused every id it cannot pair (a list, an
        # object), so this guard is for what it does not foresee, which is still the request's mistake, not ours.
        field = f"messages[{handed[-1] if handed else 0}]"
        raise BadRequestError(f"{field} cannot be read: {e}", param=field) from e


def _each_read(raw_messages: list[Mapping[str, Any]], handed: list[int]) -> Iterator[Message]:
    """Each message read, its index added to `handed` as it is handed on (messages_from_openai takes them one at a
    time, so the last index there is the message it was pairing when it failed)."""
    for i, message in enumerate(raw_messages):
        try:
            read = message_from_dict(message)
        except (MessageFormatError, AttributeError, TypeError) as e:
            field = _faulty_field(message, i)
            raise BadRequestError(f"{field} cannot be read: {e}", param=field) from e
        handed.append(i)
        yield read


def _faulty_field(message: Mapping[str, Any], i: int) -> str:
    """`messages[i].content` when the message reads with text in place of its content, else `messages[i]`."""
    try:
        message_from_dict({**message, "content": "text"})
    except (MessageFormatError, AttributeError, TypeError):
        return f"messages[{i}]"
    return f"messages[{i}].content"


def _refuse_media(raw_messages: list[Mapping[str, Any]]) -> None:
    """An image, audio, video or file part in a message's content (OpenAI's content parts): GLM-4-0414 reads text
    only. Said with what to send instead, and without echoing the part (a data URL may be megabytes)."""
    for i, message in enumerate(raw_messages):
        parts = message.get("content")
        for j, part in enumerate(parts if isinstance(parts, list) else ()):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind in _MEDIA_PARTS:
                raise BadRequestError(
                    f"messages[{i}].content[{j}] is a part of type {kind!r}, but {_TEXT_ONLY}. Send text parts only "
                    "({'type': 'text', 'text': ...}) or a plain string; for images, describe them in text, or use a "
                    "vision model (such as GLM-4.1V) on a server that serves one.",
                    param=f"messages[{i}].content[{j}]",
                )
