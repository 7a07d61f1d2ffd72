"""glm_nb.cjk: the one definition of text written without spaces that line joining, word counts and search share."""

from __future__ import annotations

import pytest

from glm_nb.cjk import joins_without_space, unspaced_line_breaks, word_count, writes_chinese


@pytest.mark.parametrize(
    ("before", "after", "joined"),
    [("北京", "天气", True), ("注意：", "这是", True), ("ＧＬＭ", "４", True), ("北京", "sunny", False),
     ("한국", "어", False), ("", "天", False)],
)  # fmt: skip
def test_lines_join_without_a_space_only_between_unspaced_characters(before, after, joined):
    assert joins_without_space(before, after) is joined


def test_line_breaks_between_chinese_characters_go_and_others_stay():
    assert unspaced_line_breaks("北京今天 \n  晴朗。\nSunny\n天气") == "北京今天晴朗。\nSunny\n天气"


@pytest.mark.parametrize(
    ("text", "words"), [("北京今天晴朗。", 6), ("GLM-4 在 Jupyter 里运行", 6), ("hello world", 2), ("", 0)]
)
def test_each_chinese_letter_is_a_word_and_punctuation_none(text, words):
    assert word_count(text) == words


@pytest.mark.parametrize(
    ("text", "chinese"),
    [("北京今天天气怎么样？", True), ("GLM-4 是什么？", True), ("用 Python 写一个 BM25 排序", True),
     ("介绍一下 ONNX Runtime 的 KV cache 实现", True), ("What does 机器学习 mean?", False),
     ("Weather in Beijing?", False), ("東京の天気は？", False), ("서울 날씨", False), ("", False)],
)  # fmt: skip
def test_a_question_is_chinese_when_its_han_characters_say_more_than_its_other_letters(text, chinese):
    assert writes_chinese(text) is chinese
