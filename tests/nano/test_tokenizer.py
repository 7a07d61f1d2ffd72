"""The nano-GLM tokenizer: GLM special tokens under their real strings, digits and values split the same way."""

from __future__ import annotations

import pytest

from glm_nb.nano.tokenizer import SPECIAL_TOKENS


@pytest.mark.parametrize("special", SPECIAL_TOKENS)
def test_special_token_is_one_token(small_tokenizer, special):
    ids = small_tokenizer.encode(f"hi{special}there", add_special_tokens=False).ids
    assert small_tokenizer.token_to_id(special) in ids
    assert small_tokenizer.decode(ids, skip_special_tokens=False) == f"hi{special}there"


def test_digits_are_one_token_each(small_tokenizer):
    tokens = small_tokenizer.encode("x 4096 y", add_special_tokens=False).tokens
    assert ["4", "0", "9", "6"] == [t for t in tokens if t.isdigit()]


def test_value_is_the_same_tokens_in_prompt_and_json(small_tokenizer):
    def value_ids(text: str) -> list[int]:
        ids = small_tokenizer.encode(text, add_special_tokens=False).ids
        target = small_tokenizer.encode("Reykjavik", add_special_tokens=False).ids
        for i in range(len(ids) - len(target) + 1):
            if ids[i : i + len(target)] == target:
                return target
        return []

    assert value_ids("Weather in Reykjavik?") == value_ids('{"city": "Reykjavik"}') != []


def test_round_trip_mixed_text(small_tokenizer):
    text = '[gMASK]<sop><|user|>\n北京的天气？ 12.5 km <think>ok</think>{"a": 1}<|assistant|>'
    ids = small_tokenizer.encode(text, add_special_tokens=False).ids
    assert small_tokenizer.decode(ids, skip_special_tokens=False) == text
