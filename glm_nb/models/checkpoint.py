"""A Hugging Face `Glm4ForCausalLM` checkpoint folder: its config as a typed value and its tensors one by one.

Reads config.json (both the transformers 4.x layout, with `rope_theta` / `partial_rotary_factor` /
`rope_scaling` at top level, and the 5.x layout with `rope_parameters`) and single or sharded safetensors.
Nothing is loaded until asked for: `tensor(name)` maps the shard that holds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from .safetensors_file import SafetensorsFile

__all__ = ["Checkpoint", "Glm4Spec", "RopeSpec", "read_json"]

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path.parent} has no {path.name}; {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); restore it from the original checkpoint.") from e


@dataclass(frozen=True)
class RopeSpec:
    """Rotary settings, normalised from either config layout. `scaling` is None or the yarn parameters."""

    theta: float
    partial_rotary_factor: float
    rope_type: str = "default"
    scaling: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Glm4Spec:
    """The numbers of a GLM-4 decoder that the graph needs (see FORMAT.md, "Models")."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    rms_norm_eps: float
    max_position_embeddings: int
    rope: RopeSpec
    attention_bias: bool = True
    tie_word_embeddings: bool = False

    @property
    def rotary_dim(self) -> int:
        return int(self.head_dim * self.rope.partial_rotary_factor)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Glm4Spec:
        heads = config["num_attention_heads"]
        head_dim = config.get("head_dim") or config["hidden_size"] // heads
        return cls(
            hidden_size=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            num_heads=heads,
            num_kv_heads=config.get("num_key_value_heads") or heads,
            head_dim=head_dim,
            intermediate_size=config["intermediate_size"],
            vocab_size=config["vocab_size"],
            rms_norm_eps=config.get("rms_norm_eps", 1e-5),
            max_position_embeddings=config.get("max_position_embeddings", 32768),
            rope=_rope_spec(config),
            attention_bias=config.get("attention_bias", True),
            tie_word_embeddings=config.get("tie_word_embeddings", False),
        )


def _rope_spec(config: dict[str, Any]) -> RopeSpec:
    params = dict(config.get("rope_parameters") or {})
    legacy = config.get("rope_scaling") or {}
    theta = params.get("rope_theta", config.get("rope_theta", 10000.0))
    factor = params.get("partial_rotary_factor", config.get("partial_rotary_factor", 0.5))
    merged = {**legacy, **params}
    rope_type = merged.get("rope_type", merged.get("type", "default")) or "default"
    if rope_type not in ("default", "yarn"):
        raise CheckpointError(
            f"rope type {rope_type!r} is not supported (only default and yarn are); "
            "remove `rope_scaling` from config.json or open an issue with the checkpoint's name."
        )
    scaling: dict[str, Any] = {}
    if rope_type == "yarn":
        keys = ("factor", "original_max_position_embeddings", "attention_factor", "beta_fast", "beta_slow",
                "mscale", "mscale_all_dim", "truncate")  # fmt: skip
        scaling = {k: merged[k] for k in keys if merged.get(k) is not None}
        scaling.setdefault("original_max_position_embeddings", config.get("max_position_embeddings", 32768))
    return RopeSpec(theta=float(theta), partial_rotary_factor=float(factor), rope_type=rope_type, scaling=scaling)


class Checkpoint:
    """A `Glm4ForCausalLM` folder. Validates what it can up front so that conversion fails early and clearly."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise CheckpointError(f"{self.folder} is not a folder; pass the folder that holds config.json.")
        self.config = read_json(
            self.folder / "config.json",
            "is this a Hugging Face checkpoint folder? Pass the folder that holds config.json and *.safetensors.",
        )
        archs = self.config.get("architectures") or []
        model_type = self.config.get("model_type")
        if "Glm4ForCausalLM" not in archs and model_type != "glm4":
            raise CheckpointError(
                f"{self.folder} holds a {', '.join(archs) or model_type or 'unknown'} model, not Glm4ForCausalLM. "
                "glm-nb runs the GLM-4-0414 family (GLM-4-*-0414, GLM-Z1-*, GLM-Z1-Rumination); the older "
                "ChatGLM / glm-4-9b-chat (2024) checkpoints use another architecture."
            )
        self.spec = Glm4Spec.from_config(self.config)
        self._files: dict[str, SafetensorsFile] = {}
        self._where = self._tensor_locations()

    def _tensor_locations(self) -> dict[str, str]:
        index = self.folder / "model.safetensors.index.json"
        if index.exists():
            weight_map = read_json(index, "")["weight_map"]
            missing = sorted({f for f in weight_map.values() if not (self.folder / f).exists()})
            if missing:
                raise CheckpointError(
                    f"{self.folder} is missing shard(s) {', '.join(missing)} listed in model.safetensors.index.json; "
                    "download them (the checkpoint is incomplete)."
                )
            return dict(weight_map)
        files = sorted(self.folder.glob("*.safetensors"))
        if not files:
            raise CheckpointError(
                f"{self.folder} has no *.safetensors weights. glm-nb reads safetensors only; "
                "re-save a PyTorch .bin checkpoint with `model.save_pretrained(folder)`."
            )
        return {name: f.name for f in files for name in self._file(f.name).names()}

    def _file(self, filename: str) -> SafetensorsFile:
        if filename not in self._files:
            self._files[filename] = SafetensorsFile(self.folder / filename)
        return self._files[filename]

    def has(self, name: str) -> bool:
        return name in self._where

    def tensor(self, name: str) -> np.ndarray:
        """One weight as numpy (bf16 widened to fp32). Raises CheckpointError naming the tensor if it is absent."""
        self._require(name)
        return self._file(self._where[name]).tensor(name)

    def lazy(self, name: str):
        """Like `tensor`, but nothing is read until sliced (for the huge embedding and lm_head)."""
        self._require(name)
        return self._file(self._where[name]).lazy(name)

    def _require(self, name: str) -> None:
        if name not in self._where:
            raise CheckpointError(
                f"{self.folder} lacks tensor {name!r}; the checkpoint is incomplete or not a Glm4ForCausalLM."
            )

    def validate_files(self) -> None:
        """Open every shard (header and sizes), so a truncated file is reported before any work is done."""
        for filename in sorted(set(self._where.values())):
            self._file(filename)

    def tokenizer_files(self) -> list[Path]:
        return [self.folder / n for n in TOKENIZER_FILES if (self.folder / n).exists()]

    def generation_config(self) -> dict[str, Any]:
        path = self.folder / "generation_config.json"
        return read_json(path, "") if path.exists() else {}
