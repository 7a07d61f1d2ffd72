"""A request's JSON body, read off the connection as HTTP/1.1 sends it (RFC 9112, section 6): a `Content-Length`
body, or a `Transfer-Encoding: chunked` one (which every HTTP/1.1 server must read: `requests` and `httpx` send one
for a streamed body, curl with `-H 'Transfer-Encoding: chunked'`), at most `MAX_BODY` bytes either way. A client
that sent `Expect: 100-continue` waits for the go-ahead (`send_continue`) before it sends the body. JSON's NaN and
Infinity, which Python's parser takes, are refused. A body must arrive within `BODY_DEADLINE_S` of the go-ahead
(plus one read's socket timeout): each read has the handler's timeout, but a client that trickles a byte at a time
would otherwise hold a handler thread for hours; a chunked body's trailers (read and dropped) are capped too. A body
that stops arriving (a read times out) is a 408 saying how far it got, not a connection closed without an answer.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from email.message import Message
from typing import Any

from .errors import BadRequestError, BodyTimeoutError

__all__ = ["BODY_DEADLINE_S", "MAX_BODY", "read_json_body"]

MAX_BODY = 16 << 20
BODY_DEADLINE_S = 300.0  # 16 MiB at under 60 KB/s; a prompt is rarely a megabyte
_MAX_TRAILERS = 8 << 10  # bytes of a chunked body's trailer section; clients send none or a checksum
_MAX_CHUNK_LINE = 1024  # a chunk-size line (hex size and extensions); far above any real one
_SEND_JSON = 'send one JSON object, UTF-8 encoded, such as {"prompt": "Hi"}'
_SEND_LENGTH = "Send the JSON body with a Content-Length header (or Transfer-Encoding: chunked)"


def read_json_body(
    headers: Message,
    rfile: io.BufferedReader,
    send_continue: Callable[[], None],
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """The request's body, parsed; `send_continue()` is called once the body is known to be wanted and allowed.
    `rfile` is the handler's socket file (buffered: it has `peek` and `read1`); `clock` times the deadline."""
    coding = headers.get("Transfer-Encoding")
    if coding is not None:  # it overrides any Content-Length (RFC 9112, 6.3)
        if coding.strip().lower() != "chunked":
            raise BadRequestError(f"Transfer-Encoding {coding!r} is not supported here. {_SEND_LENGTH}.")
        send_continue()
        raw = _read_stalling(_TimedReader(rfile, clock), _read_chunked)
    else:
        length = headers.get("Content-Length")
        length = length.strip() if length is not None else None  # a field value's trailing spaces are no part of it
        if length is None or not (length.isascii() and length.isdigit()):
            raise BadRequestError(f"{_SEND_LENGTH}.")
        if int(length) > MAX_BODY:
            raise BadRequestError(f"The body is {length} bytes; the limit is {MAX_BODY}. Send a shorter prompt.")
        send_continue()
        raw = _read_stalling(_TimedReader(rfile, clock), lambda reader: reader.read(int(length)))
        if len(raw) < int(length):  # the client closed its side early (a miscounted Content-Length)
            raise BadRequestError(
                f"The body ended after {len(raw)} of the {length} bytes its Content-Length gives; send the whole "
                "body, with Content-Length counting its bytes (UTF-8 encoded)."
            )
    if not raw.strip():
        raise BadRequestError('The body is empty; send a JSON object, such as {"prompt": "Hi"}.')
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as e:
        raise BadRequestError(
            "The body is not valid JSON here: it nests arrays or objects too deeply; send one nested less deeply."
        ) from e
    except ValueError as e:
        raise BadRequestError(f"The body is not valid JSON ({e}); {_SEND_JSON}.") from e


def _read_stalling(reader: _TimedReader, read: Callable[[_TimedReader], bytes]) -> bytes:
    """`read(reader)`; a socket read that timed out (the handler's timeout) is a 408 saying how far the body got,
    not a connection closed without an answer."""
    try:
        return read(reader)
    except TimeoutError as e:
        raise BodyTimeoutError(
            f"The request body stopped arriving after {reader.count} bytes. Send the whole body without pausing, "
            "with a Content-Length that counts its bytes (UTF-8 encoded), or chunked with a last chunk of size 0."
        ) from e


def _read_chunked(rfile: _TimedReader) -> bytes:
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
    trailers = 0
    while (line := rfile.readline(_MAX_CHUNK_LINE + 1)) not in (b"\r\n", b"\n", b""):
        trailers += len(line)
        if len(line) > _MAX_CHUNK_LINE:
            raise BadRequestError(f"The chunked body's trailer is malformed. {_SEND_LENGTH}.")
        if trailers > _MAX_TRAILERS:
            raise BadRequestError(
                f"The chunked body's trailers are over {_MAX_TRAILERS} bytes, the limit; send none (this server "
                "reads none) or a few short ones."
            )
    return bytes(body)


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    if len(line) > _MAX_CHUNK_LINE or not digits or not all(c in b"0123456789abcdefABCDEF" for c in digits):
        raise BadRequestError(f"The chunked body has a bad chunk size line ({line[:40]!r}). {_SEND_LENGTH}.")
    return int(digits, 16)


class _TimedReader:
    """`rfile`'s body bytes, at most one socket read per step, so that the deadline is checked between reads (a
    buffered file's `read(n)` and `readline()` would wait across any number of them). It is checked before each
    read, as more is waited for: a body whose last bytes land just past it is complete, and is read whole."""

    def __init__(self, rfile: io.BufferedReader, clock: Callable[[], float]):
        self._rfile = rfile
        self._clock = clock
        self._until = clock() + BODY_DEADLINE_S
        self.count = 0  # bytes read, for the messages

    def read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            self._refuse_if_late()
            piece = self._rfile.read1(size - len(data))
            if not piece:
                break
            data += piece
            self.count += len(piece)
        return bytes(data)

    def readline(self, limit: int) -> bytes:
        """Up to `limit` bytes, ending with the first newline (as a file's `readline(limit)`)."""
        line = bytearray()
        while len(line) < limit and not line.endswith(b"\n"):
            self._refuse_if_late()
            ahead = self._rfile.peek(1)[: limit - len(line)]  # one socket read at most
            if not ahead:
                break
            end = ahead.find(b"\n")
            piece = self._rfile.read(len(ahead) if end < 0 else end + 1)  # already buffered: no wait
            line += piece
            self.count += len(piece)
        return bytes(line)

    def _refuse_if_late(self) -> None:
        if self._clock() > self._until:
            raise BodyTimeoutError(
                f"The request body took over {BODY_DEADLINE_S:.0f} s to arrive ({self.count} bytes came); the "
                "connection is too slow or the client stalled. Send the body in one go, or a shorter one."
            )


def _refuse_constant(name: str) -> Any:
    """json.loads takes NaN and Infinity, which JSON has not: a request must not carry them."""
    raise ValueError(f"{name} is not a JSON number; send a finite number")
