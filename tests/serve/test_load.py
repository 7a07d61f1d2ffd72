"""benchmarks/serve_load.py, shortened (4 clients x 5 s) against `glm-nb serve` over the tiny checkpoint: no request
lost, every answer complete, the server's count equal to the clients', a clean exit, latencies printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


@pytest.mark.slow
def test_short_load_run_loses_nothing(tiny, tmp_path):
    out = tmp_path / "load.json"
    argv = [sys.executable, str(SCRIPT), str(tiny.out), "--clients", "4", "--seconds", "5", "--max-tokens", "16",
            "--serve-arg=--device", "--serve-arg=cpu", "--json", str(out)]  # fmt: skip

    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)

    report = json.loads(out.read_text())
    assert run.returncode == 0, run.stdout + run.stderr
    assert report["ok"] and report["errors"] == [] and report["server_exit"] == 0
    assert report["requests"] >= 4 and report["complete"] == report["requests"] == report["server_completed"]
    assert report["latency_p50_s"] <= report["latency_p95_s"]
    assert "latency     p50" in run.stdout
