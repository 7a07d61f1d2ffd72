"""A research at its limits: a report the token limit cuts off, and the notes about limits in the question's
language (English or Chinese)."""

from __future__ import annotations

import dataclasses

import pytest
from markdown_it import MarkdownIt

from glm_nb.chat import ScriptedGenerator, ScriptedReply, TextDelta
from glm_nb.chat.research import RUMINATION_SAMPLING, Report, Rumination, Source


def _action(name: str, arguments: str = "{}") -> str:
    return f'Next step.</think>{{"name": "{name}", "arguments": {arguments}}}'


_LONG_REPORT = "</think>Beijing is sunny 【0†source】." + " It stays warm all week." * 40  # ~300 tokens


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny and 21 degrees today.\n")
    (tmp_path / "北京.md").write_text("# 北京天气\n\n北京今天晴，气温二十一度。\n", encoding="utf-8")
    return tmp_path


def _research(tokenizer, template, replies, *, max_new_tokens=60, max_length=4096, **options):
    generator = ScriptedGenerator(tokenizer, replies, max_length=max_length)
    sampling = dataclasses.replace(RUMINATION_SAMPLING, max_new_tokens=max_new_tokens)
    return Rumination(generator.backend(chat_template=template), sampling=sampling, **options)


def test_a_report_cut_off_by_the_token_limit_is_kept_with_its_sources_and_a_note(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("finish"), _LONG_REPORT]
    response = _research(tokenizer, glm_template, replies, corpus=corpus).run("Weather in Beijing?")

    report = response.report()

    assert response.finish_reason == "length" and report.cut_off == "max_new_tokens"
    assert report.text.startswith("Beijing is sunny 【0†source】. It stays warm") and report.text in _LONG_REPORT
    assert [s.title for s in report.sources] == ["Beijing weather"]
    assert "**Sources**\n\n- 【0】 [Beijing weather](file://" in report.markdown()
    assert report.markdown().endswith(
        "*The report is cut off: the model reached its token limit (max_new_tokens) while writing it. Allow more "
        "tokens (`SamplingParams(max_new_tokens=...)`, `-n` in `%%glm_rumination`) or ask a narrower question.*"
    )


def test_a_report_written_instead_of_an_action_and_cut_off_is_kept_too(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _LONG_REPORT]  # no finish: the report at once

    report = _research(tokenizer, glm_template, replies, corpus=corpus).run("Weather in Beijing?").report()

    assert report.text.startswith("Beijing is sunny 【0†source】.") and report.cut_off == "max_new_tokens"


def test_an_action_cut_off_is_no_report_and_what_was_found_is_listed(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("click", '{"link_id": 0' + " " * 200)]
    response = _research(tokenizer, glm_template, replies, corpus=corpus).run("Weather in Beijing?")

    report = response.report()

    assert response.finish_reason == "length" and report.text == "" and len(response.tool_results()) == 1
    assert report.markdown().startswith(
        "**No report.** The model reached its token limit (max_new_tokens) before it wrote a report. Allow more"
    )
    assert "**What it found**\n\n- 【0】 [Beijing weather](file://" in report.markdown()


def test_a_report_cut_off_by_the_context_says_so(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("finish"), _LONG_REPORT]
    research = _research(tokenizer, glm_template, replies, corpus=corpus, max_new_tokens=16384, max_length=1000)

    report = research.run("Weather in Beijing?").report()

    assert report.cut_off == "context" and report.text.startswith("Beijing is sunny 【0†source】.")
    assert report.markdown().endswith(
        "*The report is cut off: the research filled the model's context while it was written. Read less per page "
        "(`Rumination(..., page_chars=2000)`), allow fewer turns (`max_turns=...`), search fewer or shorter "
        "documents, or give the model a longer context (`%glm_model MODEL --context N` reloads it with room for N "
        "tokens).*"
    )


def test_a_chinese_question_gets_its_budget_note_and_the_reports_notes_in_chinese(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "北京天气"}'), "</think>北京今天晴【0†source】。"]
    generator = ScriptedGenerator(tokenizer, replies)
    research = Rumination(generator.backend(chat_template=glm_template), corpus=corpus, max_turns=1)

    response = research.run("北京今天天气怎么样？")
    report = response.report()

    assert response.finish_reason == "round_limit" and report.language == "zh"
    assert response.messages()[-2].content == (
        "研究预算已用完：全部 1 轮都已用掉，不会再执行任何操作。现在请根据已读过的资料写出最终报告，"
        "并用【id†source】引用它们。"
    )
    assert report.markdown() == (
        f"北京今天晴【0†source】。\n\n**来源**\n\n- 【0】 [北京天气]({(corpus / '北京.md').resolve().as_uri()})\n\n"
        "*研究用完了全部 1 轮（max_turns），模型仍未调用 finish：这份报告是模型在被告知预算已用完后写的。*"
    )


def test_a_chinese_research_out_of_turns_without_a_report_says_so_in_chinese(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "北京天气"}'), _action("search", '{"query": "北京"}')]
    generator = ScriptedGenerator(tokenizer, replies)
    research = Rumination(generator.backend(chat_template=glm_template), corpus=corpus, max_turns=1)

    response = research.run("北京今天天气怎么样？")
    markdown = response.report().markdown()

    assert "未执行：研究预算已用完。" in response.tool_results()[-1].content
    assert markdown.startswith(
        "**没有报告。** 研究用完了全部 1 轮（max_turns），模型仍未调用 finish，之后也没有写出报告。"
    )
    assert "**找到的资料**\n\n- 【0】 [北京天气](file://" in markdown


def test_a_chinese_report_cut_off_says_so_in_chinese(tokenizer, glm_template, corpus):
    long_report = "</think>北京今天晴【0†source】。" + "明天也晴。" * 60
    replies = [_action("search", '{"query": "北京天气"}'), _action("finish"), long_report]

    report = _research(tokenizer, glm_template, replies, corpus=corpus).run("北京今天天气怎么样？").report()

    assert report.text.startswith("北京今天晴【0†source】。明天也晴。") and report.cut_off == "max_new_tokens"
    assert [s.title for s in report.sources] == ["北京天气"]
    assert report.markdown().endswith(
        "*报告不完整：模型在写报告时达到了 token 上限（max_new_tokens）。可以允许生成更多 token"
        "（`SamplingParams(max_new_tokens=...)`，或 `%%glm_rumination` 的 `-n`），或者把问题问得更具体一些。*"
    )


def test_an_english_question_about_a_chinese_term_gets_english_notes(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "北京"}'), "</think>Sunny 【0†source】."]
    research = Rumination(ScriptedGenerator(tokenizer, replies).backend(chat_template=glm_template), corpus=corpus,
                          max_turns=1)  # fmt: skip

    response = research.run("What is the weather in 北京 today?")

    assert response.messages()[-2].content.startswith("The research budget is spent")
    assert response.report().language == "en" and "**Sources**" in response.report().markdown()


def test_the_notes_render_as_markdown_emphasis_in_chinese_too():
    report = Report("", (), (Source(0, "北京天气", "file:///b.md"),), turn_limit=2, language="zh")

    html = MarkdownIt().render(report.markdown())

    assert "<strong>没有报告。</strong>" in html and "<strong>找到的资料</strong>" in html


def test_a_report_written_when_the_turns_ran_out_and_cut_off_says_both(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _LONG_REPORT]
    research = _research(tokenizer, glm_template, replies, corpus=corpus, max_turns=1)

    response = research.run("Weather in Beijing?")
    notes = response.report().markdown().split("\n\n")[-2:]

    assert response.finish_reason == "length" and response.report().text.startswith("Beijing is sunny")
    assert notes[0].startswith("*The research used all its 1 turns") and notes[1].startswith("*The report is cut off")


def test_a_report_after_finish_in_the_last_turn_makes_room_by_cutting_the_page_not_the_budget_note(
    tokenizer, glm_template, corpus
):
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("finish"), "</think>Sunny 【0†source】."]
    sampling = dataclasses.replace(RUMINATION_SAMPLING, max_new_tokens=50)

    def research(generator):
        return Rumination(
            generator.backend(chat_template=glm_template), corpus=corpus, sampling=sampling, max_turns=1
        )

    roomy = ScriptedGenerator(tokenizer, replies)
    research(roomy).run("Q").finish()
    tight = ScriptedGenerator(tokenizer, replies, max_length=len(roomy.prompts[-1]) + 50 - 1)  # the report: no room

    response = research(tight).run("Q")
    report = response.report()

    assert response.finish_reason == "round_limit" and report.text == "Sunny 【0†source】."
    page, note, _ = response.messages()[1:4]  # the search results, the budget note, the finish call
    assert page.content.endswith("characters not shown]") and note.content.startswith("The research budget is spent")
    assert not note.content.endswith("characters not shown]")


_REPORT = "</think>Beijing is sunny 【0†source】. It stays warm all week, and the nights are mild."


def test_a_report_stopped_while_written_is_kept_with_its_sources_and_a_note(tokenizer, glm_template, corpus):
    replies = [_action("search", '{"query": "Beijing weather"}'), _action("finish"), _REPORT]
    response = _research(tokenizer, glm_template, replies, corpus=corpus).run("Weather in Beijing?")
    written = ""
    for event in response:
        written += event.text if isinstance(event, TextDelta) else ""
        if "】" in written:
            response.cancel()  # the panel's Stop, once the report cited its source

    report = response.report()

    assert response.finish_reason == "cancelled" and report.cut_off == "interrupted"
    assert report.text.startswith("Beijing is sunny 【0†source】") and report.text in _REPORT
    assert len(report.text) < len(_REPORT) - 20  # stopped, not finished
    assert [s.title for s in report.sources] == ["Beijing weather"]
    assert report.markdown().endswith(
        "*The report is cut off: the research was interrupted (Stop or Ctrl-C) while it was written. Run the "
        "research again for a whole report.*"
    )


@pytest.mark.parametrize("finish_first", [True, False])
def test_a_report_interrupted_by_ctrl_c_is_kept(tokenizer, glm_template, corpus, finish_first):
    """After `finish`, or written at once instead of an action: Ctrl-C inside the report keeps what it wrote."""
    report_turn = [_action("finish")] if finish_first else []
    replies = [_action("search", '{"query": "Beijing"}'), *report_turn, ScriptedReply(_REPORT, interrupt_after=12)]
    response = _research(tokenizer, glm_template, replies, corpus=corpus).run("Weather in Beijing?")

    with pytest.raises(KeyboardInterrupt):
        response.finish()

    report = response.report()
    assert report.cut_off == "interrupted" and report.text.startswith("Beijing is") and report.text in _REPORT


@pytest.mark.parametrize("fence", [False, True])
@pytest.mark.parametrize("interrupt_after", [3, 12, 22])
def test_an_action_interrupted_is_no_report_and_what_was_found_is_listed(
    tokenizer, glm_template, corpus, fence, interrupt_after
):
    """Also an action in a code fence (parse_action reads those), cut anywhere: in its backticks, its language,
    its JSON."""
    click = '```json\n{"name": "click", "arguments": {"link_id": 0}}\n```' if fence else None
    action = f"Next step.</think>{click}" if fence else _action("click", '{"link_id": 0}')
    search = _action("search", '{"query": "Beijing weather"}')
    replies = [search, ScriptedReply(action, interrupt_after=interrupt_after)]
    response = _research(tokenizer, glm_template, replies, corpus=corpus).run("Weather in Beijing?")

    with pytest.raises(KeyboardInterrupt):
        response.finish()

    report = response.report()
    assert report.text == "" and report.cut_off == "interrupted"
    assert report.markdown().startswith(
        "**No report.** The research was interrupted (Stop or Ctrl-C) before a report was written. Run the research "
        "again for a whole report.\n\n**What it found**\n\n- 【0】 [Beijing weather]"
    )


def test_the_interrupted_notes_are_chinese_for_a_chinese_question():
    report = Report("北京今天晴", (), cut_off="interrupted", language="zh")
    assert report.markdown().endswith("*报告不完整：写报告时研究被中断了（停止或 Ctrl-C）。重新运行这次研究可以得到完整的报告。*")
    empty = Report("", (), cut_off="interrupted", language="zh").markdown()
    assert empty.startswith("**没有报告。** 在写出报告之前，研究被中断了（停止或 Ctrl-C）。")
