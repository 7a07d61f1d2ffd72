"""`read_json_body` against what a slow or careless client sends: a body that trickles in past the deadline (timed
by an injected clock, so no test waits) and a chunked body with endless trailers."""

from __future__ import annotations

import io
import json
from email.message import Message

import pytest

from glm_nb.serve.errors import BadRequestError, BodyTimeoutError
from glm_nb.serve.http_body import BODY_DEADLINE_S, read_json_body

BODY = json.dumps({"prompt": "Hi", "max_tokens": 5}).encode()


class _Trickle(io.RawIOBase):
    """A socket that hands over one byte per read, each read taking `seconds_per_byte` on `clock`."""

    def __init__(self, data: bytes, clock: list[float], seconds_per_byte: float):
        self._data = data
        self._clock = clock
        self._step = seconds_per_byte

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._data:
            return 0
        self._clock[0] += self._step
        buffer[0], self._data = self._data[0], self._data[1:]
        return 1


def _read(head: dict[str, str], data: bytes, seconds_per_byte: float = 0.0):
    headers = Message()
    for name, value in head.items():
        headers[name] = value
    now = [0.0]
    rfile = io.BufferedReader(_Trickle(data, now, seconds_per_byte))
    return read_json_body(headers, rfile, lambda: None, clock=lambda: now[0])


def _chunked(body: bytes, trailers: bytes = b"") -> bytes:
    return b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailers)


FRAMINGS = {
    "content-length": ({"Content-Length": str(len(BODY))}, BODY),
    "chunked": ({"Transfer-Encoding": "chunked"}, _chunked(BODY)),
}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_read_a_byte_at_a_time_within_the_deadline_is_read_whole(framing):
    head, data = FRAMINGS[framing]
    seconds_per_byte = BODY_DEADLINE_S / (2 * len(data))

    assert _read(head, data, seconds_per_byte) == {"prompt": "Hi", "max_tokens": 5}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_that_trickles_in_past_the_deadline_is_a_408_saying_so(framing):
    head, data = FRAMINGS[framing]
    seconds_per_byte = 2 * BODY_DEADLINE_S / len(data)  # every read is quick; the whole body is not

    with pytest.raises(BodyTimeoutError, match=r"took over 300 s to arrive .*Send the body in one go") as caught:
        _read(head, data, seconds_per_byte)

    assert caught.value.status == 408


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_whose_last_byte_lands_just_past_the_deadline_is_read_whole(framing):
    head, data = FRAMINGS[framing]
    seconds_per_byte = BODY_DEADLINE_S / (len(data) - 0.5)  # the deadline passes as the last byte arrives

    assert _read(head, data, seconds_per_byte) == {"prompt": "Hi", "max_tokens": 5}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_one_byte_short_of_its_end_at_the_deadline_is_a_408(framing):
    head, data = FRAMINGS[framing]
    seconds_per_byte = BODY_DEADLINE_S / (len(data) - 1.5)  # the deadline passes with the last byte still to come

    with pytest.raises(BodyTimeoutError, match=rf"took over 300 s to arrive \({len(data) - 1} bytes came\)"):
        _read(head, data, seconds_per_byte)


def test_a_chunked_body_within_the_trailer_limit_is_read():
    trailers = b"X-Checksum: abc\r\n" * 100

    assert _read({"Transfer-Encoding": "chunked"}, _chunked(BODY, trailers))["prompt"] == "Hi"


def test_endless_trailers_after_a_chunked_body_are_a_400_saying_what_to_send():
    trailers = b"X-Filler: 0123456789\r\n" * 1000  # 22 KB of short, well-formed trailer lines

    with pytest.raises(BadRequestError, match="trailers are over 8192 bytes, the limit; send none") as caught:
        _read({"Transfer-Encoding": "chunked"}, _chunked(BODY, trailers))

    assert caught.value.status == 400


@pytest.mark.parametrize("data", [b"{not json", b'{"prompt": "\xff"}'], ids=["syntax", "not-utf8"])
def test_a_body_that_is_not_json_is_a_400_saying_what_to_send(data):
    with pytest.raises(BadRequestError, match=r"not valid JSON \(.*\); send one JSON object, UTF-8 encoded, such as"):
        _read({"Content-Length": str(len(data))}, data)


def test_a_content_length_with_spaces_around_it_is_read():
    assert _read({"Content-Length": f" {len(BODY)} \t"}, BODY)["prompt"] == "Hi"  # RFC 9110 5.5: OWS is no part


class _Stalling(io.RawIOBase):
    """A socket that hands over `data`, then times out (the handler's per-read timeout) instead of ending."""

    def __init__(self, data: bytes):
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._data:
            raise TimeoutError("timed out")
        size = min(len(buffer), len(self._data))
        buffer[:size], self._data = self._data[:size], self._data[size:]
        return size


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_that_stops_arriving_is_a_408_saying_how_far_it_got(framing):
    head, data = FRAMINGS[framing]
    headers = Message()
    for name, value in head.items():
        headers[name] = value
    rfile = io.BufferedReader(_Stalling(data[:10]))  # then silence: a Content-Length larger than the body sent

    with pytest.raises(BodyTimeoutError, match="stopped arriving after 10 bytes. Send the whole body") as caught:
        read_json_body(headers, rfile, lambda: None)

    assert caught.value.status == 408


def test_a_body_shorter_than_its_content_length_is_a_400_giving_both_sizes():
    # the client closed its side 5 bytes short of what it announced: what came is whole JSON, not the whole body
    with pytest.raises(BadRequestError, match=f"ended after {len(BODY)} of the {len(BODY) + 5} bytes its Content-"):
        _read({"Content-Length": str(len(BODY) + 5)}, BODY)
