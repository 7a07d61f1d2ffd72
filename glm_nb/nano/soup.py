"""Average nano-GLM checkpoints of one lineage: `python -m glm_nb.nano.soup --out DIR A[:W] B[:W] ...`.

The weighted mean of the weights of runs that continue one ancestor (a "model soup"). Two CPU phases over the same
checkpoint each trade a few gates for others (benchmarks/results/nano-gpu-sweep-2026-11-27.md); their mean can keep
more of both than either. Only checkpoints of the same shape and the same tokenizer can be averaged: anything
else is refused before a file is written. The folder is written next to its destination and renamed at the end,
and its nano_train.json records every part with its weight and its own record.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .staging import staged_folder

WEIGHTS = "model.safetensors"
RECORD = "nano_train.json"
SAME_FILES = ("tokenizer.json", "config.json")  # the parts must agree on these (compared below)


def _same_tokenizer(a: Path, b: Path) -> bool:
    return (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


def _model_config(folder: Path) -> dict:
    """The config as transformers reads it: releases write the same config differently (5.17 repeats the rotary
    fraction outside `rope_parameters`, 5.24 does not), and only what it means must match."""
    from transformers import Glm4Config

    config = Glm4Config.from_pretrained(folder).to_dict()
    config.pop("transformers_version", None)
    return config


def parse_part(text: str) -> tuple[Path, float]:
    """`DIR` or `DIR:WEIGHT` (weight 1 by default)."""
    folder, sep, weight = text.rpartition(":")
    if not sep or not weight.replace(".", "", 1).isdigit():
        return Path(text), 1.0
    return Path(folder), float(weight)


def soup(out: Path, parts: list[tuple[Path, float]]) -> dict:
    """Write the weighted mean of the checkpoints `parts` ((folder, weight) pairs) to `out`; return its record."""
    if len(parts) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    for folder, weight in parts:
        if weight <= 0:
            raise ValueError(f"{folder}: weights must be positive, got {weight}")
        missing = [name for name in (WEIGHTS, RECORD, *SAME_FILES) if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"{folder} is not a nano-GLM checkpoint folder (no {', '.join(missing)})")
    first = parts[0][0]
    first_config = _model_config(first)
    for folder, _ in parts[1:]:
        differ = [n for n, same in (("tokenizer.json", _same_tokenizer(folder, first)),
                                    ("config.json", _model_config(folder) == first_config)) if not same]  # fmt: skip
        if differ:
            raise ValueError(f"{folder} and {first} differ in {' and '.join(differ)}: only runs of one lineage mix")
    total = sum(weight for _, weight in parts)
    mean: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}  # the first part's: the mean is summed in float64 and stored in these
    for folder, weight in parts:
        tensors = load_file(str(folder / WEIGHTS))
        if mean and (tensors.keys() != mean.keys() or any(t.shape != mean[k].shape for k, t in tensors.items())):
            raise ValueError(f"{folder} holds other tensors than {first}")
        for name, tensor in tensors.items():
            term = tensor.double() * (weight / total)
            mean[name] = mean[name] + term if name in mean else term
            dtypes.setdefault(name, tensor.dtype)
    first_record = json.loads((first / RECORD).read_text())
    record = {key: first_record[key] for key in ("model", "size_name", "size", "parameters") if key in first_record}
    record["soup"] = [
        {"folder": folder.name, "weight": weight, "record": json.loads((folder / RECORD).read_text())}
        for folder, weight in parts
    ]
    with staged_folder(out) as staging:
        for item in first.iterdir():
            if item.is_file() and item.name not in (WEIGHTS, RECORD):
                shutil.copy2(item, staging / item.name)
        save_file(
            {k: v.to(dtypes[k]).contiguous() for k, v in mean.items()}, str(staging / WEIGHTS), {"format": "pt"}
        )
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glm_nb.nano.soup", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    parser.add_argument("parts", nargs="+", help="checkpoint folders, each DIR or DIR:WEIGHT (weight 1 by default)")
    args = parser.parse_args(argv)
    parts = [parse_part(p) for p in args.parts]
    try:
        soup(args.out, parts)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: " + " + ".join(f"{w:g} x {folder}" for folder, w in parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
