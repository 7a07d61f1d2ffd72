"""Model markdown to HTML, safely: raw HTML in the text is escaped, never passed through.

markdown-it-py with `html=False` escapes tags the model writes; its link validator refuses `javascript:` and
similar schemes. A link keeps its URL only for http(s) and mailto, and opens in a new tab without a referrer, as
the lab extension's do: the chat panel draws this HTML straight into JupyterLab's page, where a plain link would
replace JupyterLab with the page the model chose, and another scheme would start whatever program claims it.
Images become such links (an `<img>` would make the page fetch a URL the model chose, which a prompt injection
could use to leak data). Fenced `svg` and `html` blocks are rendered as artifacts in place
(sanitized SVG, sandboxed frame), with their source under a collapsed toggle. Emphasis and line breaks follow
Chinese and Japanese writing, which has no spaces between words (`markdown_cjk.py`).
"""

from __future__ import annotations

import functools
import html
import re
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.common import normalize_url

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
        return f"<a{_link_attributes(token.attrGet('src'))}>[image: {alt}]</a>"

    def link_open(_renderer, tokens, idx, options, env):
        token = tokens[idx]
        href, title = token.attrGet("href"), token.attrGet("title")
        if _FILE_SCHEME.match(str(href or "")):  # its path is its title
            title = None
        title_attribute = f' title="{html.escape(str(title), quote=True)}"' if title else ""
        return f"<a{_link_attributes(href)}{title_attribute}>"

    md.validateLink = _valid_link
    md.add_render_rule("fence", fence)
    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    return md


_LINK_SCHEMES = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)
_FILE_SCHEME = re.compile(r"\s*file:", re.IGNORECASE)


def _valid_link(url: str) -> bool:
    """markdown-it's check, which also refuses `file:` links: a research report's sources are local files,
    `[The KV cache](file:///.../kv-cache.md)`, which then showed as that markdown text. Such a link is kept as its
    text, the path shown on hover (`_link_attributes`); javascript:, vbscript: and data: stay refused."""
    return bool(_FILE_SCHEME.match(url)) or normalize_url.validateLink(url)


def _link_attributes(url: str | float | int | None) -> str:
    """An http(s) or mailto URL's attributes: a new tab, no referrer. A file: URL gets only its path as a title (a
    web page cannot open a local file). Any other (a relative path, a `#fragment`, another scheme) gets none: the
    text stays, as a link that goes nowhere."""
    url = str(url or "")
    if _FILE_SCHEME.match(url):
        return f' title="{html.escape(unquote(urlsplit(url.strip()).path), quote=True)}"'
    if not _LINK_SCHEMES.match(url):
        return ""
    return f' href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer"'


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
    fence it held opens instead): when it does, every line is escaped, code too, as the safe reading.

    A fence left open at the end is closed: an output joins several such pieces (a reply's text parts around its
    tool cards, a chat's turns), and an open fence would swallow what follows it, or be closed by the next piece's
    opening fence, which leaves that piece's code, kept as written, outside any fence: live HTML. Lines end as
    CommonMark ends them (a lone carriage return too): what is escaped is what a renderer reads as a line."""
    text = _LINE_END.sub("\n", text)
    lines = text.split("\n")
    fenced, _ = _fences(text, len(lines))
    escaped = "\n".join(line if inside else _escape_line(line) for line, inside in zip(lines, fenced))
    after, closer = _fences(escaped, len(lines))
    if after != fenced:
        escaped = "\n".join(_escape_line(line) for line in lines)
        _, closer = _fences(escaped, len(lines))
    return escaped + closer


def _fences(text: str, count: int) -> tuple[list[bool], str]:
    """Which lines are inside fenced code (fences included), and what closes a fence still open at the end ("" when
    none is). Indented code is not counted: parsers disagree on it more often, and showing its `<` as `&lt;` costs
    little. A line after the text tells whether a fence is open there (a line after a blank one cannot change how
    the lines before it parse)."""
    fenced, closer = [False] * count, ""
    for token in _BLOCKS.parse(text + _PROBE):
        if token.type == "fence" and token.map:
            for i in range(token.map[0], min(token.map[1], count)):
                fenced[i] = True
            if token.map[1] > count + 1:  # its code takes in the probe line: open at the end of `text`
                closer = "\n" + token.markup
    return fenced, closer


_LINE_END = re.compile(r"\r\n?")
_PROBE = "\n\nx"  # after `count` lines: line `count` blank, line `count + 1` the x


def _escape_line(line: str) -> str:
    return line.replace("<", "&lt;").replace("![", "\\![")
