"""How a %%glm_rumination research that ends early is shown: cut by the token limit or by a full context, the
cell shows the report as far as it got or what the research found, and what to do about the limit."""

from __future__ import annotations

import pytest

from glm_nb.render import MIME_TYPE

_SEARCH = 'I need facts.</think>{"name": "search", "arguments": {"query": "Beijing weather"}}'
_CLICK = 'Read it.</think>{"name": "click", "arguments": {"link_id": 0}}'
_FINISH = 'Enough.</think>{"name": "finish", "arguments": {}}'
_LONG_REPORT = "Writing.</think>Beijing is sunny 【0†source】." + " It stays warm all week." * 40  # ~300 tokens


@pytest.fixture
def cell(tmp_path):
    """A research cell over a folder with one document; `cell(options)` adds magic options."""
    (tmp_path / "beijing.md").write_text("# Beijing weather\n\nBeijing is sunny and 21 degrees today.\n")
    return lambda options="": f"%%glm_rumination --corpus {tmp_path} {options}\nWeather in Beijing?"


def _tool_statuses(record: dict) -> list[str]:
    return [p["status"] for p in record["parts"] if p["type"] == "tool"]


def test_an_action_cut_by_the_token_limit_shows_no_report_and_what_was_found(kernel, cell):
    kernel.use([_SEARCH, 'Read it.</think>{"name": "click", "arguments": {"link_id": 0' + " " * 200])

    record = kernel.final(kernel.run(cell("-n 60")))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length" and kernel.errors[-1] is None
    assert record["answer"].startswith(
        "**No report.** The model reached its token limit (max_new_tokens) before it wrote a report. Allow more "
        "tokens (`SamplingParams(max_new_tokens=...)`, `-n` in `%%glm_rumination`)"
    )
    assert "**What it found**\n\n- 【0】 [Beijing weather](file://" in record["answer"]
    # the half-written action is not shown as text, and the note still says it was not run
    assert not any(p["type"] == "text" and p["text"].lstrip().startswith("{") for p in record["parts"])
    assert record["note"].startswith('Stopped while writing its next action ({"name": "click"')


def test_a_report_cut_by_the_token_limit_shows_its_finish_card_done(kernel, cell):
    kernel.use([_SEARCH, _FINISH, _LONG_REPORT])

    record = kernel.final(kernel.run(cell("-n 60")))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length"
    assert record["answer"].startswith("Beijing is sunny 【0†source】. It stays warm")
    assert "*The report is cut off: the model reached its token limit (max_new_tokens)" in record["answer"]
    assert _tool_statuses(record) == ["ok", "ok"]  # search, then finish: the report after it ran


def test_a_research_that_fills_the_context_ends_with_what_it_found_and_research_advice(kernel, tmp_path):
    (tmp_path / "long.md").write_text("# Long weather\n\n" + "weather report " * 2000)
    kernel.use([_SEARCH, _CLICK] * 20, max_length=1024)

    record = kernel.final(kernel.run(f"%%glm_rumination --corpus {tmp_path}\nWeather?"))["data"][MIME_TYPE]

    assert kernel.errors[-1] is None  # not "Stopped by an error" with the chat's advice (`%%glm --new`)
    assert record["finish_reason"] == "length" and "Stopped by an error" not in record["note"]
    answer = record["answer"]
    assert answer.startswith(
        "**No report.** The research filled the model's context before a report was written. Read less per page"
    )
    assert "`%glm_model MODEL --context N`" in answer and "--new" not in answer
    assert "**What it found**\n\n- 【0】 [Long weather](file://" in answer and "· read" in answer


def _context_one_short_of(kernel, cell, replies) -> int:
    """A context in which, with -n 50, the research's last turn (its report) just has no room, and every turn
    before it has. Measured by running the research once with room to spare."""
    roomy = kernel.use(replies)
    kernel.run(cell("-n 50"))
    return len(roomy.prompts[-1]) + 50 - 1


def test_a_report_with_no_room_cuts_the_page_before_finish_and_is_written(kernel, cell):
    replies = [_SEARCH, _FINISH, "Writing.</think>Sunny 【0†source】."]
    generator = kernel.use(replies, max_length=_context_one_short_of(kernel, cell, replies))

    record = kernel.final(kernel.run(cell("-n 50")))["data"][MIME_TYPE]

    assert kernel.errors[-1] is None and record["finish_reason"] == "stop"
    assert record["answer"].startswith("Sunny 【0†source】.\n\n**Sources**")
    assert "characters not shown]" in generator.tokenizer.decode(generator.prompts[-1])  # the results, cut
    assert _tool_statuses(record) == ["ok", "ok"]


def test_a_report_with_no_room_and_no_page_to_cut_shows_finish_done_and_what_was_found(kernel, cell):
    nothing = 'Once more.</think>{"name": "search", "arguments": {"query": "zzz"}}'  # "No results": too short to cut
    replies = [_SEARCH, nothing, _FINISH, "Writing.</think>Sunny."]
    kernel.use(replies[:-1], max_length=_context_one_short_of(kernel, cell, replies))

    record = kernel.final(kernel.run(cell("-n 50")))["data"][MIME_TYPE]

    assert kernel.errors[-1] is None and record["finish_reason"] == "length"
    assert record["answer"].startswith("**No report.** The research filled the model's context")
    assert "**What it found**\n\n- 【0】 [Beijing weather](file://" in record["answer"]
    assert kernel.session.last().tool_cards[1].result.startswith("No results for 'zzz'")
    assert _tool_statuses(record) == ["ok", "ok", "ok"]  # two searches, then finish: done, though no report came


def test_a_question_too_long_for_the_context_says_to_shorten_it_not_the_chats_advice(kernel, cell):
    kernel.use([_SEARCH], max_length=64)

    kernel.run(cell().replace("Weather in Beijing?", "Weather in Beijing? " * 40))

    message = str(kernel.errors[-1])
    assert "the question alone is too long: shorten it" in message
    assert "--new" not in message and "--drop-old-turns" not in message  # research keeps no conversation
