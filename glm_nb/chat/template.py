"""Render prompts with the checkpoint's own Jinja chat template, exactly as transformers does.

DESIGN.md decision 4: the checkpoint's template renders prompts (GLM-4, Z1 and Rumination ship different ones);
FORMAT.md, "Prompt format", shows what GLM-4-0414's produces. Templates come from model folders, i.e. from
strangers, so they run in Jinja's `ImmutableSandboxedEnvironment`, configured as transformers'
`apply_chat_template` configures it (trim_blocks, lstrip_blocks, loopcontrols, a `tojson` that does not
HTML-escape and accepts indent / ensure_ascii / separators / sort_keys, `raise_exception`, `strftime_now`, and a
no-op `{% generation %}` block), so that the same messages give the same text, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import ChatTemplateError

__all__ = ["ChatTemplate"]


class ChatTemplate:
    """A compiled chat template. `render(messages, tools=..., add_generation_prompt=True)` -> prompt text."""

    def __init__(self, source: str):
        if not isinstance(source, str) or not source.strip():
            raise ChatTemplateError(
                "The chat template is empty. Pass the model's template (tokenizer_config.json's 'chat_template')."
            )
        self.source = source
        self._template = _compile(source)

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        **variables: Any,
    ) -> str:
        """The prompt for `messages` (template dicts: role, content, optional metadata) and `tools` (OpenAI dicts).

        Keys whose value is None are dropped first, as transformers does (templates test presence, not None).
        """
        plain = [{k: v for k, v in message.items() if v is not None} for message in messages]
        try:
            return self._template.render(
                messages=plain,
                tools=list(tools) if tools else None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **variables,
            )
        except jinja2.TemplateError as e:
            raise ChatTemplateError(
                f"The chat template failed while rendering: {e}. The messages may not suit this model's template "
                "(e.g. a role it does not know); check them, or pass another template."
            ) from e

    def __repr__(self) -> str:
        return f"ChatTemplate({len(self.source)} chars)"


class _GenerationBlock(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` renders its body: transformers uses it only to mark assistant text."""

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller: Any) -> str:
        return caller()


def _tojson(
    value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
):
    # Jinja's own tojson HTML-escapes (<, >, &, ') and takes only `indent`; prompts need the plain JSON.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


@lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationBlock, jinja2.ext.loopcontrols]
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = _strftime_now
    try:
        return environment.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise ChatTemplateError(
            f"The chat template does not compile (line {e.lineno}: {e.message}). Fix it, or pass the model's "
            "original template."
        ) from e
