"""Model markdown to HTML, safely: raw HTML in the text is escaped, never passed through.

markdown-it-py with `html=False` escapes tags the model writes; its link validator refuses `javascript:` and
similar schemes. Images become plain links (an `<img>` would make the page fetch a URL the model chose, which a
prompt injection could use to leak data). Fenced `svg` and `html` blocks are rendered as artifacts in place
(sanitized SVG, sandboxed frame), with their source under a collapsed toggle. Emphasis and line breaks follow
Chinese and Japanese writing, which has no spaces between words (`markdown_cjk.py`).
"""

from __future__ import annotations

import functools
import html

from markdown_it import MarkdownIt

from .artifacts import Artifact
from .markdown_cjk import cjk_friendly

__all__ = ["markdown_html", "escape_markdown_html"]


def _parser(artifacts: bool) -> MarkdownIt:
    md = (
        MarkdownIt("commonmark", {"html": False, "linkify": False})
        .enable(["table", "strikethrough"])
        .use(cjk_friendly)
    )
    default_fence = md.renderer.rules["fence"]

    def fence(_renderer, tokens, idx, options, env):
        token = tokens[idx]
        language = token.info.split(maxsplit=1)[0].lower() if token.info else ""
        if artifacts and language in ("svg", "html"):
            artifact = Artifact.from_block(language, token.content)
            source = html.escape(token.content)
            return (
                f'<div class="glm-nb-artifact">{artifact.html()}<details><summary>{language} source</summary>'
                f"<pre><code>{source}</code></pre></details></div>"
            )
        return default_fence(tokens, idx, options, env)

    def image(_renderer, tokens, idx, options, env):
        token = tokens[idx]
        alt = html.escape(token.content or "image")
        src = html.escape(token.attrGet("src") or "", quote=True)
        return f'<a href="{src}" target="_blank" rel="noopener noreferrer">[image: {alt}]</a>'

    md.add_render_rule("fence", fence)
    md.add_render_rule("image", image)
    return md


_WITH_ARTIFACTS = _parser(artifacts=True)
_PLAIN = _parser(artifacts=False)
# Where fences are is a block-level question: without inline parsing, a parse takes a fraction of the time (a
# streaming record's text/markdown is made several times a second, from the whole answer so far).
_BLOCKS = MarkdownIt("commonmark")
_BLOCKS.core.ruler.disable("inline")


def markdown_html(text: str, *, artifacts: bool = True) -> str:
    """HTML for `text`; `artifacts=False` shows svg/html blocks as code only."""
    return _WITH_ARTIFACTS.render(text) if artifacts else _plain_html(text)


# A streaming record renders its finished parts (a Z1 thinking) again at each snapshot. Only HTML without artifacts
# is kept: an artifact's frame gets a fresh id each time, and two outputs sharing one would find each other's.
@functools.lru_cache(maxsize=32)
def _plain_html(text: str) -> str:
    return _PLAIN.render(text)


@functools.lru_cache(maxsize=32)
def escape_markdown_html(text: str) -> str:
    """`text` for a text/markdown output, which a frontend may render with raw HTML on: `<` is escaped outside
    fenced code, so the model's tags show as text, and images become links (`![a](u)` -> `\\![a](u)`), so nothing
    is fetched. Escaping a line can change what is code (an escaped `<div>` no longer opens an HTML block, and a
    fence it held opens instead): when it does, every line is escaped, code too, as the safe reading."""
    lines = text.split("\n")
    fenced = _fenced_lines(text, len(lines))
    escaped = "\n".join(line if inside else _escape_line(line) for line, inside in zip(lines, fenced))
    if _fenced_lines(escaped, len(lines)) != fenced:
        return "\n".join(_escape_line(line) for line in lines)
    return escaped


def _fenced_lines(text: str, count: int) -> list[bool]:
    """Which lines are inside fenced code (fences included). Indented code is not counted: parsers disagree on it
    more often, and showing its `<` as `&lt;` costs little."""
    fenced = [False] * count
    for token in _BLOCKS.parse(text):
        if token.type == "fence" and token.map:
            for i in range(token.map[0], min(token.map[1], count)):
                fenced[i] = True
    return fenced


def _escape_line(line: str) -> str:
    return line.replace("<", "&lt;").replace("![", "\\![")
