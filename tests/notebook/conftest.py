"""Fixtures for the notebook layer: a real IPython `InteractiveShell` with glm_nb loaded, output captured, and a
scripted model (the chat layer's `ScriptedGenerator` through a real tokenizer) so magics run in milliseconds."""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from glm_nb import nano
from glm_nb.chat import ScriptedGenerator
from glm_nb.engine import Tokenizer
from glm_nb.magics import LoadedModel, NotebookSession
from glm_nb.magics import session as session_module
from glm_nb.render import MIME_TYPE

from tiny_checkpoint import TEMPLATE_PATH, write_tokenizer


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory) -> Tokenizer:
    folder = tmp_path_factory.mktemp("nb-tokenizer")
    write_tokenizer(folder)
    return Tokenizer(folder / "tokenizer.json")


@pytest.fixture(scope="session")
def glm_template() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


@pytest.fixture
def scripted_model(tokenizer, glm_template):
    """`scripted_model(replies) -> (LoadedModel, ScriptedGenerator)`; Z1 cells use nano-GLM's Z1 template."""

    def make(replies=(), label="scripted-GLM", **kwargs):
        generator = ScriptedGenerator(tokenizer, replies, **kwargs)
        backend = generator.backend(chat_template=glm_template, name=label)
        return LoadedModel(label, backend, z1_template=nano.chat_template("z1")), generator

    return make


@dataclass
class Kernel:
    """A shell with glm_nb loaded. `run(cell)` returns what the cell displayed (each publish, updates included)."""

    shell: InteractiveShell
    session: NotebookSession
    publisher: CapturingDisplayPublisher
    scripted: object  # the scripted_model factory
    errors: list = field(default_factory=list)

    @property
    def magics(self):
        return self.shell.magics_manager.registry["GlmMagics"]

    def run(self, source: str, cell_id: str | None = None) -> list[dict]:
        start = len(self.publisher.outputs)
        result = self.shell.run_cell(source, cell_id=cell_id)
        self.errors.append(result.error_in_exec or result.error_before_exec)
        return self.publisher.outputs[start:]

    def final(self, outputs: list[dict]) -> dict:
        """The last transcript shown: what the saved notebook keeps."""
        return [o for o in outputs if MIME_TYPE in o["data"]][-1]

    def use(self, replies=(), **kwargs) -> ScriptedGenerator:
        """Serve every magic with a scripted model replying `replies` in turn."""
        model, generator = self.scripted(replies, **kwargs)
        self.session.use(model)
        return generator


@pytest.fixture
def kernel(monkeypatch, scripted_model):
    monkeypatch.setattr(session_module, "_SESSION", NotebookSession(refresh_s=0.0))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    publisher = CapturingDisplayPublisher()
    shell.display_pub = publisher
    shell.extension_manager.load_extension("glm_nb")
    k = Kernel(shell, session_module.current_session(), publisher, scripted_model)
    k.magics.live_updates = True
    yield k
    shell.extension_manager.unload_extension("glm_nb")
    # Each shell registers its exit work (a reset with a full garbage collection): a hundred test shells at exit
    # kept the finished test run alive for minutes. This one's history is in memory, so nothing is lost.
    atexit.unregister(shell.atexit_operations)
    InteractiveShell.clear_instance()
