"""Okapi BM25 ranking (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009).

    score(D, Q) = sum over terms t of Q:  idf(t) * f(t, D) * (k1 + 1) / (f(t, D) + k1 * (1 - b + b * |D| / avgdl))
    idf(t)      = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))        (the always-positive variant Lucene uses)

Text is split into lowercase words, except Chinese, Japanese and Korean, which put no spaces between words. Without
a segmenter, a run of their characters is indexed as its overlapping character bigrams, as Lucene's CJKAnalyzer
does (机器学习: 机器, 器学, 学习), and as its characters too. A query of two or more such characters is searched by
its bigrams, so 机器学习 finds the page with that word, not the page that has 机, 器, 学 and 习 scattered about; a
query of one character by that character. Full-width letters and digits, which Chinese text often has (ＧＬＭ－４,
２０２５年), are read as their ASCII forms (Unicode NFKC).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from ...cjk import LETTERS

__all__ = ["BM25", "document_terms", "query_terms", "tokenize"]

_CJK = LETTERS + "\uac00-\ud7af"  # and Hangul syllables, each a term of its own too
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_CJK_LETTER = re.compile(f"[{_CJK}]")
_RUN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")  # a run of CJK characters, or a word
# A line break inside a Chinese or Japanese sentence (hard-wrapped text): not one between paragraphs, nor one in
# Korean or between full-width forms (ＧＬＭ, ４), which wrap where a word ends.
_WRAP = re.compile(rf"(?<=[{LETTERS}])[ \t]*\r?\n[ \t]*(?=[{LETTERS}])")


def tokenize(text: str) -> list[str]:
    """Lowercase words; each CJK character is a word of its own."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def document_terms(text: str) -> list[str]:
    """What a document is indexed by: `tokenize(text)`, with the overlapping bigrams of each run of CJK characters.
    A line break inside a Chinese sentence (hard-wrapped text) does not end its run."""
    return list(_document_terms(text))


def query_terms(text: str) -> list[str]:
    """What a query searches for: its words, and each run of CJK characters as its bigrams (a lone character as
    itself)."""
    return [term for run in _runs(text) for term in (_bigrams(run) if _is_cjk(run) and len(run) > 1 else [run])]


def _document_terms(text: str) -> Iterator[str]:
    for run in _runs(text):
        if _is_cjk(run):
            yield from run
            yield from _bigrams(run)
        else:
            yield run


def _runs(text: str) -> Iterator[str]:
    return (m.group() for m in _RUN.finditer(unicodedata.normalize("NFKC", _WRAP.sub("", text)).lower()))


def _is_cjk(run: str) -> bool:
    return _CJK_LETTER.match(run) is not None


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


class BM25:
    """An index over tokenized documents; `scores(query_terms)` gives one score per document. `lengths`: each
    document's length |D|, when its terms overlap (`document_terms`: a Chinese text's characters and their bigrams
    are as long as its characters); by default its number of terms. `BM25.of_texts` indexes texts so."""

    def __init__(
        self,
        documents: Sequence[Iterable[str]],
        k1: float = 1.5,
        b: float = 0.75,
        lengths: Sequence[int] | None = None,
    ):
        self.k1, self.b = k1, b
        self.counts = [Counter(doc) for doc in documents]
        self.lengths = list(lengths) if lengths is not None else [counts.total() for counts in self.counts]
        if len(self.lengths) != len(self.counts):
            raise ValueError(f"{len(self.lengths)} lengths for {len(self.counts)} documents: give one per document")
        self.average_length = sum(self.lengths) / len(documents) if documents else 0.0
        document_frequency = Counter(term for counts in self.counts for term in counts)
        n = len(documents)
        self.idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}

    @classmethod
    def of_texts(cls, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> BM25:
        """An index of `texts` by their `document_terms`, each as long as its words and characters (`tokenize`).
        Their terms are counted as they are made: a long Chinese text's list of characters and bigrams would take
        several times the memory of its index."""
        lengths = [sum(1 for _ in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower())) for text in texts]
        return cls([_document_terms(text) for text in texts], k1, b, lengths)

    def scores(self, query_terms: Sequence[str]) -> list[float]:
        terms = [t for t in dict.fromkeys(query_terms) if t in self.idf]
        out = []
        for counts, length in zip(self.counts, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / self.average_length) if self.average_length else 0.0
            out.append(sum(self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in terms if counts[t]))
        return out
