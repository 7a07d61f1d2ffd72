"""The GPU decode path's logic, checked on the CPU: CUDA-graph bookkeeping, the inputs a captured decode step
sees, sampling from a device-side top-k, and the fp16 / bf16 / int4-on-GPU graphs the converter emits.

What needs a real GPU (capture and replay, the CUDA kernels) is in test_cuda.py, skipped without one.
"""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import glm_nb
from glm_nb.cli import main as cli_main
from glm_nb.engine import Engine, Generator, SamplingParams
from glm_nb.engine import step_sampler as step_sampler_module
from glm_nb.engine.graph_plan import UNCAPTURED, GraphIds, StepPlan, decode_plan, prefill_plan, run_options_entries
from glm_nb.engine.metadata import ModelMetadata
from glm_nb.engine.sampling import apply_temperature, draw_first, kept_ids, make_rng, sample
from glm_nb.engine.step_sampler import StepSampler
from glm_nb.engine.tokenizer import Tokenizer
from glm_nb.engine.topk_sampling import (
    _outside_mass,
    covers,
    sample_temperature,
    sample_top_k,
    sample_top_p,
    temperature_only,
    top_p_only,
)
from glm_nb.errors import ConversionError, GenerationError

PROMPT = [7, 30, 111, 42, 9, 250, 3, 77, 15, 100, 2, 64]
TOP_K = 8
CUDA = "CUDAExecutionProvider"


def run(gen: Generator, n: int) -> list[int]:
    for _ in range(n):
        gen.generate_next_token()
    return gen.tokens[-n:]


def cpu_engine(folder) -> Engine:
    """An Engine around a plain CPU session, for graphs Engine.load keeps for CUDA (fp16 compute runs on ORT's CPU
    provider, slowly; bf16 does not)."""
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = ModelMetadata.load(folder)
    return Engine(folder, session, meta, Tokenizer(folder / "tokenizer.json"), None, "CPUExecutionProvider")


@pytest.fixture(scope="module")
def topk_engine(tiny, tmp_path_factory):
    out = glm_nb.convert(tiny.src, tmp_path_factory.mktemp("topk") / "m", top_k_output=TOP_K, progress=False)
    return Engine.load(out, device="cpu", threads=1)


# -- graph-id bookkeeping ---------------------------------------------------------------------------------------
def test_prefill_runs_uncaptured_with_the_real_total_length():
    plan = prefill_plan(np.array([5, 12]))
    assert plan == StepPlan(UNCAPTURED, 12) and not plan.captured
    assert run_options_entries(plan) == {"gpu_graph_id": "-1"}


def test_captured_decode_passes_the_buffer_length_and_its_graph_id():
    assert decode_plan(np.array([40, 7]), graph_id=3, buffer_length=128) == StepPlan(3, 128)
    assert decode_plan(np.array([40, 7]), graph_id=None, buffer_length=128) == StepPlan(UNCAPTURED, 40)
    assert run_options_entries(StepPlan(3, 128)) == {"gpu_graph_id": "3"}
    with pytest.raises(ValueError, match="exceeds"):
        decode_plan(np.array([129]), graph_id=3, buffer_length=128)


def test_graph_ids_are_unique_across_threads_and_never_zero():
    ids, seen = GraphIds(), []

    def take():
        seen.extend(ids.allocate() for _ in range(200))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 801))


def test_each_graph_generator_gets_its_own_id(tiny):
    a = Generator(tiny.engine, max_length=32, cuda_graph=True)
    b = Generator(tiny.engine, max_length=32, cuda_graph=True)
    plain = Generator(tiny.engine, max_length=32)
    assert a._steps.graph_id != b._steps.graph_id and None not in (a._steps.graph_id, b._steps.graph_id)
    assert plain._steps.graph_id is None


# -- the inputs a captured decode step sees, run on the CPU --------------------------------------------------------
@pytest.mark.parametrize("fixture", ["tiny", "tiny_hd16"])
def test_graph_mode_decode_inputs_give_the_same_tokens(fixture, request):
    """total_sequence_length = buffer length (as under capture) must not change what GroupQueryAttention computes."""
    engine = request.getfixturevalue(fixture).engine
    plain = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=())
    graph = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=(), cuda_graph=True)
    for gen in (plain, graph):
        gen.append_tokens(PROMPT)
        run(gen, 12)
        gen.rewind_to(len(PROMPT) + 4)  # prefill again from the middle, then decode on
        run(gen, 10)
    assert graph.tokens == plain.tokens
    assert np.abs(graph.last_logits() - plain.last_logits()).max() <= 1e-5


def test_graph_mode_batch_with_ragged_prompts(tiny):
    short, long = PROMPT[:5], PROMPT + [21, 22, 23]
    gens = [
        Generator(tiny.engine, SamplingParams(max_new_tokens=1000), batch_size=2, max_length=64, stop_ids=(), **kw)
        for kw in ({}, {"cuda_graph": True})
    ]
    for gen in gens:
        gen.append_tokens([short, long])
        run(gen, 10)
    assert gens[0].sequence(0) == gens[1].sequence(0) and gens[0].sequence(1) == gens[1].sequence(1)


def test_decode_keeps_every_bound_address(topk_engine):
    """A CUDA graph replays captured addresses: decode must refresh its buffers in place, never rebind them."""
    gen = Generator(topk_engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=(), cuda_graph=True)
    buf = gen._steps.buf
    values = [buf.input_ids, buf.seqlens_k, buf.decode_logits_index, buf.logits, buf.topk_values, buf.topk_ids]
    values += [buf.expsum, *gen.cache.keys, *gen.cache.values]
    before = [v.data_ptr() for v in values]
    gen.set_prompt(PROMPT)
    run(gen, 6)
    assert [v.data_ptr() for v in values] == before
    assert not buf.decode_logits_index.numpy().any()  # decode picks row 0 of its one-token chunk, always


def test_cuda_graph_needs_a_graph_engine_on_cuda(tiny):
    class FakeCuda:  # an engine that runs on CUDA but was loaded without graphs
        engine = tiny.engine
        metadata, graph_ids, cuda_graph, device, top_k_output = engine.metadata, engine.graph_ids, False, "cuda", 0

    with pytest.raises(GenerationError, match="cuda_graph=True"):
        Generator(FakeCuda(), max_length=32, cuda_graph=True)
    with pytest.raises(GenerationError, match="readback"):
        Generator(tiny.engine, max_length=32, readback="top")


# -- sampling from a device-side top-k ------------------------------------------------------------------------------
def test_covers_says_when_the_top_k_decides_the_draw():
    assert covers(SamplingParams(), 2)  # greedy
    assert not covers(SamplingParams(), 1)  # a token outside may tie with the one candidate
    assert covers(SamplingParams(temperature=0.7, top_k=40, top_p=0.9), 64)
    assert not covers(SamplingParams(temperature=0.7, top_k=40), 32)  # needs more candidates than there are
    assert not covers(SamplingParams(temperature=0.7, top_k=32), 32)  # a token outside may tie with the 32nd
    assert not covers(SamplingParams(temperature=0.7), 64)  # the whole distribution
    assert not covers(SamplingParams(repetition_penalty=1.2), 64)  # the penalty can move tokens across the cut
    assert not covers(SamplingParams(), 0)


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(),
        SamplingParams(temperature=0.8, top_k=8),
        SamplingParams(temperature=1.3, top_k=5, top_p=0.7),
        SamplingParams(temperature=0.6, top_k=15, top_p=0.95),
    ],
)
def test_sampling_from_the_top_k_equals_sampling_from_the_whole_row(params):
    logits = np.random.default_rng(0).normal(scale=3.0, size=(3, 500)).astype(np.float32)
    k = 16
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :k]  # what TopK outputs: sorted, ties to the lower id
    values = np.take_along_axis(logits, ids, axis=1)
    for seed in range(25):
        full = sample(logits, params, make_rng(seed))
        top = sample_top_k(values, ids, params, make_rng(seed))
        assert full.tolist() == top.tolist(), seed


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=0.6, top_p=0.8),  # the chat preset
        SamplingParams(temperature=0.95, top_p=0.7),  # Rumination's
        SamplingParams(temperature=1.0, top_p=0.3),
    ],
)
def test_top_p_decided_by_the_top_k_equals_sampling_from_the_whole_row(params):
    """Rows from confident (peaked) to flat: where the candidates decide the cut, the draw is the whole row's;
    where they cannot, nothing is drawn, so the caller's whole-row draw uses the same random number."""
    assert top_p_only(params)
    decided = undecided = 0
    for seed in range(60):
        logits = np.random.default_rng(seed).normal(scale=1.0 + seed / 4, size=(2, 5000)).astype(np.float32)
        ids = np.argsort(-logits, axis=1, kind="stable")[:, :16]
        values = np.take_along_axis(logits, ids, axis=1)
        rng = make_rng(seed)
        top = sample_top_p(values, ids, params, rng, vocab_size=5000)
        full = sample(logits, params, rng)  # what the caller does next: same draw if `top` took none
        if top is None:
            undecided += 1
            assert full.tolist() == sample(logits, params, make_rng(seed)).tolist()
        else:
            decided += 1
            assert top.tolist() == sample(logits, params, make_rng(seed)).tolist(), seed
    assert decided >= 10 and undecided >= 10  # both paths were exercised


def test_top_p_draws_nothing_when_the_tokens_outside_could_move_its_cut():
    params = SamplingParams(temperature=1.0, top_p=0.45)
    values, ids = np.log([[1.0, 0.7, 0.4]]).astype(np.float32), np.array([[0, 1, 2]])
    # The two tokens outside may weigh up to 0.4 each: with them at 0.4 top-p keeps ids 0 and 1, with them near 0
    # only id 0 (the mass before id 1 is 0.7 / 2.1 of the row), so the candidates cannot decide.
    for outside in (0.4, 1e-9):
        row = np.log([[1.0, 0.7, 0.4, outside, outside]]).astype(np.float32)
        assert kept_ids(row[0], params).tolist() == ([0, 1] if outside == 0.4 else [0])
    rng = make_rng(0)
    assert sample_top_p(values, ids, params, rng, vocab_size=5) is None
    assert rng.random() == make_rng(0).random()  # nothing drawn
    # The cut itself may fall outside: two equal candidates hold at most 2/100 of a 100-token row, not 0.9.
    flat = SamplingParams(temperature=1.0, top_p=0.9)
    assert sample_top_p(np.zeros((1, 2), np.float32), np.array([[4, 9]]), flat, make_rng(0), vocab_size=100) is None
    assert sample_top_p(values, ids, params, make_rng(0), vocab_size=3) is not None  # nothing outside: decided


def ranked_row(seed: int, slope: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A [1, 5000] row whose logits fall with the log of a token's rank (steeper: more confident), shuffled, with
    noise; its top-16 ids and values as a top-k graph outputs them."""
    rng = np.random.default_rng(seed)
    ranks = rng.permutation(5000) + 1
    logits = (-slope * np.log(ranks) + rng.normal(scale=0.5, size=5000))[None].astype(np.float32)
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :16]
    return logits, ids, np.take_along_axis(logits, ids, axis=1)


def graph_expsum(logits: np.ndarray) -> np.ndarray:
    """What a top-k graph outputs as logits_expsum, one per row: a float32 sum of exp(logit - the row's max)."""
    return np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, dtype=np.float32)


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=0.6, top_p=0.8),  # chat
        SamplingParams(temperature=0.95, top_p=0.7),  # Rumination
        SamplingParams(temperature=1.0, top_p=0.3),
        SamplingParams(temperature=1.3, top_p=0.5),  # above 1: the concave bound
    ],
)
def test_the_graphs_exp_sum_decides_more_top_p_draws_and_the_same_tokens(params):
    """Rows from confident to hesitant: every row the top-k alone decides is decided with the exp-sum too, more are,
    and each decided draw is the whole row's."""
    decided = {False: 0, True: 0}
    for seed in range(60):
        logits, ids, values = ranked_row(seed, slope=2.5 - seed / 30)
        picks = {}
        for with_sum in (False, True):
            expsum = graph_expsum(logits) if with_sum else None
            picks[with_sum] = sample_top_p(values, ids, params, make_rng(seed), 5000, expsum)
            if picks[with_sum] is not None:
                decided[with_sum] += 1
                assert picks[with_sum].tolist() == sample(logits, params, make_rng(seed)).tolist(), (seed, with_sum)
        assert picks[False] is None or picks[True] is not None, seed
    assert decided[True] > decided[False] and decided[True] >= 5, decided  # chat: 8 -> 35 of 60


@pytest.mark.parametrize("temperature", [0.02, 0.6, 0.95, 1.0, 1.6, 4.0])
def test_the_exp_sum_bound_holds_the_outside_mass_in_any_summation_order(temperature):
    """The bound on the tokens outside the top-k from the graph's exp-sum is never below their true weight, even when
    the device summed in float32 in the worst order (largest first, one by one: the small terms get lost)."""
    for seed in range(30):
        rng = np.random.default_rng(seed)
        logits = rng.normal(scale=rng.uniform(0.2, 8.0), size=(1, 4000)).astype(np.float32)
        logits[0, rng.integers(4000, size=3)] += rng.uniform(0, 20)  # a few far above the rest, or not
        order = np.argsort(-logits[0], kind="stable")
        values = logits[0, order[:16]]
        scaled = apply_temperature(logits, temperature)[0].astype(np.float64)
        truth = np.exp(scaled[order[16:]]).sum()  # in apply_temperature's units, as the bound is
        weights = np.exp(logits[0] - logits.max(), dtype=np.float32)
        sums = (
            float(graph_expsum(logits)[0]),
            float(np.cumsum(weights[order], dtype=np.float32)[-1]),  # largest first
            float(np.cumsum(weights[order[::-1]], dtype=np.float32)[-1]),  # smallest first
        )
        for summed in sums:
            assert truth <= _outside_mass(values - values.max(), 4000, temperature, summed), (seed, summed)
        assert _outside_mass(values - values.max(), 4000, temperature, sums[0]) <= _outside_mass(
            values - values.max(), 4000, temperature, None
        )


@pytest.mark.parametrize("temperature", [0.3, 0.6, 1.0, 1.5])
def test_temperature_alone_decided_by_the_top_k_equals_the_whole_rows_draw(temperature):
    """Temperature alone keeps every token: on a top-k graph the draw walks the candidates first. Rows from confident
    to flat, with and without the graph's exp-sum: each decided draw is the whole row's with the same random number,
    an undecided one draws nothing, and the exp-sum decides at least every row the top-k alone does."""
    params = SamplingParams(temperature=temperature)
    assert temperature_only(params)
    decided = {False: 0, True: 0}
    for seed in range(60):
        logits, ids, values = ranked_row(seed, slope=3.0 - seed / 22)
        whole = sample(logits, params, make_rng(seed), first=ids).tolist()
        picks = {}
        for with_sum in (False, True):
            rng = make_rng(seed)
            expsum = graph_expsum(logits) if with_sum else None
            picks[with_sum] = sample_temperature(values, ids, params, rng, 5000, expsum)
            if picks[with_sum] is None:
                assert rng.random() == make_rng(seed).random()  # nothing drawn
            else:
                decided[with_sum] += 1
                assert picks[with_sum].tolist() == whole, (seed, with_sum)
        assert picks[False] is None or picks[True] is not None, seed
    assert decided[True] >= decided[False] and 5 <= decided[True] < 60, decided


def test_the_candidates_first_draw_keeps_each_tokens_probability():
    """`draw_first` only reorders the inverse CDF: over evenly spaced random numbers each token is picked in the
    share of them its probability says, whichever ids go first."""
    row = apply_temperature(np.log([[0.05, 0.3, 0.1, 0.25, 0.2, 0.1]]).astype(np.float32), 0.8)[0]
    probs = np.exp(row.astype(np.float64)) / np.exp(row.astype(np.float64)).sum()
    grid = (np.arange(200_000) + 0.5) / 200_000
    for first in ([1, 3], [5], [0, 2, 4], [0, 1, 2, 3, 4, 5]):
        picks = np.array([draw_first(row, np.array(first), u) for u in grid[::10]])
        shares = np.bincount(picks, minlength=6) / len(picks)
        assert np.abs(shares - probs).max() < 1e-3, (first, shares)
        assert picks[0] == first[0]  # the smallest random numbers land on the first candidate


def test_top_p_only_leaves_the_other_settings_to_the_static_rule():
    assert not top_p_only(SamplingParams())  # greedy
    assert not top_p_only(SamplingParams(temperature=0.7))  # no top-p: the whole distribution
    assert not top_p_only(SamplingParams(temperature=0.7, top_p=0.9, top_k=40))  # `covers` decides
    assert not top_p_only(SamplingParams(temperature=0.7, top_p=0.9, repetition_penalty=1.2))


def test_greedy_ties_go_to_the_lower_id_as_argmax_does():
    logits = np.zeros((1, 10), np.float32)
    logits[0, [3, 7]] = 5.0
    values, ids = np.array([[5.0, 5.0, 0.0]], np.float32), np.array([[7, 3, 0]])  # candidates in any order
    assert sample_top_k(values, ids, SamplingParams(), make_rng(0))[0] == sample(logits, SamplingParams(), None)[0]
    assert sample_top_k(values[:, :2], ids[:, :2], SamplingParams(), make_rng(0)) is None  # all tie: 1 may too


def test_top_k_sampling_draws_nothing_when_its_cut_ties_with_the_kth_value():
    """k = 3, top_k = 3: the top-k lists ids 0, 1 and 2; id 3 ties with id 2 at the cut and the whole row keeps it
    (apply_top_k keeps ties), so the candidates cannot decide; the whole row's draw then uses the same number."""
    logits = np.array([[3.0, 2.0, 1.0, 1.0, -5.0]], np.float32)
    values, ids = logits[:, :3], np.array([[0, 1, 2]])
    params = SamplingParams(temperature=1.0, top_k=3)
    picks = set()
    for seed in range(40):
        rng = make_rng(seed)
        assert sample_top_k(values, ids, params, rng) is None
        assert rng.random() == make_rng(seed).random()  # nothing drawn
        picks.add(int(sample(logits, params, make_rng(seed))[0]))
    assert 3 in picks  # the whole row draws the token the candidates left out


def test_top_k_sampling_draws_nothing_when_scaling_ties_its_cut_with_the_kth_value():
    """k = 3, top_k = 2: id 2 lies one float32 step above id 3 (the k-th) and id 0 outside; shifted by the largest
    and scaled to temperature 1.5 in float32 they are equal, so the whole row keeps ids 0 and 3 too."""
    below = np.nextafter(np.float32(1.0), np.float32(0.0))
    logits = np.array([[below, 3.0, 1.0, below, -5.0]], np.float32)
    params = SamplingParams(temperature=1.5, top_k=2)
    scaled = apply_temperature(logits, 1.5)[0]
    assert scaled[2] == scaled[3] == scaled[0] and logits[0, 2] > logits[0, 3]
    values, ids = logits[:, [1, 2, 3]], np.array([[1, 2, 3]])
    assert sample_top_k(values, ids, params, make_rng(0)) is None
    apart = np.array([[3.0, 1.0, 0.5]], np.float32)  # the cut well above the k-th: decided
    assert sample_top_k(apart, ids, params, make_rng(0)) is not None


def top_k_tail(k: int) -> bytes:
    """A model of a converted graph's top-k tail alone (glm4_graph.py): logits [B, 1, V] in; their k largest and
    ids (ONNX TopK) and the row's exp-sum out."""
    h, f = onnx.helper, onnx.TensorProto.FLOAT
    nodes = [
        h.make_node("TopK", ["logits", "k"], ["topk_values", "topk_ids"], axis=-1),
        h.make_node("Slice", ["topk_values", "start", "end", "axis"], ["largest"]),
        h.make_node("Sub", ["logits", "largest"], ["shifted"]),
        h.make_node("Exp", ["shifted"], ["weights"]),
        h.make_node("ReduceSum", ["weights", "axis"], ["logits_expsum"], keepdims=1),
    ]
    consts = [("k", k), ("start", 0), ("end", 1), ("axis", -1)]
    initializers = [h.make_tensor(name, onnx.TensorProto.INT64, [1], [v]) for name, v in consts]
    outputs = [("topk_values", f), ("topk_ids", onnx.TensorProto.INT64), ("logits_expsum", f)]
    graph = h.make_graph(
        nodes,
        "top_k_tail",
        [h.make_tensor_value_info("logits", f, ["batch", 1, "vocab"])],
        [h.make_tensor_value_info(name, kind, None) for name, kind in outputs],
        initializer=initializers,
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize(
    "provider",
    [
        "CPUExecutionProvider",
        pytest.param(
            CUDA,
            marks=[
                pytest.mark.cuda,
                pytest.mark.skipif(
                    CUDA not in ort.get_available_providers(), reason="onnxruntime has no CUDA provider"
                ),
            ],
        ),
    ],
)
def test_a_maximum_tied_at_ids_5_and_260_gives_token_5_from_the_devices_top_k(provider):
    """GLM-4's vocabulary, k = 64 (the default), the largest logit at ids 5 and 260, the outputs left on the device:
    ONNX Runtime's CUDA TopK on so wide a row (RadixTopK: 256 threads, each a stride of it) may list 260 (thread 4)
    first. Greedy still takes 5, the whole row's argmax, and top-2 sampling draws as the whole row does."""
    vocab, k = 151_552, 64
    logits = np.random.default_rng(0).normal(size=(1, 1, vocab)).astype(np.float32)
    logits[0, 0, [5, 260]] = 8.0
    session = ort.InferenceSession(top_k_tail(k), providers=[provider])
    if session.get_providers()[0] != provider:
        pytest.skip(f"{provider} did not start here")
    binding = session.io_binding()
    binding.bind_cpu_input("logits", logits)
    for name in ("topk_values", "topk_ids", "logits_expsum"):
        binding.bind_output(name, "cuda" if provider == CUDA else "cpu")
    session.run_with_iobinding(binding)
    values, ids, expsum = binding.get_outputs()  # read back by StepSampler, as a Generator's buffers are
    buf = SimpleNamespace(topk_values=values, topk_ids=ids, expsum=expsum, last_logits=lambda: logits[:, 0])
    listed = ids.numpy()[0, 0, :2].tolist()
    assert sorted(listed) == [5, 260]
    for guard in (False, True):
        picks, decided = StepSampler(buf, k, vocab, "auto", guard).next_ids(SamplingParams(), make_rng(0), [[]])
        assert picks.tolist() == [5] and decided, (guard, listed)
    params = SamplingParams(temperature=1.0, top_k=2)
    for seed in range(10):
        picks, decided = StepSampler(buf, k, vocab, "auto", False).next_ids(params, make_rng(seed), [[]])
        assert picks.tolist() == sample(logits[:, 0], params, make_rng(seed)).tolist() and decided, listed


# -- the graph's top-k tail, run on the CPU --------------------------------------------------------------------------
def test_top_k_output_is_in_the_graph_and_the_metadata(topk_engine):
    outputs = {o.name for o in topk_engine.session.get_outputs()}
    assert {"logits", "topk_values", "topk_ids", "logits_expsum"} <= outputs
    assert topk_engine.top_k_output == TOP_K
    assert topk_engine.metadata.source["top_k_output"] == TOP_K


def test_top_k_outputs_are_the_largest_logits_of_the_row(topk_engine):
    gen = Generator(topk_engine, max_length=64)
    gen.set_prompt(PROMPT)
    gen.generate_next_token()
    logits = gen.last_logits()[0]
    values, ids = gen._steps.buf.topk_values.numpy()[0, 0], gen._steps.buf.topk_ids.numpy()[0, 0]
    assert ids.tolist() == np.argsort(-logits, kind="stable")[:TOP_K].tolist()
    assert np.array_equal(values, logits[ids])
    expsum = gen._steps.buf.expsum.numpy()[0, 0, 0]
    assert expsum == pytest.approx(np.exp(logits.astype(np.float64) - logits.max()).sum(), rel=1e-5)


@pytest.mark.parametrize(
    "sampling",
    [dict(), dict(temperature=0.9, top_k=6, top_p=0.9, seed=7), dict(temperature=1.0, top_k=7, seed=3)],
)
def test_top_k_readback_generates_what_logits_readback_does(topk_engine, sampling):
    tokens, draws = [], []
    for readback in ("auto", "logits"):
        params = SamplingParams(max_new_tokens=1000, **sampling)
        gen = Generator(topk_engine, params, max_length=64, stop_ids=(), readback=readback, cuda_graph=True)
        gen.set_prompt(PROMPT)
        tokens.append(run(gen, 16))
        draws.append(gen.stats.top_k_draws)
    assert tokens[0] == tokens[1]
    assert draws == [16, 0]  # "auto" really sampled from the top-k, "logits" did not


def test_top_p_steps_read_only_the_top_k_when_it_decides_and_generate_the_same(topk_engine):
    params = SamplingParams(max_new_tokens=1000, temperature=0.03, top_p=0.9, seed=11)  # the tiny model is flat
    tokens, draws = [], []
    for readback in ("auto", "logits"):
        gen = Generator(topk_engine, params, max_length=64, stop_ids=(), readback=readback)
        gen.set_prompt(PROMPT)
        tokens.append(run(gen, 24))
        draws.append(gen.stats.top_k_draws)
    assert tokens[0] == tokens[1]
    assert 0 < draws[0] <= 24 and draws[1] == 0


def test_the_exp_sum_lets_the_top_k_decide_steps_it_could_not_alone(topk_engine):
    params = SamplingParams(max_new_tokens=1000, temperature=0.06, top_p=0.7, seed=4)  # the tiny model is flat
    tokens, draws = [], []
    for variant in ("exp-sum", "top-k only", "logits"):
        readback = "logits" if variant == "logits" else "auto"
        gen = Generator(topk_engine, params, max_length=64, stop_ids=(), readback=readback)
        if variant == "top-k only":
            gen._steps.buf.expsum = None  # as a top-k graph converted before the exp-sum output
        gen.set_prompt(PROMPT)
        tokens.append(run(gen, 24))
        draws.append(gen.stats.top_k_draws)
    assert tokens[0] == tokens[1] == tokens[2]
    assert draws[0] > draws[1] and draws[2] == 0  # 19 against 14 of 24 steps


def test_temperature_alone_reads_only_the_top_k_when_it_decides_and_generates_the_same(topk_engine, monkeypatch):
    """OpenAI's defaults (temperature alone): steps the top-k decides read no logits row, and the tokens are those of
    the whole-row draw that walks the same candidates first (every step undecided)."""
    params = SamplingParams(max_new_tokens=1000, temperature=0.05, seed=9)  # the tiny model is flat
    tokens, draws = [], []
    for decide in (True, False):
        if not decide:
            monkeypatch.setattr(step_sampler_module, "sample_temperature", lambda *a: None)
        gen = Generator(topk_engine, params, max_length=64, stop_ids=())
        gen.set_prompt(PROMPT)
        tokens.append(run(gen, 24))
        draws.append(gen.stats.top_k_draws)
    assert tokens[0] == tokens[1]
    assert 0 < draws[0] <= 24 and draws[1] == 0


@pytest.mark.parametrize(
    "sampling",
    [
        dict(temperature=1.0, top_k=TOP_K + 1, repetition_penalty=1.3),  # top_k > k keeps tokens outside
        dict(temperature=0.8, top_p=0.9, repetition_penalty=0.8),  # a penalty below 1 raises logits
    ],
)
def test_settings_the_top_k_cannot_decide_fall_back_to_the_whole_row(topk_engine, tiny, sampling):
    params = SamplingParams(max_new_tokens=1000, seed=5, **sampling)
    a = Generator(topk_engine, params, max_length=64, stop_ids=())
    b = Generator(tiny.engine, params, max_length=64, stop_ids=())
    for gen in (a, b):
        gen.set_prompt(PROMPT)
    assert run(a, 10) == run(b, 10)
    assert a.stats.top_k_draws == 0


# -- fp16 / bf16 / int4-for-GPU graphs -------------------------------------------------------------------------------
def _register_ort_layer_norm_schema() -> None:
    """SimplifiedLayerNormalization is an ONNX Runtime op in the default domain that onnx itself does not define;
    declare it so that onnx.checker can check the rest of the graph."""
    try:
        onnx.defs.get_schema("SimplifiedLayerNormalization", 21, "")
        return
    except onnx.defs.SchemaError:
        pass
    T = onnx.defs.OpSchema.FormalParameter
    schema = onnx.defs.OpSchema(
        "SimplifiedLayerNormalization",
        "",
        1,
        inputs=[T("X", "T"), T("scale", "T")],
        outputs=[T("Y", "T")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"], "")],
        attributes=[
            onnx.defs.OpSchema.Attribute("axis", onnx.defs.OpSchema.AttrType.INT, ""),
            onnx.defs.OpSchema.Attribute("epsilon", onnx.defs.OpSchema.AttrType.FLOAT, ""),
            onnx.defs.OpSchema.Attribute("stash_type", onnx.defs.OpSchema.AttrType.INT, ""),
        ],
    )
    onnx.defs.register_schema(schema)


FLOAT_TYPES = {"fp16": onnx.TensorProto.FLOAT16, "bf16": onnx.TensorProto.BFLOAT16}


@pytest.mark.parametrize(
    "precision, kwargs",
    [("fp16", {}), ("bf16", {}), ("int4", {"int4_compute": "fp16"}), ("int4", {"int4_compute": "bf16"})],
)
def test_gpu_precisions_emit_valid_typed_graphs(tiny, tmp_path, precision, kwargs):
    out = glm_nb.convert(tiny.src, tmp_path / "m", precision=precision, top_k_output=4, progress=False, **kwargs)
    model = onnx.load(str(out / "model.onnx"))
    _register_ort_layer_norm_schema()
    onnx.checker.check_model(model, full_check=True)
    compute = FLOAT_TYPES[kwargs.get("int4_compute", precision)]
    types = {v.name: v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
    assert types["past_key_values.0.key"] == types["present.1.value"] == compute
    assert types["logits"] == types["topk_values"] == onnx.TensorProto.FLOAT
    floats = {t.data_type for t in model.graph.initializer} - {onnx.TensorProto.INT64, onnx.TensorProto.UINT8}
    assert floats == {compute}  # no stray fp32 weight to force a Cast or a CPU fallback
    try:  # ORT's CPU provider type-checks the whole graph; where it lacks a kernel (bf16 MatMul), it says so
        ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    except Exception as e:
        assert "NOT_IMPLEMENTED" in str(e), str(e)[:300]


def test_half_graphs_run_every_norm_as_the_fast_skip_norm(tiny, tmp_path):
    """fp16 / bf16 graphs (CUDA) run the plain RMSNorms as SkipSimplifiedLayerNormalization with one shared zero
    skip (3x faster on the GPU); fp32 graphs (CPU) keep SimplifiedLayerNormalization."""
    layers = tiny.engine.metadata.num_layers
    for precision, kwargs in (("fp16", {}), ("bf16", {}), ("int4", {"int4_compute": "bf16"}), ("fp32", {})):
        out = glm_nb.convert(tiny.src, tmp_path / precision, precision=precision, progress=False, **kwargs)
        ops = [n.op_type for n in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.node]
        if precision == "fp32":
            assert (ops.count("SimplifiedLayerNormalization"), ops.count("SkipSimplifiedLayerNormalization")) == (
                2 * layers + 1,
                2 * layers,
            )
            assert "Sub" not in ops
        else:
            assert "SimplifiedLayerNormalization" not in ops
            assert ops.count("SkipSimplifiedLayerNormalization") == 4 * layers + 1
            assert ops.count("Sub") == 1


def test_fp16_graph_runs_on_the_cpu_close_to_fp32(tiny, tmp_path):
    out = glm_nb.convert(tiny.src, tmp_path / "fp16", precision="fp16", progress=False)
    ours = Generator(cpu_engine(out), max_length=64).score(PROMPT)
    ref = Generator(tiny.engine, max_length=64).score(PROMPT)
    assert np.isfinite(ours).all()
    assert np.abs(ours - ref).max() <= 0.02 * np.abs(ref).max()


def test_int4_with_fp16_compute_runs_on_the_cpu_close_to_int4_fp32(tiny, tmp_path):
    kw = dict(precision="int4", int4_accuracy_level=0, progress=False)
    half = glm_nb.convert(tiny.src, tmp_path / "int4h", int4_compute="fp16", **kw)
    full = glm_nb.convert(tiny.src, tmp_path / "int4f", **kw)
    ours = Generator(cpu_engine(half), max_length=64).score(PROMPT)
    ref = Generator(Engine.load(full, device="cpu"), max_length=64).score(PROMPT)
    assert np.abs(ours - ref).max() <= 0.02 * np.abs(ref).max()


def test_int4_accuracy_level_reaches_every_matmul_nbits(tiny, tmp_path):
    out = glm_nb.convert(tiny.src, tmp_path / "m", precision="int4", int4_accuracy_level=0, progress=False)
    nodes = [n for n in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.node]
    levels = {a.i for n in nodes if n.op_type == "MatMulNBits" for a in n.attribute if a.name == "accuracy_level"}
    assert levels == {0}
    with pytest.raises(ConversionError, match="accuracy_level"):
        glm_nb.convert(tiny.src, tmp_path / "bad", precision="int4", int4_accuracy_level=5, progress=False)
    with pytest.raises(ConversionError, match="top_k_output"):
        glm_nb.convert(tiny.src, tmp_path / "bad", top_k_output=-1, progress=False)


def test_cli_convert_passes_the_gpu_options(tiny, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["convert", str(tiny.src), "-o", str(out), "--precision", "int4", "--int4-compute", "fp16"]
    assert cli_main([*args, "--int4-accuracy-level", "1", "--top-k-output", "5", "--quiet"]) == 0
    meta = ModelMetadata.load(out)
    assert meta.compute_dtype == "fp16" and meta.source["int4_accuracy_level"] == 1
    assert meta.outputs["topk_ids"][1][-1] == 5


def test_int4_kernel_choice_and_the_environment_it_leaves(monkeypatch):
    """The weight-only int4 kernels are asked for only where they can run (CUDA, fp16 / bf16 activations), and the
    environment variable older ONNX Runtimes read is set only while a session is made."""
    from dataclasses import replace

    from glm_nb.engine import engine as engine_module

    meta = ModelMetadata("m", "int4", "fp16", 1, 1, 1, 32, 32, 64, 64, "gqa", (0,), 0)
    choose = engine_module._int4_kernel
    assert choose(meta, True, "auto") == "stock"  # measured faster on an H200 (Engine.load's docstring)
    assert choose(meta, True, "fpa_intb") == "fpa_intb"
    assert choose(meta, False, "fpa_intb") == "stock"
    assert choose(replace(meta, compute_dtype="fp32"), True, "auto") == "stock"
    assert choose(replace(meta, precision="bf16", compute_dtype="bf16"), True, "fpa_intb") == "stock"
    monkeypatch.setenv("ORT_FPA_INTB_GEMM", "0")
    with engine_module._environment("ORT_FPA_INTB_GEMM", "1"):
        assert os.environ["ORT_FPA_INTB_GEMM"] == "1"
    assert os.environ["ORT_FPA_INTB_GEMM"] == "0"
    monkeypatch.delenv("ORT_FPA_INTB_GEMM")
    with engine_module._environment("ORT_FPA_INTB_GEMM", "1"):
        pass
    assert "ORT_FPA_INTB_GEMM" not in os.environ
