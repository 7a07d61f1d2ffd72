"""What one Rumination research has read: its numbered search results, the pages its actions opened, and the
report they make. The loop (rumination.py) decides the turns; a `ResearchSession` runs the actions and keeps the
sources, so that every citation 【n†source】 names one result across all of a research's searches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...tools import ToolCall, ToolResult
from ..messages import AssistantMessage, not_shown
from .pages import PageError, open_page
from .report import CutOff, Language, Report, Source, cited_ids
from .search import SearchResult

if TYPE_CHECKING:
    from .rumination import Rumination

__all__ = ["ResearchSession", "format_results"]


def format_results(results: Sequence[SearchResult], first: int = 0) -> str:
    """Search results as the model reads them: `【{i}†{title}†{url}\\n{snippet}】` blocks numbered from `first`,
    joined by blank lines."""
    return "\n\n".join(f"【{i}†{r.title}†{r.url}\n{r.snippet}】" for i, r in enumerate(results, start=first))


def _checked(result: object) -> SearchResult:
    if not isinstance(result, SearchResult):
        raise TypeError(
            f"the search backend returned a {type(result).__name__}, not a SearchResult: its search() must return "
            "SearchResult(title, url, snippet) values"
        )
    return result


class ResearchSession:
    """One research session's numbered sources, the actions that read them, and what its report is made of."""

    def __init__(self, owner: Rumination, language: Language):
        self.owner = owner
        self.language = language  # the question's: the budget notes and the report's notes are in it
        self.sources: dict[int, SearchResult] = {}
        self.read: dict[str, Source] = {}  # url -> the page read there
        self.report_text = ""
        self.writing_report = False  # the turn after `finish`, whose text is the report whatever it says
        self.turn_limit: int | None = None  # set when the turns ran out before `finish`
        self.last: AssistantMessage | None = None  # the latest turn's message
        self.cut_off: CutOff | None = None  # the token limit or interrupt that ended the research, if one did

    def act(self, call: ToolCall) -> ToolResult:
        if call.error is not None:
            return ToolResult.failure(call, "invalid", f"Could not read the action: {call.error}.")
        try:
            if call.name == "search":
                return ToolResult.success(call, self._search(call.arguments["query"]))
            if call.name == "click":
                return ToolResult.success(call, self._click(call.arguments["link_id"]))
            return ToolResult.success(call, self._open(call.arguments["url"]))
        except PageError as e:
            return ToolResult.failure(call, "error", str(e))
        except Exception as e:  # the user's search backend: its failure is the model's observation
            return ToolResult.failure(call, "error", f"{call.name} failed: {type(e).__name__}: {e}")

    def _search(self, query: str) -> str:
        # read whole (a backend may yield its results) and checked before any is numbered: a source that is no
        # SearchResult would break the report at the end of the research
        results = [_checked(r) for r in self.owner.search.search(query, self.owner.results_per_search)]
        if not results:
            return f"No results for {query!r}. Try other words."
        first = len(self.sources)
        self.sources.update(enumerate(results, start=first))
        return format_results(results, first)

    def _click(self, link_id: int) -> str:
        if link_id not in self.sources:
            known = f"0 to {len(self.sources) - 1}" if self.sources else "none yet; search first"
            raise PageError(f"there is no result {link_id} (results so far: {known}).")
        return self._open(self.sources[link_id].url, link_id)

    def _open(self, url: str, link_id: int | None = None) -> str:
        owner = self.owner
        page = open_page(url, fetch=owner.fetch, roots=owner.local_roots, suffixes=owner.local_suffixes,
                         max_bytes=owner.max_document_bytes)  # fmt: skip
        self.read.setdefault(page.url, Source(link_id, page.title, page.url))
        text, limit = page.text, owner.page_chars
        if len(text) > limit:
            text = text[:limit] + not_shown(len(text) - limit)
        return text or "(the page has no text)"

    def report(self) -> Report:
        text = self.report_text if self.report_text.strip() else ""  # blank is no report (`Report.markdown()`)
        sources = tuple(self._source(i) for i in cited_ids(text) if i in self.sources)
        found = tuple(self._source(i) for i in self.sources)
        read = tuple(self.read.values())
        return Report(text, sources, found, read, self.turn_limit, self.cut_off, self.language)

    def _source(self, i: int) -> Source:
        return Source(i, self.sources[i].title, self.sources[i].url)
