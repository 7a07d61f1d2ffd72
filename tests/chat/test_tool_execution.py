"""Argument validation (safe coercions only) and execution (timeout, exceptions, confirm hook)."""

from __future__ import annotations

import threading
from typing import Literal

import pytest

from glm_nb.tools import Tool, ToolArgumentError, ToolCall, run_tool_call, tool, validate_arguments


@tool
def forecast(
    city: str, days: int = 1, ratio: float = 1.0, metric: bool = True, mode: Literal["a", "b"] = "a"
) -> dict:
    """Forecast."""
    return {"city": city, "days": days, "ratio": ratio, "metric": metric, "mode": mode}


def test_safe_coercions_are_applied():
    args = validate_arguments(forecast, {"city": 7, "days": "3", "ratio": "2.5", "metric": "false"})

    assert args == {"city": "7", "days": 3, "ratio": 2.5, "metric": False}


def test_integral_float_is_an_integer_but_a_fraction_is_not():
    assert validate_arguments(forecast, {"city": "x", "days": 4.0})["days"] == 4
    with pytest.raises(ToolArgumentError, match="'days' must be an integer"):
        validate_arguments(forecast, {"city": "x", "days": 2.5})


@pytest.mark.parametrize(
    "arguments, problem",
    [
        ({"city": "x", "days": "abc"}, "'days' must be an integer; got 'abc'"),
        ({"city": "x", "metric": 1}, "'metric' must be a boolean"),
        ({"city": "x", "days": True}, "'days' must be an integer"),
        ({"city": "x", "mode": "c"}, "'mode' must be one of 'a', 'b'"),
        ({}, "missing required argument 'city' (string)"),
        ({"city": "x", "colour": "red"}, "unexpected argument 'colour'"),
        ({"city": None}, "'city' must not be null"),
    ],
)
def test_unsafe_or_wrong_arguments_are_refused(arguments, problem):
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(forecast, arguments)

    assert any(problem in p for p in info.value.problems)


def test_nested_schemas_and_optional_values():
    def f(points: list[int], label: str | None = None) -> None: ...

    t = Tool.from_function(f)

    assert validate_arguments(t, {"points": ["1", 2], "label": None}) == {"points": [1, 2], "label": None}
    with pytest.raises(ToolArgumentError, match=r"'points\[1\]' must be an integer"):
        validate_arguments(t, {"points": [1, "x"]})


def test_a_dict_tool_accepts_unknown_arguments_unless_the_schema_forbids_them():
    loose = Tool.from_dict({"name": "f", "parameters": {"type": "object", "properties": {}}})
    strict = Tool.from_dict({"name": "f", "parameters": {"type": "object", "additionalProperties": False}})

    assert validate_arguments(loose, {"x": 1}) == {"x": 1}
    with pytest.raises(ToolArgumentError):
        validate_arguments(strict, {"x": 1})


def test_run_returns_the_value_as_json_with_non_ascii_kept():
    result = run_tool_call(ToolCall("forecast", {"city": "北京"}), {"forecast": forecast})

    assert result.ok
    assert result.content == '{"city": "北京", "days": 1, "ratio": 1.0, "metric": true, "mode": "a"}'


def test_a_string_result_is_the_observation_as_is():
    @tool
    def echo(text: str) -> str:
        return text

    assert run_tool_call(ToolCall("echo", {"text": "a\nb"}), {"echo": echo}).content == "a\nb"


def test_unknown_tool_is_reported_with_the_available_ones():
    result = run_tool_call(ToolCall("nope", {}), {"forecast": forecast})

    assert result.status == "invalid"
    assert "Unknown tool 'nope'. Available tools: forecast." in result.content


def test_malformed_call_is_reported():
    result = run_tool_call(ToolCall("forecast", error="bad JSON"), {"forecast": forecast})

    assert (result.status, result.error) == ("invalid", "Could not read the call to 'forecast': bad JSON")


def test_exception_is_captured():
    @tool
    def boom(x: int) -> None:
        raise ValueError(f"no {x}")

    result = run_tool_call(ToolCall("boom", {"x": 1}), {"boom": boom})

    assert result.status == "error"
    assert "ValueError: no 1" in result.content


def test_timeout_is_reported_and_the_call_left_running():
    release = threading.Event()

    @tool
    def slow() -> str:
        release.wait(5)
        return "late"

    result = run_tool_call(ToolCall("slow", {}), {"slow": slow}, timeout=0.05)
    release.set()

    assert result.status == "timeout"
    assert "did not finish within 0.05 s" in result.content


def test_confirm_hook_sees_the_validated_call_and_can_decline():
    seen = []

    def confirm(call: ToolCall) -> bool:
        seen.append(call.arguments)
        return False

    result = run_tool_call(ToolCall("forecast", {"city": "x", "days": "2"}), {"forecast": forecast}, confirm=confirm)

    assert seen == [{"city": "x", "days": 2}]
    assert result.status == "declined"
