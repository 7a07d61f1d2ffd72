"""A request's JSON body, read off the connection as HTTP/1.1 sends it (RFC 9112, section 6): a `Content-Length`
body, or a `Transfer-Encoding: chunked` one (which every HTTP/1.1 server must read: `requests` and `httpx` send one
for a streamed body, curl with `-H 'Transfer-Encoding: chunked'`), at most `MAX_BODY` bytes either way. A client
that sent `Expect: 100-continue` waits for the go-ahead (`send_continue`) before it sends the body. JSON's NaN and
Infinity, which Python's parser takes, are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import Message
from typing import Any, BinaryIO

from .errors import BadRequestError

__all__ = ["MAX_BODY", "read_json_body"]

MAX_BODY = 16 << 20
_MAX_CHUNK_LINE = 1024  # a chunk-size line (hex size and extensions); far above any real one
_SEND_LENGTH = "Send the JSON body with a Content-Length header (or Transfer-Encoding: chunked)"


def read_json_body(headers: Message, rfile: BinaryIO, send_continue: Callable[[], None]) -> Any:
    """The request's body, parsed; `send_continue()` is called once the body is known to be wanted and allowed."""
    coding = headers.get("Transfer-Encoding")
    if coding is not None:  # it overrides any Content-Length (RFC 9112, 6.3)
        if coding.strip().lower() != "chunked":
            raise BadRequestError(f"Transfer-Encoding {coding!r} is not supported here. {_SEND_LENGTH}.")
        send_continue()
        raw = _read_chunked(rfile)
    else:
        length = headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            raise BadRequestError(f"{_SEND_LENGTH}.")
        if int(length) > MAX_BODY:
            raise BadRequestError(f"The body is {length} bytes; the limit is {MAX_BODY}. Send a shorter prompt.")
        send_continue()
        raw = rfile.read(int(length))
    if not raw.strip():
        raise BadRequestError('The body is empty; send a JSON object, such as {"prompt": "Hi"}.')
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as e:
        raise BadRequestError("The body is not valid JSON here: it nests arrays or objects too deeply.") from e
    except ValueError as e:
        raise BadRequestError(f"The body is not valid JSON ({e}).") from e


def _read_chunked(rfile: BinaryIO) -> bytes:
    """A chunked body: chunks of `SIZE(hex)[;extensions]CRLF data CRLF`, ended by a chunk of size 0 and the
    trailer section (read and dropped)."""
    body = bytearray()
    while True:
        size = _chunk_size(rfile.readline(_MAX_CHUNK_LINE + 1))
        if size == 0:
            break
        if len(body) + size > MAX_BODY:
            raise BadRequestError(f"The body is over {MAX_BODY} bytes, the limit. Send a shorter prompt.")
        chunk = rfile.read(size)
        if len(chunk) < size or rfile.read(2) != b"\r\n":
            raise BadRequestError(f"The chunked body is cut short or malformed. {_SEND_LENGTH}.")
        body += chunk
    while (line := rfile.readline(_MAX_CHUNK_LINE + 1)) not in (b"\r\n", b"\n", b""):  # the trailers
        if len(line) > _MAX_CHUNK_LINE:
            raise BadRequestError(f"The chunked body's trailer is malformed. {_SEND_LENGTH}.")
    return bytes(body)


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    if len(line) > _MAX_CHUNK_LINE or not digits or not all(c in b"0123456789abcdefABCDEF" for c in digits):
        raise BadRequestError(f"The chunked body has a bad chunk size line ({line[:40]!r}). {_SEND_LENGTH}.")
    return int(digits, 16)


def _refuse_constant(name: str) -> Any:
    """json.loads takes NaN and Infinity, which JSON has not: a request must not carry them."""
    raise ValueError(f"{name} is not a JSON number; send a finite number")
