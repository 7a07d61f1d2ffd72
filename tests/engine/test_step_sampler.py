"""StepSampler: what a step copies from the device for its draw, and draws with banned ids or a repetition penalty
decided from the graph's top-k, always the whole row's token. Run on the CPU with fake buffers that count each
device-to-host copy, and through a real top-k graph."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest

import glm_nb
from glm_nb.engine import Engine, Generator, ModelMetadata, SamplingParams, Tokenizer
from glm_nb.engine.sampling import MaskedSampling, make_rng, sample
from glm_nb.engine.step_sampler import StepSampler
from glm_nb.engine.topk_sampling import lower, sample_greedy, sample_temperature, sample_top_p
from glm_nb.errors import GenerationError

PROMPT = [7, 30, 111, 42, 9, 250, 3, 77, 15, 100, 2, 64]
TOP_K = 8


class CountingValue:
    """An output OrtValue whose every read (`numpy()`, a device-to-host copy on CUDA) is counted by `name`."""

    def __init__(self, value, name: str, counts: Counter):
        self.value, self.name, self.counts = value, name, counts

    def numpy(self) -> np.ndarray:
        self.counts[self.name] += 1
        return self.value.numpy() if hasattr(self.value, "numpy") else self.value.copy()


def fake_buffers(logits: np.ndarray, k: int, with_sum: bool = True, seed: int = 0) -> tuple[SimpleNamespace, Counter]:
    """What a top-k graph leaves in a StepRunner's buffers for `logits` [B, V], each read counted. Tied values are
    listed, and picked at the k-th value, in a random order, as ONNX Runtime's CUDA TopK may (its threads' order):
    only its CPU kernel puts the lower id first, which a sampler must not count on."""
    counts = Counter()
    shuffle = np.random.default_rng(seed).random(logits.shape)
    ids = np.lexsort((shuffle, -logits), axis=1)[:, :k]  # sorted by value, ties in any order
    values = np.take_along_axis(logits, ids, axis=1)
    with np.errstate(invalid="ignore"):  # an infinite logit: NaN, as the graph's
        expsum = np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, dtype=np.float32)
    buf = SimpleNamespace(
        topk_values=CountingValue(values[:, None], "topk_values", counts),
        topk_ids=CountingValue(ids[:, None], "topk_ids", counts),
        expsum=CountingValue(expsum[:, None, None], "expsum", counts) if with_sum else None,
        last_logits=lambda: counts.update(["logits"]) or logits.copy(),
    )
    return buf, counts


def ranked_logits(seed: int, slope: float, rows: int = 2, vocab: int = 3000) -> np.ndarray:
    """[rows, vocab] logits falling with the log of a token's rank (steeper: more confident), shuffled, noisy."""
    rng = np.random.default_rng(seed)
    ranks = np.stack([rng.permutation(vocab) + 1 for _ in range(rows)])
    return (-slope * np.log(ranks) + rng.normal(scale=0.5, size=(rows, vocab))).astype(np.float32)


def sampler(buf, k: int, vocab: int, guard: bool = False) -> StepSampler:
    return StepSampler(buf, k, vocab, "auto", guard)


@pytest.fixture(scope="module")
def topk_engine(tiny, tmp_path_factory):
    out = glm_nb.convert(tiny.src, tmp_path_factory.mktemp("topk") / "m", top_k_output=TOP_K, progress=False)
    return Engine.load(out, device="cpu", threads=1)


# -- what a step copies ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, guard, reads",
    [
        (SamplingParams(), False, {"topk_values": 1, "topk_ids": 1}),  # greedy: the lowest id of the largest value
        (SamplingParams(), True, {"topk_values": 1, "topk_ids": 1, "expsum": 1}),  # fp16: the exp-sum guards too
        (SamplingParams(repetition_penalty=1.2), False, {"topk_values": 1, "topk_ids": 1}),
        (SamplingParams(temperature=0.7, top_k=TOP_K - 1), False, {"topk_values": 1, "topk_ids": 1}),
        (SamplingParams(temperature=0.6, top_p=0.8), False, {"topk_values": 1, "topk_ids": 1}),  # values decide
        (SamplingParams(temperature=0.7), False, {"topk_values": 1, "topk_ids": 1}),  # values decide
        (SamplingParams(temperature=0.7, top_k=TOP_K + 1), False, {"logits": 1}),  # top_k > k: the whole row
        (SamplingParams(temperature=0.7, top_k=TOP_K), False, {"logits": 1}),  # the k-th may tie with one outside
        (SamplingParams(temperature=0.7, top_p=0.9, repetition_penalty=0.9), False, {"logits": 1}),  # raises
        (SamplingParams(temperature=0.7, repetition_penalty=0.9), False, {"logits": 1}),  # no ids to walk first
    ],
)
def test_a_step_copies_only_what_its_draw_needs(params, guard, reads):
    logits = ranked_logits(0, slope=6.0)  # confident rows: the top-k decides without the exp-sum
    buf, counts = fake_buffers(logits, TOP_K)
    picks, decided = sampler(buf, TOP_K, logits.shape[1], guard).next_ids(params, make_rng(1), [[5, 9], [2]])
    assert dict(counts) == reads
    alone = not params.greedy and params.top_k == 0 and params.top_p == 1.0  # draws the candidates first
    first = buf.topk_ids.value[:, 0] if alone and "topk_ids" in reads else None
    assert picks.tolist() == sample(logits, params, make_rng(1), [[5, 9], [2]], first).tolist()
    assert decided == ("logits" not in reads)


@pytest.mark.parametrize("params", [SamplingParams(temperature=0.6, top_p=0.8), SamplingParams(temperature=0.9)])
def test_the_exp_sum_is_copied_only_when_the_values_alone_cannot_decide(params):
    copied = Counter()
    for seed in range(40):
        logits = ranked_logits(seed, slope=6.0 - seed / 8)  # from confident to hesitant
        buf, counts = fake_buffers(logits, TOP_K)
        picks, decided = sampler(buf, TOP_K, logits.shape[1]).next_ids(params, make_rng(seed), [[]] * 2)
        first = buf.topk_ids.value[:, 0] if params.top_p == 1.0 else None
        assert picks.tolist() == sample(logits, params, make_rng(seed), None, first).tolist()
        assert max(counts.values()) == 1, counts  # each output copied at most once
        copied["expsum" in counts] += 1
        if not decided:
            assert counts["expsum"] == 1 and counts["logits"] == 1  # tried with the exp-sum, then the whole row
    assert copied[False] >= 5 and copied[True] >= 5, copied  # both kinds of step occurred


def test_a_generator_reads_only_the_top_k_in_a_greedy_decode(topk_engine):
    counts = Counter()
    gen = Generator(topk_engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=())
    buf = gen._steps.buf
    for name in ("topk_values", "topk_ids", "expsum", "logits"):
        setattr(buf, name, CountingValue(getattr(buf, name), name, counts))
    buf.last_logits = lambda: counts.update(["logits"]) or buf.logits_host[:, 0, :]
    gen.set_prompt(PROMPT)
    for _ in range(10):
        gen.generate_next_token()
    assert dict(counts) == {"topk_values": 10, "topk_ids": 10}
    plain = Generator(topk_engine, SamplingParams(max_new_tokens=1000), max_length=64, stop_ids=(), readback="logits")
    plain.set_prompt(PROMPT)
    for _ in range(10):
        plain.generate_next_token()
    assert gen.tokens == plain.tokens


def test_a_generator_on_an_fp16_graph_also_reads_the_exp_sum(tiny, tmp_path):
    out = glm_nb.convert(tiny.src, tmp_path / "fp16", precision="fp16", top_k_output=4, progress=False)
    cpu = "CPUExecutionProvider"  # Engine.load keeps an fp16 graph for CUDA
    session = ort.InferenceSession(str(out / "model.onnx"), providers=[cpu])
    engine = Engine(out, session, ModelMetadata.load(out), Tokenizer(out / "tokenizer.json"), None, cpu)
    counts = Counter()
    gen = Generator(engine, SamplingParams(max_new_tokens=1000), max_length=32, stop_ids=())
    buf = gen._steps.buf
    for name in ("topk_values", "topk_ids", "expsum"):
        setattr(buf, name, CountingValue(getattr(buf, name), name, counts))
    gen.set_prompt(PROMPT)
    for _ in range(3):
        gen.generate_next_token()
    assert dict(counts) == {"topk_values": 3, "topk_ids": 3, "expsum": 3} and gen.stats.top_k_draws == 3


def test_an_fp16_step_whose_logits_overflowed_is_refused_not_drawn_from_its_ids():
    logits = ranked_logits(3, slope=4.0)
    logits[1, 17] = np.nan  # a NaN outside the top-k: its ids look fine, its exp-sum is NaN
    buf, counts = fake_buffers(logits, TOP_K)
    with pytest.raises(GenerationError, match="overflowed"):
        sampler(buf, TOP_K, logits.shape[1], guard=True).next_ids(SamplingParams(), make_rng(0), [[]] * 2)
    assert dict(counts) == {"expsum": 1, "logits": 1}


# -- ties and non-finite values, on any graph ------------------------------------------------------------------------
def listed_buffers(logits: np.ndarray, ids: list[list[int]]) -> tuple[SimpleNamespace, Counter]:
    """fake_buffers for `logits` [B, V] whose TopK listed exactly the candidates `ids` [B, k], in that order."""
    buf, counts = fake_buffers(logits, len(ids[0]))
    ids = np.array(ids, np.int64)
    buf.topk_ids.value = ids[:, None]
    buf.topk_values.value = np.take_along_axis(logits, ids, axis=1)[:, None]
    return buf, counts


@pytest.mark.parametrize("params", [SamplingParams(), SamplingParams(repetition_penalty=1.2)])
def test_greedy_takes_the_lowest_id_of_a_tied_maximum_whatever_order_the_top_k_lists(params):
    """CUDA's RadixTopK gives each of 256 threads a stride of the row, so with the largest value at ids 5 and 260
    it may list 260 (thread 4) first; the whole row's argmax is 5."""
    logits = ranked_logits(4, slope=2.0, rows=1)
    logits[0, [5, 260]] = logits.max() + 1.0
    rest = [int(t) for t in np.argsort(-logits[0], kind="stable") if t not in (5, 260)][: TOP_K - 2]
    buf, _ = listed_buffers(logits, [[260, 5, *rest]])
    picks, decided = sampler(buf, TOP_K, logits.shape[1]).next_ids(params, make_rng(0), [[rest[0]]])
    assert picks.tolist() == [5] == sample(logits, params, None, [[rest[0]]]).tolist() and decided


def test_greedy_falls_back_when_every_candidate_ties_as_a_token_outside_may():
    """k = 2, ids 3, 10 and 20 share the largest value; a CUDA TopK may list 20 and 10, leaving 3 outside."""
    logits = np.full((1, 50), -1.0, np.float32)
    logits[0, [3, 10, 20]] = 4.0
    buf, counts = listed_buffers(logits, [[20, 10]])
    picks, decided = sampler(buf, 2, 50).next_ids(SamplingParams(), make_rng(0), [[]])
    assert picks.tolist() == [3] and not decided and counts["logits"] == 1


@pytest.mark.parametrize("guard", [False, True])
@pytest.mark.parametrize("params", [SamplingParams(), SamplingParams(temperature=0.8, top_k=1)])
def test_greedy_on_tie_heavy_rows_gives_the_whole_rows_argmax(params, guard):
    """Whole-number logits tie everywhere, the fakes list and pick ties in a random order: every token is the whole
    row's argmax (ties to the lower id), decided by the top-k unless all of it ties."""
    decided = Counter()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        logits = np.round(ranked_logits(seed, slope=rng.uniform(0.2, 1.5), vocab=400)).astype(np.float32)
        buf, _ = fake_buffers(logits, TOP_K, seed=seed)
        picks, by_top_k = sampler(buf, TOP_K, 400, guard).next_ids(params, make_rng(seed), [[]] * 2)
        assert picks.tolist() == logits.argmax(axis=1).tolist(), seed
        top_two = -np.sort(-logits, axis=1)[:, :2]
        decided["tied" if by_top_k and (top_two[:, 0] == top_two[:, 1]).any() else by_top_k] += 1
    assert decided["tied"] >= 20 and decided[False] >= 2, decided  # a tied largest decided; all of a top-k tied


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(),  # greedy: the ids alone would pick a token
        SamplingParams(repetition_penalty=1.3),
        SamplingParams(temperature=0.8, top_k=5),
        SamplingParams(temperature=0.8, top_k=5, repetition_penalty=1.3),
        SamplingParams(temperature=0.6, top_p=0.8),
        SamplingParams(temperature=0.7),
        MaskedSampling.of(SamplingParams(temperature=0.7), frozenset({1})),
    ],
)
@pytest.mark.parametrize("bad, said", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_a_non_finite_candidate_is_refused_on_any_graph(params, bad, said):
    """No exp-sum guard (fp32, bf16 graphs): a NaN or an infinity among the top-k values still reaches the whole
    row's draw, which says what went wrong, instead of a token drawn from the ids."""
    logits = ranked_logits(5, slope=4.0)
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
    logits[1, ids[1, 2]] = bad
    buf, _ = listed_buffers(logits, ids.tolist())
    with pytest.raises(GenerationError, match=f"hold {said} \\(row 1\\).*overflowed"):
        sampler(buf, TOP_K, logits.shape[1]).next_ids(params, make_rng(0), [[3], [4]])


def test_an_all_nan_row_is_refused_not_decoded_as_token_0():
    logits = ranked_logits(6, slope=4.0)
    logits[0] = np.nan
    buf, _ = fake_buffers(logits, TOP_K)
    with pytest.raises(GenerationError, match="NaN \\(row 0\\)"):
        sampler(buf, TOP_K, logits.shape[1]).next_ids(SamplingParams(), make_rng(0), [[]] * 2)


@pytest.mark.parametrize("temperature", [0.6, 1.0, 1.5])
def test_top_k_sampling_keeps_the_tokens_tied_at_its_cut_as_the_whole_row_does(temperature):
    """Rows of half-integers (ties everywhere), some nudged one float32 step down so that the temperature's scaling
    may tie them again, listed and picked at the k-th value in a random order: every draw is the whole row's, from
    the same random number; a row whose cut ties with the k-th value falls back to the whole row."""
    decided = Counter()
    for seed in range(80):
        rng = np.random.default_rng(seed)
        logits = np.round(ranked_logits(seed, slope=rng.uniform(0.5, 4.0), vocab=300) * 2) / 2
        nudged = rng.random(logits.shape) < 0.2
        logits[nudged] = np.nextafter(logits[nudged], np.float32(-np.inf))
        params = SamplingParams(temperature=temperature, top_k=int(rng.integers(2, TOP_K)), seed=seed)
        buf, _ = fake_buffers(logits, TOP_K, seed=seed)
        picks, by_top_k = sampler(buf, TOP_K, 300).next_ids(params, make_rng(seed), [[]] * 2)
        assert picks.tolist() == sample(logits, params, make_rng(seed)).tolist(), (seed, params.top_k)
        decided[by_top_k] += 1
    assert decided[True] >= 10 and decided[False] >= 10, decided


def test_top_k_sampling_falls_back_when_a_token_outside_ties_with_its_cut():
    """k = 4, top_k = 3: ids 2, 3 and 4 tie at 1.0, the top-k lists two of them. The whole row keeps all three (ties
    at the cut stay), so the candidates alone cannot draw."""
    logits = np.array([[3.0, 2.0, 1.0, 1.0, 1.0, -5.0]], np.float32)
    params = SamplingParams(temperature=1.0, top_k=3)
    drawn = set()
    for seed in range(40):
        buf, _ = listed_buffers(logits, [[0, 1, 3, 2]])
        picks, decided = sampler(buf, 4, 6).next_ids(params, make_rng(seed), [[]])
        assert not decided and picks.tolist() == sample(logits, params, make_rng(seed)).tolist()
        drawn.add(int(picks[0]))
    assert 4 in drawn  # the whole row does draw the tied token the top-k left out


# -- banned ids and a repetition penalty, decided from the top-k ---------------------------------------------------
MODES = [
    dict(),  # greedy
    dict(temperature=0.8, top_k=5),
    dict(temperature=1.2, top_k=6, top_p=0.9),
    dict(temperature=0.6, top_p=0.8),  # the chat preset
    dict(temperature=1.3, top_p=0.5),
    dict(temperature=0.7),  # temperature alone: the candidates first
]


def random_case(seed: int, vocab: int = 2000):
    """Logits (two rows, from confident to flat; every third seed whole numbers, so that ties abound), each row's
    previous tokens (candidates and others) and a banned set (sometimes the top candidates)."""
    rng = np.random.default_rng(seed)
    logits = ranked_logits(seed, slope=rng.uniform(0.5, 8.0), vocab=vocab) + np.float32(rng.uniform(-3, 6))
    if seed % 3 == 0:
        logits = np.round(logits * 2).astype(np.float32)
    top = np.argsort(-logits, axis=1, kind="stable")[:, : TOP_K + 4]
    previous = []
    for r in range(2):
        seen = top[r] if rng.random() < 0.3 else rng.choice(top[r], size=rng.integers(0, TOP_K + 4))
        previous.append(list(seen) + list(rng.integers(vocab, size=rng.integers(0, 30))))
    banned = frozenset()
    if rng.random() < 0.5:
        banned = frozenset(int(t) for t in rng.choice(top[0], size=rng.integers(1, TOP_K + 2), replace=False))
    return logits, previous, banned


@pytest.mark.parametrize("mode", MODES)
def test_banned_ids_and_a_penalty_decided_by_the_top_k_give_the_whole_rows_token(mode):
    """Many rows, penalties, banned sets and seeds: the sampler's token is always the whole row's, drawn with the
    same random number (temperature alone walks the top-k first there too), and the top-k decides a fair share."""
    decided = Counter()
    for seed in range(150):
        logits, previous, banned = random_case(seed)
        penalty = [1.0, 1.05, 1.3, 2.5][seed % 4]
        params = MaskedSampling.of(SamplingParams(repetition_penalty=penalty, seed=seed, **mode), banned)
        if not banned and penalty == 1.0:
            params = SamplingParams(**mode, repetition_penalty=1.05)
        buf, counts = fake_buffers(logits, TOP_K, with_sum=seed % 5 != 0)
        picks, by_top_k = sampler(buf, TOP_K, logits.shape[1]).next_ids(params, make_rng(seed), previous)
        alone = mode.keys() == {"temperature"}
        first = buf.topk_ids.value[:, 0] if alone else None
        whole = sample(logits, params, make_rng(seed), previous, first)
        assert picks.tolist() == whole.tolist(), (seed, penalty, sorted(banned))
        decided[by_top_k] += 1
    assert decided[True] >= 30 and decided[False] >= 5, decided


def test_greedy_falls_back_when_lowered_candidates_drop_to_the_kth_value():
    """Candidates 2 (-1) and 0 (-2), k = 2; token 1 (-2) is outside, a tie with 0 at a higher id. Penalized by 2,
    candidate 2 drops to -2 and 0 to -4: the argmax is token 1, at the k-th value, with a lower id than 2."""
    logits = np.array([[-2.0, -2.0, -1.0, -5.0, -5.0, -5.0]], np.float32)
    ids, values = np.array([[2, 0]]), np.array([[-1.0, -2.0]], np.float32)
    params = SamplingParams(repetition_penalty=2.0)
    lowered = lower(values, ids, params, [[0, 2]])
    assert lowered.tolist() == [[-2.0, -4.0]]
    assert sample_greedy(values, ids, lowered) is None
    buf, _ = fake_buffers(logits, 2)
    assert sampler(buf, 2, 6).next_ids(params, make_rng(0), [[0, 2]])[0].tolist() == [1]
    assert sample(logits, params, None, [[0, 2]]).tolist() == [1]


def test_greedy_falls_back_when_every_candidate_falls_below_a_token_outside():
    logits = np.full((1, 50), -3.0, np.float32)
    logits[0, :5] = [10.0, 9.0, 8.0, 7.0, 6.9]  # k = 4: token 4 is outside, just below the 4th
    params = MaskedSampling.of(SamplingParams(repetition_penalty=2.0), frozenset({3}))
    buf, _ = fake_buffers(logits, 4)
    picks, decided = sampler(buf, 4, 50).next_ids(params, make_rng(0), [[0, 1, 2]])
    assert picks.tolist() == [4] and not decided


def test_top_p_falls_back_when_a_kept_candidate_ties_with_a_token_outside():
    """k = 2: candidates 2 (-1) and 0 (-2); token 1 (-2) is outside, a tie with 0 at a higher id. Penalized by 2,
    candidate 2 drops to -2, level with token 1, which comes first in top-p's order (ties to the lower id): the
    whole row keeps token 1 alone, the candidates alone would keep token 2."""
    logits = np.array([[-2.0, -2.0, -1.0, -30.0]], np.float32)
    params = SamplingParams(temperature=1.0, top_p=0.3, repetition_penalty=2.0)
    buf, _ = fake_buffers(logits, 2)
    values, ids = buf.topk_values.value[:, 0], buf.topk_ids.value[:, 0]
    lowered = lower(values, ids, params, [[0, 2]])
    expsum = buf.expsum.value[:, 0, 0]
    assert sample_top_p(values, ids, params, make_rng(0), 4, expsum, lowered) is None
    for seed in range(5):
        picks, _ = sampler(buf, 2, 4).next_ids(params, make_rng(seed), [[0, 2]])
        assert picks.tolist() == [1] == sample(logits, params, make_rng(seed), [[0, 2]]).tolist()


def test_top_p_falls_back_when_scaling_ties_a_kept_candidate_with_a_token_outside():
    """No penalty: candidates 1 (2.0) and 2 (1.0), token 0 outside just below 1.0. At temperature 1.5 float32 scales
    tokens 0 and 2 to the same value, so top-p's order puts token 0 (the lower id) first and keeps it, not 2."""
    logits = np.array([[np.nextafter(np.float32(1.0), np.float32(0.0)), 2.0, 1.0]], np.float32)
    params = SamplingParams(temperature=1.5, top_p=0.7)
    buf, _ = fake_buffers(logits, 2)
    values, ids = buf.topk_values.value[:, 0], buf.topk_ids.value[:, 0]
    assert sample_top_p(values, ids, params, make_rng(0), 3, buf.expsum.value[:, 0, 0]) is None
    picks = [int(sampler(buf, 2, 3).next_ids(params, make_rng(seed), [[]])[0][0]) for seed in range(30)]
    assert picks == [int(sample(logits, params, make_rng(seed))[0]) for seed in range(30)]
    assert set(picks) == {0, 1}  # token 2 is never drawn


def test_top_k_falls_back_when_its_cut_ties_with_a_token_outside():
    """k = 3, top_k = 2: penalized, candidate 1 ties with the 3rd largest (2.0), and so does token 3 outside: the
    whole row keeps all four tokens at or above its 2nd largest, the candidates alone would drop token 3."""
    logits = np.array([[2.2, 3.0, 2.0, 2.0, -10.0]], np.float32)
    params = SamplingParams(temperature=1.0, top_k=2, repetition_penalty=1.5)
    outside = 0
    for seed in range(40):
        buf, _ = fake_buffers(logits, 3)
        picks, decided = sampler(buf, 3, 5).next_ids(params, make_rng(seed), [[1]])
        assert not decided and picks.tolist() == sample(logits, params, make_rng(seed), [[1]]).tolist()
        outside += picks[0] == 3
    assert outside >= 3  # the whole row does draw token 3


@pytest.mark.parametrize("temperature", [0.7, 1.0, 1.5])
@pytest.mark.parametrize("decide", [sample_top_p, sample_temperature])
def test_the_tokens_outside_weigh_more_once_the_largest_candidate_is_penalized(decide, temperature):
    """The top candidate, far above the rest, penalized down among them: the 996 tokens outside now hold most of the
    row. Their bound must be taken relative to the new largest; relative to the old one they seem to weigh nothing
    and the draw would stay among the candidates."""
    logits = np.full((1, 1000), 2.7, np.float32)
    logits[0, :4] = [12.0, 3.0, 2.9, 2.8]
    ids, values = np.array([[0, 1, 2, 3]]), logits[:, :4]
    top_p = 0.5 if decide is sample_top_p else 1.0
    params = SamplingParams(temperature=temperature, top_p=top_p, repetition_penalty=10.0)
    lowered = lower(values, ids, params, [[0]])
    expsum = np.exp(logits - logits.max()).sum(axis=1, dtype=np.float32)
    for seed in range(20):
        for summed in (None, expsum):
            assert decide(values, ids, params, make_rng(seed), 1000, summed, lowered) is None, seed
    outside = [int(sample(logits, params, make_rng(seed), [[0]], ids)[0]) >= 4 for seed in range(20)]
    assert sum(outside) >= 15  # the whole row's draws land outside the candidates


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(max_new_tokens=1000, repetition_penalty=1.3),  # greedy
        SamplingParams(max_new_tokens=1000, temperature=0.03, top_p=0.9, repetition_penalty=1.2, seed=11),
        MaskedSampling.of(SamplingParams(max_new_tokens=1000, temperature=0.05, top_k=4, seed=3), frozenset({341})),
    ],
)
def test_a_generator_decides_penalized_steps_from_the_top_k_and_generates_the_same(topk_engine, params):
    tokens, draws = [], []
    for readback in ("auto", "logits"):
        gen = Generator(topk_engine, params, max_length=64, stop_ids=(), readback=readback)
        gen.set_prompt(PROMPT)
        for _ in range(16):
            gen.generate_next_token()
        tokens.append(gen.tokens)
        draws.append(gen.stats.top_k_draws)
    assert tokens[0] == tokens[1]
    assert 0 < draws[0] <= 16 and draws[1] == 0
