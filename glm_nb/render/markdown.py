"""Model markdown to HTML, safely: raw HTML in the text is escaped, never passed through.

markdown-it-py with `html=False` escapes tags the model writes; its link validator refuses `javascript:` and
similar schemes. Images become plain links (an `<img>` would make the page fetch a URL the model chose, which a
prompt injection could use to leak data). Fenced `svg` and `html` blocks are rendered as artifacts in place
(sanitized SVG, sandboxed frame), with their source under a collapsed toggle.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

from .artifacts import Artifact

__all__ = ["markdown_html", "escape_markdown_html"]


def _parser(artifacts: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
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


def markdown_html(text: str, *, artifacts: bool = True) -> str:
    """HTML for `text`; `artifacts=False` shows svg/html blocks as code only."""
    return (_WITH_ARTIFACTS if artifacts else _PLAIN).render(text)


def escape_markdown_html(text: str) -> str:
    """`text` for a text/markdown output: `<` outside fenced code is escaped, so a frontend that
    renders raw HTML in markdown shows the model's tags as text."""
    lines = text.split("\n")
    fenced = [False] * len(lines)
    for token in MarkdownIt("commonmark").parse(text):
        if token.type in ("fence", "code_block") and token.map:
            for i in range(token.map[0], min(token.map[1], len(lines))):
                fenced[i] = True
    return "\n".join(line if inside else line.replace("<", "&lt;") for line, inside in zip(lines, fenced))
