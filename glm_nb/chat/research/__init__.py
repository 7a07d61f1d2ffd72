"""GLM-Z1-Rumination deep research: the search / click / open / finish loop, offline BM25 search over a local
corpus, pages read locally or through a user-supplied fetcher. See ../shared/glm4/FORMAT.md, "GLM-Z1-Rumination"."""

from .bm25 import BM25, document_terms, query_terms, tokenize
from .pages import DOCUMENT_SUFFIXES, Fetcher, Page, PageError, html_to_text, open_page, read_document
from .report import Report, Source
from .rumination import (
    MAX_TURNS,
    RUMINATION_SAMPLING,
    ResearchResponse,
    Rumination,
    parse_action,
    rumination_system_prompt,
)
from .search import LocalCorpus, SearchBackend, SearchResult

__all__ = [
    "BM25",
    "DOCUMENT_SUFFIXES",
    "MAX_TURNS",
    "RUMINATION_SAMPLING",
    "Fetcher",
    "LocalCorpus",
    "Page",
    "PageError",
    "Report",
    "ResearchResponse",
    "Rumination",
    "SearchBackend",
    "SearchResult",
    "Source",
    "document_terms",
    "html_to_text",
    "open_page",
    "parse_action",
    "query_terms",
    "read_document",
    "rumination_system_prompt",
    "tokenize",
]
