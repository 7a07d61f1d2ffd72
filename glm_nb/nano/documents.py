"""Rumination observations as the research loop really writes them, from generated documents.

The first corpus gave Rumination three one-sentence results on `https://docs.example.org/` pages and a one-line
page. Over the notebook's own folder, `LocalCorpus` answers with one to five results whose URLs are `file://`
paths and whose snippets are paragraphs with markdown, and `click` returns the whole markdown file: the model,
having seen nothing like it, wrote invalid actions after its first search (issue 5, eighth session).

Here each result is a generated markdown document (a heading, two or three paragraphs of sentences about a
topic); its snippet is chosen by the same `best_passage` that `LocalCorpus` uses, the results are numbered and
joined by the loop's own `format_results`, and a click shows the document's text as `open_page` would. Nothing is
copied from the notebook's corpus: topics, sentences, folders and file names are drawn at random.

`notebook_results` is the exception, for the corpus option `notebook_research` (the eighth phase): the notebook's own
documents, searched by the real `LocalCorpus`, but lying in a checkout drawn at random. A checkpoint trained
without them reported from the notebook's folder in one checkout and wrote a garbled report from others (the
file:// URLs carry the checkout's path), so the demo's layout is taught in many folders; the evaluation's sets
never use these documents.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..chat.research.bm25 import tokenize
from ..chat.research.rumination import format_results
from ..chat.research.search import LocalCorpus, SearchResult, best_passage
from .vocab import made_up_han, made_up_word

__all__ = ["NOTEBOOK_CORPUS", "Document", "ResultsPage", "local_results", "notebook_results"]

# Sentences about a topic {t}; {a} and {b} are things a technical text talks about, {c} a setting.
_SENTENCES_EN = (
    "{t} decides how {a} treats {b}.",
    "With {t}, {a} reads {b} once per step.",
    "{t} costs memory: {a} keeps {b} for every token.",
    "Most of {a} depends on {t}, so set up {b} first.",
    "{t} is what {a} uses when {b} changes.",
    "{a} turns on {t} by default; set `{c}` to change it.",
    "Without {t}, {a} would recompute {b} at every step.",
    "In short, {t} lets {a} skip work that {b} already did.",
    "{t} matters most when {a} is large and {b} is small.",
    "People often confuse {t} with {b}, but {a} keeps them apart.",
    "The usual way to check {t} is to compare {a} with {b}.",
    "{t} was added so that {a} no longer waits for {b}.",
)
_PLAIN_EN = (
    "{a} and {b} share one buffer.",
    "This page explains it step by step.",
    "See the next section for {b}.",
    "A small example follows: `{c}` sets {a}.",
    "{a} runs on the CPU everywhere and on the GPU where there is one.",
    "Each call returns {a} and {b}.",
    "The defaults suit most notebooks.",
    "Errors say what to do next.",
)
_THINGS_EN = (
    "the engine", "a notebook", "each layer", "the tokenizer", "the model", "a kernel", "the cache", "the graph",
    "every token", "the runtime", "a prompt", "the GPU", "the CPU", "one step", "the user", "the decoder",
    "the weights", "a batch", "the keys and values", "the output", "the server", "a cell", "the session",
)  # fmt: skip
_SENTENCES_ZH = (
    "{t}决定了{a}如何处理{b}。",
    "有了{t}，{a}每一步只读一次{b}。",
    "{t}需要内存：{a}为每个词元保存{b}。",
    "{a}的大部分工作依赖{t}，所以要先准备好{b}。",
    "{b}变化时，{a}就会用到{t}。",
    "默认情况下{a}会开启{t}，设置`{c}`可以修改。",
    "没有{t}，{a}每一步都要重新计算{b}。",
    "简单地说，{t}让{a}跳过{b}已经做过的工作。",
    "常见的检查方法是比较{a}和{b}，看{t}是否生效。",
)
_PLAIN_ZH = (
    "{a}和{b}共用一个缓冲区。",
    "本页一步一步地说明。",
    "下一节介绍{b}。",
    "下面是一个小例子：`{c}`设置{a}。",
    "每次调用都会返回{a}和{b}。",
    "默认设置适合大多数笔记本。",
)
_THINGS_ZH = ("引擎", "笔记本", "每一层", "分词器", "模型", "缓存", "计算图", "每个词元", "运行时", "提示",
              "显卡", "处理器", "权重", "输出", "服务器", "单元格")  # fmt: skip
_SETTINGS = ("max_length", "use_cache", "num_threads", "device", "top_p", "temperature", "precision", "batch_size",
             "providers", "block_size", "cache_dir", "seed")  # fmt: skip
_TITLES_EN = ("{t}", "The {t}", "{T}", "{t} guide", "{t} overview", "Working with {t}", "Notes on {t}",
              "{t} in practice", "About {t}", "{t}: a short tour")  # fmt: skip
_TITLES_ZH = ("{t}", "{t}指南", "{t}概览", "关于{t}", "{t}入门", "{t}笔记")
_FOLDERS = ("/home/{u}/notes", "/home/{u}/docs/{p}", "/Users/{U}/Documents/{p}", "/work/{p}/docs", "/srv/{p}/corpus",
            "/mnt/data/{p}", "/tmp/{p}", "/work/{p}/notebooks/corpus", "/home/{u}/{p}/research")  # fmt: skip
_SUFFIXES = (".md", ".md", ".md", ".txt", ".markdown")
# Where a checkout of the project may lie ({p}: its folder's name); the notebook's corpus is notebooks/corpus in it.
_CHECKOUTS = ("/home/{u}/{p}", "/home/{u}/src/{p}", "/Users/{U}/code/{p}", "/work/{p}", "/build/{p}",
              "/runner/work/{p}/{p}", "/srv/ci/{p}", "/tmp/{p}", "/opt/{p}", "/workspace/{p}", "/data/{u}/repos/{p}",
              "/tmp/{u}/{p}/{p}", "/home/{u}/builds/{p}")  # fmt: skip
NOTEBOOK_CORPUS = Path(__file__).resolve().parents[2] / "notebooks" / "corpus"  # in a checkout, not in a wheel
_SITES = ("docs.{p}.org", "{p}.dev", "www.{p}.com", "{p}.readthedocs.io", "blog.{p}.net")


# The results and the page together, in characters: at ~1.8 characters a token, with the system prompt, the calls
# and the report, a sample stays within the 1,024 positions of the model (the notebook's demo needs ~770 tokens).
_BUDGET_CHARS = {"en": 1250, "zh": 640}  # a Chinese character is a token or more (800 let five results pass 1,024)
_PAGE_CHARS = {"en": 700, "zh": 380}  # the notebook's pages have ~500 characters


@dataclass(frozen=True)
class Document:
    title: str
    url: str
    text: str  # what `click` returns: the file's text, as `open_page` reads a markdown or text file


@dataclass(frozen=True)
class ResultsPage:
    """One search's observation and the document the model should open."""

    observation: str  # the search results as the research loop formats them
    hit: int  # the number of the result about the topic
    documents: tuple[Document, ...]  # the documents of the results, in their order

    @property
    def page(self) -> str:
        """What clicking the result about the topic returns."""
        return self.documents[self.hit].text

    @property
    def title(self) -> str:
        """That page's title, which the report names."""
        return self.documents[self.hit].title


def _fill(template: str, topic: str, rng: random.Random, zh: bool) -> str:
    things = _THINGS_ZH if zh else _THINGS_EN
    a, b = rng.sample(things, 2)
    shown = rng.choice((topic, topic, f"**{topic}**", f"`{topic}`")) if rng.random() < 0.3 else topic
    text = template.format(t=shown, a=a, b=b, c=rng.choice(_SETTINGS))
    return text[0].upper() + text[1:] if text[0].islower() else text


def _paragraph(topic: str, rng: random.Random, zh: bool, about: bool) -> str:
    """One to three sentences; the first is about the topic when `about`."""
    sentences = _SENTENCES_ZH if zh else _SENTENCES_EN
    plain = _PLAIN_ZH if zh else _PLAIN_EN
    n = rng.randint(1, 3)
    picked = [rng.choice(sentences if about else plain)]
    picked += [rng.choice(sentences if rng.random() < 0.4 else plain) for _ in range(n - 1)]
    return ("" if zh else " ").join(_fill(s, topic, rng, zh) for s in picked)


def _document(topic: str, rng: random.Random, zh: bool) -> Document:
    headline = " ".join(w[0].upper() + w[1:] for w in topic.split())  # "CPU threads" -> "CPU Threads"
    title = rng.choice(_TITLES_ZH if zh else _TITLES_EN).format(t=topic, T=headline)
    title = title[0].upper() + title[1:]
    if rng.random() < 0.1:  # a title of its own, as real folders have: only the text says what the page is about
        title = made_up_han(rng, 2) + "笔记" if zh else f"{made_up_word(rng, capital=True)} notes"
    paragraphs = [_paragraph(topic, rng, zh, about=i == 0) for i in range(rng.randint(2, 3))]
    if rng.random() < 0.3:  # a second heading between paragraphs
        paragraphs.insert(1, "## " + (rng.choice(("用法", "细节", "注意事项")) if zh else rng.choice(
            ("Usage", "Details", "How it works", "Caveats"))))  # fmt: skip
    while len(paragraphs) > 1 and sum(map(len, paragraphs)) > _PAGE_CHARS["zh" if zh else "en"]:
        paragraphs.pop()
    url = _url(title, rng, zh)
    if rng.random() < 0.85:
        return Document(title, url, "\n\n".join([f"# {title}", *paragraphs]))
    # No heading: `read_document` then names a file by its stem.
    title = PurePosixPath(url).stem if url.startswith("file://") else title
    return Document(title, url, "\n\n".join(paragraphs))


def _url(title: str, rng: random.Random, zh: bool) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if zh or not slug or rng.random() < 0.2:
        slug = made_up_word(rng, capital=False) + rng.choice(("", "-notes", "-guide", "_2"))
    project = made_up_word(rng, capital=False)
    if rng.random() < 0.25:
        site = rng.choice(_SITES).format(p=project)
        return f"https://{site}/{rng.choice(('', 'docs/', 'en/latest/', 'posts/'))}{slug}"
    user = made_up_word(rng, (1, 2), capital=False)
    folder = rng.choice(_FOLDERS).format(u=user, U=user.capitalize(), p=project)
    return f"file://{folder}/{slug}{rng.choice(_SUFFIXES)}"


def local_results(rng: random.Random, lang: str, topic: str, others: list[str]) -> ResultsPage:
    """One to five results for a search of `topic` (one of them about it, at any place; the others about topics
    from `others`), their observation, and the page of the one about it.

    The result about the topic is not first more often than not (as LocalCorpus's ranking would have it): with the
    notebook's searches, whose top result is always the page to open, that made result 0 the answer to two clicks in
    three, and asked about a topic in result 1 of three web results, the model clicked result 0 (33 of the 46 click
    failures of phase X on new combinations). With the place uniform, phase Z's failures changed side but not number
    (it confused results 0 and 1 both ways), so no prior stands in for reading the titles any more; reading them
    is still what a 3.4M-parameter model does worst (graded on their own, Z's clicks were right 62% of the time)."""
    zh = lang == "zh"
    n = rng.choices((1, 2, 3, 4, 5), weights=(2, 3, 3, 2, 2))[0]
    topics = [topic, *rng.sample(others, n - 1)]
    hit = rng.randrange(n)
    topics[0], topics[hit] = topics[hit], topics[0]
    documents = [_document(t, rng, zh) for t in topics]
    terms = set(tokenize(topic))
    results = [SearchResult(d.title, d.url, best_passage(d.text, terms)) for d in documents]
    while len(results) > 1 and len(format_results(results)) + len(documents[hit].text) > _BUDGET_CHARS[lang]:
        drop = max(i for i in range(len(results)) if i != hit)  # the example must fit the model's context
        del results[drop], documents[drop]
        hit -= drop < hit
    return ResultsPage(format_results(results), hit, tuple(documents))


@functools.cache
def _notebook_corpus() -> LocalCorpus:
    if not NOTEBOOK_CORPUS.is_dir():
        raise FileNotFoundError(
            f"{NOTEBOOK_CORPUS} is missing: notebook_research trains on the notebook's documents, which only a "
            "checkout of glm-nb has; train from a checkout or set the share to 0."
        )
    return LocalCorpus(NOTEBOOK_CORPUS)


def notebook_results(rng: random.Random, topic: str) -> ResultsPage | None:
    """The research loop's search for `topic` over the notebook's own documents (`LocalCorpus`, five results at
    most), as if the checkout lay in a folder drawn at random; the top result is the page to open. None when no
    document matches."""
    corpus = _notebook_corpus()
    results = corpus.search(topic, limit=5)
    if not results:
        return None
    user = made_up_word(rng, (1, 2), capital=False)
    project = "glm-nb" if rng.random() < 0.3 else made_up_word(rng, capital=False)
    checkout = rng.choice(_CHECKOUTS).format(u=user, U=user.capitalize(), p=project)
    here, there = corpus.folder.as_uri(), f"file://{checkout}/notebooks/corpus"
    texts = {page.url: page.text for page in corpus.pages}
    documents = tuple(Document(r.title, r.url.replace(here, there, 1), texts[r.url]) for r in results)
    moved = [dataclasses.replace(r, url=d.url) for r, d in zip(results, documents)]
    return ResultsPage(format_results(moved), 0, documents)
