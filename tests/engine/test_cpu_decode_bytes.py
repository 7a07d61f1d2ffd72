"""benchmarks/cpu_decode.py's MB/token column: the bytes a decode step reads, counted from the converted graph."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import glm_nb

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cpu_decode.py"


def _script():
    spec = importlib.util.spec_from_file_location("cpu_decode", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_step_reads_every_weight_but_the_embedding_table(tiny, tmp_path):
    cpu_decode = _script()
    config = json.loads((tiny.src / "config.json").read_text())
    hidden, vocab = config["hidden_size"], config["vocab_size"]
    params = sum(p.numel() for p in tiny.reference.parameters())
    weights = 4 * (params - vocab * hidden)  # fp32, the embedding not tied to lm_head
    assert 0 <= cpu_decode.bytes_per_token(tiny.out) - weights < 256  # and a few small constants of the graph
    int4 = glm_nb.convert(tiny.src, tmp_path / "int4", precision="int4", progress=False)
    # int4 linears: half a byte a weight plus a float scale per block of 32 (and the fp32 norms and biases).
    assert cpu_decode.bytes_per_token(int4) < 0.25 * cpu_decode.bytes_per_token(tiny.out)

