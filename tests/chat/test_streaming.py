"""The streaming splitters: `</think>` and `<|assistant|>` found whatever the chunking, possible calls held back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glm_nb.chat import AnswerStream, ThinkingSplitter
from glm_nb.tools import classify_segment, parse_tool_calls


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:])]


def _run_thinking(chunks: list[str], forced: bool) -> tuple[str, str, ThinkingSplitter]:
    splitter = ThinkingSplitter(forced)
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.flush()
    thinking = "".join(t for section, t in pieces if section == "thinking")
    answer = "".join(t for section, t in pieces if section == "answer")
    return thinking, answer, splitter


def _run_answer(chunks: list[str]) -> tuple[list[str], AnswerStream]:
    stream = AnswerStream()
    deltas = [stream.feed(c) for c in chunks] + [stream.finish()]
    return [d for d in deltas if d], stream


def test_close_tag_split_across_tokens():
    thinking, answer, splitter = _run_thinking(["\nLet me see.</th", "ink>", "\n\nThe answer is 4."], forced=True)

    assert (thinking, answer) == ("Let me see.", "The answer is 4.")
    assert splitter.closed


def test_a_lookalike_of_the_close_tag_stays_thinking():
    thinking, answer, _ = _run_thinking(["a </thin", "g> b</think>c"], forced=True)

    assert (thinking, answer) == ("a </thing> b", "c")


def test_thinking_without_close_is_unfinished():
    thinking, answer, splitter = _run_thinking(["still thinking </thi"], forced=True)

    assert (thinking, answer, splitter.closed) == ("still thinking </thi", "", False)


def test_an_unforced_output_may_open_thinking_itself():
    thinking, answer, splitter = _run_thinking(["\n<thi", "nk>hmm</think>ok"], forced=False)

    assert (thinking, answer, splitter.has_thinking) == ("hmm", "ok", True)


def test_no_thinking_passes_the_answer_through_raw():
    thinking, answer, splitter = _run_thinking(["\nHel", "lo <think> there"], forced=False)

    assert (thinking, answer, splitter.has_thinking) == ("", "\nHello <think> there", False)


@given(st.lists(st.integers(0, 200), max_size=8), st.text(max_size=20), st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_chunking_gives_the_same_split(cuts, reasoning, answer_text):
    text = f"{reasoning}</think>{answer_text}"

    thinking, answer, _ = _run_thinking(_split(text, cuts), forced=True)

    assert thinking == reasoning.split("</think>")[0].strip()
    assert answer == text.partition("</think>")[2].lstrip()


def test_a_plain_answer_streams_at_once_and_is_trimmed():
    deltas, stream = _run_answer(["\n", "Hello", " world", "  \n"])

    assert deltas == ["Hello", " world"]
    assert stream.text == "Hello world"


def test_a_call_is_held_back_and_text_before_it_is_shown():
    deltas, stream = _run_answer(["\nLet me check.<|assis", "tant|>get_wea", "ther\n", '{"city": "Paris"}'])

    assert "".join(deltas) == "Let me check."
    assert [c.name for c in parse_tool_calls(stream.raw)] == ["get_weather"]


def test_a_single_word_line_is_released_once_it_is_clearly_text():
    deltas, _ = _run_answer(["Paris", "\n", "is the capital."])

    assert deltas == ["Paris\nis the capital."]


_pieces = st.sampled_from(["<|assistant|>", "\n", "get_weather", '{"a": 1}', " ", "Hi", "```", "x y", "\n\n"])


@given(st.lists(_pieces, max_size=12).map("".join), st.lists(st.integers(0, 200), max_size=8))
@settings(max_examples=200, deadline=None)
def test_visible_text_is_the_non_call_segments_whatever_the_chunking(raw, cuts):
    deltas, stream = _run_answer(_split(raw, cuts))

    # Streaming must agree with the batch rule (classify_segment on each whole segment), however it is cut; the
    # segments shown are a paragraph apart.
    shown = (s.strip() for s in raw.split("<|assistant|>") if classify_segment(s) != "call")
    assert "".join(deltas) == stream.text == "\n\n".join(s for s in shown if s)


@given(st.lists(_pieces, max_size=12).map("".join), st.lists(st.integers(0, 200), max_size=8))
@settings(max_examples=200, deadline=None)
def test_without_tools_every_segment_is_text_a_paragraph_apart_whatever_the_chunking(raw, cuts):
    stream = AnswerStream(tool_calls=False)

    deltas = [stream.feed(c) for c in _split(raw, cuts)] + [stream.finish()]

    shown = (s.strip() for s in raw.split("<|assistant|>"))
    assert "".join(deltas) == stream.text == "\n\n".join(s for s in shown if s)


def test_calls_written_without_tools_show_apart():
    stream = AnswerStream(tool_calls=False)

    deltas = [
        stream.feed('get_weather\n{"city": "Paris"}<|assis'),
        stream.feed('tant|>get_weather\n{"city": "Rome"}\n'),
    ]

    assert "".join(deltas) + stream.finish() == 'get_weather\n{"city": "Paris"}\n\nget_weather\n{"city": "Rome"}'


def test_released_calls_show_apart_and_after_the_text_already_shown():
    stream = AnswerStream()
    shown = stream.feed('lookup\n{"q": "a"}<|assistant|>lookup\n{"q": "b"}<|assistant|>Done.')

    shown += stream.finish(release_calls=True)

    assert shown == stream.text == 'Done.\n\nlookup\n{"q": "a"}\n\nlookup\n{"q": "b"}'
