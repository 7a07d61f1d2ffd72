"""Argument validation (safe coercions only) and execution (timeout, exceptions, confirm hook)."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import sqlite3
import threading
from collections import Counter
from typing import Literal

import numpy as np
import pytest

from glm_nb.tools import (
    Tool,
    ToolArgumentError,
    ToolCall,
    ToolDefinitionError,
    ToolStillRunningWarning,
    run_tool_call,
    tool,
    validate_arguments,
)


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


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"x": "007"}, "007"),  # int | str: a string stays a string, not 7
        ({"x": 7}, 7),
        ({"y": 3}, 3),  # str | int: an integer stays an integer, not "3"
        ({"y": "3"}, "3"),
        ({"z": "3"}, 3),  # int | bool: fits neither as it is, so coerced to the first it fits
        ({"z": True}, True),
    ],
)
def test_a_union_takes_the_option_the_value_already_fits_before_coercing(arguments, expected):
    def f(x: int | str = 0, y: str | int = "", z: int | bool = 0) -> None: ...

    args = validate_arguments(Tool.from_function(f), arguments)

    assert list(args.values()) == [expected]
    assert type(args.popitem()[1]) is type(expected)


class _Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class _Point:
    x: int
    unit: _Unit


@dataclasses.dataclass
class _Account:
    name: str
    token: str = dataclasses.field(repr=False)  # a secret its repr hides: the model must not read it either


def _run(fn, arguments=None, **options):
    t = Tool.from_function(fn)
    return run_tool_call(ToolCall(t.name, arguments or {}), {t.name: t}, **options)


@pytest.mark.parametrize(
    "value, content",
    [
        (dict(Counter(zip("abb", "bb"))), "{\"('a', 'b')\": 1, \"('b', 'b')\": 1}"),
        ({np.int64(1): "one", 2: "two"}, '{"1": "one", "2": "two"}'),
        ([np.int64(3), np.float32(0.5), np.bool_(True), np.arange(3)], "[3, 0.5, true, [0, 1, 2]]"),
        (np.array([[1.5, 2.0]]), "[[1.5, 2.0]]"),
        ({"ids": (1, 2), "tags": {"x"}}, '{"ids": [1, 2], "tags": ["x"]}'),
        ({"unit": _Unit.F, _Unit.C: 1}, '{"unit": "fahrenheit", "celsius": 1}'),  # the values the model sends
        (_Account("ada", "s3cret"), '{"name": "ada"}'),
        (_Unit.F, "fahrenheit"),
        ([_Point(1, _Unit.C)], '[{"x": 1, "unit": "celsius"}]'),
    ],
)
def test_values_json_cannot_take_as_they_are_become_readable_json(value, content):
    def compute() -> object:
        return value

    result = _run(compute)

    assert (result.status, result.content) == ("ok", content)


def test_a_value_that_contains_itself_is_written_as_its_str():
    def loop() -> dict:
        d = {"a": 1}
        d["self"] = d
        return d

    result = _run(loop)

    assert (result.status, result.content) == ("ok", "{'a': 1, 'self': {...}}")


def test_a_dataclass_that_contains_itself_is_written_as_its_str():
    @dataclasses.dataclass
    class Node:
        name: str
        parent: object = None

    def tree() -> object:
        root = Node("root")
        root.parent = root
        return root

    result = _run(tree)

    assert (result.status, result.content) == ("ok", "test_a_dataclass_that_contains_itself_is_written_as_its_str."
                                               "<locals>.Node(name='root', parent=...)")  # fmt: skip


def test_an_error_while_writing_the_value_is_an_error_result():
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    def make() -> object:
        return [Unprintable()]

    result = _run(make)

    assert result.status == "error"
    assert "RuntimeError: cannot print" in result.content


class _Table:
    """Stand-ins for pandas' DataFrame and Series (pandas is not installed here), with the class names, module and
    methods by which the tool layer knows one without importing pandas."""

    def __init__(self, rows: list, index: str = "RangeIndex"):
        self.rows = rows
        self.index = type(index, (), {"is_unique": True})()

    def __len__(self) -> int:
        return len(self.rows)

    def to_string(self, max_rows: int) -> str:
        return f"{len(self.rows)} rows, {max_rows} shown"


class DataFrame(_Table):
    __module__ = "pandas.core.frame"
    columns = ["a"]

    def to_dict(self, orient: str) -> object:
        return self.rows if orient == "records" else {f"r{i}": row for i, row in enumerate(self.rows)}


class Series(_Table):
    __module__ = "pandas.core.series"

    def to_dict(self) -> dict:
        return dict(enumerate(self.rows))


def test_pandas_tables_are_written_as_records_or_text():
    def table(kind: str) -> object:
        if kind == "frame":
            return DataFrame([{"a": np.int64(1)}, {"a": np.int64(2)}])
        if kind == "indexed":
            return DataFrame([{"a": 1}], index="DatetimeIndex")
        if kind == "series":
            return Series([0.5, 1.5])
        return DataFrame([{"a": 1}] * 1000)

    assert _run(table, {"kind": "frame"}).content == '[{"a": 1}, {"a": 2}]'
    assert _run(table, {"kind": "indexed"}).content == '{"r0": {"a": 1}}'
    assert _run(table, {"kind": "series"}).content == '{"0": 0.5, "1": 1.5}'
    assert _run(table, {"kind": "long"}).content == "1000 rows, 50 shown"


def test_an_async_tool_is_awaited():
    async def fetch(x: int) -> dict:
        await asyncio.sleep(0)
        return {"x": x}

    result = _run(fetch, {"x": 2})

    assert (result.status, result.content) == ("ok", '{"x": 2}')


def test_an_async_tool_is_awaited_when_the_calling_thread_runs_an_event_loop():
    async def fetch() -> str:
        await asyncio.sleep(0)
        return "fetched"

    async def notebook_cell():  # a cell in Jupyter runs inside the kernel's event loop
        return _run(fetch, timeout=None)

    result = asyncio.run(notebook_cell())

    assert (result.status, result.content) == ("ok", "fetched")


def test_a_generator_tool_is_drained_into_a_list():
    def count(n: int):
        yield from range(n)

    async def count_async(n: int):
        for i in range(n):
            yield i

    assert _run(count, {"n": 3}).content == "[0, 1, 2]"
    assert _run(count_async, {"n": 2}).content == "[0, 1]"


def test_without_a_timeout_the_tool_runs_in_the_calling_thread():
    connection = sqlite3.connect(":memory:")  # usable only in the thread that made it

    def query(sql: str) -> list:
        return connection.execute(sql).fetchall()

    result = _run(query, {"sql": "select 1"}, timeout=None)

    assert (result.status, result.content) == ("ok", "[[1]]")


def test_without_a_timeout_an_interrupt_in_the_tool_reaches_the_caller():
    def wait() -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in the calling thread while the tool runs

    with pytest.raises(KeyboardInterrupt):
        _run(wait, timeout=None)


def test_with_a_timeout_whatever_the_tool_raises_in_its_thread_is_reported():
    def stop() -> None:
        raise KeyboardInterrupt

    assert _run(stop).status == "error"


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

    with pytest.warns(ToolStillRunningWarning):
        result = run_tool_call(ToolCall("slow", {}), {"slow": slow}, timeout=0.05)
    release.set()

    assert result.status == "timeout"
    assert "did not finish within 0.05 s" in result.content


def test_the_timeout_message_names_the_limit_and_how_to_raise_it():
    release = threading.Event()

    @tool
    def slow() -> None:
        release.wait(5)

    with pytest.warns(ToolStillRunningWarning):
        result = run_tool_call(ToolCall("slow", {}), {"slow": slow}, timeout=0.05)
    release.set()

    assert "within 0.05 s (the conversation's tool_timeout)" in result.error
    assert "@tool(timeout=SECONDS) (None: no limit), or Conversation(tool_timeout=SECONDS)" in result.error


def test_a_tools_own_timeout_wins_over_the_conversations():
    release = threading.Event()

    @tool(timeout=0.05)
    def train_step() -> None:
        release.wait(5)

    with pytest.warns(ToolStillRunningWarning):
        result = run_tool_call(ToolCall("train_step", {}), {"train_step": train_step}, timeout=None)
    release.set()

    assert result.status == "timeout"
    assert "within 0.05 s (its own timeout)" in result.error
    assert "declare it with @tool(timeout=SECONDS)" in result.error


def test_a_tool_declared_without_a_timeout_runs_unlimited_in_the_calling_thread():
    connection = sqlite3.connect(":memory:")  # usable only in the thread that made it

    @tool(timeout=None)
    def query(sql: str) -> list:
        return connection.execute(sql).fetchall()

    result = run_tool_call(ToolCall("query", {"sql": "select 1"}), {"query": query}, timeout=60)

    assert (result.status, result.content) == ("ok", "[[1]]")


def test_a_tool_built_from_a_function_takes_a_timeout():
    def fit(epochs: int) -> int:
        return epochs

    assert Tool.from_function(fit, timeout=600).timeout == 600
    assert Tool.from_function(fit).timeout == "session"


@pytest.mark.parametrize("timeout", [0, -1, "10", True, float("inf"), float("nan")])
def test_a_timeout_that_is_not_a_time_limit_is_refused(timeout):
    with pytest.raises(ToolDefinitionError, match=r"timeout=.* is not a time limit\. Give seconds"):

        @tool(timeout=timeout)
        def fit() -> None: ...


def test_confirm_hook_sees_the_validated_call_and_can_decline():
    seen = []

    def confirm(call: ToolCall) -> bool:
        seen.append(call.arguments)
        return False

    result = run_tool_call(ToolCall("forecast", {"city": "x", "days": "2"}), {"forecast": forecast}, confirm=confirm)

    assert seen == [{"city": "x", "days": 2}]
    assert result.status == "declined"


def test_a_confirm_hook_that_raises_leaves_the_call_not_run_and_says_why():
    ran = []

    @tool
    def delete(path: str) -> None:
        ran.append(path)

    def confirm(call: ToolCall) -> bool:
        raise EOFError("EOF when reading a line")  # input() in a kernel without stdin

    result = run_tool_call(ToolCall("delete", {"path": "/data"}), {"delete": delete}, confirm=confirm)

    assert (result.status, ran) == ("not_run", [])
    assert "the confirm hook raised EOFError: EOF when reading a line. Fix the hook" in result.error


def test_bytes_are_written_as_their_text_or_a_note_of_their_size():
    # They used to reach the model as str(bytes): "b'3 files\\n'", or b'\x89PNG...' escapes filling its context.
    def shell(kind: str) -> object:
        if kind == "output":
            return b"3 files\n"  # subprocess.check_output(...)
        return {"stdout": bytearray("北京".encode()), "image": b"\x89PNG\r\n\x1a\n\x00\x00"}

    assert _run(shell, {"kind": "output"}).content == "3 files\n"
    assert (
        _run(shell, {"kind": "mixed"}).content
        == '{"stdout": "北京", "image": "(10 bytes of binary data, not shown)"}'
    )


# What tools hand back that is not UTF-8 text: a web or JSON tool's text cut inside an emoji's UTF-16 pair, and
# os.listdir of a file name written in Latin-1 (Python keeps the byte 0xE9 as the lone surrogate U+DCE9)
CUT_EMOJI, NOT_UTF8_NAME = "cut emoji \ud83d", b"caf\xe9.txt".decode("utf-8", "surrogateescape")


def test_lone_surrogates_in_a_result_become_the_replacement_character_and_the_prompt_encodes(scripted, tokenizer):
    @tool
    def list_files() -> list:
        """The files here."""
        return [CUT_EMOJI, NOT_UTF8_NAME]

    @tool
    def fail() -> str:
        """Always fails."""
        raise OSError(f"cannot open {NOT_UTF8_NAME}")

    conversation, generator = scripted(
        ["list_files\n{}<|observation|>", "fail\n{}<|observation|>", "\nTwo files."], tools=[list_files, fail]
    )

    response = conversation.send("What is here?")
    response.finish()

    assert response.finish_reason == "stop" and response.text() == "Two files."
    listed, failed = response.tool_results()
    assert listed.content == '["cut emoji \ufffd", "caf\ufffd.txt"]' and listed.value == [CUT_EMOJI, NOT_UTF8_NAME]
    assert failed.status == "error" and failed.error.endswith("cannot open caf\ufffd.txt")
    assert "cannot open caf\ufffd.txt" in failed.content
    seen = tokenizer.decode(generator.prompts[2])  # what the model read: both results, as valid text
    assert '["cut emoji \ufffd", "caf\ufffd.txt"]' in seen and "cannot open caf\ufffd.txt" in seen
