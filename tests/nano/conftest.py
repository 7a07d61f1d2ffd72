"""Shared fixtures for the nano-GLM tests: one small tokenizer per session (the quick trainer's size)."""

from __future__ import annotations

import pytest

from glm_nb.nano.tokenizer import build_tokenizer


@pytest.fixture(scope="session")
def small_tokenizer():
    return build_tokenizer(vocab_size=600, seed=0, examples=400)
