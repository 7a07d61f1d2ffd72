"""What a research session leaves: its report, the sources the report cites, and what it found however it ended.

The notes `Report.markdown()` adds (the turns ran out, the report was cut off, no report came) are written in the
question's language, English or Chinese, as the report itself most likely is.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from ...cjk import joins_without_space

__all__ = ["CutOff", "Language", "Report", "Source", "cited_ids"]

Language = Literal["en", "zh"]
CutOff = Literal["max_new_tokens", "context", "interrupted"]  # a token limit, or Stop / Ctrl-C, ended it midway
_CITATION = re.compile(r"【(\d+)†[^】]*】")  # 【3†source】 (FORMAT.md); group 1: the result number


def cited_ids(text: str) -> list[int]:
    """The result numbers `text` cites, each once, in order of first citation."""
    return list(dict.fromkeys(int(n) for n in _CITATION.findall(text)))


@dataclass(frozen=True)
class Source:
    id: int | None  # its result number; None for a page opened by its address
    title: str
    url: str


@dataclass(frozen=True)
class Report:
    text: str  # the final report, citations kept (as far as it got, when cut off); "" when none was written
    sources: tuple[Source, ...]  # the sources its citations point to, in order of first citation
    found: tuple[Source, ...] = ()  # every result the searches found, cited or not, by number
    read: tuple[Source, ...] = ()  # the pages the research read (click, open), in order
    turn_limit: int | None = None  # max_turns, when the research used them all before the model called finish
    cut_off: CutOff | None = None  # what ended the research midway: a token limit, or an interrupt (Stop, Ctrl-C)
    language: Language = "en"  # the question's: the notes of `markdown()` are written in it

    @property
    def budget_spent(self) -> bool:
        """Whether the turns ran out before the model called finish (a report then came when it was told so)."""
        return self.turn_limit is not None

    def markdown(self) -> str:
        """The report followed by a numbered list of its sources, and a line saying so when the turns ran out, or
        a token limit or an interrupt cut it off. With no report (however the research ended: also a `finish`
        followed by nothing), why, and what the research found instead."""
        notes = _NOTES[self.language]
        if not self.text.strip():  # the user would see nothing at all: say why, and what was found
            return self._found_markdown()
        text = self.text
        if self.sources:
            text += f"\n\n**{notes.sources}**\n\n" + "\n".join(_source_lines(self.sources))
        known = {s.id for s in self.sources + self.found}
        unknown = [i for i in cited_ids(self.text) if i not in known]  # made up: no search gave them
        if unknown:
            text += "\n\n*" + notes.unknown_citations.format(ids="".join(f"【{i}】" for i in unknown)) + "*"
        if self.budget_spent:
            text += "\n\n*" + notes.budget_report.format(ran_out=notes.ran_out.format(n=self.turn_limit)) + "*"
        if self.cut_off:
            text += f"\n\n*{_sentences(notes.cut_report[self.cut_off], notes.advice[self.cut_off])}*"
        return text

    def _found_markdown(self) -> str:
        notes = _NOTES[self.language]
        if self.cut_off:
            why = _sentences(notes.cut_no_report[self.cut_off], notes.advice[self.cut_off])
        elif not self.budget_spent:  # the model ended it (`finish`, or a turn with no text) and wrote nothing
            why = notes.empty_report
        else:
            why = notes.turns_no_report.format(ran_out=notes.ran_out.format(n=self.turn_limit))
        head = f"**{notes.no_report}** {why}"  # a space after the bold even in Chinese: markdown needs it there
        read = {s.url for s in self.read}
        opened = tuple(s for s in self.read if s.id is None)
        lines = _source_lines(self.found + opened, read, notes.read)
        if not lines:
            return f"{head}\n\n{notes.found_nothing}"
        return f"{head}\n\n**{notes.found}**\n\n" + "\n".join(lines)


@dataclass(frozen=True)
class _Notes:
    """What `Report.markdown()` says, in one language. {n}: max_turns; {ran_out}: `ran_out` filled in."""

    sources: str
    found: str
    read: str  # after a page the research read
    found_nothing: str
    no_report: str
    ran_out: str
    budget_report: str  # after a report written once the turns ran out
    turns_no_report: str
    empty_report: str  # the model ended the research with an empty report
    unknown_citations: str  # {ids}: the citations that name no search result
    cut_report: dict[CutOff, str]  # after a report the limit cut off
    cut_no_report: dict[CutOff, str]
    advice: dict[CutOff, str]  # what to do about that limit


_NOTES: dict[Language, _Notes] = {
    "en": _Notes(
        sources="Sources",
        found="What it found",
        read=" · read",
        found_nothing="It found no sources.",
        no_report="No report.",
        ran_out="The research used all its {n} turns (max_turns) before the model called finish",
        budget_report="{ran_out}: the model wrote this report when told its budget was spent.",
        turns_no_report="{ran_out}, and no report was written after that. Allow more turns "
        "(`Rumination(..., max_turns=...)`) or ask a narrower question.",
        empty_report="The model ended the research without writing a report. Run the research again (each run "
        "samples anew) or ask a narrower question.",
        unknown_citations="The report cites {ids}, which no search of this research returned: check those "
        "statements yourself.",
        cut_report={
            "max_new_tokens": "The report is cut off: the model reached its token limit (max_new_tokens) while "
            "writing it.",
            "context": "The report is cut off: the research filled the model's context while it was written.",
            "interrupted": "The report is cut off: the research was interrupted (Stop or Ctrl-C) while it was "
            "written.",
        },
        cut_no_report={
            "max_new_tokens": "The model reached its token limit (max_new_tokens) before it wrote a report.",
            "context": "The research filled the model's context before a report was written.",
            "interrupted": "The research was interrupted (Stop or Ctrl-C) before a report was written.",
        },
        advice={
            "max_new_tokens": "Allow more tokens (`SamplingParams(max_new_tokens=...)`, `-n` in `%%glm_rumination`) "
            "or ask a narrower question.",
            "context": "Read less per page (`Rumination(..., page_chars=2000)`), allow fewer turns "
            "(`max_turns=...`), search fewer or shorter documents, or give the model a longer context "
            "(`%glm_model MODEL --context N` reloads it with room for N tokens).",
            "interrupted": "Run the research again for a whole report.",
        },
    ),
    "zh": _Notes(
        sources="来源",
        found="找到的资料",
        read=" · 已读",
        found_nothing="没有找到任何资料。",
        no_report="没有报告。",
        ran_out="研究用完了全部 {n} 轮（max_turns），模型仍未调用 finish",
        budget_report="{ran_out}：这份报告是模型在被告知预算已用完后写的。",
        turns_no_report="{ran_out}，之后也没有写出报告。可以允许更多轮次（`Rumination(..., max_turns=...)`），"
        "或者把问题问得更具体一些。",
        empty_report="模型结束了研究，但没有写出报告。可以重新运行这次研究（每次运行的采样都不同），"
        "或者把问题问得更具体一些。",
        unknown_citations="报告引用了 {ids}，但这次研究的搜索结果中没有这些编号：请自行核实相关内容。",
        cut_report={
            "max_new_tokens": "报告不完整：模型在写报告时达到了 token 上限（max_new_tokens）。",
            "context": "报告不完整：写报告时，研究的内容占满了模型的上下文。",
            "interrupted": "报告不完整：写报告时研究被中断了（停止或 Ctrl-C）。",
        },
        cut_no_report={
            "max_new_tokens": "模型在写出报告之前就达到了 token 上限（max_new_tokens）。",
            "context": "在写出报告之前，研究的内容就占满了模型的上下文。",
            "interrupted": "在写出报告之前，研究被中断了（停止或 Ctrl-C）。",
        },
        advice={
            "max_new_tokens": "可以允许生成更多 token（`SamplingParams(max_new_tokens=...)`，或 `%%glm_rumination` "
            "的 `-n`），或者把问题问得更具体一些。",
            "context": "可以让每页少读一些（`Rumination(..., page_chars=2000)`）、减少轮次（`max_turns=...`）、"
            "搜索更少或更短的文档，或者给模型更长的上下文（`%glm_model MODEL --context N` 会重新加载模型，"
            "留出 N 个 token 的空间）。",
            "interrupted": "重新运行这次研究可以得到完整的报告。",
        },
    ),
}


def _sentences(first: str, second: str) -> str:
    """Two sentences in a row: a space between English ones, none between Chinese ones."""
    return first + ("" if joins_without_space(first, second) else " ") + second


def _source_lines(sources: Sequence[Source], read: Collection[str] = (), read_mark: str = " · read") -> list[str]:
    """One markdown line per page, with its result numbers; pages in `read` marked so."""
    pages: dict[str, tuple[str, list[int]]] = {}  # a page that two searches found has two numbers: one line
    for s in sources:
        numbers = pages.setdefault(s.url, (s.title, []))[1]
        if s.id is not None:
            numbers.append(s.id)
    lines = []
    for url, (title, ids) in pages.items():
        numbers = "".join(f"【{i}】" for i in ids)
        lines.append(f"- {numbers + ' ' if numbers else ''}[{title}]({url})" + (read_mark if url in read else ""))
    return lines
