"""nano-GLM's chat templates: the GLM-4 chat template and its Z1 variant, written for this package.

Both render exactly like the published GLM-4-0414 template (the Z1 one forces `<think>` and strips earlier
thinking, FORMAT.md "GLM-Z1"). `render` runs them the way transformers' `apply_chat_template` does (sandboxed
Jinja with trim_blocks and lstrip_blocks, a `tojson` taking `ensure_ascii`), so the corpus and the evaluation can
render prompts without transformers.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["chat_template", "render"]

_FILES = {"chat": "glm4.jinja", "z1": "glm4_z1.jinja"}


@lru_cache(maxsize=2)
def chat_template(kind: str = "chat") -> str:
    """The template source: `kind` is "chat" (GLM-4) or "z1" (GLM-Z1, thinking forced)."""
    if kind not in _FILES:
        raise ValueError(f"unknown nano-GLM template {kind!r}: use one of {sorted(_FILES)}")
    return resources.files(__package__).joinpath("templates", _FILES[kind]).read_text(encoding="utf-8")


def _tojson(value, ensure_ascii: bool = False, indent=None, separators=None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    return env.from_string(source)


def render(messages, tools=None, *, kind: str = "chat", add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages` (dicts with role/content, tool calls with `metadata`)."""
    return _compile(chat_template(kind)).render(
        messages=list(messages), tools=list(tools) if tools else None, add_generation_prompt=add_generation_prompt
    )
