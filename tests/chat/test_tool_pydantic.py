"""Tools that take and return pydantic models (pydantic is optional: these run where it is installed).

No `from __future__ import annotations` here: the models are local to the tests, and string hints could not find
them."""

import pytest

from glm_nb.tools import Tool, ToolCall, run_tool_call

pydantic = pytest.importorskip("pydantic")


class Order(pydantic.BaseModel):
    item: str = pydantic.Field(description="What to buy.")
    qty: int = 1


def test_a_pydantic_model_parameter_is_an_object_of_its_fields_and_arrives_validated():
    # It used to be refused: "cannot describe type <class 'Order'> as JSON".
    def buy(order: Order) -> str:
        """Buy."""
        return f"{order.qty} x {order.item}"

    buy_tool = Tool.from_function(buy)
    result = run_tool_call(ToolCall("buy", {"order": {"item": "tea", "qty": "2"}}), {"buy": buy_tool})

    assert buy_tool.parameters["properties"]["order"] == {
        "type": "object",
        "properties": {
            "item": {"type": "string", "description": "What to buy."},
            "qty": {"type": "integer", "default": 1},
        },
        "required": ["item"],
        "additionalProperties": False,
    }
    assert (result.status, result.content) == ("ok", "2 x tea")


def test_a_pydantic_model_returned_is_written_as_its_fields():
    # It used to reach the model as str(model), "item='tea' qty=2": not JSON.
    def last_order() -> Order:
        """The last order."""
        return Order(item="tea", qty=2)

    result = run_tool_call(ToolCall("last_order", {}), {"last_order": Tool.from_function(last_order)})

    assert (result.status, result.content) == ("ok", '{"item": "tea", "qty": 2}')


class Handle:
    """Not a type pydantic can write as JSON."""

    def __str__(self) -> str:
        return "handle #7"


class Job(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)

    name: str
    handle: Handle


def test_a_returned_model_pydantic_cannot_write_as_json_is_still_a_result_not_an_error():
    # It was reported as "'start' raised PydanticSerializationError", though the job had started: the model, told
    # the call failed, would start it again.
    started = []

    def start() -> Job:
        """Start the job."""
        started.append(1)
        return Job(name="nightly", handle=Handle())

    result = run_tool_call(ToolCall("start", {}), {"start": Tool.from_function(start)})

    assert (result.status, result.content) == ("ok", '{"name": "nightly", "handle": "handle #7"}')
    assert started == [1]


class Secretive(pydantic.BaseModel):
    name: str

    @pydantic.field_serializer("name")
    def _refuse(self, name: str) -> str:
        raise RuntimeError("no")


def test_a_returned_model_that_cannot_be_dumped_at_all_is_written_as_its_text():
    def whoami() -> Secretive:
        """Who."""
        return Secretive(name="glm")

    result = run_tool_call(ToolCall("whoami", {}), {"whoami": Tool.from_function(whoami)})

    assert (result.status, result.content) == ("ok", "name='glm'")


class Seats(pydantic.BaseModel):
    count: int = pydantic.Field(gt=0)


def test_a_value_pydantic_refuses_is_a_bad_argument_naming_the_field():
    # It was raised inside the call: "'reserve' raised ValidationError: 1 validation error for Seats ...".
    ran = []

    def reserve(seats: Seats) -> str:
        """Reserve."""
        ran.append(seats)
        return "ok"

    result = run_tool_call(ToolCall("reserve", {"seats": {"count": 0}}), {"reserve": Tool.from_function(reserve)})

    assert result.status == "invalid"
    assert result.error == (
        "Bad arguments for 'reserve': 'seats': count: Input should be greater than 0. Fix them and call again."
    )
    assert ran == []
