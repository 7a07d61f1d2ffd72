"""Offline search for the research loop: BM25, the local corpus, reading pages."""

from __future__ import annotations

import contextlib
import json
import os
import threading

import pytest

from glm_nb.chat import ChatError
from glm_nb.chat.research import BM25, LocalCorpus, PageError, html_to_text, open_page, tokenize
from glm_nb.chat.research.bm25 import document_terms, query_terms
from glm_nb.chat.research.pages import read_document


@pytest.fixture
def corpus_folder(tmp_path):
    (tmp_path / "beijing.md").write_text(
        "# Beijing weather\n\n北京今天晴，气温二十一度。\n\nBeijing is sunny today.\n"
    )
    (tmp_path / "notes.txt").write_text("Shopping list: bread, milk.\n\nNothing about weather here except rain.")
    (tmp_path / "onnx.html").write_text(
        "<html><head><title>ONNX Runtime</title><script>var weather = 1;</script></head>"
        "<body><h1>Runtime</h1><p>ONNX Runtime runs graphs.</p><p>It is fast &amp; small.</p></body></html>"
    )
    sub = tmp_path / "nb"
    sub.mkdir()
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# GLM notebook\n", "Intro"]},
            {"cell_type": "code", "source": "print('glm')"},
        ]
    }
    (sub / "glm.ipynb").write_text(json.dumps(notebook))
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    return tmp_path


def test_tokenize_words_and_cjk_characters():
    assert tokenize("GLM模型 runs ONNX-Runtime, 北京 café_x") == [
        "glm",
        "模",
        "型",
        "runs",
        "onnx",
        "runtime",
        "北",
        "京",
        "café",
        "x",
    ]


def test_full_width_letters_and_digits_match_their_ascii_forms(tmp_path):
    # Chinese text often has full-width forms (typed in a Chinese input method's full-width mode)
    (tmp_path / "发布.md").write_text("ＧＬＭ－４在２０２５年４月发布。", encoding="utf-8")
    (tmp_path / "other.md").write_text("Nothing here.", encoding="utf-8")

    assert tokenize("ＧＬＭ－４") == ["glm", "4"]
    assert [r.title for r in LocalCorpus(tmp_path).search("GLM-4 2025")] == ["发布"]


def test_bm25_prefers_rare_terms_and_shorter_documents():
    docs = [tokenize(t) for t in ["the cat", "the dog", "the cat and the dog and the bird and more words here"]]

    scores = BM25(docs).scores(tokenize("cat"))

    assert scores[0] > scores[2] > 0 == scores[1]
    assert BM25(docs).scores(["the"])[0] < BM25(docs).scores(["cat"])[0]  # "the" is everywhere: low idf


def test_bm25_of_an_unknown_term_is_zero():
    assert BM25([["a"], ["b"]]).scores(["zzz"]) == [0, 0]


def test_bm25_needs_one_length_per_document():
    with pytest.raises(ValueError, match="2 lengths for 1 documents: give one per document"):
        BM25([["a"]], lengths=[1, 2])


def test_the_corpus_reads_every_kind_of_document(corpus_folder):
    corpus = LocalCorpus(corpus_folder)

    assert sorted(p.title for p in corpus.pages) == ["Beijing weather", "GLM notebook", "ONNX Runtime", "notes"]
    onnx = next(p for p in corpus.pages if p.title == "ONNX Runtime")
    assert "var weather" not in onnx.text
    assert "ONNX Runtime runs graphs.\n\nIt is fast & small." in onnx.text


def test_search_ranks_and_snippets(corpus_folder):
    corpus = LocalCorpus(corpus_folder)

    results = corpus.search("北京天气", limit=3)

    assert results[0].title == "Beijing weather"
    assert results[0].snippet == "北京今天晴，气温二十一度。"
    assert results[0].url.startswith("file://") and results[0].url.endswith("beijing.md")
    assert corpus.search("ONNX graphs")[0].title == "ONNX Runtime"
    assert corpus.search("nothingmatches") == []


def test_an_empty_folder_says_what_to_add(tmp_path):
    with pytest.raises(ChatError, match="add some documents"):
        LocalCorpus(tmp_path)


def test_a_folder_of_other_text_files_says_how_to_search_them(tmp_path):
    # It used to say only "add some documents", though the folder was full of them.
    (tmp_path / "guide.rst").write_text("Install\n=======\n")
    (tmp_path / "setup.py").write_text("print('hi')\n")
    (tmp_path / "manual.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")

    with pytest.raises(ChatError) as raised:
        LocalCorpus(tmp_path)

    assert str(raised.value).endswith(
        "add some documents, or read its .py, .rst files as plain text: Rumination(backend, "
        "search=LocalCorpus(folder, suffixes=('.py', '.rst')))."
    )
    assert LocalCorpus(tmp_path, suffixes=(".py", ".rst")).search("install")[0].title == "guide"


def test_open_reads_local_files_only_inside_the_allowed_roots(corpus_folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("secret")

    assert open_page("beijing.md", fetch=None, roots=[corpus_folder]).title == "Beijing weather"
    assert "Runtime" in open_page((corpus_folder / "onnx.html").as_uri(), fetch=None, roots=[corpus_folder]).text
    with pytest.raises(PageError, match="outside the folders"):
        open_page(str(outside), fetch=None, roots=[corpus_folder])


def test_open_reaches_the_web_only_through_the_fetcher(corpus_folder):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return "<html><title>Example</title><body><p>Hello web</p></body></html>"

    with pytest.raises(PageError, match="no web access"):
        open_page("https://example.com", fetch=None, roots=[corpus_folder])
    page = open_page("example.com", fetch=fetch, roots=[corpus_folder])

    assert fetched == ["https://example.com"]
    assert (page.title, page.text) == ("Example", "Hello web")


def test_open_of_a_document_name_not_in_the_corpus_says_so_when_offline(corpus_folder):
    # It used to be taken for a web site, https://tokyo.md, and answered "no web access", which told the model
    # nothing about the corpus it can search.
    with pytest.raises(PageError, match="no document 'tokyo.md' in the corpus; search first"):
        open_page("tokyo.md", fetch=None, roots=[corpus_folder])


def test_a_fetcher_returning_a_response_is_read_by_its_text_and_one_returning_nothing_is_an_error(corpus_folder):
    # They used to reach the model as the page "<Response [200]>" and the page "None".
    class Response:  # requests' and httpx's responses: the page is `.text`
        text = "<html><title>Example</title><body><p>Hello web</p></body></html>"

        def __str__(self) -> str:
            return "<Response [200]>"

    page = open_page("https://example.com", fetch=lambda url: Response(), roots=[corpus_folder])

    assert (page.title, page.text) == ("Example", "Hello web")
    with pytest.raises(PageError, match="gave NoneType, not the page's text: the research's fetcher must return"):
        open_page("https://example.com", fetch=lambda url: None, roots=[corpus_folder])


def test_a_failing_fetcher_is_a_page_error(corpus_folder):
    def fetch(url):
        raise OSError("network down")

    with pytest.raises(PageError, match="OSError: network down"):
        open_page("https://example.com/x", fetch=fetch, roots=[corpus_folder])


def test_html_to_text_keeps_blocks_apart():
    title, text = html_to_text("<title> A  page </title><div>one</div><div>two <b>bold</b></div><style>x{}</style>")

    assert (title, text) == ("A page", "one\n\ntwo bold")


def test_a_broken_notebook_or_a_binary_file_is_skipped_not_fatal(corpus_folder):
    (corpus_folder / "broken.ipynb").write_text("{not json")
    (corpus_folder / "odd.ipynb").write_text('{"cells": [1, {"cell_type": "markdown", "source": ["# Odd"]}]}')
    (corpus_folder / "data.txt").write_bytes(b"\x00\x01weather\x00" * 100)

    corpus = LocalCorpus(corpus_folder)

    assert "Odd" in [p.title for p in corpus.pages]
    assert sorted(path.name for path, _ in corpus.skipped) == ["broken.ipynb", "data.txt"]
    assert "binary" in dict((p.name, why) for p, why in corpus.skipped)["data.txt"]
    assert corpus.search("Beijing")[0].title == "Beijing weather"


def test_hidden_folders_such_as_notebook_checkpoints_are_not_searched(corpus_folder):
    checkpoints = corpus_folder / "nb" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / "glm-checkpoint.ipynb").write_text((corpus_folder / "nb" / "glm.ipynb").read_text())
    (corpus_folder / ".draft.md").write_text("# Draft\n\nGLM notebook draft")

    results = LocalCorpus(corpus_folder).search("GLM notebook")

    assert [r.url.rsplit("/", 1)[-1] for r in results] == ["glm.ipynb"]


def test_a_link_to_a_file_outside_the_corpus_is_not_searched(corpus_folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("password hunter2")
    (corpus_folder / "link.txt").symlink_to(outside)

    corpus = LocalCorpus(corpus_folder)

    assert corpus.search("password hunter2") == []
    assert [path.name for path, _ in corpus.skipped] == ["link.txt"]


def test_a_link_loop_or_a_broken_link_is_listed_as_skipped_not_left_out_unsaid(corpus_folder):
    # They used to vanish from the corpus without a word, so a user could not tell why a document was never found.
    (corpus_folder / "a.md").symlink_to(corpus_folder / "b.md")
    (corpus_folder / "b.md").symlink_to(corpus_folder / "a.md")
    (corpus_folder / "gone.md").symlink_to(corpus_folder / "deleted.md")

    skipped = dict((path.name, why) for path, why in LocalCorpus(corpus_folder).skipped)

    assert sorted(skipped) == ["a.md", "b.md", "gone.md"]
    assert "a loop" in skipped["a.md"] and "No such file" in skipped["gone.md"]
    with pytest.raises(PageError, match="a loop"):
        open_page("a.md", fetch=None, roots=[corpus_folder])


def _finishes(work, seconds=10.0):
    """What `work()` returns or raises, run in a thread that must end within `seconds`; a thread stuck on a named
    pipe is set free (a writer opens and closes it) so that it does not outlive the test."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = work()
        except Exception as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    stuck = thread.is_alive()
    for pipe in _PIPES:
        with contextlib.suppress(OSError):  # no reader waiting: nothing to free
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    thread.join(seconds)
    assert not stuck, "it hung on a named pipe"
    return outcome


_PIPES: list = []  # the named pipes a test made, to free a thread stuck on one


@pytest.fixture
def named_pipe(corpus_folder):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    pipe = corpus_folder / "pipe.md"
    os.mkfifo(pipe)
    _PIPES.append(pipe)
    yield pipe
    _PIPES.remove(pipe)


def test_a_link_to_a_named_pipe_is_left_out_rather_than_hang_the_corpus(corpus_folder, named_pipe):
    # LocalCorpus() used to wait forever: the link was taken for a document, and reading a pipe waits for a writer.
    (corpus_folder / "p.md").symlink_to(named_pipe)

    outcome = _finishes(lambda: LocalCorpus(corpus_folder))

    corpus = outcome["value"]
    assert not {"pipe.md", "p.md"} & {page.url.rpartition("/")[2] for page in corpus.pages}
    assert corpus.skipped == []  # not even opened: only regular files, and links that lead nowhere, are taken
    assert corpus.search("sunny")[0].title == "Beijing weather"


def test_reading_a_named_pipe_as_a_document_is_refused_not_waited_on(named_pipe):
    outcome = _finishes(lambda: read_document(named_pipe))

    assert isinstance(outcome.get("error"), PageError)
    assert "not a document file" in str(outcome["error"])


def test_the_hint_for_other_files_never_opens_a_pipe_or_a_file_outside_the_corpus(tmp_path, tmp_path_factory):
    # Looking for other text files used to open every link's target: a pipe hung, a file outside was read.
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    outside = tmp_path_factory.mktemp("outside") / "secret.rst"
    outside.write_text("password hunter2\n")
    (tmp_path / "secret.rst").symlink_to(outside)
    os.mkfifo(tmp_path / "pipe.csv")
    _PIPES.append(tmp_path / "pipe.csv")
    (tmp_path / "p.csv").symlink_to(tmp_path / "pipe.csv")
    try:
        outcome = _finishes(lambda: LocalCorpus(tmp_path))
    finally:
        _PIPES.remove(tmp_path / "pipe.csv")

    assert isinstance(outcome.get("error"), ChatError)
    assert str(outcome["error"]).endswith("add some documents.")


def test_open_reads_only_documents_inside_the_corpus(corpus_folder):
    (corpus_folder / ".env").write_text("API_KEY=secret")

    with pytest.raises(PageError, match="not a document"):
        open_page(".env", fetch=None, roots=[corpus_folder])
    with pytest.raises(PageError, match="not a document"):
        open_page("image.png", fetch=None, roots=[corpus_folder])


def test_open_does_not_tell_whether_a_file_outside_the_corpus_exists(corpus_folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "there.md").write_text("x")

    messages = []
    for target in (str(outside / "there.md"), str(outside / "missing.md"), "../missing.md"):
        with pytest.raises(PageError) as error:
            open_page(target, fetch=None, roots=[corpus_folder])
        messages.append(str(error.value))

    assert all("outside the folders" in m for m in messages)


def test_documents_with_a_byte_order_mark_or_in_windows_1252_read_right(tmp_path):
    (tmp_path / "bom.md").write_bytes("\ufeff# Café notes\n\nCrème brûlée.".encode())
    (tmp_path / "old.txt").write_bytes("Café crème, 5 €".encode("cp1252"))

    pages = {p.url.rsplit("/", 1)[-1]: p for p in LocalCorpus(tmp_path).pages}

    assert pages["bom.md"].title == "Café notes"
    assert pages["old.txt"].text == "Café crème, 5 €"


def test_html_without_a_closing_head_keeps_its_body_and_icon_titles_stay_out():
    title, text = html_to_text(
        "<html><head><title>Guide</title><body><svg><title>Close</title></svg><p>Body&nbsp;text</p></body>"
    )

    assert (title, text) == ("Guide", "Body text")


def test_a_document_over_the_size_limit_is_skipped_with_the_reason(corpus_folder):
    (corpus_folder / "huge.log.txt").write_text("weather " * 2048)  # 16 KiB

    corpus = LocalCorpus(corpus_folder, max_document_bytes=10 * 1024)

    why = dict((p.name, why) for p, why in corpus.skipped)["huge.log.txt"]
    assert "(16.0 KiB; documents over 10.0 KiB are left out)" in why and "max_document_bytes" in why
    assert corpus.search("Beijing")[0].title == "Beijing weather"  # the others still searched
    assert "huge.log.txt" not in [p.name for p, _ in LocalCorpus(corpus_folder).skipped]  # the default: 16 MiB


def test_open_refuses_a_local_file_over_the_size_limit_and_cuts_a_huge_fetched_page(corpus_folder):
    from glm_nb.chat.research.pages import MAX_DOCUMENT_BYTES

    (corpus_folder / "big.txt").write_text("x" * 5000)
    with pytest.raises(PageError, match="too large"):
        open_page("big.txt", fetch=None, roots=[corpus_folder], max_bytes=4000)
    assert len(open_page("big.txt", fetch=None, roots=[corpus_folder]).text) == 5000

    page = open_page("https://example.com", fetch=lambda url: "y" * (MAX_DOCUMENT_BYTES + 10), roots=[])
    assert len(page.text) <= MAX_DOCUMENT_BYTES


def test_a_notebook_counts_by_the_text_of_its_cells_not_its_outputs(corpus_folder):
    picture = {"output_type": "display_data", "data": {"image/png": "A" * 20_000}, "metadata": {}}
    cells = [{"cell_type": "code", "source": "plot(weather)", "outputs": [picture], "metadata": {}}]
    (corpus_folder / "plots.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    wordy = [{"cell_type": "markdown", "source": "weather " * 2000, "metadata": {}}]
    (corpus_folder / "wordy.ipynb").write_text(json.dumps({"cells": wordy, "metadata": {}, "nbformat": 4}))

    corpus = LocalCorpus(corpus_folder, max_document_bytes=10 * 1024)

    assert "plots.ipynb" not in [p.name for p, _ in corpus.skipped]  # 20 kB of picture, a few bytes of text
    why = dict((p.name, why) for p, why in corpus.skipped)["wordy.ipynb"]
    assert "of text in its cells" in why


def test_a_fetcher_returning_bytes_gives_text(corpus_folder):
    page = open_page("https://example.com", fetch=lambda url: b"<p>Sunny in Beijing</p>", roots=[])
    assert page.text == "Sunny in Beijing"


def test_chinese_notes_saved_in_gbk_are_read_and_found(tmp_path):
    # Chinese Windows saves "ANSI" text as GBK: read as Windows-1252 it became mojibake no Chinese query matched.
    (tmp_path / "北京.txt").write_bytes("北京今天晴，气温二十一度。\n\n明天多云。".encode("gbk"))
    (tmp_path / "paris.txt").write_text("Paris is sunny.", encoding="utf-8")

    corpus = LocalCorpus(tmp_path)
    results = corpus.search("北京天气")

    assert [r.title for r in results] == ["北京"]
    assert results[0].snippet == "北京今天晴，气温二十一度。"


def test_a_note_saved_as_utf_16_with_its_byte_order_mark_is_text_not_binary(tmp_path):
    # Notepad's "Unicode": every other byte of ASCII text is a zero, which read as a binary file's
    (tmp_path / "笔记.txt").write_bytes("北京今天晴。Sunny.".encode("utf-16"))  # with the BOM
    (tmp_path / "be.md").write_bytes(b"\xfe\xff" + "# 上海\n\n下雨。".encode("utf-16-be"))

    pages = {p.title: p.text for p in LocalCorpus(tmp_path).pages}

    assert pages == {"笔记": "北京今天晴。Sunny.", "上海": "# 上海\n\n下雨。"}


def test_western_text_in_windows_1252_is_not_taken_for_chinese(tmp_path):
    (tmp_path / "gruss.txt").write_bytes("Grüße aus München, schöne Straße.".encode("cp1252"))  # also valid GB18030

    (page,) = LocalCorpus(tmp_path).pages

    assert page.text == "Grüße aus München, schöne Straße."


def test_html_in_the_charset_its_meta_declares_reads_right(tmp_path):
    page = (
        '<html><head><meta charset="gb2312"><title>上海天气</title></head><body><p>上海今天下雨。</p></body></html>'
    )
    (tmp_path / "shanghai.html").write_bytes(page.encode("gbk"))
    legacy = '<meta http-equiv="Content-Type" content="text/html; charset=GBK"><p>广州很热。</p>'

    (local,) = LocalCorpus(tmp_path).pages
    fetched = open_page("https://example.cn", fetch=lambda url: legacy.encode("gbk"), roots=[])

    assert (local.title, local.text) == ("上海天气", "上海今天下雨。")
    assert fetched.text == "广州很热。"


@pytest.mark.parametrize("label", ["unicode_escape", "raw_unicode_escape", "utf-7", "punycode"])
def test_a_page_cannot_pick_a_codec_outside_the_webs_encodings(label):
    page = f'<meta charset="{label}"><p>caf\xe9 \\u4e2d +ZeVnLA-</p>'.encode("latin-1")

    fetched = open_page("https://example.org", fetch=lambda url: page, roots=[])

    assert fetched.text == "café \\u4e2d +ZeVnLA-"  # read as undeclared (Windows-1252), no escape decoded


def test_a_chinese_paragraph_broken_over_lines_snippets_without_spaces(tmp_path):
    (tmp_path / "天气.md").write_text(
        "# 天气\n\n北京今天晴，\n气温二十一度。\nBeijing is\nsunny.\n", encoding="utf-8"
    )

    (result,) = LocalCorpus(tmp_path).search("北京气温")

    assert result.snippet == "北京今天晴，气温二十一度。 Beijing is sunny."  # a space only between English words


@pytest.fixture
def chinese_folder(tmp_path):
    # school.txt has every character of 机器学习 (学 four times) but never the word; ml.txt has it once
    (tmp_path / "school.txt").write_text(
        "学生每天在学校学习。老师说学习要认真，学生的机会很多，学校的器材也很新。", encoding="utf-8"
    )
    (tmp_path / "ml.txt").write_text("机器学习让电脑从数据里找出规律。", encoding="utf-8")
    (tmp_path / "weather.txt").write_text("北京今天晴，气温二十一度。", encoding="utf-8")
    return tmp_path


def test_a_chinese_query_ranks_by_its_words_not_its_scattered_characters(chinese_folder):
    corpus = LocalCorpus(chinese_folder)

    assert corpus.search("机器学习")[0].title == "ml"  # not the page that repeats 学 most
    assert [r.title for r in corpus.search("北京天气")] == ["weather"]  # 每天 in school.txt is no 天气


def test_a_one_character_chinese_query_still_finds_its_character(chinese_folder):
    results = LocalCorpus(chinese_folder).search("器")

    assert sorted(r.title for r in results) == ["ml", "school"]


def test_a_chinese_word_broken_over_two_lines_is_still_found(tmp_path):
    # hard-wrapped Chinese text: the line break falls inside 学习
    (tmp_path / "ml.md").write_text("# 笔记\n\n今天读了机器学\n习的入门书。", encoding="utf-8")
    (tmp_path / "other.md").write_text("# 其他\n\n学生和机器人。", encoding="utf-8")

    results = LocalCorpus(tmp_path).search("学习")

    assert [(r.title, r.snippet) for r in results] == [("笔记", "今天读了机器学习的入门书。")]


def test_query_and_document_terms_of_chinese_text():
    assert query_terms("GLM 机器学习 的") == ["glm", "机器", "器学", "学习", "的"]
    assert document_terms("机器学\n习 ok") == ["机", "器", "学", "习", "机器", "器学", "学习", "ok"]
    # only a line break between Chinese (or Japanese) letters is inside a word: Korean and full-width forms
    # (ＧＬＭ, ４) wrap at word boundaries, and a blank line ends a paragraph
    assert document_terms("ＧＬＭ\n４") == ["glm", "4"]
    assert document_terms("서울\n날씨") == ["서", "울", "서울", "날", "씨", "날씨"]
    assert "气北" not in document_terms("# 天气\n\n北京")


def test_a_chinese_page_is_as_long_as_its_characters_not_its_characters_and_bigrams(tmp_path):
    (tmp_path / "zh.txt").write_text("GLM 模型在本地的笔记本电脑上运行得很快，也很稳定。", "utf-8")  # 24 terms
    (tmp_path / "en.txt").write_text("GLM " + "runs well on a laptop " * 6, encoding="utf-8")  # 31 terms

    results = LocalCorpus(tmp_path).search("GLM")

    assert [r.title for r in results] == ["zh", "en"]  # the shorter page first, as BM25 would have it
