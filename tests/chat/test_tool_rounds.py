"""The tool loop's limits: a call repeated with the same result ends the reply, and max_tool_rounds is at least 1."""

from __future__ import annotations

import pytest

from glm_nb.chat import ChatError, ObservationMessage
from glm_nb.tools import tool

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


@pytest.mark.parametrize(
    "call, status",
    [
        (CALL, "ok"),
        ('get_weather\n{"city": "Atlantis"}<|observation|>', "error"),  # the same error twice is a loop too
    ],
)
def test_a_third_call_after_two_identical_results_ends_the_reply_unrun(scripted, call, status):
    conversation, generator = scripted([call] * 9, tools=[get_weather])

    response = conversation.send("Weather in Paris?")
    done = list(response)[-1]

    assert (done.finish_reason, done.looping_call, done.repeated_failed_call) == ("stop", True, False)
    assert [r.status for r in response.tool_results()] == [status, status, "not_run"]
    assert "ran twice in this reply and returned the same result both times" in response.tool_results()[-1].error
    assert len(generator.prompts) == 3  # not max_tool_rounds + 1 generations of the same call
    assert isinstance(conversation.messages[-1], ObservationMessage)  # every call has its observation


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
