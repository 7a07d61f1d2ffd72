"""Argument values that fit the schema's JSON type but not the function's (a date written 'tomorrow'): the model's
to fix, answered as bad arguments before the tool runs."""

from __future__ import annotations

import dataclasses
import datetime
import typing

import pytest

from glm_nb.tools import Tool, ToolArgumentError, ToolCall, run_tool_call
from glm_nb.tools import schema as tool_schema
from glm_nb.tools.schema import parse_iso_text

ran: list[str] = []


def book(since: datetime.date) -> str:
    """Book."""
    ran.append("book")
    return since.isoformat()


class Leg(typing.TypedDict):
    city: str
    on: datetime.date


def travel(legs: list[Leg], stops: list[datetime.date]) -> str:
    """Travel."""
    ran.append("travel")
    return "booked"


@pytest.fixture(autouse=True)
def _nothing_ran():
    ran.clear()


def test_a_date_that_does_not_parse_is_a_bad_argument_saying_how_to_write_it():
    # It was raised inside the call: status "error" and "'book' raised ValueError: Invalid isoformat string".
    result = run_tool_call(ToolCall("book", {"since": "tomorrow"}), {"book": Tool.from_function(book)})

    assert result.status == "invalid"
    assert result.error == (
        "Bad arguments for 'book': 'since': 'tomorrow' is not a date as YYYY-MM-DD (ISO 8601). Fix them and call "
        "again."
    )
    assert ran == []


@pytest.mark.parametrize(
    "arguments, problem",
    [
        ({"legs": [{"city": "Rome", "on": "next friday"}], "stops": []}, "'legs': 'next friday' is not a date"),
        ({"legs": [], "stops": ["2025-04-14", "someday"]}, "'stops': 'someday' is not a date"),
    ],
)
def test_a_bad_value_inside_a_typeddict_or_a_list_is_a_bad_argument(arguments, problem):
    result = run_tool_call(ToolCall("travel", arguments), {"travel": Tool.from_function(travel)})

    assert result.status == "invalid"
    assert problem in result.error and result.error.endswith("Fix them and call again.")
    assert ran == []


def test_calling_the_tool_from_python_with_a_bad_value_names_it():
    with pytest.raises(ToolArgumentError, match="'since': '14/04/2025' is not a date as YYYY-MM-DD"):
        Tool.from_function(book)(since="14/04/2025")


@pytest.mark.parametrize(
    "tp, text, value",
    [
        (
            datetime.datetime,
            "2025-04-14T09:30:00Z",
            datetime.datetime(2025, 4, 14, 9, 30, tzinfo=datetime.timezone.utc),
        ),
        (
            datetime.datetime,
            "2025-04-14t09:30:00z",
            datetime.datetime(2025, 4, 14, 9, 30, tzinfo=datetime.timezone.utc),
        ),
        (datetime.time, "09:30Z", datetime.time(9, 30, tzinfo=datetime.timezone.utc)),
    ],
)
def test_a_trailing_z_is_utc_even_where_fromisoformat_refuses_it(monkeypatch, tp, text, value):
    # Python 3.10's fromisoformat refuses 'Z', RFC 3339's usual way to write UTC, which the schema's "date-time"
    # announces; the parsers are made as strict here, so that this holds on any Python.
    def strict(parse):
        def parse_without_z(iso: str):
            if iso[-1:] in ("Z", "z"):
                raise ValueError(f"Invalid isoformat string: {iso!r}")
            return parse(iso)

        return parse_without_z

    monkeypatch.setitem(tool_schema._TEXT_TYPES, tp, strict(tool_schema._TEXT_TYPES[tp]))

    assert parse_iso_text(tp, text) == value


@dataclasses.dataclass
class Point:
    """A point whose own check raises a TypeError (the user's code, run while arguments are converted)."""

    x: int
    y: int

    def __post_init__(self):
        if self.x < 0:
            raise TypeError("x must be >= 0")


def test_a_converter_raising_other_than_valueerror_is_the_tools_error_not_a_crash():
    """A dataclass's __post_init__ (the user's code, run while arguments are converted) raising a TypeError is an
    error result the model reads, as when the tool itself raises; the reply goes on."""

    def plot(p: Point) -> str:
        """Plot a point."""
        return f"plotted {p.x},{p.y}"

    tool = Tool.from_function(plot)
    result = run_tool_call(ToolCall("plot", {"p": {"x": -1, "y": 2}}), {"plot": tool})

    assert result.status == "error" and "TypeError: x must be >= 0" in result.content


def test_a_bad_value_from_python_is_still_a_valueerror():
    def when(d: datetime.date) -> str:
        """A day."""
        return d.isoformat()

    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Tool.from_function(when)(d="tomorrow")
