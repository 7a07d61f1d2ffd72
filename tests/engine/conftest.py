"""Fixtures of the engine tests that change the model cache or the checkpoint."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A model cache of this test's own (GLM_NB_CACHE); returns its models folder."""
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture
def ckpt(tiny, tmp_path):
    """A copy of the tiny checkpoint this test may change or delete."""
    return shutil.copytree(tiny.src, tmp_path / "ckpt")
