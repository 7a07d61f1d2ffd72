"""Okapi BM25 ranking (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009).

    score(D, Q) = sum over terms t of Q:  idf(t) * f(t, D) * (k1 + 1) / (f(t, D) + k1 * (1 - b + b * |D| / avgdl))
    idf(t)      = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))        (the always-positive variant Lucene uses)

Text is split into lowercase words, except Chinese, Japanese and Korean, which are indexed one character at a time
(no segmenter needed, and a query like 北京天气 still matches 北京 and 天气). Full-width letters and digits, which
Chinese text often has (ＧＬＭ－４, ２０２５年), are read as their ASCII forms (Unicode NFKC).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from ...cjk import LETTERS

__all__ = ["BM25", "tokenize"]

_CJK = LETTERS + "\uac00-\ud7af"  # and Hangul syllables, each a term of its own too
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokenize(text: str) -> list[str]:
    """Lowercase words; each CJK character is a word of its own."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


class BM25:
    """An index over tokenized documents; `scores(query_terms)` gives one score per document."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.counts = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.average_length = sum(self.lengths) / len(documents) if documents else 0.0
        document_frequency = Counter(term for counts in self.counts for term in counts)
        n = len(documents)
        self.idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}

    def scores(self, query_terms: Sequence[str]) -> list[float]:
        terms = [t for t in dict.fromkeys(query_terms) if t in self.idf]
        out = []
        for counts, length in zip(self.counts, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / self.average_length) if self.average_length else 0.0
            out.append(sum(self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in terms if counts[t]))
        return out
