"""Search for the research loop: the `SearchBackend` protocol and `LocalCorpus`, an offline BM25 backend.

FORMAT.md, "GLM-Z1-Rumination": `search(query)` returns results the model reads as `【{i}†{title}†{url}\\n{snippet}】`
blocks. A backend returns `SearchResult` values; the loop numbers and formats them. `LocalCorpus` indexes a
folder of .md, .txt, .html and .ipynb files (read once, when it is made) and ranks them with BM25; the snippet is
the passage of the document that matches the query best. Hidden files and folders (.git, .ipynb_checkpoints) are
left out, and so are links to files outside the folder (`open` could not read them) and files that cannot be
read as documents (binary, a broken notebook, over `max_document_bytes`): those are listed in
`LocalCorpus.skipped`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ...cjk import unspaced_line_breaks
from ..errors import ChatError
from .bm25 import BM25, document_terms, query_terms
from .pages import (
    DOCUMENT_SUFFIXES,
    MAX_DOCUMENT_BYTES,
    Page,
    PageError,
    open_regular_file,
    read_document,
    resolve_path,
)

__all__ = ["LocalCorpus", "SearchBackend", "SearchResult", "best_passage"]

_SNIPPET_CHARS = 300


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


@runtime_checkable
class SearchBackend(Protocol):
    """Anything that answers a query with ranked results (a web search API, a local index, ...)."""

    def search(self, query: str, limit: int) -> list[SearchResult]: ...


class LocalCorpus:
    """A `SearchBackend` over the documents of a folder (recursively), ranked with BM25, offline."""

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        suffixes: tuple[str, ...] = DOCUMENT_SUFFIXES,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
    ):
        """max_document_bytes: larger files are skipped (listed in `skipped` with their size), and `open` refuses
        them too."""
        self.folder = Path(folder).expanduser().resolve()
        self.max_document_bytes = max_document_bytes
        if not self.folder.is_dir():
            raise ChatError(f"{self.folder} is not a folder: pass the folder holding the documents to search.")
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.pages: list[Page] = []
        self.skipped: list[tuple[Path, str]] = []  # (file, why it is not searched)
        for path in _document_paths(self.folder, self.suffixes):
            try:
                if not resolve_path(path).is_relative_to(self.folder):
                    raise PageError("it links to a file outside the corpus folder")
                self.pages.append(read_document(path, max_document_bytes))
            except PageError as e:
                self.skipped.append((path, str(e)))
        if not self.pages:
            unread = f" ({len(self.skipped)} could not be read: {self.skipped[0][1]})" if self.skipped else ""
            raise ChatError(
                f"{self.folder} holds no {', '.join(suffixes)} files to search{unread}; add some documents"
                f"{_other_text_files(self.folder)}."
            )
        self._index = BM25.of_texts([f"{page.title}\n{page.text}" for page in self.pages])

    def search(self, query: str, limit: int = 5) -> list[SearchResult]:
        terms = query_terms(query)
        scores = self._index.scores(terms)
        ranked = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: -scores[i])[:limit]
        return [self._result(self.pages[i], terms) for i in ranked]

    def _result(self, page: Page, terms: list[str]) -> SearchResult:
        return SearchResult(page.title, page.url, best_passage(page.text, set(terms)))

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return f"LocalCorpus({str(self.folder)!r}, {len(self.pages)} documents{skipped})"


def _other_text_files(folder: Path) -> str:
    """What to say about the folder's files of other kinds (.rst, .py, .csv): that `suffixes` reads them as text.
    Only files `LocalCorpus` would read are looked into: not links that lead out of the folder or nowhere."""
    others = sorted(
        {p.suffix.lower() for p in _document_paths(folder, None) if p.suffix and _readable_text(p, folder)}
    )[:3]
    if not others:
        return ""
    return (
        f", or read its {', '.join(others)} files as plain text: Rumination(backend, "
        f"search=LocalCorpus(folder, suffixes={tuple(others)!r}))"
    )


def _readable_text(path: Path, folder: Path) -> bool:
    """Whether a file inside `folder` (a link followed) starts as text: no zero byte (images, archives, Office
    files), not a PDF. A broken link, a loop, a pipe or a file outside the folder is not opened."""
    try:
        if not resolve_path(path).is_relative_to(folder):
            return False
        with open_regular_file(path) as file:
            head = file.read(8192)
    except (OSError, PageError):  # unreadable: it is no hint to give
        return False
    return b"\0" not in head and not head.startswith(b"%PDF")


def _document_paths(folder: Path, suffixes: tuple[str, ...] | None) -> list[Path]:
    """The files under `folder` with one of `suffixes` (None: any), sorted, without hidden files or folders; links
    to folders are not followed (no loops). Only regular files are taken (a link to one too), and links that lead
    to no file (broken, or a loop): reading those fails, and `LocalCorpus` lists them as skipped rather than leave
    them out unsaid. A named pipe, even linked to, is left out: reading it would wait forever for a writer."""
    found = []
    for top, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        top_path = Path(top)
        for name in files:
            path = top_path / name
            wanted = suffixes is None or path.suffix.lower() in suffixes
            dangling = path.is_symlink() and not path.exists()  # exists() is False for a loop too
            if not name.startswith(".") and wanted and (path.is_file() or dangling):
                found.append(path)
    return sorted(found)


def best_passage(text: str, terms: set[str]) -> str:
    """The paragraph with the most distinct query terms (`query_terms`; the earliest on a tie), cut to a snippet
    around the first match."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    # A heading alone says no more than the title beside it: prefer body text.
    paragraphs = [p for p in paragraphs if not p.startswith("#")] or paragraphs or [text.strip()]
    best = max(paragraphs, key=lambda p: len(terms & set(document_terms(p))))
    best = " ".join(unspaced_line_breaks(best).split())
    if len(best) <= _SNIPPET_CHARS:
        return best
    lowered = best.lower()
    first = min((at for t in terms if (at := lowered.find(t)) >= 0), default=0)
    start = max(0, first - _SNIPPET_CHARS // 5)
    snippet = best[start : start + _SNIPPET_CHARS - 2].strip()
    return ("…" if start else "") + snippet + ("…" if start + _SNIPPET_CHARS - 2 < len(best) else "")
