"""The GLM-Z1-Rumination loop (FORMAT.md): search / click / open / finish, observations, report with sources."""

from __future__ import annotations

import pytest

from glm_nb.chat import (
    ChatError,
    Done,
    ScriptedGenerator,
    ScriptedReply,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    ToolResultEvent,
)
from glm_nb.chat.research import LocalCorpus, Rumination, SearchResult, parse_action
from glm_nb.errors import PromptTooLongError
from glm_nb.tools import ToolCall


def _action(name: str, arguments: str = "{}", thinking: str = "Next step.") -> str:
    return f'{thinking}</think>{{"name": "{name}", "arguments": {arguments}}}'


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny and 21 degrees today.\n")
    (tmp_path / "rome.md").write_text("# Rome weather\n\nRome is rainy today.\n")
    return tmp_path


def _research(tokenizer, template, replies, **options):
    generator = ScriptedGenerator(tokenizer, replies)
    return Rumination(generator.backend(chat_template=template), **options), generator


def test_the_research_needs_exactly_one_thing_to_search(tokenizer, glm_template, corpus):
    backend = ScriptedGenerator(tokenizer).backend(chat_template=glm_template)

    with pytest.raises(ChatError, match="one thing to search"):
        Rumination(backend)
    with pytest.raises(ChatError, match="one thing to search"):
        Rumination(backend, corpus=corpus, search=object())


def test_parse_action():
    assert parse_action('{"name": "search", "arguments": {"query": "x"}}') == ToolCall("search", {"query": "x"})
    assert parse_action("```json\n{'name': 'click', 'arguments': {'link_id': '2'}}\n```") == ToolCall(
        "click", {"link_id": 2}
    )
    assert parse_action('{"name": "finish", "arguments": {}}') == ToolCall("finish", {})
    assert parse_action("The report: Beijing is sunny 【0†source】.") is None
    assert "not a JSON object" in parse_action('{"name": "search", "arguments": ').error
    assert "unknown action 'browse'" in parse_action('{"name": "browse", "arguments": {}}').error
    assert "missing required argument 'query'" in parse_action('{"name": "search", "arguments": {}}').error


def test_a_full_research_session(tokenizer, glm_template, corpus):
    replies = [
        _action("search", '{"query": "Beijing weather"}', thinking="I need facts."),
        _action("click", '{"link_id": 0}'),
        _action("finish"),
        "Time to write.</think>Beijing is sunny, 21 degrees 【0†source】; see also 【9†source】.",
    ]
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus)

    response = research.run("What is the weather in Beijing?")
    events = list(response)

    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert [c.name for c in calls] == ["search", "click", "finish"]
    beijing = (corpus / "beijing.md").resolve().as_uri()
    assert results[0].content.startswith(
        f"【0†Beijing weather†{beijing}\nBeijing is sunny and 21 degrees today.】\n\n【1†"
    )
    assert results[1].content == "# Beijing weather\n\nBeijing is sunny and 21 degrees today."
    assert events[-1] == Done("stop", response.usage())
    report = response.report()
    assert report.text == "Beijing is sunny, 21 degrees 【0†source】; see also 【9†source】."
    assert [(s.id, s.title, s.url) for s in report.sources] == [(0, "Beijing weather", beijing)]
    assert "**Sources**" in report.markdown()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).endswith("【9†source】.")
    assert any(isinstance(e, ThinkingDelta) for e in events)


def test_an_action_after_a_few_words_of_the_models_own_is_still_the_action():
    fenced = 'I will read it.\n```json\n{"name": "click", "arguments": {"link_id": "1"}}\n```'

    assert parse_action('Let me search.\n{"name": "search", "arguments": {"query": "x"}}') == ToolCall(
        "search", {"query": "x"}
    )
    assert parse_action(fenced) == ToolCall("click", {"link_id": 1})
    assert parse_action('The report ends with data:\n{"a": 1}') is None
    assert parse_action('A report naming {"name": "search"} in its text.') is None


def test_a_code_heavy_report_is_read_as_a_report_without_parsing_every_code_block(monkeypatch):
    import glm_nb.chat.research.rumination as rumination

    parsed = []
    real = rumination.parse_arguments
    monkeypatch.setattr(rumination, "parse_arguments", lambda body: parsed.append(len(body)) or real(body))
    report = "\n".join(f"Step {i}:\n```python\nprint({i})\n```" for i in range(200))  # ends with a fence

    assert parse_action(report) is None
    assert parse_action(report + "\nThat is all.") is None
    assert len(parsed) <= 8  # each parse reads the rest of the report: trying all 400 fences is quadratic


def test_a_research_goes_on_after_an_action_written_after_some_words(tokenizer, glm_template, corpus):
    replies = [
        'Plan.</think>Let me search.\n{"name": "search", "arguments": {"query": "Beijing"}}',
        "x</think>Sunny.",
    ]
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus)

    response = research.run("What is the weather in Beijing?")

    assert [c.name for c in response.tool_calls()] == ["search"]
    assert response.report().text == "Sunny." and generator.remaining == 0


def test_a_turn_that_ends_inside_its_thinking_is_told_to_close_it_and_the_research_goes_on(
    tokenizer, glm_template, corpus
):
    replies = ["I keep thinking about Beijing and stop", "Right.</think>Beijing is sunny."]
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus)

    response = research.run("What is the weather in Beijing?")
    (result,) = response.tool_results()

    assert result.status == "invalid" and "your turn ended inside your thinking, without </think>" in result.content
    assert response.report().text == "Beijing is sunny." and generator.remaining == 0


def test_prompts_carry_the_fallback_instruction_forced_thinking_and_observations(tokenizer, glm_template, corpus):
    replies = [
        _action("search", '{"query": "Rome"}', thinking="Secret plan."),
        _action("finish"),
        "Done.</think>Rainy.",
    ]
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus)

    research.run("Rome?").finish()

    first, second = (tokenizer.decode(p) for p in generator.prompts[:2])
    assert first.startswith("[gMASK]<sop><|system|>\nYou are a research assistant")
    assert first.endswith("<|user|>\nRome?<|assistant|>\n<think>")
    assert (
        '<|assistant|>\n{"name": "search", "arguments": {"query": "Rome"}}<|observation|>\n【0†Rome weather†'
        in second
    )
    assert "Secret plan" not in second


def test_a_template_with_its_own_system_prompt_gets_no_fallback(tokenizer, glm_template, corpus):
    template = glm_template.replace("[gMASK]<sop>", "[gMASK]<sop><|system|>\nFixed research prompt.", 1)
    research, generator = _research(tokenizer, template, [_action("finish"), "</think>Report."], corpus=corpus)

    assert research.run("Q").report().text == "Report."
    assert "You are a research assistant" not in tokenizer.decode(generator.prompts[0])


def test_bad_actions_become_observations_and_the_loop_goes_on(tokenizer, glm_template, corpus):
    replies = [
        '</think>{"name": "search", "arguments": ',
        _action("click", '{"link_id": 5}'),
        _action("open", '{"url": "https://example.com"}'),
        _action("open", '{"url": "/etc/passwd"}'),
        _action("finish"),
        "</think>Nothing found.",
    ]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus)

    response = research.run("Q")
    results = response.tool_results()

    assert [r.status for r in results] == ["invalid", "error", "error", "error"]
    assert "there is no result 5 (results so far: none yet; search first)" in results[1].content
    assert "no web access" in results[2].content
    assert "outside the folders" in results[3].content
    assert response.report().text == "Nothing found."


def test_open_uses_the_fetcher(tokenizer, glm_template, corpus):
    replies = [_action("open", '{"url": "example.com"}'), _action("finish"), "</think>It says hello."]
    research, _ = _research(
        tokenizer, glm_template, replies, corpus=corpus, fetch=lambda url: f"<p>Hello from {url}</p>"
    )

    assert research.run("Q").tool_results()[0].content == "Hello from https://example.com"


def test_when_the_turns_run_out_one_more_turn_writes_the_report(tokenizer, glm_template, corpus):
    replies = [
        _action("search", '{"query": "Beijing weather"}'),
        _action("click", '{"link_id": 0}'),
        "Out of turns.</think>Beijing is sunny 【0†source】.",
    ]
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus, max_turns=2)

    response = research.run("Weather in Beijing?")
    report = response.report()

    assert response.finish_reason == "round_limit"
    assert report.text == "Beijing is sunny 【0†source】." and report.budget_spent and report.turn_limit == 2
    assert [s.title for s in report.sources] == ["Beijing weather"]
    assert report.markdown().endswith("*The research used all its 2 turns (max_turns) before the model called "
                                      "finish: the model wrote this report when told its budget was spent.*")  # fmt: skip
    last_prompt = tokenizer.decode(generator.prompts[-1])
    assert "21 degrees today.<|observation|>\nThe research budget is spent: all 2 turns are used" in last_prompt
    assert [type(m).__name__ for m in response.messages()][-3:] == [
        "ObservationMessage", "ObservationMessage", "AssistantMessage",
    ]  # fmt: skip


def test_a_last_turn_that_calls_finish_gets_its_report_turn(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Rome"}'), _action("finish"), "</think>Rome is rainy 【0†source】."]
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus, max_turns=1)

    response = research.run("Rome?")

    assert response.report().text == "Rome is rainy 【0†source】." and response.report().budget_spent
    assert response.finish_reason == "round_limit" and generator.remaining == 0


def test_no_report_even_then_ends_with_everything_found_listed(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("click", '{"link_id": 0}')]
    replies.append(_action("search", '{"query": "more weather"}'))  # the last turn acts instead of reporting
    research, generator = _research(tokenizer, glm_template, replies, corpus=corpus, max_turns=2)

    response = research.run("Q")
    report = response.report()

    assert response.finish_reason == "round_limit" and report.text == "" and generator.remaining == 0
    last = response.tool_results()[-1]
    assert last.status == "not_run" and "research budget is spent" in last.content
    assert [s.title for s in report.found] == ["Beijing weather", "Rome weather"]
    beijing, rome = ((corpus / name).resolve().as_uri() for name in ("beijing.md", "rome.md"))
    assert report.markdown().startswith("**No report.** The research used all its 2 turns (max_turns) before")
    assert report.markdown().endswith(
        f"**What it found**\n\n- 【0】 [Beijing weather]({beijing}) · read\n- 【1】 [Rome weather]({rome})"
    )


def test_a_page_opened_by_its_address_is_listed_when_no_report_comes(tokenizer, glm_template, corpus):
    replies = [_action("open", '{"url": "example.com"}'), _action("open", '{"url": "example.org"}')]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus, max_turns=1, fetch=lambda url: "Hi.")

    report = research.run("Q").report()

    assert [(s.id, s.url) for s in report.read] == [(None, "https://example.com")]
    assert report.markdown().endswith("**What it found**\n\n- [https://example.com](https://example.com) · read")


def test_an_interrupt_in_the_last_turn_keeps_what_was_found(tokenizer, glm_template, corpus):
    replies = [
        _action("search", '{"query": "Beijing"}'),
        ScriptedReply("Writing.</think>Beijing is", interrupt_after=4),
    ]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus, max_turns=1)
    response = research.run("Q")

    with pytest.raises(KeyboardInterrupt):
        response.finish()

    report = response.report()
    assert report.turn_limit == 1 and report.text == "" and report.found[0].title == "Beijing weather"
    assert response.finish_reason == "cancelled" and response.messages()[-1].end == "interrupted"


def test_cancel_as_the_last_action_ends_starts_no_last_turn(tokenizer, glm_template, corpus):
    research, generator = _research(tokenizer, glm_template, [_action("search", '{"query": "weather"}')], corpus=corpus,
                                    max_turns=1)  # fmt: skip
    response = research.run("Q")

    for event in response:
        if isinstance(event, ToolResultEvent):
            response.cancel()

    assert response.finish_reason == "cancelled" and len(generator.prompts) == 1
    assert response.messages()[-1].name == "search" and response.report().found


def test_the_last_turn_cuts_the_page_before_the_budget_note_not_the_note(tokenizer, glm_template, tmp_path):
    (tmp_path / "long.md").write_text("# Long\n\n" + "weather report " * 2000)
    replies = [_action("search", '{"query": "weather"}'), _action("click", '{"link_id": 0}'), "</think>Sunny."]
    generator = ScriptedGenerator(tokenizer, replies, max_length=1500)
    research = Rumination(generator.backend(chat_template=glm_template), corpus=tmp_path, max_turns=2)

    response = research.run("Q")

    assert response.report().text == "Sunny."
    page, note = response.messages()[3:5]
    assert len(page.content) < 2000 and page.content.endswith("characters not shown]")  # cut from 8,000
    assert note.content.startswith("The research budget is spent") and note.content.endswith("【id†source】.")


@pytest.mark.parametrize("max_turns", [0, -3, 2.5, True])
def test_a_research_without_a_turn_is_refused(tokenizer, glm_template, corpus, max_turns):
    backend = ScriptedGenerator(tokenizer).backend(chat_template=glm_template)

    with pytest.raises(ChatError, match=rf"max_turns={max_turns!r} leaves the research no turn.*at least 1"):
        Rumination(backend, corpus=corpus, max_turns=max_turns)


@pytest.mark.parametrize("option", ["results_per_search", "page_chars"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_a_research_that_would_find_or_read_nothing_is_refused(tokenizer, glm_template, corpus, option, value):
    backend = ScriptedGenerator(tokenizer).backend(chat_template=glm_template)

    with pytest.raises(ChatError, match=rf"{option}={value!r} leaves every .* empty.*at least 1"):
        Rumination(backend, corpus=corpus, **{option: value})


def test_result_numbers_run_on_across_searches(tokenizer, glm_template):
    class TwoResults:
        def search(self, query, limit):
            return [SearchResult(f"{query} {i}", f"https://x/{query}/{i}", "s") for i in range(2)]

    replies = [
        _action("search", '{"query": "a"}'),
        _action("search", '{"query": "b"}'),
        _action("finish"),
        "</think>R 【3†source】",
    ]
    research, _ = _research(tokenizer, glm_template, replies, search=TwoResults())

    response = research.run("Q")

    assert response.tool_results()[1].content.startswith("【2†b 0†https://x/b/0\ns】\n\n【3†b 1†")
    assert [s.title for s in response.report().sources] == ["b 1"]


def test_a_failing_search_backend_is_an_observation(tokenizer, glm_template):
    class Broken:
        def search(self, query, limit):
            raise TimeoutError("search service down")

    replies = [_action("search", '{"query": "a"}'), _action("finish"), "</think>No data."]
    research, _ = _research(tokenizer, glm_template, replies, search=Broken())

    (result,) = research.run("Q").tool_results()

    assert "TimeoutError: search service down" in result.content


def test_cancel_stops_the_research(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "weather"}', thinking="A long long long chain of thought.")]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus)
    response = research.run("Q")

    for event in response:
        if isinstance(event, ThinkingDelta):
            response.cancel()

    assert response.finish_reason == "cancelled"
    assert response.messages()[-1].end == "interrupted"


def test_a_page_longer_than_the_context_is_cut_and_the_research_goes_on(tokenizer, glm_template, tmp_path):
    (tmp_path / "long.md").write_text("# Long\n\n" + "weather report " * 2000)
    replies = [
        _action("search", '{"query": "weather"}'),
        _action("click", '{"link_id": 0}'),
        _action("finish"),
        "</think>Sunny 【0†source】.",
    ]
    generator = ScriptedGenerator(tokenizer, replies, max_length=1500)
    research = Rumination(generator.backend(chat_template=glm_template), corpus=tmp_path)

    response = research.run("Q")

    assert response.report().text == "Sunny 【0†source】."
    page = response.messages()[3]
    assert page.content.startswith("# Long") and page.content.endswith("characters not shown]")
    assert len(page.content) < 2000
    # cut until the answer has room too (an eighth of the context here), not only until the prompt fits
    assert len(generator.prompts) == 4 and len(generator.prompts[2]) + 1500 // 8 <= 1500


def test_a_research_too_long_for_the_context_ends_with_what_it_found_and_says_what_to_do(
    tokenizer, glm_template, tmp_path
):
    # It used to raise PromptTooLongError, which lost what the research had found and, in a notebook, came with the
    # chat's advice (a new conversation); now it ends as at a token limit, its report saying which and what to do.
    (tmp_path / "long.md").write_text("# Long\n\n" + "weather report " * 2000)
    replies = [_action("search", '{"query": "weather"}'), _action("click", '{"link_id": 0}')] * 100
    generator = ScriptedGenerator(tokenizer, replies, max_length=1024)
    research = Rumination(
        generator.backend(chat_template=glm_template), corpus=tmp_path, page_chars=300, max_turns=200
    )

    response = research.run("Q")
    report = response.report()

    assert response.finish_reason == "length" and report.cut_off == "context" and report.text == ""
    assert generator.remaining > 0  # it ended there, long before its turns ran out
    assert report.markdown().startswith(
        "**No report.** The research filled the model's context before a report was written. Read less per page "
        "(`Rumination(..., page_chars=2000)`)"
    )
    assert "**What it found**\n\n- 【0】 [Long](file://" in report.markdown() and report.markdown().endswith("· read")


class _Uncounted:
    """A backend that cannot count tokens (as a served model may): only the engine says when a prompt is too long."""

    def __init__(self, backend):
        self.backend, self.name, self.chat_template, self.context_length = backend, backend.name, None, None

    def complete(self, prompt, sampling, stops=None):
        return self.backend.complete(prompt, sampling, stops)


def test_a_research_too_long_for_a_backend_that_cannot_count_tokens_ends_so_too(tokenizer, glm_template, tmp_path):
    (tmp_path / "long.md").write_text("# Long\n\n" + "weather report " * 2000)
    replies = [_action("search", '{"query": "weather"}'), _action("click", '{"link_id": 0}')] * 100
    generator = ScriptedGenerator(tokenizer, replies, max_length=1024)
    backend = _Uncounted(generator.backend(chat_template=glm_template))
    research = Rumination(backend, corpus=tmp_path, template=glm_template, page_chars=300, max_turns=200)

    response = research.run("Q")
    report = response.report()

    assert response.finish_reason == "length" and report.cut_off == "context"
    assert "**What it found**" in report.markdown() and generator.remaining > 0


def test_a_question_too_long_for_the_context_still_raises(tokenizer, glm_template, corpus):
    research, _ = _research(tokenizer, glm_template, [_action("finish")], corpus=corpus)

    with pytest.raises(PromptTooLongError):  # nothing was researched: the engine's message says what to do
        research.run("weather " * 5000).finish()


def test_cancel_when_an_action_arrives_starts_no_new_turn(tokenizer, glm_template, corpus):
    research, generator = _research(
        tokenizer, glm_template, [_action("search", '{"query": "weather"}')], corpus=corpus
    )
    response = research.run("Q")

    for event in response:
        if isinstance(event, ToolCallEvent):
            response.cancel()

    assert response.finish_reason == "cancelled"
    assert len(generator.prompts) == 1
    assert response.messages()[-1].status == "not_run"


def test_an_interrupt_inside_a_search_still_answers_the_action(tokenizer, glm_template):
    class Slow:
        def search(self, query, limit):
            raise KeyboardInterrupt

    research, _ = _research(tokenizer, glm_template, [_action("search", '{"query": "a"}')], search=Slow())
    response = research.run("Q")

    with pytest.raises(KeyboardInterrupt):
        response.finish()

    assert [type(m).__name__ for m in response.messages()] == ["AssistantMessage", "ObservationMessage"]
    assert response.messages()[-1].status == "not_run"


def test_a_malformed_action_is_told_the_action_format():
    error = parse_action('{"name": "search", "arguments": ').error

    assert '{"name": "search", "arguments": {"query": "..."}}' in error
    assert "tool name on one line" not in error


def test_click_reads_a_corpus_with_its_own_suffixes(tokenizer, glm_template, tmp_path):
    (tmp_path / "guide.rst").write_text("Guide\n=====\n\nThe weather is fine.")
    replies = [_action("search", '{"query": "weather"}'), _action("click", '{"link_id": 0}'), "</think>Fine."]
    research, _ = _research(tokenizer, glm_template, replies, search=LocalCorpus(tmp_path, suffixes=(".rst",)))

    assert research.run("Q").tool_results()[1].content.endswith("The weather is fine.")


def test_open_keeps_to_the_corpus_size_limit(tokenizer, glm_template, tmp_path):
    (tmp_path / "notes.md").write_text("# Notes\n\nThe weather is fine.")
    (tmp_path / "big.md").write_text("weather " * 500)  # 4,000 bytes: the corpus skips it, so open must refuse it too
    replies = [_action("open", '{"url": "big.md"}'), "</think>Nothing."]
    corpus = LocalCorpus(tmp_path, max_document_bytes=1000)
    research, _ = _research(tokenizer, glm_template, replies, search=corpus)

    result = research.run("Q").tool_results()[0]
    assert result.status == "error" and "too large" in result.content


def test_a_page_found_by_two_searches_is_listed_once_under_both_its_numbers():
    from glm_nb.chat.research import Report, Source

    report = Report("A 【0†source】, B 【3†source】, C 【1†source】.", (
        Source(0, "Beijing weather", "file:///b.md"), Source(3, "Beijing weather", "file:///b.md"),
        Source(1, "Notes", "file:///n.txt"),
    ))  # fmt: skip
    assert report.markdown().split("**Sources**\n\n")[1].splitlines() == [
        "- 【0】【3】 [Beijing weather](file:///b.md)",
        "- 【1】 [Notes](file:///n.txt)",
    ]


def test_a_search_backend_that_yields_its_results_is_read_whole(tokenizer, glm_template):
    class Yielding:
        def search(self, query, limit):
            yield from (SearchResult(f"{query} {i}", f"https://x/{i}", "s") for i in range(2))

    replies = [_action("search", '{"query": "a"}'), _action("finish"), "</think>R 【1†source】"]
    research, _ = _research(tokenizer, glm_template, replies, search=Yielding())

    response = research.run("Q")

    assert response.tool_results()[0].content == "【0†a 0†https://x/0\ns】\n\n【1†a 1†https://x/1\ns】"
    assert [s.title for s in response.report().sources] == ["a 1"]


def test_a_search_backend_returning_other_values_is_told_not_a_traceback(tokenizer, glm_template):
    class Raw:  # the search API's JSON, not SearchResult values
        def search(self, query, limit):
            return [{"title": "A", "url": "https://a", "snippet": "s"}]

    replies = [_action("search", '{"query": "a"}'), _action("finish"), "</think>Nothing found."]
    research, _ = _research(tokenizer, glm_template, replies, search=Raw())

    response = research.run("Q")

    (result,) = response.tool_results()
    assert result.status == "error" and "returned a dict, not a SearchResult" in result.content
    assert "SearchResult(title, url, snippet)" in result.content
    assert response.report().text == "Nothing found." and response.report().found == ()


def test_a_finish_without_a_report_says_so_and_lists_what_was_found(tokenizer, glm_template, corpus):
    # It used to render nothing at all: the cell showed no report, no note and none of the sources found.
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("finish"), "Done.</think>\n  \n"]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus)

    report = research.run("What is the weather in Beijing?").report()

    assert report.text == "" and report.turn_limit is None and report.cut_off is None
    assert report.markdown().startswith(
        "**No report.** The model ended the research without writing a report. Run the research again"
    )
    assert "**What it found**\n\n- 【0】 [Beijing weather](file://" in report.markdown()


def test_a_blank_turn_instead_of_an_action_is_no_report_in_chinese_too(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing"}'), "想一想。</think>   "]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus)

    markdown = research.run("北京天气怎么样？").report().markdown()

    assert markdown.startswith("**没有报告。** 模型结束了研究，但没有写出报告。可以重新运行这次研究")
    assert "**找到的资料**\n\n- 【0】 [Beijing weather](file://" in markdown


def test_a_citation_no_search_returned_is_pointed_out_under_the_report(tokenizer, glm_template, corpus):
    # A made-up citation used to pass without a word, looking like the sourced ones around it.
    replies = [
        _action("search", '{"query": "Beijing weather"}'),
        _action("finish"),
        "</think>Sunny 【0†source】, 30 degrees 【7†source】, windy 【12†source】【7†source】.",
    ]
    research, _ = _research(tokenizer, glm_template, replies, corpus=corpus)

    markdown = research.run("Q").report().markdown()

    assert markdown.endswith(
        "\n\n*The report cites 【7】【12】, which no search of this research returned: check those statements "
        "yourself.*"
    )
    assert "- 【0】 [Beijing weather](file://" in markdown


def test_a_turn_cut_short_by_the_context_of_a_backend_that_cannot_count_tokens_says_so(
    tokenizer, glm_template, corpus
):
    # It was taken for max_new_tokens, whose advice (allow more tokens) could not help: the context was full.
    generator = ScriptedGenerator(tokenizer, ["Thinking on and on " * 400 + "</think>Report."], max_length=1024)
    research = Rumination(
        _Uncounted(generator.backend(chat_template=glm_template)), corpus=corpus, template=glm_template
    )

    report = research.run("Q").report()

    assert report.cut_off == "context" and "filled the model's context" in report.markdown()
