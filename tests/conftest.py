"""Shared fixtures: tiny random GLM-4 checkpoints, their conversions and their transformers references.

Built once per test session under pytest's tmp dir (a conversion of a tiny model takes well under a second).
"""

from __future__ import annotations

import threading

import pytest
from chromium import CHROMIUM, LeakServer, need_chromium
from fake_openai_server import FakeServer

import glm_nb
from glm_nb.engine import Engine

from tiny_checkpoint import load_reference, make_tiny_checkpoint


class TinyModel:
    """A checkpoint folder, its fp32 conversion, the loaded Engine and the transformers reference."""

    def __init__(self, root, name: str, **config):
        self.src = make_tiny_checkpoint(root / name, **config)
        self.out = glm_nb.convert(self.src, root / f"{name}.onnx", progress=False)
        self.engine = Engine.load(self.out, device="cpu", threads=1)
        self._reference = None

    @property
    def reference(self):
        if self._reference is None:
            self._reference = load_reference(self.src)
        return self._reference


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModel:
    """head_dim 32: rotary inside GroupQueryAttention."""
    return TinyModel(tmp_path_factory.mktemp("tiny"), "hd32")


@pytest.fixture(scope="session")
def tiny_hd16(tmp_path_factory) -> TinyModel:
    """head_dim 16: rotary half-width 4 is not a multiple of 8, so the graph uses com.microsoft.RotaryEmbedding."""
    return TinyModel(tmp_path_factory.mktemp("tiny16"), "hd16", head_dim=16, seed=1)


@pytest.fixture(scope="session")
def browser():
    """Chromium through Playwright, one session for every browser test (tests/chromium.py says why)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def leak_server():
    """A local server that records every request a hostile page makes to it (tests/chromium.py)."""
    server = LeakServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def fake():
    """A fake OpenAI-compatible server (tests/fake_openai_server.py), closed after the test."""
    server = FakeServer()
    yield server
    server.close()
