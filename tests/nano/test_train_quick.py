"""The trainer's quick mode: a few steps of a tiny model give a checkpoint the engine converts and runs."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import Glm4ForCausalLM

from glm_nb.engine import Generator, SamplingParams, open_model
from glm_nb.engine.run import generate
from glm_nb.nano import checkpoint_path
from glm_nb.nano.corpus import PROMPT_WEIGHT, REPLY_WEIGHT
from glm_nb.nano.grow import main as grow_main
from glm_nb.nano.grow import new_positions
from glm_nb.nano.sample import Mix
from glm_nb.nano.soup import main as soup_main
from glm_nb.nano.soup import soup
from glm_nb.nano.staging import staged_folder
from glm_nb.nano.templates import chat_template, render
from glm_nb.nano.train import DIGIT_WEIGHT, SIZES, _Batches, _BatchProcess, model_config, train


@pytest.fixture(scope="module")
def quick_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("nano_quick")
    record = train(out, steps=3, quick=True, seed=0, log=lambda message: None)
    return out, record


def test_quick_run_writes_a_labelled_checkpoint(quick_checkpoint):
    out, record = quick_checkpoint
    config = json.loads((out / "config.json").read_text())
    assert config["_name_or_path"] == record["model"] and record["model"].endswith("params, not GLM-4)")
    assert f"~{record['parameters'] / 1e6:.1f}M params" in record["model"]
    assert config["head_dim"] >= 32 and config["architectures"] == ["Glm4ForCausalLM"]
    assert record["steps"] == 3 and record["tokens"] > 0
    # the recipe's commit, so that a phase can be replayed from its own code (None only outside a git checkout)
    assert record["commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", record["commit"]), record["commit"]


def test_generation_config_stops_on_the_glm_stop_tokens(quick_checkpoint):
    out, _ = quick_checkpoint
    vocab = json.loads((out / "tokenizer.json").read_text())["added_tokens"]
    ids = {t["content"]: t["id"] for t in vocab}
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]


def test_engine_converts_and_generates(quick_checkpoint, tmp_path, monkeypatch):
    out, _ = quick_checkpoint
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    engine = open_model(out, device="cpu", progress=False)
    prompt = engine.tokenizer.encode(render([{"role": "user", "content": "Hi, I'm Ada."}]))
    gen = Generator(engine, SamplingParams(temperature=0.0, max_new_tokens=5), max_length=128)
    result = generate(gen, prompt)
    assert 1 <= len(result.token_ids) <= 5
    assert engine.chat_template == chat_template("chat")


def test_same_seed_same_weights(quick_checkpoint, tmp_path):
    out, _ = quick_checkpoint
    train(tmp_path, steps=3, quick=True, seed=0, log=lambda message: None)
    assert (tmp_path / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_digits_of_replies_weigh_double():
    """DIGIT_WEIGHT applies to what the model writes, not to the prompt's digits."""
    tokenizer = Tokenizer.from_file(str(checkpoint_path() / "tokenizer.json"))
    batches = _Batches(tokenizer, seed=0, batch_tokens=512, progress=lambda: 1.0)
    digits = {tokenizer.token_to_id(str(d)) for d in range(10)}
    seen = set()
    for _ in range(200):
        ids, weights = batches._example()
        seen |= {(t in digits, w) for t, w in zip(ids, weights) if w}
    assert (True, REPLY_WEIGHT * DIGIT_WEIGHT) in seen and (True, PROMPT_WEIGHT) in seen
    assert (False, REPLY_WEIGHT) in seen and (True, REPLY_WEIGHT) not in seen
    assert (False, REPLY_WEIGHT * DIGIT_WEIGHT) not in seen


def test_batch_size_and_device_are_chosen_and_recorded(tmp_path):
    record = train(tmp_path, steps=2, quick=True, seed=0, batch_tokens=700, log=lambda message: None)
    assert record["size"]["batch_tokens"] == 700 and record["device"] == "cpu"
    assert record["tokens"] <= 2 * 700
    assert json.loads((tmp_path / "nano_train.json").read_text())["size"]["batch_tokens"] == 700


def test_cuda_without_a_gpu_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no GPU"):
        train(tmp_path, steps=1, quick=True, device="cuda", log=lambda message: None)
    with pytest.raises(ValueError, match="cpu or cuda"):
        train(tmp_path, steps=1, quick=True, device="tpu", log=lambda message: None)


def test_batches_built_in_a_child_process_are_the_in_process_ones():
    """The GPU path's producer process replays `_Batches` exactly: same seed, same total, same batches in order.
    The copy task's share follows batch index / total, read at each refill of the batch pool: 120 batches span
    four refills, and a child that ignored its total (kept 10**9) would differ from the second one on. A replan
    under --minutes reaches the child while it runs a few batches ahead, so that path is timing-dependent, as the
    --minutes step count itself is, and is not compared here. With invented values on, a child that dropped
    `invent` differs too."""
    tokenizer = Tokenizer.from_file(str(checkpoint_path() / "tokenizer.json"))
    made = [0]
    local = _Batches(tokenizer, seed=3, batch_tokens=600, progress=lambda: made[0] / 40, mix=Mix(invent=0.25))
    child = _BatchProcess(tokenizer, seed=3, batch_tokens=600, total=40, mix=Mix(invent=0.25), ahead=2)
    refills = 0
    try:
        for _ in range(120):
            refills += not local.queue
            ids, weights = local.next()
            made[0] += 1
            child_ids, child_weights = child.next()
            assert torch.equal(ids, child_ids) and torch.equal(weights, child_weights)
    finally:
        child.close()
    assert refills >= 3 and not child.process.is_alive()


def test_training_with_the_batch_process_gives_the_same_weights(quick_checkpoint, tmp_path):
    out, _ = quick_checkpoint
    record = train(tmp_path, steps=3, quick=True, seed=0, batch_process=True, log=lambda message: None)
    assert record["batch_process"] is True
    assert (tmp_path / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_named_sizes_and_an_unknown_one(tmp_path):
    counts = {}
    for name, size in SIZES.items():
        config = model_config(size, size["vocab"], 0, [0])
        assert config.head_dim >= 32
        counts[name] = sum(p.numel() for p in Glm4ForCausalLM(config).parameters())
    assert 1.2e6 < counts["1m"] < 1.4e6 and 3e6 < counts["3m"] < 4.5e6
    with pytest.raises(ValueError, match="size must be one of 1m, 3m"):
        train(tmp_path, steps=1, size="9b", log=lambda message: None)


def test_click_weight_scales_only_the_replies_that_click():
    """--click-weight: a Rumination reply that opens a search result weighs that much more, its result number
    (a digit) twice that; every other reply and the prompts keep their weights."""
    tokenizer = Tokenizer.from_file(str(checkpoint_path() / "tokenizer.json"))
    mix = Mix(local_research=0.5, loop_history=1.0)
    plain = _Batches(tokenizer, seed=3, batch_tokens=512, progress=lambda: 1.0, mix=mix)
    heavy = _Batches(tokenizer, seed=3, batch_tokens=512, progress=lambda: 1.0, mix=mix, click_weight=4.0)
    clicks = 0
    for _ in range(300):
        (ids, light), (same, weights) = plain._example(), heavy._example()
        assert ids == same
        for a, b in zip(light, weights):
            assert b == a or (b == 4.0 * a and a >= REPLY_WEIGHT), (a, b)
        heavier = [t for t, a, b in zip(ids, light, weights) if b != a]
        if heavier:
            clicks += 1
            assert '"name": "click"' in tokenizer.decode(heavier, skip_special_tokens=False)
            assert REPLY_WEIGHT * DIGIT_WEIGHT * 4.0 in weights
    assert clicks > 5


def test_soup_is_the_weighted_mean_of_one_lineage(quick_checkpoint, tmp_path):
    """nano.soup: A:1 and B:3 (B continues A) give A/4 + 3B/4 tensor by tensor, a folder transformers opens and
    a record naming both parts; a checkpoint of another lineage (another tokenizer) is refused, nothing written."""
    parent, _ = quick_checkpoint
    child = tmp_path / "child"
    train(child, steps=2, quick=True, seed=1, init=parent, lr=5e-2, log=lambda message: None)
    out = tmp_path / "soup"
    assert soup_main(["--out", str(out), str(parent), f"{child}:3"]) == 0
    a, b, mean = (load_file(str(d / "model.safetensors")) for d in (parent, child, out))
    assert mean.keys() == a.keys()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the child moved, so the mean tells the weights apart
    for name in a:
        assert mean[name].dtype == a[name].dtype
        torch.testing.assert_close(mean[name], 0.25 * a[name] + 0.75 * b[name], rtol=1e-6, atol=1e-7)
    record = json.loads((out / "nano_train.json").read_text())
    assert [(p["folder"], p["weight"]) for p in record["soup"]] == [(parent.name, 1.0), ("child", 3.0)]
    assert record["soup"][1]["record"]["init"]["seed"] == 0 and record["size"] == record["soup"][0]["record"]["size"]
    model = Glm4ForCausalLM.from_pretrained(out)
    assert torch.equal(model.state_dict()["lm_head.weight"], mean["lm_head.weight"])

    # another transformers release writes the same config differently: it still mixes; another rotary base does not
    config = json.loads((child / "config.json").read_text())
    config["transformers_version"] = "0.0.1"
    config.pop("partial_rotary_factor", None)
    (child / "config.json").write_text(json.dumps(config))
    soup(tmp_path / "again", [(parent, 1.0), (child, 3.0)])
    config["rope_parameters"] = {**config["rope_parameters"], "rope_theta": 500.0}
    (child / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="differ in config.json"):
        soup(tmp_path / "mixed", [(parent, 1.0), (child, 1.0)])

    stranger = tmp_path / "stranger"
    train(stranger, steps=1, quick=True, seed=5, log=lambda message: None)
    with pytest.raises(ValueError, match="differ in tokenizer.json"):
        soup(tmp_path / "mixed", [(parent, 1.0), (stranger, 1.0)])
    with pytest.raises(ValueError, match="weights must be positive"):
        soup(tmp_path / "mixed", [(parent, 1.0), (child, 0.0)])
    with pytest.raises(ValueError, match="not a nano-GLM checkpoint"):
        soup(tmp_path / "mixed", [(parent, 1.0), (tmp_path, 1.0)])
    assert not (tmp_path / "mixed").exists() and not list(tmp_path.glob(".mixed.*"))


def test_grow_inserts_layers_that_start_as_the_identity(quick_checkpoint, tmp_path, capsys):
    """nano.grow: the deeper model computes exactly what its source did, holds the source's layers in order around
    the new ones, and a phase with --fresh-lr moves the new layers at their own rate; bad --at writes nothing."""
    source, _ = quick_checkpoint
    grown = tmp_path / "grown"
    assert grow_main(["--out", str(grown), "--at", "2", "--at", "1", str(source)]) == 0  # the source has 2 layers
    record = json.loads((grown / "nano_train.json").read_text())
    assert record["grow"]["new_layers"] == [1, 3] and record["size"]["layers"] == 4
    a, b = Glm4ForCausalLM.from_pretrained(source), Glm4ForCausalLM.from_pretrained(grown)
    assert b.config.num_hidden_layers == 4
    ids = torch.randint(0, a.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(b(ids).logits, a(ids).logits, rtol=0, atol=1e-6)
    sa, sb = a.state_dict(), b.state_dict()
    for new, old in ((0, 0), (2, 1)):
        for name, tensor in sa.items():
            if name.startswith(f"model.layers.{old}."):
                assert torch.equal(sb[name.replace(f"layers.{old}.", f"layers.{new}.")], tensor)
    fresh = {n: t for n, t in sb.items() if n.startswith("model.layers.1.")}
    assert not fresh["model.layers.1.post_mlp_layernorm.weight"].any()
    assert fresh["model.layers.1.mlp.down_proj.weight"].std() > 0  # random, not zero: it can learn at once
    assert (grown / "tokenizer.json").read_bytes() == (source / "tokenizer.json").read_bytes()

    child = tmp_path / "child"
    train(child, steps=3, quick=True, seed=1, init=grown, lr=1e-6, fresh_lr=1e-2, log=lambda message: None)
    sc = load_file(str(child / "model.safetensors"))
    moved = {n: float((sc[n] - sb[n]).abs().max()) for n in sb}
    assert min(moved[n] for n in moved if n.startswith(("model.layers.1.", "model.layers.3."))) > 1e-3
    assert max(moved[n] for n in moved if n.startswith(("model.layers.0.", "model.layers.2."))) < 1e-4
    assert json.loads((child / "nano_train.json").read_text())["fresh_layers"] == [1, 3]

    copied = tmp_path / "copied"
    assert grow_main(["--out", str(copied), "--copy", "--at", "0", "--at", "2", str(source)]) == 0
    cs, sa = load_file(str(copied / "model.safetensors")), a.state_dict()  # new layers 0 and 3, source 0 and 1
    for new, old in ((0, 0), (3, 1)):  # a layer inserted at 0 copies the first one
        assert torch.equal(cs[f"model.layers.{new}.mlp.down_proj.weight"],
                           sa[f"model.layers.{old}.mlp.down_proj.weight"])
        assert not cs[f"model.layers.{new}.post_self_attn_layernorm.weight"].any()
    with torch.no_grad():
        torch.testing.assert_close(Glm4ForCausalLM.from_pretrained(copied)(ids).logits, a(ids).logits, rtol=0, atol=1e-6)

    with pytest.raises(ValueError, match="written by nano.grow"):
        train(tmp_path / "no", steps=1, quick=True, init=source, fresh_lr=1e-3, log=lambda message: None)
    with pytest.raises(ValueError, match="fresh_lr must be positive"):
        train(tmp_path / "no", steps=1, quick=True, init=grown, fresh_lr=0.0, log=lambda message: None)
    assert not (tmp_path / "no").exists()
    assert grow_main(["--out", str(tmp_path / "bad"), "--at", "3", str(source)]) == 2
    assert "must lie in 0..2" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert new_positions(6, [5, 2]) == [2, 6]


def test_a_staged_folder_replaces_its_destination_only_when_complete(tmp_path):
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(out) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"] and (out / "old.txt").read_text() == "old"
    with staged_folder(out) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["ckpt"]
    assert out.stat().st_mode & 0o755 == 0o755


def test_the_command_line_passes_each_corpus_option_to_train(monkeypatch, tmp_path):
    import glm_nb.nano.train as trainer

    seen = {}
    monkeypatch.setattr(trainer, "train", lambda out, **kwargs: seen.update(kwargs))
    assert trainer.main(["--out", str(tmp_path), "--quick", "--casual", "0.8", "--openers", "0.04"]) == 0
    assert seen["casual"] == 0.8 and seen["openers"] == 0.04 and seen["quick"]
