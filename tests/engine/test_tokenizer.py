"""Tokenizer wrapper and the incremental detokenizer (no broken UTF-8 mid-character)."""

from __future__ import annotations

import pytest

from glm_nb.engine import IncrementalDetokenizer
from glm_nb.errors import GenerationError


def test_special_token_strings_encode_to_their_ids_and_decode_back(tiny):
    tok = tiny.engine.tokenizer
    ids = tok.encode("[gMASK]<sop><|user|>\nHi<|assistant|>")
    assert ids[:3] == [tok.token_to_id("[gMASK]"), tok.token_to_id("<sop>"), tok.token_to_id("<|user|>")]
    assert tok.decode(ids) == "[gMASK]<sop><|user|>\nHi<|assistant|>"


def test_incremental_detokenizer_never_emits_a_broken_character(tiny):
    tok = tiny.engine.tokenizer
    text = "你好，北京！天气 sunny 21°C 🌞 done"
    ids = tok.encode(text)
    assert len(ids) > len(text) // 2  # multi-byte characters really are split over several tokens here
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.add(t) for t in ids]
    pieces.append(detok.flush())
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == text


def test_flush_inside_a_character_gives_u_fffd_or_with_drop_partial_ends_before_it(tiny):
    tok = tiny.engine.tokenizer
    ids = tok.encode("北京")
    cut = next(n for n in range(1, len(ids)) if tok.decode(ids[:n]).endswith("\ufffd"))  # inside a character
    kept, dropped = IncrementalDetokenizer(tok), IncrementalDetokenizer(tok)
    streamed = ["".join(d.add(t) for t in ids[:cut]) for d in (kept, dropped)]

    assert (streamed[0] + kept.flush()).endswith("\ufffd")  # as a final decode gives it
    assert "\ufffd" not in streamed[1] + dropped.flush(drop_partial=True)


def test_stop_ids_come_from_generation_config(tiny):
    tok = tiny.engine.tokenizer
    expected = {tok.token_to_id(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")}
    assert set(tiny.engine.stop_ids) == expected


def test_text_that_was_not_utf8_is_refused_with_what_to_do(tiny):
    not_utf8 = b"caf\xe9".decode("utf-8", "surrogateescape")  # what argv or a pipe gives for Latin-1 bytes
    with pytest.raises(GenerationError, match=r"not valid UTF-8 \(it holds byte 0xe9\).*LANG=C.UTF-8"):
        tiny.engine.tokenizer.encode(not_utf8)
