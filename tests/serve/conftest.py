"""Fixtures for the serve tests: real server processes on 127.0.0.1 (port 0: the OS picks a free one, the server
prints its URL), over a scripted model (scripted_server.py) or a converted checkpoint (`glm-nb serve`), and a server
in a thread of the test process over a scripted model (`inline_server`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from glm_nb.chat import ScriptedGenerator
from glm_nb.engine import Tokenizer, open_model
from glm_nb.engine.tokenizer import load_chat_template
from glm_nb.errors import GlmError
from glm_nb.nano import checkpoint_path
from glm_nb.serve import GlmServer

from tiny_checkpoint import write_tokenizer

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 120  # loading onnxruntime (and converting nano on first use) on a busy 2-core machine


class ServerProcess:
    """A server subprocess; `url` ends with /v1. Stopped (SIGTERM, then SIGKILL) by `stop()`."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None):
        self.log = log
        self._log_file = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._log_file, text=True, env={**os.environ, **(env or {})}
        )
        self.url = self._read_url()

    def _read_url(self) -> str:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        line = lines[0] if lines else ""
        if " on http://" not in line:
            self.stop()
            detail = self.log.read_text() if self.log else ""
            raise RuntimeError(f"the server did not start: {line!r}\n{detail[-3000:]}")
        return line.rsplit(" on ", 1)[1].strip()

    def health(self) -> dict:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/health", timeout=10) as response:
            return json.loads(response.read())

    def wait_health(self, predicate, timeout_s: float = 30.0) -> dict:
        """Poll /health until `predicate(health)` holds (bounded: fails after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            health = self.health()
            if predicate(health) or time.monotonic() > deadline:
                return health
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        if self.process.stdout:
            self.process.stdout.close()
        if self.log:
            self._log_file.close()
        return self.process.returncode


@pytest.fixture(scope="session")
def tokenizer_folder(tmp_path_factory) -> Path:
    """The tiny GLM-special-token tokenizer and the published template (tests/tiny_checkpoint.py)."""
    folder = tmp_path_factory.mktemp("serve-tokenizer")
    write_tokenizer(folder)
    return folder


@pytest.fixture
def scripted_server(tmp_path, tokenizer_folder):
    """`scripted_server(replies, token_delay=0.0, api_key=None, template=None) -> ServerProcess` over a scripted
    model (template: a chat template's text, default the published GLM-4 one); its
    `prompts()` lists the prompts it was given (decoded). Stopped at teardown."""
    started: list[ServerProcess] = []

    def start(
        replies, *, token_delay: float = 0.0, api_key: str | None = None, template: str | None = None
    ) -> ServerProcess:
        index = len(started)
        replies_file = tmp_path / f"replies{index}.json"
        replies_file.write_text(json.dumps(list(replies)), encoding="utf-8")
        prompts_file = tmp_path / f"prompts{index}.jsonl"
        argv = [sys.executable, str(HERE / "scripted_server.py"), "--tokenizer", str(tokenizer_folder),
                "--replies", str(replies_file), "--token-delay", str(token_delay), "--prompts-log", str(prompts_file)]  # fmt: skip
        env = {}
        if template is not None:
            (tmp_path / f"template{index}.jinja").write_text(template, encoding="utf-8")
            argv += ["--template", str(tmp_path / f"template{index}.jinja")]
        if api_key is not None:
            argv += ["--api-key-env", "SCRIPTED_SERVER_KEY"]
            env["SCRIPTED_SERVER_KEY"] = api_key
        server = ServerProcess(argv, env, log=tmp_path / f"server{index}.log")
        server.prompts = lambda: [json.loads(line) for line in prompts_file.read_text().splitlines()]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def inline_server(tokenizer_folder):
    """`inline_server(replies, max_length=4096, name="scripted", **GlmServer options) -> GlmServer`, serving from a
    thread; `name` is the model's own name (a checkpoint's), which `model_name` may serve it under."""
    started: list[tuple[GlmServer, threading.Thread]] = []

    def start(replies=(), *, max_length: int = 4096, name: str = "scripted", **options) -> GlmServer:
        tokenizer = Tokenizer(tokenizer_folder / "tokenizer.json")
        generator = ScriptedGenerator(tokenizer, replies, max_length=max_length)
        backend = generator.backend(chat_template=load_chat_template(tokenizer_folder), name=name)
        server = GlmServer(backend, port=0, quiet=True, **options)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.stop()
        thread.join(30)
        server.server_close()


def glm_nb_serve(model: Path, log: Path, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    """`glm-nb serve MODEL --port 0` (on the CPU, one thread) as a subprocess."""
    argv = [sys.executable, "-m", "glm_nb", "serve", str(model), "--port", "0", "--device", "cpu", "--threads", "1",
            "--quiet", *extra]  # fmt: skip
    return ServerProcess(argv, env, log=log)


@pytest.fixture
def serve_model(tmp_path):
    """`serve_model(folder, *extra_args, env=None) -> ServerProcess`: `glm-nb serve` processes, stopped at teardown."""
    started: list[ServerProcess] = []

    def start(model: Path, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        started.append(glm_nb_serve(model, tmp_path / f"serve{len(started)}.log", *extra, env=env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def tiny_server(tiny, tmp_path_factory):
    """`glm-nb serve` over the tiny random checkpoint's conversion (plumbing with a real engine)."""
    server = glm_nb_serve(tiny.out, tmp_path_factory.mktemp("tiny-serve") / "server.log")
    yield server
    server.stop()


class NanoServed:
    """The bundled nano-GLM: its checkpoint folder, a local Engine, and `glm-nb serve` over it."""

    def __init__(self, folder: Path, engine, server: ServerProcess):
        self.folder, self.engine, self.server = folder, engine, server


@pytest.fixture(scope="module")
def nano(tmp_path_factory):
    """Skips when the checkpoint is missing: the real-behaviour tests need a model that calls tools and thinks.
    Converted once into a temporary GLM_NB_CACHE, shared by the local engine and the server process."""
    try:
        folder = checkpoint_path()
    except GlmError:
        pytest.skip("needs the bundled nano-GLM checkpoint (glm_nb/nano/checkpoint/), which is not in this checkout")
    cache = str(tmp_path_factory.mktemp("nano-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLM_NB_CACHE", cache)
        engine = open_model(folder, device="cpu", threads=1, progress=False)
    server = glm_nb_serve(folder, tmp_path_factory.mktemp("nano-serve") / "server.log", env={"GLM_NB_CACHE": cache})
    yield NanoServed(folder, engine, server)
    server.stop()
