"""The tool loop's limits: a looping call is refused, then ends the reply if it loops again; max_tool_rounds >= 1."""

from __future__ import annotations

import pytest

from glm_nb.chat import ChatError, ObservationMessage
from glm_nb.tools import Tool, tool

CALL = 'get_weather\n{"city": "Paris"}<|observation|>'


@tool
def get_weather(city: str) -> dict:
    """Get the weather.

    Args:
        city: The city.
    """
    if city == "Atlantis":
        raise LookupError("no such city")
    return {"city": city, "temp": 21}


def test_a_third_call_after_two_identical_results_is_not_run_and_the_model_answers_with_what_it_has(scripted):
    conversation, generator = scripted([CALL, CALL, CALL, "\nSunny, 21 degrees."], tools=[get_weather])

    response = conversation.send("Weather in Paris?")
    done = list(response)[-1]

    assert (done.finish_reason, done.looping_call) == ("stop", False)
    assert [r.status for r in response.tool_results()] == ["ok", "ok", "not_run"]
    refused = response.tool_results()[-1]
    assert "ran twice in this reply and returned the same result both times" in refused.error
    assert "Answer with what you have" in refused.content  # what the model reads before its answer
    assert response.text() == "Sunny, 21 degrees."
    assert len(generator.prompts) == 4


@pytest.mark.parametrize(
    "call, status",
    [
        (CALL, "ok"),
        ('get_weather\n{"city": "Atlantis"}<|observation|>', "error"),  # the same error twice is a loop too
    ],
)
def test_a_model_that_loops_again_after_being_told_ends_the_reply_unrun(scripted, call, status):
    conversation, generator = scripted([call] * 9, tools=[get_weather])

    response = conversation.send("Weather in Paris?")
    done = list(response)[-1]

    assert (done.finish_reason, done.looping_call, done.repeated_failed_call) == ("stop", True, False)
    assert [r.status for r in response.tool_results()] == [status, status, "not_run", "not_run"]
    assert len(generator.prompts) == 4  # not max_tool_rounds + 1 generations of the same call
    assert isinstance(conversation.messages[-1], ObservationMessage)  # every call has its observation


def test_after_a_refused_loop_new_calls_run_and_the_next_loop_ends_the_reply(scripted):
    rome = 'get_weather\n{"city": "Rome"}<|observation|>'
    conversation, _ = scripted([CALL, CALL, CALL, rome, CALL, "\nUnused."], tools=[get_weather])

    response = conversation.send("Paris, then Rome?")
    done = list(response)[-1]

    assert done.looping_call
    assert [r.status for r in response.tool_results()] == ["ok", "ok", "not_run", "ok", "not_run"]


def test_declined_calls_do_not_count_as_a_loop_and_the_user_is_asked_each_time(scripted):
    asked = []

    def decline(call):
        asked.append(call)
        return False

    conversation, _ = scripted([CALL] * 3 + ["\nI cannot check the weather."], tools=[get_weather], confirm=decline)

    response = conversation.send("Weather in Paris?")
    done = list(response)[-1]

    assert len(asked) == 3  # the third call went to the confirm hook too
    assert [r.status for r in response.tool_results()] == ["declined"] * 3
    assert not any("ran twice" in r.content for r in response.tool_results())
    assert (done.looping_call, response.text()) == (False, "I cannot check the weather.")


def _job_status_tool(make, statuses):
    """A tool that reports a job's status: each of `statuses` in turn."""
    replies = iter(statuses)

    def job_status(job: str) -> str:
        """The status of a job.

        Args:
            job: The job's id.
        """
        return next(replies)

    return make(job_status)


@pytest.mark.parametrize(
    "make", [tool(repeatable=True), lambda f: Tool.from_function(f, repeatable=True)], ids=["@tool", "from_function"]
)
def test_a_repeatable_tool_may_return_the_same_result_any_number_of_times(scripted, make):
    poll = 'job_status\n{"job": "42"}<|observation|>'
    job_status = _job_status_tool(make, ["running"] * 4 + ["done"])
    conversation, _ = scripted([poll] * 5 + ["\nJob 42 is done."], tools=[job_status])

    response = conversation.send("Wait for job 42.")
    done = list(response)[-1]

    assert [r.content for r in response.tool_results()] == ["running"] * 4 + ["done"]
    assert (done.looping_call, response.text()) == (False, "Job 42 is done.")


def test_a_tool_is_not_repeatable_unless_it_says_so():
    plain, polled = _job_status_tool(tool, []), _job_status_tool(tool(repeatable=True), [])

    assert (plain.repeatable, polled.repeatable) == (False, True)


def test_a_tool_that_answers_differently_each_time_keeps_being_called(scripted):
    ticks = iter(range(10))

    def clock() -> int:
        """The time."""
        return next(ticks)

    conversation, _ = scripted(["clock\n{}<|observation|>"] * 4 + ["\nIt is 3."], tools=[clock])

    response = conversation.send("Watch the clock.")
    done = list(response)[-1]

    assert (done.finish_reason, done.looping_call) == ("stop", False)
    assert [r.content for r in response.tool_results()] == ["0", "1", "2", "3"]
    assert response.text() == "It is 3."


def test_a_round_with_a_new_call_beside_the_repeated_one_still_runs(scripted):
    both = 'get_weather\n{"city": "Paris"}<|assistant|>get_weather\n{"city": "Rome"}<|observation|>'
    conversation, _ = scripted([CALL, CALL, both, "\nBoth sunny."], tools=[get_weather])

    response = conversation.send("Paris, then Rome?")
    done = list(response)[-1]

    assert (done.finish_reason, done.looping_call) == ("stop", False)
    assert [r.status for r in response.tool_results()] == ["ok"] * 4
    assert response.text() == "Both sunny."


def test_a_loop_is_counted_within_one_reply_only(scripted):
    conversation, generator = scripted([CALL, CALL, "\nSunny.", CALL, "\nStill sunny."], tools=[get_weather])
    conversation.send("Weather twice?").finish()

    response = conversation.send("And now?")
    done = list(response)[-1]

    assert (done.looping_call, response.text()) == (False, "Still sunny.")
    assert [r.status for r in response.tool_results()] == ["ok"]


@pytest.mark.parametrize("rounds", [0, -1, True, 2.5])
def test_max_tool_rounds_that_leaves_no_round_is_refused_with_what_to_do(scripted, rounds):
    with pytest.raises(ChatError, match=rf"max_tool_rounds={rounds!r} leaves the model no round") as refused:
        scripted([], tools=[get_weather], max_tool_rounds=rounds)

    assert "at least 1" in str(refused.value) and "pass no tools" in str(refused.value)


def test_one_tool_round_runs_one_round_of_calls(scripted):
    conversation, _ = scripted([CALL, CALL], tools=[get_weather], max_tool_rounds=1)

    response = conversation.send("Weather?")
    response.finish()

    assert response.finish_reason == "round_limit"
    assert [r.status for r in response.tool_results()] == ["ok", "not_run"]


def test_several_calls_written_without_tools_show_a_paragraph_apart(scripted):
    two = 'get_weather\n{"city": "Paris"}<|assistant|>get_weather\n{"city": "Rome"}<|observation|>'
    conversation, generator = scripted([two])

    response = conversation.send("Weather in Paris and Rome?")
    done = list(response)[-1]

    shown = 'get_weather\n{"city": "Paris"}\n\nget_weather\n{"city": "Rome"}'
    assert done.undeclared_tool_call and len(generator.prompts) == 1
    assert response.text() == conversation.messages[-1].text == shown
