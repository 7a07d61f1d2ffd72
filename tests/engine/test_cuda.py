"""On a real NVIDIA GPU: fp16 / bf16 / int4 graphs on the CUDA provider, CUDA-graph decode against uncaptured
decode, the device top-k, and long prompts staying finite.

Skipped cleanly where onnxruntime has no working CUDA provider (the CPU wheel, or onnxruntime-gpu on a machine
without a GPU, where ORT silently falls back to the CPU). The same logic's CPU checks are in test_gpu_decode.py.
Run on a GPU machine with `pytest -m cuda tests/engine/test_cuda.py`.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import glm_nb
from glm_nb.engine import Engine, Generator, SamplingParams
from glm_nb.errors import ModelLoadError

from tiny_checkpoint import make_tiny_checkpoint

CUDA = "CUDAExecutionProvider"
PROMPT = [7, 30, 111, 42, 9, 250, 3, 77, 15, 100, 2, 64]
MAX_POS = 4096

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(CUDA not in ort.get_available_providers(), reason="onnxruntime has no CUDA provider"),
]


def run(gen: Generator, n: int) -> list[int]:
    for _ in range(n):
        gen.generate_next_token()
    return gen.tokens[-n:]


class GpuModels:
    """One tiny checkpoint (context 4096 for long prompts) converted to every precision, loaded lazily."""

    CONVERSIONS = {
        "fp32": dict(precision="fp32"),
        "int4-fp32": dict(precision="int4", int4_accuracy_level=0),
        "bf16": dict(precision="bf16", top_k_output=8),
        "fp16": dict(precision="fp16", top_k_output=8),
        "int4-fp16": dict(precision="int4", int4_compute="fp16"),
        "int4-bf16": dict(precision="int4", int4_compute="bf16"),
    }

    def __init__(self, root):
        self.root = root
        self.src = make_tiny_checkpoint(root / "src", max_position_embeddings=MAX_POS)
        self._engines: dict[tuple, Engine] = {}

    def folder(self, name: str):
        out = self.root / name
        if not out.exists():
            glm_nb.convert(self.src, out, progress=False, **self.CONVERSIONS[name])
        return out

    def engine(self, name: str, device: str = "cuda", cuda_graph: bool = True) -> Engine:
        key = (name, device, cuda_graph)
        if key not in self._engines:
            graph = cuda_graph and device == "cuda"
            self._engines[key] = Engine.load(self.folder(name), device=device, cuda_graph=graph)
        return self._engines[key]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> GpuModels:
    models = GpuModels(tmp_path_factory.mktemp("gpu"))
    try:
        engine = models.engine("bf16")
    except ModelLoadError as e:  # onnxruntime-gpu without a usable GPU: it fell back to the CPU
        pytest.skip(f"the CUDA provider does not start here: {e}")
    assert engine.provider == CUDA
    return models


def reference(models: GpuModels, name: str = "fp32") -> np.ndarray:
    return Generator(models.engine(name, device="cpu"), max_length=64).score(PROMPT)


@pytest.mark.parametrize("name, tol", [("bf16", 0.05), ("fp16", 0.02)])
def test_half_precision_logits_match_fp32_on_the_cpu(models, name, tol):
    ours = Generator(models.engine(name), max_length=64).score(PROMPT)
    ref = reference(models)
    assert np.isfinite(ours).all()
    assert np.abs(ours - ref).max() <= tol * np.abs(ref).max()


@pytest.mark.parametrize("name", ["int4-fp16", "int4-bf16"])
def test_int4_with_half_compute_matches_int4_fp32_on_the_cpu(models, name):
    ours = Generator(models.engine(name), max_length=64).score(PROMPT)
    ref = reference(models, "int4-fp32")
    assert np.isfinite(ours).all()
    assert np.abs(ours - ref).max() <= 0.05 * np.abs(ref).max()


@pytest.mark.parametrize("name", ["bf16", "fp16", "int4-fp16"])
def test_captured_decode_equals_uncaptured_decode(models, name):
    engine = models.engine(name)
    gens = [
        Generator(engine, SamplingParams(max_new_tokens=1000), max_length=256, stop_ids=(), cuda_graph=graph)
        for graph in (True, False)
    ]
    for gen in gens:
        gen.set_prompt(PROMPT)
        run(gen, 40)  # capture happens within the first few decode steps; the rest are replays
        gen.rewind_to(len(PROMPT) + 10)  # an uncaptured prefill in between, then replays again
        run(gen, 20)
    assert gens[0].tokens == gens[1].tokens
    captured, plain = gens[0].last_logits(), gens[1].last_logits()
    assert np.abs(captured - plain).max() <= 0.01 * np.abs(plain).max()


def test_two_graph_generators_keep_their_own_buffers(models):
    engine = models.engine("bf16")
    alone = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=())
    alone.set_prompt(PROMPT)
    expected = run(alone, 24)
    a = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=())
    b = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=())
    a.set_prompt(PROMPT)
    b.set_prompt(PROMPT[:6])
    for _ in range(24):  # interleaved: a replay of a's graph must not touch b's KV cache, nor the reverse
        a.generate_next_token()
        b.generate_next_token()
    assert a.tokens[-24:] == expected


def test_decode_buffers_keep_their_device_addresses(models):
    gen = Generator(models.engine("bf16"), SamplingParams(max_new_tokens=1000), max_length=128, stop_ids=())
    buf = gen._steps.buf
    values = [buf.input_ids, buf.seqlens_k, buf.logits, buf.topk_values, buf.topk_ids, buf.expsum, *gen.cache.keys]
    before = [v.data_ptr() for v in values]
    gen.set_prompt(PROMPT)
    run(gen, 8)
    assert [v.data_ptr() for v in values] == before
    assert all(v.device_name().lower() == "cuda" for v in values)


@pytest.mark.parametrize("sampling", [dict(), dict(temperature=0.8, top_k=7, top_p=0.9, seed=11)])
def test_top_k_readback_equals_logits_readback(models, sampling):
    tokens = []
    for readback in ("auto", "logits"):
        gen = Generator(models.engine("bf16"), SamplingParams(max_new_tokens=1000, **sampling), max_length=128,
                        stop_ids=(), readback=readback)  # fmt: skip
        gen.set_prompt(PROMPT)
        tokens.append(run(gen, 16))
    assert tokens[0] == tokens[1]


@pytest.mark.parametrize("name", ["bf16", "fp16", "int4-fp16"])
def test_a_long_prompt_stays_finite(models, name):
    prompt = np.random.default_rng(0).integers(20, 400, MAX_POS - 64).tolist()
    gen = Generator(models.engine(name), SamplingParams(max_new_tokens=1000), max_length=MAX_POS, stop_ids=())
    gen.set_prompt(prompt)
    gen.generate_next_token()
    assert np.isfinite(gen.last_logits()).all()
    for _ in range(16):
        gen.generate_next_token()
        assert np.isfinite(gen.last_logits()).all()


def test_fp32_model_with_cuda_graphs_is_refused_with_advice(models):
    with pytest.raises(ModelLoadError, match="--precision bf16"):
        Engine.load(models.folder("fp32"), device="cuda", cuda_graph=True)


@pytest.fixture(scope="module")
def wide_checkpoint(tmp_path_factory):
    """Dimensions ONNX Runtime's weight-only (fpA_intB) kernels take: N a multiple of 64, K of the block size."""
    root = tmp_path_factory.mktemp("wide")
    return make_tiny_checkpoint(root / "src", hidden_size=128, intermediate_size=384, max_position_embeddings=512)


# The onnxruntime-gpu wheel's compact fpA_intB build takes fp16, block 32 and no zero points only (symmetric); the
# other forms keep the stock kernels whatever is asked, and must still be right.
@pytest.mark.parametrize("compute, block, sym", [("fp16", 32, True), ("fp16", 32, False), ("bf16", 128, False)])
def test_fpa_intb_kernels_agree_with_the_stock_kernels(models, wide_checkpoint, tmp_path, compute, block, sym):
    folder = glm_nb.convert(wide_checkpoint, tmp_path / "m", precision="int4", int4_compute=compute,
                            int4_block_size=block, int4_symmetric=sym, progress=False)  # fmt: skip
    cpu = glm_nb.convert(wide_checkpoint, tmp_path / "cpu", precision="int4", int4_block_size=block,
                         int4_symmetric=sym, int4_accuracy_level=0, progress=False)  # fmt: skip
    ref = Generator(Engine.load(cpu, device="cpu"), max_length=64).score(PROMPT)
    scale = np.abs(ref).max()
    engines = {k: Engine.load(folder, device="cuda", cuda_graph=True, int4_kernel=k) for k in ("fpa_intb", "stock")}
    assert {k: e.int4_kernel for k, e in engines.items()} == {"fpa_intb": "fpa_intb", "stock": "stock"}
    prefill = {k: Generator(e, max_length=64).score(PROMPT) for k, e in engines.items()}
    assert all(np.abs(p - ref).max() <= 0.05 * scale for p in prefill.values())
    assert np.abs(prefill["fpa_intb"] - prefill["stock"]).max() <= 0.02 * scale
    gen = Generator(engines["fpa_intb"], SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=())
    gen.set_prompt(PROMPT)
    run(gen, 12)  # captured decode steps: the weight-only GEMV under a CUDA graph
    tokens = list(gen.tokens)
    # The stock kernels score the same tokens in one prefill; its last row is what the last decode step saw.
    stock = Generator(engines["stock"], max_length=64).score(tokens[:-1])[-1]
    assert np.abs(gen.last_logits()[0] - stock).max() <= 0.03 * scale
