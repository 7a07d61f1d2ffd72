"""The measurements of benchmarks/gpu_suite.py, each run in a child process of its own:

    python benchmarks/gpu_suite_tasks.py TASK '{json arguments}'

Progress goes to stderr; the last line on stdout is `RESULT {json}`. Tasks:
    checkpoint    write a random bf16 GLM-4 checkpoint straight to safetensors (no torch init of 9B parameters)
    convert       glm_nb.convert it, and count the bytes a decode step reads
    bandwidth     device-to-device copy bandwidth through torch (bytes read + bytes written, per second)
    transformers  transformers' Glm4ForCausalLM `generate` (sdpa; bf16 on a GPU): TTFT and decode tok/s, and the
                  same model's forward in a plain loop (what generate() itself costs shows as the difference)
    engine        glm-nb on ONNX Runtime: TTFT, decode tok/s with CUDA graphs on / off and top-k / whole-row readback

A child per measurement means a crash, a hang or an out-of-memory costs one row, not the suite, and every
measurement starts with an empty GPU. torch and transformers are imported only by the tasks that use them.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, glm_nb not installed
from glm_nb.engine import Engine, Generator, SamplingParams, convert  # noqa: E402
from glm_nb.engine.onnx_writer import to_bf16_bits  # noqa: E402
from glm_nb.errors import ModelLoadError  # noqa: E402

CUDA = "CUDAExecutionProvider"
_POOL = 1 << 24  # random bf16 values drawn once (32 MiB) and cycled through: speed does not depend on values
_UNLIMITED = 10**9  # max_new_tokens for runs that stop by count


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- checkpoint ---------------------------------------------------------------------------------------------------
def _tensor_shapes(s: dict) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, kind) of a Glm4ForCausalLM, in the Hugging Face layout (FORMAT.md, weight names)."""
    h, q, kv = s["hidden"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]
    shapes = {"model.embed_tokens.weight": ((s["vocab"], h), "weight")}
    for i in range(s["layers"]):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": ((h,), "norm"),
            p + "self_attn.q_proj.weight": ((q, h), "weight"),
            p + "self_attn.q_proj.bias": ((q,), "bias"),
            p + "self_attn.k_proj.weight": ((kv, h), "weight"),
            p + "self_attn.k_proj.bias": ((kv,), "bias"),
            p + "self_attn.v_proj.weight": ((kv, h), "weight"),
            p + "self_attn.v_proj.bias": ((kv,), "bias"),
            p + "self_attn.o_proj.weight": ((h, q), "weight"),
            p + "post_self_attn_layernorm.weight": ((h,), "norm"),
            p + "post_attention_layernorm.weight": ((h,), "norm"),
            p + "mlp.gate_up_proj.weight": ((2 * s["intermediate"], h), "weight"),
            p + "mlp.down_proj.weight": ((h, s["intermediate"]), "weight"),
            p + "post_mlp_layernorm.weight": ((h,), "norm"),
        }
    shapes |= {"model.norm.weight": ((h,), "norm"), "lm_head.weight": ((s["vocab"], h), "weight")}
    return shapes


def _config(s: dict) -> dict:
    return dict(
        vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["intermediate"],
        num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
        head_dim=s["head_dim"], partial_rotary_factor=0.5, max_position_embeddings=s["max_position"],
        rms_norm_eps=1e-5, attention_bias=True, tie_word_embeddings=False, pad_token_id=0,
        eos_token_id=[s["vocab"] - 1],
    )  # fmt: skip


def _write_config(folder: Path, s: dict) -> None:
    try:  # the layout this transformers version reads (rope settings moved in 5.x)
        from transformers import Glm4Config

        Glm4Config(**_config(s)).save_pretrained(folder)
    except ImportError:
        config = _config(s) | {"architectures": ["Glm4ForCausalLM"], "model_type": "glm4", "rope_theta": 10000.0}
        (folder / "config.json").write_text(json.dumps(config, indent=2))


def _write_tokenizer(folder: Path) -> None:
    """A token-id-only tokenizer: the suite feeds ids, but a converted model folder carries a tokenizer.json."""
    from tokenizers import Tokenizer, models

    Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, unk_token="<unk>")).save(str(folder / "tokenizer.json"))


def write_checkpoint(a: dict) -> dict:
    """Random bf16 weights of the given shape: matrices N(0, 0.02), norm weights 1 + N(0, 0.1), biases N(0, 0.1)."""
    start = time.perf_counter()
    folder = Path(a["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pools = {
        "weight": to_bf16_bits(0.02 * rng.standard_normal(_POOL, dtype=np.float32)),
        "norm": to_bf16_bits(1.0 + 0.1 * rng.standard_normal(1 << 16, dtype=np.float32)),
        "bias": to_bf16_bits(0.1 * rng.standard_normal(1 << 16, dtype=np.float32)),
    }
    shapes = _tensor_shapes(a["shape"])
    header, offset = {"__metadata__": {"format": "pt"}}, 0  # transformers refuses files without the format
    for name, (shape, _) in shapes.items():
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(folder / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for shape, kind in shapes.values():
            pool, left = pools[kind], int(np.prod(shape))
            first = int(rng.integers(0, pool.size))
            while left:
                chunk = pool[first : first + left]
                f.write(memoryview(chunk).cast("B"))
                left, first = left - chunk.size, 0
    _write_config(folder, a["shape"])
    _write_tokenizer(folder)
    params = offset // 2
    log(
        f"checkpoint: {params / 1e9:.2f} B parameters, {offset / 2**30:.1f} GiB in {time.perf_counter() - start:.0f} s"
    )
    return {"params": params, "bytes": offset, "seconds": time.perf_counter() - start}


# -- conversion ---------------------------------------------------------------------------------------------------
def _initializer_bytes(folder: Path) -> dict[str, int]:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    sizes = {}
    for t in model.graph.initializer:
        external = {e.key: e.value for e in t.external_data}
        sizes[t.name] = int(external["length"]) if "length" in external else len(t.raw_data)
    return sizes


def convert_model(a: dict) -> dict:
    start = time.perf_counter()
    out = convert(
        a["checkpoint"], a["out"], precision=a["precision"], int4_compute=a["int4_compute"],
        int4_block_size=a.get("block_size", 32), int4_symmetric=a.get("symmetric", False),
        max_length=a["max_length"], top_k_output=a["top_k"], progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    sizes = _initializer_bytes(out)
    # A decode step reads every weight once, except the embedding table (one row) and the rotary caches (a row).
    skipped = sum(n for name, n in sizes.items() if name.startswith(("model.embed_tokens", "rotary.")))
    layer0 = sum(n for name, n in sizes.items() if re.search(r"(^|\.)layers\.0\.", name))
    log(f"converted {a['precision']}/{a['int4_compute']} in {seconds:.0f} s")
    return {"seconds": seconds, "weights_read": sum(sizes.values()) - skipped, "per_layer": layer0,
            "file_bytes": sum(sizes.values())}  # fmt: skip


# -- bandwidth and the transformers peer --------------------------------------------------------------------------
def copy_bandwidth(a: dict) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    src = torch.randint(0, 255, (a["bytes"],), dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    times = []
    for i in range(a["repeats"] + 3):
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            seconds = begin.elapsed_time(end) / 1e3
        else:
            t = time.perf_counter()
            dst.copy_(src)
            seconds = time.perf_counter() - t
        if i >= 3:  # warm-up first
            times.append(seconds)
    name = torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine()) + " (CPU)"
    return {"bytes_per_s": 2 * a["bytes"] / statistics.median(times), "device": name, "torch": torch.__version__,
            "cuda": torch.version.cuda}  # fmt: skip


def transformers_decode(a: dict) -> dict:
    import torch
    import transformers
    from transformers import Glm4ForCausalLM

    cuda = torch.cuda.is_available()
    start = time.perf_counter()
    model = Glm4ForCausalLM.from_pretrained(
        a["checkpoint"], dtype=torch.bfloat16 if cuda else torch.float32, attn_implementation="sdpa",
        device_map="cuda" if cuda else None,
    ).eval()  # fmt: skip
    load_s = time.perf_counter() - start
    rng = np.random.default_rng(1)

    def timed(prompt_len: int, new: int) -> float:
        ids = torch.tensor(rng.integers(2, a["vocab"] - 1, prompt_len)[None], device=model.device)
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                       do_sample=False, pad_token_id=0)  # fmt: skip
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t

    @torch.no_grad()
    def forward_loop(prompt_len: int, new: int) -> float:
        """tok/s of the model's own forward, token by token with its cache and a greedy argmax: no generate()."""
        ids = torch.tensor(rng.integers(2, a["vocab"] - 1, prompt_len)[None], device=model.device)
        out = model(ids, use_cache=True)
        past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(new):
            out = model(token, past_key_values=past, use_cache=True)
            past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        if cuda:
            torch.cuda.synchronize()
        return new / (time.perf_counter() - t)

    timed(32, 4)  # warm-up: kernels, allocator
    ttft = statistics.median(timed(a["ttft_prompt"], 1) for _ in range(3))
    decode, forward, n = {}, {}, a["decode_tokens"]
    for ctx in a["contexts"]:
        log(f"transformers: decode at {ctx}")
        one, many = timed(ctx, 1), timed(ctx, 1 + n)
        decode[str(ctx)] = n / max(many - one, 1e-9)
        forward[str(ctx)] = forward_loop(ctx, n)
    return {"ttft_ms": 1e3 * ttft, "decode": decode, "forward": forward, "load_s": load_s,
            "transformers": transformers.__version__, "dtype": "bf16" if cuda else "fp32"}  # fmt: skip


# -- glm-nb on ONNX Runtime ---------------------------------------------------------------------------------------
# (row label, capture decode as CUDA graphs, readback, contexts: "all" or "first")
GREEDY: dict = {}
CHAT = {"temperature": 0.6, "top_p": 0.8, "seed": 0}  # the chat preset; random weights leave the top-k undecided
# A trained model's chat step is peaked (the top-64 and the row's exp-sum decide ~all of them, sampling_cost.py);
# random weights are flat, so a low temperature stands in for that peak.
PEAKED = {"temperature": 0.01, "top_p": 0.8, "seed": 0}
# Temperature alone is what OpenAI's clients send `glm-nb serve` by default (top_p 1); peaked the same way.
PEAKED_ALONE = {"temperature": 0.01, "seed": 0}
MODES = (  # label, CUDA graphs, readback, contexts, sampling
    ("graphs on · top-k readback", True, "auto", "all", GREEDY),
    ("graphs on · whole-row readback", True, "logits", "first", GREEDY),
    ("graphs off · top-k readback", False, "auto", "all", GREEDY),
    ("graphs on · chat sampling", True, "auto", "first", CHAT),
    ("graphs on · peaked sampling", True, "auto", "first", PEAKED),
    ("graphs on · peaked, temperature alone", True, "auto", "first", PEAKED_ALONE),
)


def _prompt(rng: np.random.Generator, vocab: int, n: int) -> list[int]:
    return rng.integers(2, vocab - 1, n).tolist()


def _ttft_ms(engine: Engine, a: dict, rng: np.random.Generator) -> float:
    """Prefill of a fresh prompt + the first sampled token, median of 3 after a warm-up of the same shape."""
    gen = Generator(engine, SamplingParams(max_new_tokens=_UNLIMITED), max_length=a["ttft_prompt"] + 8,
                    stop_ids=(), cuda_graph=False)  # fmt: skip
    times = []
    for _ in range(4):
        gen.rewind_to(0)
        gen.set_prompt(_prompt(rng, a["vocab"], a["ttft_prompt"]))
        t = time.perf_counter()
        gen.generate_next_token()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times[1:])


def _decode(gen: Generator, ctx: int, a: dict, rng: np.random.Generator) -> tuple[float, bool]:
    """tok/s (1 / median step time) after a `ctx`-token prompt, and whether every logit checked was finite."""
    gen.set_prompt(_prompt(rng, a["vocab"], ctx))
    gen.generate_next_token()  # prefill
    finite = bool(np.isfinite(gen.last_logits()).all())
    for _ in range(a["warmup"]):  # a graph is captured during these
        gen.generate_next_token()
    steps = []
    for _ in range(a["decode_tokens"]):
        t = time.perf_counter()
        gen.generate_next_token()
        steps.append(time.perf_counter() - t)
    finite = finite and bool(np.isfinite(gen.last_logits()).all())
    return 1.0 / statistics.median(steps), finite


def _mode_row(engine: Engine, mode: tuple, a: dict, rng: np.random.Generator) -> dict:
    label, graph, readback, which, sampling = mode
    row = {"mode": label, "decode": {}, "finite": True}
    try:
        params = SamplingParams(max_new_tokens=_UNLIMITED, **sampling)
        gen = Generator(engine, params, max_length=a["max_length"], stop_ids=(), cuda_graph=graph, readback=readback)
        for ctx in a["contexts"] if which == "all" else a["contexts"][:1]:
            log(f"engine {a['label']}: {label} at {ctx}")
            rate, finite = _decode(gen, ctx, a, rng)
            row["decode"][str(ctx)] = rate
            row["finite"] = row["finite"] and finite
        if sampling:  # the share of draws the device top-k decided (no logits row copied); _decode draws
            draws = len(row["decode"]) * (1 + a["warmup"] + a["decode_tokens"])  # after each prompt, then each step
            row["top_k_share"] = gen.stats.top_k_draws / draws
    except Exception as e:  # one mode failing (capture refused, out of memory) must not hide the others
        row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    return row


def engine_decode(a: dict) -> dict:
    device = "cuda" if CUDA in ort.get_available_providers() else "cpu"
    start = time.perf_counter()
    note = ""
    kernel = a.get("int4_kernel", "auto")
    try:
        engine = Engine.load(a["model"], device=device, cuda_graph=device == "cuda", int4_kernel=kernel)
    except ModelLoadError as e:
        if device == "cpu":
            raise
        note = f"CUDA graphs unavailable: {str(e)[:300]}"
        engine = Engine.load(a["model"], device=device, cuda_graph=False, int4_kernel=kernel)
    load_s = time.perf_counter() - start
    log(f"engine {a['label']}: loaded on {engine.provider} in {load_s:.0f} s, int4 kernels {engine.int4_kernel}")
    rng = np.random.default_rng(2)
    result = {"provider": engine.provider, "ort": ort.__version__, "load_s": load_s, "note": note,
              "int4_kernel": engine.int4_kernel}  # fmt: skip
    try:
        result["ttft_ms"] = _ttft_ms(engine, a, rng)
    except Exception as e:
        result["ttft_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    rows = []
    for mode in MODES:
        if mode[1] and device == "cuda" and not engine.cuda_graph:
            rows.append({"mode": mode[0], "decode": {}, "error": note})
            continue
        rows.append(_mode_row(engine, mode, a, rng))
    return result | {"rows": rows}


TASKS = {
    "checkpoint": write_checkpoint,
    "convert": convert_model,
    "bandwidth": copy_bandwidth,
    "transformers": transformers_decode,
    "engine": engine_decode,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: gpu_suite_tasks.py {{{','.join(TASKS)}}} JSON", file=sys.stderr)
        return 2
    result = TASKS[argv[0]](json.loads(argv[1]))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
