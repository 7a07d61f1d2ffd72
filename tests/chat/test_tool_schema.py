"""Tool schemas from type hints and docstrings (Google, NumPy, reST)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import pathlib
import sys
import typing
from typing import Annotated, Literal, Optional

import pytest

from glm_nb.tools import Tool, ToolCall, ToolDefinitionError, parse_docstring, parse_tool_calls, run_tool_call, tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def test_scalar_hints_become_json_types():
    def f(a: str, b: int, c: float, d: bool) -> None:
        """Do it."""

    properties = Tool.from_function(f).parameters["properties"]

    assert [properties[k]["type"] for k in "abcd"] == ["string", "integer", "number", "boolean"]


def test_containers_literal_enum_optional_and_defaults():
    def f(
        tags: list[str],
        table: dict[str, int],
        mode: Literal["fast", "slow"],
        unit: Unit = Unit.CELSIUS,
        limit: Optional[int] = None,  # noqa: UP045  (typing.Union, not types.UnionType)
        plain: dict = {},  # noqa: B006
    ) -> None:
        """Summary."""

    schema = Tool.from_function(f).parameters

    assert schema["required"] == ["tags", "table", "mode"]
    props = schema["properties"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["table"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"}
    assert props["limit"] == {"type": "integer", "nullable": True, "default": None}
    assert props["plain"] == {"type": "object", "default": {}}


def test_a_parameter_defaulting_to_none_takes_null_too():
    def f(tags: list[Unit] = None, name: str = None) -> str:  # type: ignore[assignment]
        """Summary."""
        return repr((tags, name))

    t = Tool.from_function(f)
    result = run_tool_call(ToolCall("f", {"tags": None, "name": None}), {"f": t})

    assert t.parameters["properties"]["name"] == {"type": "string", "nullable": True, "default": None}
    assert (result.status, result.content) == ("ok", "(None, None)")
    assert t(tags=["celsius"]) == "([<Unit.CELSIUS: 'celsius'>], None)"


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    unit: Unit = Unit.CELSIUS


@dataclasses.dataclass
class Box:
    corner: Point
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Node:
    child: Node | None = None


def test_a_dataclass_parameter_is_an_object_of_its_fields_and_arrives_as_an_instance():
    def measure(box: Box) -> str:
        """Measure."""
        return repr(box)

    t = Tool.from_function(measure)
    result = run_tool_call(ToolCall("measure", {"box": {"corner": {"x": "1.5", "unit": "celsius"}}}), {"measure": t})
    extra = run_tool_call(ToolCall("measure", {"box": {"corner": {"x": 1, "z": 0}}}), {"measure": t})

    assert t.parameters["properties"]["box"] == {
        "type": "object",
        "properties": {
            "corner": {
                "type": "object",
                "properties": {
                    "x": {"type": "number"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                },
                "required": ["x"],
                "additionalProperties": False,
            },
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["corner"],
        "additionalProperties": False,
    }
    assert result.content == "Box(corner=Point(x=1.5, unit=<Unit.CELSIUS: 'celsius'>), tags=[])"
    assert t(box=Box(Point(2.0))) == "Box(corner=Point(x=2.0, unit=<Unit.CELSIUS: 'celsius'>), tags=[])"
    assert extra.status == "invalid" and "unexpected argument 'box.corner.z'; allowed: x, unit" in extra.content


def test_a_dataclass_that_contains_itself_is_refused_saying_what_to_do():
    def walk(node: Node) -> None: ...

    with pytest.raises(ToolDefinitionError, match="dataclass Node contains itself.*as parameters, or a dict"):
        Tool.from_function(walk)


@dataclasses.dataclass
class Scaled:
    value: float
    factor: dataclasses.InitVar[float] = 1.0

    def __post_init__(self, factor):
        self.value *= factor


@dataclasses.dataclass
class Tagged:
    name: str
    tag: dataclasses.InitVar = None  # written bare, without a type


@pytest.mark.parametrize("cls, name", [(Scaled, "factor"), (Tagged, "tag")])
def test_a_dataclass_with_an_init_var_is_refused_saying_what_to_do(cls, name):
    def store(item) -> None: ...

    store.__annotations__ = {"item": cls, "return": None}
    with pytest.raises(ToolDefinitionError, match=f"dataclass {cls.__name__} takes {name} as InitVar.*make it a"):
        Tool.from_function(store)


@dataclasses.dataclass
class Query:
    text: str
    LIMIT: typing.ClassVar[int] = 10  # the class's own constant, no field


def test_a_dataclass_with_a_class_variable_takes_its_fields_only():
    def find(query: Query) -> str:
        """Find."""
        return f"{query.text}:{query.LIMIT}"

    t = Tool.from_function(find)

    assert t.parameters["properties"]["query"]["properties"] == {"text": {"type": "string"}}
    assert run_tool_call(ToolCall("find", {"query": {"text": "a"}}), {"find": t}).content == "a:10"


def test_union_of_two_types_is_any_of():
    def f(x: int | str) -> None: ...

    assert Tool.from_function(f).parameters["properties"]["x"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}


def test_annotated_description_wins_over_docstring():
    def f(city: Annotated[str, "The city, in English"], days: int = 1) -> None:
        """Forecast.

        Args:
            city: ignored, Annotated says it better.
            days: How many days ahead.
        """

    t = Tool.from_function(f)

    assert t.description == "Forecast."
    assert t.parameters["properties"]["city"]["description"] == "The city, in English"
    assert t.parameters["properties"]["days"]["description"] == "How many days ahead."


def test_google_docstring():
    doc = parse_docstring(
        """Get the weather.

        Longer text
        over two lines.

        Args:
            city (str): The city
                name.
            unit: Temperature unit.

        Returns:
            str: the weather.
        """
    )

    assert doc.description == "Get the weather.\n\nLonger text over two lines."
    assert doc.params == {"city": "The city name.", "unit": "Temperature unit."}


def test_numpy_docstring():
    doc = parse_docstring(
        """Distance.

        Parameters
        ----------
        x, y : float
            Coordinates
            in metres.
        label : str
            A label.

        Returns
        -------
        float
            The distance.
        """
    )

    assert doc.description == "Distance."
    assert doc.params == {"x": "Coordinates in metres.", "y": "Coordinates in metres.", "label": "A label."}


def test_rest_docstring():
    doc = parse_docstring(
        """Search.

        :param query: What to look
            for.
        :param int limit: How many results.
        :type query: str
        :returns: results
        """
    )

    assert doc.description == "Search."
    assert doc.params == {"query": "What to look for.", "limit": "How many results."}


def test_a_chinese_docstring_keeps_its_lines_unspaced_and_reads_full_width_colons():
    doc = parse_docstring(
        """查询某个城市的天气，
        返回气温与天气状况。

        Args：
            城市 (str)：城市名称，
                例如“北京”。
            单位: 温度单位, in
                Celsius or Fahrenheit.
        """
    )

    assert doc.description == "查询某个城市的天气，返回气温与天气状况。"  # no space where the line broke
    assert doc.params == {"城市": "城市名称，例如“北京”。", "单位": "温度单位, in Celsius or Fahrenheit."}


def test_decorator_keeps_the_function_callable_and_converts_enums():
    @tool
    def describe(unit: Unit, note: str = "") -> str:
        """Describe a unit."""
        return f"{unit.name}{note}"

    assert isinstance(describe, Tool)
    assert describe(unit="fahrenheit") == "FAHRENHEIT"
    assert describe(Unit.CELSIUS, note="!") == "CELSIUS!"


def test_enums_inside_lists_and_dict_values_are_converted_too():
    @tool
    def describe(units: list[Unit], by_city: dict[str, Unit], maybe: set[Unit] | None = None) -> str:
        """Describe units."""
        return repr((units, by_city, maybe))

    assert describe(units=["celsius"], by_city={"Paris": "celsius"}, maybe=["fahrenheit"]) == repr(
        ([Unit.CELSIUS], {"Paris": Unit.CELSIUS}, {Unit.FAHRENHEIT})
    )
    assert describe(units=[], by_city={}) == repr(([], {}, None))


def test_decorator_with_name_and_description():
    @tool(name="lookup", description="Look a word up.")
    def f(word: str) -> str:
        return word

    assert (f.name, f.description) == ("lookup", "Look a word up.")


def test_to_dict_and_from_dict_round_trip():
    @tool
    def f(word: str) -> str:
        """Echo."""
        return word

    again = Tool.from_dict(f.to_dict())

    assert again == f
    assert again.function is None
    assert Tool.from_dict(f.to_dict()["function"]) == f


def test_lambdas_need_a_name():
    with pytest.raises(ToolDefinitionError, match="lambda"):
        Tool.from_function(lambda x: x)


def test_missing_hint_varargs_and_unsupported_types_say_what_to_do():
    def no_hint(x) -> None: ...

    def var(*args: int) -> None: ...

    def odd(x: complex) -> None: ...

    def options(**extra: int) -> None: ...

    with pytest.raises(ToolDefinitionError, match=r"annotate it, e.g. `x: str`"):
        Tool.from_function(no_hint)
    with pytest.raises(ToolDefinitionError, match=r"takes \*args: a tool needs named parameters"):
        Tool.from_function(var)
    with pytest.raises(ToolDefinitionError, match=r"takes \*\*extra: .* name each one with a type hint"):
        Tool.from_function(options)
    with pytest.raises(ToolDefinitionError, match="use str, int"):
        Tool.from_function(odd)


def test_from_dict_rejects_a_non_tool():
    with pytest.raises(ToolDefinitionError, match="Not a tool description"):
        Tool.from_dict({"type": "function"})


def test_a_partial_or_a_callable_object_is_described_by_what_it_wraps():
    import functools

    from glm_nb.tools.schema import function_schema

    def weather(city: str, unit: str = "C") -> str:
        """Current weather.

        Args:
            city: City name.
            unit: C or F.
        """
        return city

    class Forecast:
        def __call__(self, city: str, days: int) -> str:
            """A forecast.

            Args:
                city: City name.
                days: How many days.
            """
            return city

    partial = function_schema(functools.partial(weather, unit="F"), name="weather_f")
    assert partial.parameters["required"] == ["city"]
    assert partial.parameters["properties"]["unit"]["default"] == "F"  # what the partial binds is its default
    assert partial.parameters["properties"]["city"] == {"type": "string", "description": "City name."}
    assert partial.description.startswith("Current weather")
    forecast = function_schema(Forecast(), name="forecast")
    assert forecast.parameters["required"] == ["city", "days"]
    assert forecast.parameters["properties"]["days"]["type"] == "integer"


def test_a_partial_is_named_after_its_function_and_a_callable_object_is_not_called_a_lambda():
    # Both used to be refused with "A lambda has no name", which neither of them is.
    import functools

    def weather(city: str, unit: str = "C") -> str:
        """Weather."""
        return city

    class Forecast:
        def __call__(self, city: str) -> str:
            """A forecast."""
            return city

    assert Tool.from_function(functools.partial(weather, unit="F")).name == "weather"
    with pytest.raises(ToolDefinitionError, match=r"^A Forecast object has no name: give the tool one with"):
        Tool.from_function(Forecast())


@pytest.mark.parametrize(
    "name, readable",
    [
        ("get_weather", True),
        ("files.read", True),
        ("get-weather", True),
        ("_private", True),
        ("天气", True),
        ("2fa_code", False),
        ("get weather", False),
        ("weather:get", False),
        ("files/read", False),
    ],
)
def test_a_tool_name_is_accepted_exactly_when_the_call_parser_reads_it(name, readable):
    def f(city: str) -> str:
        return city

    spec = {"name": name, "parameters": {"type": "object", "properties": {}}}
    parsed = parse_tool_calls(f'{name}\n{{"city": "Paris"}}')

    assert [call.name for call in parsed] == ([name] if readable else [])
    if readable:
        assert Tool.from_function(f, name=name).name == Tool.from_dict(spec).name == name
    else:
        with pytest.raises(ToolDefinitionError, match="letters, digits, '_', '.' or '-'"):
            Tool.from_function(f, name=name)
        with pytest.raises(ToolDefinitionError, match="cannot be read back"):
            Tool.from_dict(spec)


def test_set_and_tuple_parameters_get_their_container():
    @tool
    def collect(
        tags: set[str], points: tuple[int, ...], pair: tuple[str, int], frozen: frozenset, units: tuple[Unit, ...]
    ) -> tuple:
        return tags, points, pair, frozen, units

    got = collect(tags=["a", "a"], points=[1, 2], pair=["x", 1], frozen=[3], units=["celsius"])

    assert got == ({"a"}, (1, 2), ("x", 1), frozenset({3}), (Unit.CELSIUS,))


def test_a_method_decorated_in_its_class_body_is_told_to_use_a_bound_method():
    with pytest.raises(ToolDefinitionError, match=r"bound method instead, `tool\(obj.lookup\)`"):

        class Dictionary:
            @tool
            def lookup(self, word: str) -> str:
                return word


def test_a_static_method_or_a_bound_method_can_be_a_tool():
    class Dictionary:
        @tool
        @staticmethod
        def define(word: str) -> str:
            """Define a word."""
            return word.upper()

        def lookup(self, word: str) -> str:
            return word

    assert Dictionary.define(word="hi") == "HI"
    assert Dictionary.define.parameters["required"] == ["word"]
    assert tool(Dictionary().lookup)(word="x") == "x"


class _City(typing.TypedDict):
    city: str


class Place(_City, total=False):  # `city` required, `unit` not (typing.NotRequired is Python 3.11+)
    unit: Unit


def test_a_typeddict_parameter_is_an_object_of_its_keys_and_arrives_as_a_dict():
    # It used to be refused: "cannot describe type <class 'Place'> as JSON".
    def weather(place: Place) -> str:
        """Weather."""
        return f"{place['city']} in {place['unit'].name}"

    weather_tool = Tool.from_function(weather)
    result = run_tool_call(
        ToolCall("weather", {"place": {"city": "Rome", "unit": "fahrenheit"}}), {"weather": weather_tool}
    )

    assert weather_tool.parameters["properties"]["place"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    assert (result.status, result.content) == ("ok", "Rome in FAHRENHEIT")


class Trip(typing.TypedDict):
    city: str
    days: typing.NotRequired[int]  # a string here (`from __future__ import annotations`), which Python 3.11 misreads


@pytest.mark.skipif(sys.version_info < (3, 11), reason="typing.NotRequired is Python 3.11+")
def test_a_typeddict_key_marked_not_required_is_optional_under_string_annotations():
    def plan(trip: Trip) -> None:
        """Plan."""

    assert Tool.from_function(plan).parameters["properties"]["trip"]["required"] == ["city"]


def test_path_and_date_parameters_are_strings_that_arrive_as_their_types():
    # They used to be refused ("cannot describe type <class 'pathlib.Path'> as JSON"), Path the most common of hints.
    def count_lines(path: pathlib.Path, since: datetime.date, at: datetime.datetime) -> str:
        """Count.

        Args:
            path: The log file.
        """
        return f"{type(path).__name__} {path.name} {since.year} {at.hour}"

    count_tool = Tool.from_function(count_lines)
    call = ToolCall("count_lines", {"path": "logs/a.log", "since": "2025-04-14", "at": "2025-04-14T09:30:00"})
    result = run_tool_call(call, {"count_lines": count_tool})

    assert count_tool.parameters["properties"] == {
        "path": {"type": "string", "description": "The log file."},
        "since": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
    }
    assert (result.status, result.content) == ("ok", f"{type(pathlib.Path()).__name__} a.log 2025 9")


def test_a_default_json_cannot_write_is_left_out_of_the_schema_not_written_as_nan():
    import json

    def scale(x: float, factor: float = float("nan"), limit: float = float("inf"), step: float = 0.5) -> float:
        """Scale x."""
        return x

    parameters = Tool.from_function(scale).parameters
    json.loads(json.dumps(parameters), parse_constant=lambda name: pytest.fail(f"{name} in the schema"))
    properties = parameters["properties"]
    assert "default" not in properties["factor"] and "default" not in properties["limit"]
    assert properties["step"]["default"] == 0.5
