"""What fields a record type has, for describing it to the model and converting what the model sends back: a
dataclass (the fields `cls(...)` takes), a TypedDict (its keys, Required / NotRequired read from the hints) and a
pydantic model (its fields by alias, told by its API: pydantic is not imported here).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, get_args, get_origin

from .errors import ToolDefinitionError

__all__ = [
    "Field", "NO_DEFAULT", "init_fields", "is_model", "is_typeddict", "model_fields", "type_hints",
    "typeddict_fields", "typeddict_hints",
]  # fmt: skip

# A record's field: (name, type hint, required, default); the default is only read when not required.
Field = tuple[str, Any, bool, Any]


def typeddict_fields(cls: type) -> list[Field]:
    marked = type_hints(cls)
    return [
        (name, hint, _required_key(cls, name, marked[name]), NO_DEFAULT)
        for name, hint in typeddict_hints(cls).items()
    ]


def _required_key(cls: type, name: str, hint: Any) -> bool:
    """Whether a TypedDict needs key `name`: as its hint marks it (Required, NotRequired), else by `total`. Read
    from the hint, as Python < 3.12 fills `__required_keys__` wrongly under `from __future__ import annotations`."""
    mark = getattr(get_origin(hint), "_name", None)
    return mark == "Required" or (mark != "NotRequired" and name in cls.__required_keys__)


def typeddict_hints(cls: type) -> dict[str, Any]:
    """A TypedDict's field types, without the Required / NotRequired / ReadOnly that mark its keys."""
    hints = type_hints(cls)
    for name, hint in hints.items():
        while getattr(get_origin(hint), "_name", None) in ("Required", "NotRequired", "ReadOnly"):
            hint = get_args(hint)[0]
        hints[name] = hint
    return hints


def is_typeddict(tp: Any) -> bool:
    """A TypedDict class, typing's or typing_extensions' (`typing.is_typeddict` knows only typing's own)."""
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def is_model(tp: Any) -> bool:
    """A pydantic (v2) model class, told by its API: pydantic is not imported here."""
    return isinstance(tp, type) and all(hasattr(tp, a) for a in ("model_fields", "model_validate", "model_config"))


def model_fields(cls: Any) -> list[Field]:
    """A pydantic model's fields as the model writes them in JSON (by alias, where one is set), each with its
    `Field(description=...)`."""
    return [
        (f.alias or name, Annotated[f.annotation, f.description] if f.description else f.annotation,
         f.is_required(), f.default)
        for name, f in cls.model_fields.items()
    ]  # fmt: skip


NO_DEFAULT = object()  # not JSON: no default is written


def type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError) as e:
        raise ToolDefinitionError(
            f"cannot read the field types of {cls.__name__} ({e}); define it at module level with plain type hints."
        ) from None


def init_fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """The fields `cls(...)` takes, with their type hints."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError) as e:
        raise ToolDefinitionError(
            f"cannot read the field types of dataclass {cls.__name__} ({e}); define it at module level with "
            "plain type hints."
        ) from None
    fields = [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]
    others = [n for n, hint in hints.items() if isinstance(hint, dataclasses.InitVar) or hint is dataclasses.InitVar]
    if others:  # InitVar pseudo-fields: `cls(...)` needs them, but they are no fields to describe (a ClassVar is
        # none: the class's own)
        raise ToolDefinitionError(
            f"dataclass {cls.__name__} takes {', '.join(others)} as InitVar, which a JSON schema here cannot "
            "describe; make it a field, or give the tool plain parameters."
        )
    return fields
