"""Load test of `glm-nb serve` (issue 8): N concurrent clients for D seconds, no request lost, every answer complete.

    python benchmarks/serve_load.py [MODEL] [--clients 8] [--seconds 30] [--max-tokens 32] [--json OUT]
    python benchmarks/serve_load.py --url http://127.0.0.1:8000/v1 --tokenizer DIR [--api-key-env NAME] ...

Without --url it starts `glm-nb serve MODEL --port 0` on this machine (MODEL defaults to the bundled nano-GLM) and
stops it with SIGTERM at the end (a clean exit is part of the check). Each client sends a chat prompt (rendered
with the model's template) to the raw completions endpoint through `RemoteBackend`, streams the answer, and sends
the next one, until the time is up; a request started before the deadline runs to its end (each piece bounded by
the client timeout). The server decodes one request at a time, so latency includes the queue wait.

Checks: every request ended with a finish reason (no error, no broken stream), and the server counted exactly as
many completed generations as the clients (nothing lost or duplicated). Prints p50/p95 of the whole-request latency
and of the time to the first streamed piece. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from glm_nb.chat import ChatTemplate, CompletionEnd, TextChunk
from glm_nb.chat.remote import RemoteBackend
from glm_nb.engine import SamplingParams
from glm_nb.errors import GlmError
from glm_nb.nano import checkpoint_path

QUESTIONS = (
    "What is the weather in Paris?",
    "Write a haiku about notebooks.",
    "How many legs does a spider have?",
    "北京今天天气怎么样？",
    "Explain a KV cache in one sentence.",
    "Draw a small red circle as SVG.",
)
START_TIMEOUT_S = 300


@dataclass
class ClientLog:
    latencies_s: list[float] = field(default_factory=list)
    first_piece_s: list[float] = field(default_factory=list)
    tokens: int = 0
    complete: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoadReport:
    clients: int
    seconds: float
    requests: int
    complete: int
    errors: list[str]
    server_completed: int | None
    tokens: int
    latency_p50_s: float
    latency_p95_s: float
    first_piece_p50_s: float
    first_piece_p95_s: float
    wall_s: float

    @property
    def ok(self) -> bool:
        counted = self.server_completed is None or self.server_completed == self.complete
        return self.requests > 0 and self.complete == self.requests and not self.errors and counted


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def one_request(backend: RemoteBackend, prompt: str, sampling: SamplingParams, log: ClientLog) -> None:
    start = time.perf_counter()
    first = None
    ended = False
    try:
        for item in backend.complete(prompt, sampling):
            if isinstance(item, TextChunk) and first is None:
                first = time.perf_counter() - start
            if isinstance(item, TextChunk):
                log.tokens += item.tokens
            elif isinstance(item, CompletionEnd):
                log.tokens += item.tokens
                ended = True
    except GlmError as e:
        log.errors.append(f"{type(e).__name__}: {e}")
        return
    if not ended:
        log.errors.append("the stream ended without a CompletionEnd")
        return
    log.complete += 1
    log.latencies_s.append(time.perf_counter() - start)
    if first is not None:
        log.first_piece_s.append(first)


def client(
    backend: RemoteBackend, prompts: list[str], sampling: SamplingParams, deadline: float, log: ClientLog, n: int
):
    i = n
    while time.perf_counter() < deadline:
        one_request(backend, prompts[i % len(prompts)], sampling, log)
        i += 1


def run_load(backend: RemoteBackend, clients: int, seconds: float, max_tokens: int) -> tuple[list[ClientLog], float]:
    template = ChatTemplate(backend.chat_template) if backend.chat_template else None
    prompts = [template.render([{"role": "user", "content": q}]) if template else q for q in QUESTIONS]
    sampling = SamplingParams(temperature=0.6, top_p=0.8, max_new_tokens=max_tokens, seed=0)
    logs = [ClientLog() for _ in range(clients)]
    start = time.perf_counter()
    deadline = start + seconds
    threads = [
        threading.Thread(target=client, args=(backend, prompts, sampling, deadline, log, n), daemon=True)
        for n, log in enumerate(logs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # each request is bounded by the client timeout, and no request starts after the deadline
    return logs, time.perf_counter() - start


def report(
    logs: list[ClientLog], clients: int, seconds: float, wall: float, server_completed: int | None
) -> LoadReport:
    latencies = [x for log in logs for x in log.latencies_s]
    firsts = [x for log in logs for x in log.first_piece_s]
    errors = [e for log in logs for e in log.errors]
    complete = sum(log.complete for log in logs)
    return LoadReport(
        clients=clients,
        seconds=seconds,
        requests=complete + len(errors),
        complete=complete,
        errors=errors[:20],
        server_completed=server_completed,
        tokens=sum(log.tokens for log in logs),
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
        first_piece_p50_s=percentile(firsts, 50),
        first_piece_p95_s=percentile(firsts, 95),
        wall_s=wall,
    )


def print_report(r: LoadReport) -> None:
    print(f"clients {r.clients} x {r.seconds:g} s (wall {r.wall_s:.1f} s)")
    print(
        f"requests {r.requests}, complete {r.complete}, errors {len(r.errors)}, server counted {r.server_completed}"
    )
    print(f"throughput {r.complete / r.wall_s:.2f} req/s, {r.tokens / r.wall_s:.1f} tok/s")
    print(f"latency     p50 {r.latency_p50_s * 1000:8.1f} ms   p95 {r.latency_p95_s * 1000:8.1f} ms")
    print(f"first piece p50 {r.first_piece_p50_s * 1000:8.1f} ms   p95 {r.first_piece_p95_s * 1000:8.1f} ms")
    for error in r.errors:
        print(f"  error: {error}")
    print("OK" if r.ok else "FAILED")


class LocalServer:
    """`glm-nb serve MODEL --port 0` in a subprocess; `url` from the line it prints once listening."""

    def __init__(self, model: str, extra: list[str]):
        argv = [sys.executable, "-m", "glm_nb", "serve", model, "--port", "0", "--quiet", *extra]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not lines or " on http://" not in lines[0]:
            self.process.kill()
            raise SystemExit(f"glm-nb serve did not start: {lines[0] if lines else 'no output'!r}")
        self.url = lines[0].rsplit(" on ", 1)[1].strip()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9


def server_completed(url: str) -> int | None:
    """The server's own count of completed generations (glm-nb serve's /health), if it has one."""
    try:
        with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=10) as response:
            return json.loads(response.read()).get("completed")
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="model folder to serve (default: the bundled nano-GLM)")
    parser.add_argument("--url", help="an already running server (then --tokenizer is needed)")
    parser.add_argument("--tokenizer", help="folder with tokenizer.json / tokenizer_config.json (default: MODEL)")
    parser.add_argument("--api-key-env", default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=120.0, help="client timeout per streamed piece (s)")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra argument for glm-nb serve")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    server = None
    if args.url is None:
        if args.model is None:
            args.model = str(checkpoint_path())
        server = LocalServer(args.model, args.serve_arg)
        args.url = server.url
    tokenizer = args.tokenizer or args.model
    if tokenizer is None:
        parser.error("--url needs --tokenizer (a folder with the model's tokenizer files)")
    exit_code = None
    try:
        backend = RemoteBackend.connect(
            args.url, api_key_env=args.api_key_env, tokenizer=tokenizer, timeout=args.timeout
        )
        before = server_completed(args.url)
        logs, wall = run_load(backend, args.clients, args.seconds, args.max_tokens)
        after = server_completed(args.url)
        counted = after - before if after is not None and before is not None else None
        result = report(logs, args.clients, args.seconds, wall, counted)
    finally:
        if server is not None:
            exit_code = server.stop()
    print_report(result)
    if server is not None:
        print(f"server exit status {exit_code}")
    if args.json:
        args.json.write_text(json.dumps({**asdict(result), "ok": result.ok, "server_exit": exit_code}, indent=2))
    return 0 if result.ok and exit_code in (None, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
