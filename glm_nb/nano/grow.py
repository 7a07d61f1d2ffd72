"""Deepen a nano-GLM checkpoint: `python -m glm_nb.nano.grow --out DIR SRC --at I [--at J ...]`.

Inserts fresh decoder layers before the layers SRC numbers I, J, ... (I = the number of layers puts one at the
end). A new layer starts as the identity: GLM-4 normalises what attention and the MLP add to the residual stream
(`post_self_attn_layernorm`, `post_mlp_layernorm`), and those two norms start at zero, so the grown model computes
exactly what SRC did, while every other weight of the layer is trainable (AdamW moves the zero norms on the first
step, and then the rest): random, or with `--copy` the weights of the source layer just before it (the first
layer's for a layer inserted at 0), so that what the layer would add is a useful signal from the first step. A trainer phase over the result (`nano.train --init DIR --fresh-lr LR`) gives the
new layers a rate of their own: room for a circuit that several CPU phases over the 6-layer model did not form
(reading which search result is about a topic), without relearning what the old layers know.

Like nano.soup, it writes next to the destination and renames at the end; its nano_train.json records the source's
record and where the new layers are.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from .staging import staged_folder

WEIGHTS = "model.safetensors"
RECORD = "nano_train.json"
_ZERO_NORMS = ("post_self_attn_layernorm.weight", "post_mlp_layernorm.weight")


def new_positions(layers: int, at: list[int]) -> list[int]:
    """The indices the new layers take in the grown model, for insertions before the source's layers `at`."""
    if not at:
        raise ValueError("give at least one --at")
    bad = [i for i in at if not 0 <= i <= layers]
    if bad:
        raise ValueError(f"--at must lie in 0..{layers} (the source has {layers} layers), got {bad}")
    ordered = sorted(at)
    return [i + k for k, i in enumerate(ordered)]


def grow(out: Path, source: Path, at: list[int], seed: int = 0, copy: bool = False) -> dict:
    """Write `source` with identity-start layers inserted before its layers `at` (random, or with `copy` copies of
    the source layer before each); return the new record."""
    from transformers import Glm4Config, Glm4ForCausalLM

    from .train import model_name

    missing = [n for n in (WEIGHTS, RECORD, "config.json", "tokenizer.json") if not (source / n).is_file()]
    if missing:
        raise ValueError(f"{source} is not a nano-GLM checkpoint folder (no {', '.join(missing)})")
    config = Glm4Config.from_pretrained(source)
    fresh = new_positions(config.num_hidden_layers, at)  # refuses a bad --at before any weight is read
    old = Glm4ForCausalLM.from_pretrained(source, dtype=torch.float32)
    config.num_hidden_layers += len(fresh)
    with torch.random.fork_rng():  # the new layers' weights from `seed`, without touching the caller's generator
        torch.manual_seed(seed)
        model = Glm4ForCausalLM(config).to(torch.float32)
    old_state, state = old.state_dict(), model.state_dict()
    source_of = [i for i in range(config.num_hidden_layers) if i not in fresh]  # new index -> source layer, in order
    with torch.no_grad():
        for name, tensor in state.items():
            if not name.startswith("model.layers."):
                tensor.copy_(old_state[name])
                continue
            index, rest = name.removeprefix("model.layers.").split(".", 1)
            if int(index) in fresh:
                if rest in _ZERO_NORMS:
                    tensor.zero_()
                elif copy:  # the source layer before it (the first one for a layer inserted at 0)
                    before = max(0, sum(1 for j in source_of if j < int(index)) - 1)
                    tensor.copy_(old_state[f"model.layers.{before}.{rest}"])
            else:
                tensor.copy_(old_state[f"model.layers.{source_of.index(int(index))}.{rest}"])
    previous = json.loads((source / RECORD).read_text())
    params = sum(p.numel() for p in model.parameters())
    size = {**previous.get("size", {}), "layers": config.num_hidden_layers}
    grown = {"new_layers": fresh, "seed": seed, "copy": copy, "from": previous}
    record = {"model": model_name(params), "size_name": f"{previous.get('size_name', '3m')}+{len(fresh)}",
              "size": size, "parameters": params, "grow": grown}  # fmt: skip
    with staged_folder(out) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        for item in source.iterdir():  # the source's tokenizer and generation config, over what transformers wrote
            if item.is_file() and item.name not in (WEIGHTS, RECORD, "config.json"):
                shutil.copy2(item, staging / item.name)
        written = json.loads((staging / "config.json").read_text())
        written["_name_or_path"] = record["model"]
        (staging / "config.json").write_text(json.dumps(written, indent=2) + "\n")
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glm_nb.nano.grow", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    parser.add_argument("--at", type=int, action="append", required=True,
                        help="insert a fresh layer before this layer of the source (repeat for more)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the new layers' random weights")
    parser.add_argument("--copy", action="store_true", help="start each new layer as a copy of the one before it")
    parser.add_argument("source", type=Path, help="the checkpoint folder to deepen")
    args = parser.parse_args(argv)
    try:
        record = grow(args.out, args.source, args.at, args.seed, args.copy)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {record['model']}, new layers at {record['grow']['new_layers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
