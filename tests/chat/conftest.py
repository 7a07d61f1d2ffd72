"""Fixtures for the chat layer: the tiny GLM-special-token tokenizer, the published template, a scripted model."""

from __future__ import annotations

from pathlib import Path

import pytest

from glm_nb.chat import Conversation, ScriptedGenerator
from glm_nb.engine import Tokenizer

from tiny_checkpoint import TEMPLATE_PATH, write_tokenizer


@pytest.fixture(scope="session")
def glm_template() -> str:
    """The published GLM-4-0414 chat template (../shared/glm4)."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tokenizer_folder(tmp_path_factory) -> Path:
    """tokenizer.json etc. of a small byte-level BPE with the GLM special tokens (tests/tiny_checkpoint.py)."""
    folder = tmp_path_factory.mktemp("chat-tokenizer")
    write_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tokenizer(tokenizer_folder) -> Tokenizer:
    return Tokenizer(tokenizer_folder / "tokenizer.json")


@pytest.fixture
def scripted(tokenizer, glm_template):
    """`scripted(replies, **conversation_options) -> (conversation, generator)` over the published template."""

    def make(replies=(), **options):
        generator = ScriptedGenerator(tokenizer, replies)
        options.setdefault("template", glm_template)
        return Conversation(generator.backend(chat_template=None), **options), generator

    return make
