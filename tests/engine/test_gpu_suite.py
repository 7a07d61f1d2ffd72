"""benchmarks/gpu_suite.py --small: the GPU suite's own code paths (random checkpoint, parallel conversions, child
processes with deadlines, transformers peer, graph-mode and top-k decode, the table) on the CPU with a tiny shape,
so that the one device call it is written for does not fail on a typo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_suite.py"


@pytest.mark.slow
def test_small_suite_runs_every_row_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            str(SUITE),
            "--small",
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            "--budget",
            "300",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((out / "gpu_suite.json").read_text())
    assert results["transformers"]["ok"], results["transformers"]["error"]
    assert set(results["transformers"]["value"]["decode"]) == {"16", "64", "128"}
    assert set(results["transformers"]["value"]["forward"]) == {"16", "64", "128"}
    for label in ("fp32", "int4 (fp32 compute)"):
        engine = results["variants"][label]["engine"]
        assert engine["ok"], engine["error"]
        rows = {r["mode"]: r for r in engine["value"]["rows"]}
        assert all("error" not in r and r["finite"] for r in rows.values())
        assert set(rows["graphs on · top-k readback"]["decode"]) == {"16", "64", "128"}
        assert set(rows["graphs on · chat sampling"]["decode"]) == {"16"}  # what sampling costs a step
        assert set(rows["graphs on · peaked sampling"]["decode"]) == {"16"}
        assert 0 <= rows["graphs on · peaked sampling"]["top_k_share"] <= 1
        assert rows["graphs on · peaked, temperature alone"]["top_k_share"] > 0  # OpenAI's default sampling
        assert engine["value"]["ttft_ms"] > 0
    table = (out / "gpu_suite.txt").read_text()
    assert "fp32 · graphs off · top-k readback" in table and "transformers generate (sdpa)" in table
    assert "of draws from the top-k)" in table
    assert "transformers forward loop (sdpa)" in table
    assert (out / "gpu_suite.log").stat().st_size > 0
    assert not (tmp_path / "work" / "model-fp32").exists()  # measured models are deleted


def test_suite_refuses_an_unknown_precision(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SUITE), "--precisions", "bf17", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "unknown precision" in done.stderr


@pytest.mark.slow
def test_small_profile_measures_every_variant_on_the_cpu(tmp_path):
    """benchmarks/gpu_profile.py --small: conversions shared between variants, decode timed with graphs on and off,
    the report written (the kernel tables need CUPTI, so only the GPU fills them)."""
    out = tmp_path / "out"
    script = SUITE.with_name("gpu_profile.py")
    done = subprocess.run(
        [sys.executable, str(script), "--small", "--steps", "4", "--out", str(out), "--work", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((out / "gpu_profile.json").read_text())
    assert set(results["variants"]) == {"fp32", "int4 b32"}
    for variant in results["variants"].values():
        assert "error" not in variant, variant.get("error")
        assert variant["weights_read"] > 0
        assert variant["graphs on"]["wall_us"] > 0 and variant["graphs off"]["wall_us"] > 0
    assert "## int4 b32" in (out / "gpu_profile.txt").read_text()


def test_suite_variants_have_unique_keys_and_the_default_set_resolves(monkeypatch):
    monkeypatch.syspath_prepend(str(SUITE.parent))
    import gpu_suite

    keys = [v.key for v in gpu_suite.GPU_VARIANTS]
    assert len(keys) == len(set(keys))
    default = gpu_suite._variants(gpu_suite._parse([]))
    assert [v.key for v in default] == list(gpu_suite.DEFAULT_GPU)
    chosen = gpu_suite._variants(gpu_suite._parse(["--precisions", "int4-fp16-sym-fpa,int4-bf16-b128,bf16"]))
    assert [(v.precision, v.compute, v.block_size, v.symmetric, v.int4_kernel) for v in chosen] == [
        ("int4", "fp16", 32, True, "fpa_intb"),
        ("int4", "bf16", 128, False, "auto"),
        ("bf16", "bf16", 32, False, "auto"),
    ]
