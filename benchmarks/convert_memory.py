"""Peak memory of `glm-nb convert` on a random ~1B-parameter GLM-4-shaped bf16 checkpoint.

The converter reads tensor by tensor from memory-mapped safetensors, so its peak resident memory should be set
by the largest single weight, not by the model. This writes a random checkpoint (numpy, straight to
safetensors; 2 GB on disk), converts it to fp32 and int4 in fresh processes, and prints each one's peak RSS
next to the model's size.

    python benchmarks/convert_memory.py [--layers 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from glm_nb.engine.onnx_writer import to_bf16_bits  # noqa: E402

from tiny_checkpoint import write_tokenizer  # noqa: E402

CONFIG = dict(
    architectures=["Glm4ForCausalLM"], model_type="glm4", hidden_size=2048, num_attention_heads=16,
    num_key_value_heads=2, head_dim=128, intermediate_size=6848, vocab_size=151552, rms_norm_eps=1e-5,
    max_position_embeddings=4096, rope_theta=10000.0, partial_rotary_factor=0.5, attention_bias=True,
    tie_word_embeddings=False, torch_dtype="bfloat16", pad_token_id=0, eos_token_id=[1, 2, 3],
)  # fmt: skip


def tensor_shapes(layers: int) -> dict[str, tuple[int, ...]]:
    h, i, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    q, kv = CONFIG["num_attention_heads"] * 128, CONFIG["num_key_value_heads"] * 128
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for n in range(layers):
        p = f"model.layers.{n}."
        shapes.update({
            p + "input_layernorm.weight": (h,), p + "post_self_attn_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,), p + "post_mlp_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q, h), p + "self_attn.q_proj.bias": (q,),
            p + "self_attn.k_proj.weight": (kv, h), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (h, q), p + "mlp.gate_up_proj.weight": (2 * i, h),
            p + "mlp.down_proj.weight": (h, i),
        })  # fmt: skip
    return shapes


def write_random_checkpoint(folder: Path, layers: int) -> int:
    """Write config + one bf16 safetensors file tensor by tensor; returns the parameter count."""
    folder.mkdir(parents=True)
    shapes = tensor_shapes(layers)
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    rng = np.random.default_rng(0)
    with open(folder / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for shape in shapes.values():
            rows = shape[0]
            step = max(1, (32 << 20) // (int(np.prod(shape[1:])) or 1))
            for r in range(0, rows, step):
                part = rng.standard_normal((min(step, rows - r), *shape[1:]), dtype=np.float32) * 0.02
                f.write(to_bf16_bits(part).tobytes())
    (folder / "config.json").write_text(json.dumps({**CONFIG, "num_hidden_layers": layers}))
    write_tokenizer(folder)
    return sum(int(np.prod(s)) for s in shapes.values())


_CHILD = """
import resource, sys, time
from glm_nb import convert
t = time.perf_counter()
convert(sys.argv[1], sys.argv[2], precision=sys.argv[3], progress=False)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def measure(src: Path, out: Path, precision: str) -> tuple[float, int, int]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(out), precision],
                          capture_output=True, text=True, check=True)  # fmt: skip
    seconds, peak = done.stdout.split()[-2:]
    size = sum(f.stat().st_size for f in out.iterdir())
    shutil.rmtree(out)
    return float(seconds), int(peak), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=8, help="8 layers at hidden 2048 = 1.03B parameters")
    parser.add_argument("--keep", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="glm-nb-mem-"))
    try:
        t = time.perf_counter()
        params = write_random_checkpoint(work / "ckpt", args.layers)
        src_size = (work / "ckpt" / "model.safetensors").stat().st_size
        print(f"random checkpoint: {params / 1e9:.2f}B parameters, {src_size / 2**30:.2f} GiB bf16 "
              f"(written in {time.perf_counter() - t:.0f} s)")  # fmt: skip
        print(f"{'precision':<10} {'output GiB':>11} {'peak RSS GiB':>13} {'RSS / output':>13} {'seconds':>8}")
        for precision in ("fp32", "int4"):
            seconds, peak, size = measure(work / "ckpt", work / precision, precision)
            print(f"{precision:<10} {size / 2**30:>11.2f} {peak / 2**30:>13.2f} {peak / size:>13.2f} {seconds:>8.0f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
