"""What a research session leaves: its report, the sources the report cites, and what it found however it ended."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = ["Report", "Source"]


@dataclass(frozen=True)
class Source:
    id: int | None  # its result number; None for a page opened by its address
    title: str
    url: str


@dataclass(frozen=True)
class Report:
    text: str  # the final report, citations kept; "" when none was written
    sources: tuple[Source, ...]  # the sources its citations point to, in order of first citation
    found: tuple[Source, ...] = ()  # every result the searches found, cited or not, by number
    read: tuple[Source, ...] = ()  # the pages the research read (click, open), in order
    turn_limit: int | None = None  # max_turns, when the research used them all before the model called finish

    @property
    def budget_spent(self) -> bool:
        """Whether the turns ran out before the model called finish (a report then came when it was told so)."""
        return self.turn_limit is not None

    def markdown(self) -> str:
        """The report followed by a numbered list of its sources. When the turns ran out, a line saying so; with no
        report then, what the research found instead."""
        if not self.text:
            return self._found_markdown() if self.budget_spent else ""
        text = self.text
        if self.sources:
            text += "\n\n**Sources**\n\n" + "\n".join(_source_lines(self.sources))
        if self.budget_spent:
            text += f"\n\n*{self._ran_out()}: the model wrote this report when told its budget was spent.*"
        return text

    def _ran_out(self) -> str:
        return f"The research used all its {self.turn_limit} turns (max_turns) before the model called finish"

    def _found_markdown(self) -> str:
        head = (
            f"**No report.** {self._ran_out()}, and no report was written after that. Allow more turns "
            "(`Rumination(..., max_turns=...)`) or ask a narrower question."
        )
        read = {s.url for s in self.read}
        opened = tuple(s for s in self.read if s.id is None)
        lines = _source_lines(self.found + opened, read)
        if not lines:
            return head + "\n\nIt found no sources."
        return head + "\n\n**What it found**\n\n" + "\n".join(lines)


def _source_lines(sources: Sequence[Source], read: Collection[str] = ()) -> list[str]:
    """One markdown line per page, with its result numbers; pages in `read` marked so."""
    pages: dict[str, tuple[str, list[int]]] = {}  # a page that two searches found has two numbers: one line
    for s in sources:
        numbers = pages.setdefault(s.url, (s.title, []))[1]
        if s.id is not None:
            numbers.append(s.id)
    lines = []
    for url, (title, ids) in pages.items():
        numbers = "".join(f"【{i}】" for i in ids)
        lines.append(f"- {numbers + ' ' if numbers else ''}[{title}]({url})" + (" · read" if url in read else ""))
    return lines
