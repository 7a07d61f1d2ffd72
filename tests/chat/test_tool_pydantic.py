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
