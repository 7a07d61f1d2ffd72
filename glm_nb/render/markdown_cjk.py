"""Markdown that reads Chinese, Japanese and Korean text right: a markdown-it plugin, `md.use(cjk_friendly)`.

- Emphasis follows the CommonMark CJK-friendly amendment (github.com/tats-u/markdown-cjk-friendly,
  specification.md). Plain CommonMark leaves `**注意：**这是` as literal asterisks: a run after punctuation and
  before a letter cannot close. Here a CJK character beside the run counts as punctuation does, and CJK
  punctuation inside it no longer blocks it. The amendment's variation selectors are not handled.
- A line break inside a paragraph between two Chinese or Japanese characters (`glm_nb.cjk`) is dropped: a
  browser draws it as a space, and those scripts have no spaces between words (CSS Text 3's segment break rule,
  which Chromium does not apply). Korean spaces its words, so its line breaks stay.
"""

from __future__ import annotations

import unicodedata

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.state_inline import Scanned

from ..cjk import joins_without_space

__all__ = ["cjk_friendly"]

_HANGUL = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF))
_EMOJI = ((0x231A, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))  # wide, but not writing


def cjk_friendly(md: MarkdownIt) -> None:
    md.inline = _CjkFriendlyInline.like(md.inline)
    md.core.ruler.push("cjk_line_breaks", _drop_line_breaks_between_cjk)


class _CjkFriendlyStateInline(StateInline):
    def scanDelims(self, start: int, canSplitWord: bool) -> Scanned:  # noqa: N802, N803 (markdown-it's names)
        """markdown-it's scan of a `*`, `_` or `~` run, with the amendment's flanking rules."""
        end = start
        while end < self.posMax and self.src[end] == self.src[start]:
            end += 1
        last = self.src[start - 1] if start > 0 else " "  # the start and end of the line count as whitespace
        after = self.src[end] if end < self.posMax else " "
        last_space, after_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(after))
        last_punct, after_punct = _is_punct(last), _is_punct(after)
        last_cjk, after_cjk = _is_cjk(last), _is_cjk(after)
        left = not after_space and (not (after_punct and not after_cjk) or last_space or last_punct or last_cjk)
        right = not last_space and (not (last_punct and not last_cjk) or after_space or after_punct or after_cjk)
        can_open = left and (canSplitWord or not right or last_punct)
        can_close = right and (canSplitWord or not left or after_punct)
        return Scanned(can_open, can_close, end - start)


class _CjkFriendlyInline(ParserInline):
    """markdown-it's inline parser (the same rules), scanning delimiter runs with `_CjkFriendlyStateInline`."""

    @classmethod
    def like(cls, inline: ParserInline) -> _CjkFriendlyInline:
        parser = cls()
        vars(parser).update(vars(inline))  # the preset's rules (and terminator characters), as configured
        return parser

    def parse(self, src, md, env, tokens):
        state = _CjkFriendlyStateInline(src, md, env, tokens)
        self.tokenize(state)
        for rule in self.ruler2.getRules(""):
            rule(state)
        return state.tokens


def _drop_line_breaks_between_cjk(state: StateCore) -> None:
    for token in state.tokens:
        if token.type != "inline" or not token.children:
            continue
        kids = token.children
        dropped = {
            i for i in range(1, len(kids) - 1) if kids[i].type == "softbreak" and _joins(kids[i - 1], kids[i + 1])
        }
        token.children = [kid for i, kid in enumerate(kids) if i not in dropped]


def _joins(before, after) -> bool:
    """Whether text tokens `before` and `after` meet between two Chinese or Japanese characters."""
    if before.type != "text" or after.type != "text" or not before.content or not after.content:
        return False
    return joins_without_space(before.content, after.content)


def _is_punct(char: str) -> bool:
    return isMdAsciiPunct(ord(char)) or isPunctChar(char)


def _is_cjk(char: str) -> bool:
    """East Asian Wide, Fullwidth or Halfwidth and not an emoji, or Hangul (the amendment's "CJK character")."""
    if _is_hangul(char):  # some of its jamo are narrow
        return True
    code = ord(char)
    emoji = any(low <= code <= high for low, high in _EMOJI)
    return unicodedata.east_asian_width(char) in ("W", "F", "H") and not emoji


def _is_hangul(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _HANGUL)
