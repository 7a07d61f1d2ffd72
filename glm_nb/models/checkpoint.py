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

__all__ = ["Checkpoint", "Glm4Spec", "RopeSpec", "folder_name", "read_json"]

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
        """The spec from config.json, each field checked for its type and range (a CheckpointError names it)."""
        hidden = _number(config, "hidden_size", int, low=1)
        heads = _number(config, "num_attention_heads", int, low=1)
        kv_heads = _number(config, "num_key_value_heads", int, heads, low=1)
        if heads % kv_heads:
            raise CheckpointError(
                f"config.json: num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv_heads}); "
                "restore config.json from the original checkpoint."
            )
        return cls(
            hidden_size=hidden,
            num_layers=_number(config, "num_hidden_layers", int, low=1),
            num_heads=heads,
            num_kv_heads=kv_heads,
            head_dim=_number(config, "head_dim", int, hidden // heads, low=1),
            intermediate_size=_number(config, "intermediate_size", int, low=1),
            vocab_size=_number(config, "vocab_size", int, low=1),
            rms_norm_eps=_number(config, "rms_norm_eps", float, 1e-5, low=0.0),
            max_position_embeddings=_number(config, "max_position_embeddings", int, 32768, low=1),
            rope=_rope_spec(config),
            attention_bias=bool(config.get("attention_bias", True)),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        )

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every weight the graph reads, with the shape this config gives it (transformers' Glm4 names)."""
        h, v, i = self.hidden_size, self.vocab_size, self.intermediate_size
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
        if not self.tie_word_embeddings:
            shapes["lm_head.weight"] = (v, h)
        norms = ("input_layernorm", "post_self_attn_layernorm", "post_attention_layernorm", "post_mlp_layernorm")
        for layer in range(self.num_layers):
            p = f"model.layers.{layer}"
            for norm in norms:
                shapes[f"{p}.{norm}.weight"] = (h,)
            for name, rows in (("q", q), ("k", kv), ("v", kv)):
                shapes[f"{p}.self_attn.{name}_proj.weight"] = (rows, h)
                if self.attention_bias:
                    shapes[f"{p}.self_attn.{name}_proj.bias"] = (rows,)
            shapes[f"{p}.self_attn.o_proj.weight"] = (h, q)
            shapes[f"{p}.mlp.gate_up_proj.weight"] = (2 * i, h)
            shapes[f"{p}.mlp.down_proj.weight"] = (h, i)
        return shapes


_REQUIRED = object()


def _number(config: dict[str, Any], key: str, kind: type, default: Any = _REQUIRED, *, low: float) -> Any:
    """config[key] as `kind` (int: a whole number, not a bool or a string), at least `low`."""
    value = config.get(key)
    if value is None:
        if default is _REQUIRED:
            raise CheckpointError(
                f"config.json has no {key!r}; a Glm4ForCausalLM config needs it. Restore config.json from the "
                "original checkpoint."
            )
        return default
    number = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not number or value < low:
        what = "a whole number" if kind is int else "a number"
        raise CheckpointError(
            f"config.json: {key} must be {what} of at least {low}, got {value!r}; restore config.json from the "
            "original checkpoint."
        )
    return kind(value)


def _rope_spec(config: dict[str, Any]) -> RopeSpec:
    params, legacy = config.get("rope_parameters") or {}, config.get("rope_scaling") or {}
    for key, value in (("rope_parameters", params), ("rope_scaling", legacy)):
        if not isinstance(value, dict):
            raise CheckpointError(
                f"config.json: {key} must be an object, got {value!r}; restore it from the original."
            )
    merged = {**legacy, **params}
    settings = {
        "rope_theta": params.get("rope_theta", config.get("rope_theta")),
        "partial_rotary_factor": params.get("partial_rotary_factor", config.get("partial_rotary_factor")),
    }
    theta = _number(settings, "rope_theta", float, 10000.0, low=1e-9)
    factor = _number(settings, "partial_rotary_factor", float, 0.5, low=0.0)
    if factor > 1:
        raise CheckpointError(
            f"config.json: partial_rotary_factor must be at most 1, got {factor}; restore config.json from the "
            "original checkpoint."
        )
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
        scaling["factor"] = _number(scaling, "factor", float, low=1.0)  # transformers requires it, at least 1
        scaling["original_max_position_embeddings"] = _number(
            scaling, "original_max_position_embeddings", int, config.get("max_position_embeddings", 32768), low=1
        )
        for key in ("attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim"):
            if key in scaling:
                scaling[key] = _number(scaling, key, float, low=0.0)
    return RopeSpec(theta=theta, partial_rotary_factor=factor, rope_type=rope_type, scaling=scaling)


def folder_name(folder: Path) -> str:
    """What to call a checkpoint folder: the repository of a Hugging Face cache snapshot
    (`models--OWNER--NAME/snapshots/REVISION`, whose own folder is a commit hash), else the name of the folder the
    path leads to (through a link, or "." whose own name is empty)."""
    folder = folder.expanduser().resolve()
    repo = folder.parent.parent.name
    if folder.parent.name == "snapshots" and repo.startswith("models--") and "--" in repo[len("models--") :]:
        return repo[len("models--") :].replace("--", "/", 1)
    return folder.name


_FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})


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
        if not isinstance(self.config, dict):
            raise CheckpointError(
                f"{self.folder / 'config.json'} is not a JSON object; restore it from the original."
            )
        archs = self.config.get("architectures") or []
        model_type = self.config.get("model_type")
        if "Glm4ForCausalLM" not in archs and model_type != "glm4":
            raise CheckpointError(
                f"{self.folder} holds a {', '.join(archs) or model_type or 'unknown'} model, not Glm4ForCausalLM. "
                "glm-nb runs the GLM-4-0414 family (GLM-4-*-0414, GLM-Z1-*, GLM-Z1-Rumination); the older "
                "ChatGLM / glm-4-9b-chat (2024) checkpoints use another architecture."
            )
        quantized = self.config.get("quantization_config")
        if quantized:
            method = quantized.get("quant_method", "quantized") if isinstance(quantized, dict) else "quantized"
            raise CheckpointError(
                f"{self.folder} is a {method} checkpoint (config.json has a quantization_config); glm-nb converts "
                "the original bf16, fp16 or fp32 weights. Convert the unquantized checkpoint, with --precision int4 "
                "for 4-bit weights."
            )
        self.spec = Glm4Spec.from_config(self.config)
        self._files: dict[str, SafetensorsFile] = {}
        self._where = self._tensor_locations()
        self._check_shapes()

    def _tensor_locations(self) -> dict[str, str]:
        index = self.folder / "model.safetensors.index.json"
        if index.exists():
            content = read_json(index, "")
            weight_map = content.get("weight_map") if isinstance(content, dict) else None
            if not isinstance(weight_map, dict) or not all(
                isinstance(f, str) and Path(f).name == f for f in weight_map.values()
            ):
                raise CheckpointError(
                    f"{index} has no weight_map of tensor names to shard files in this folder; download it again."
                )
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
        if (self.folder / "model.safetensors").exists():  # what transformers loads when there is no index
            files = [self.folder / "model.safetensors"]
        where: dict[str, str] = {}
        for f in files:  # shards whose index was lost read together, unless two of them hold the same tensor
            for name in self._file(f.name).names():
                if name in where:
                    raise CheckpointError(
                        f"{self.folder}: {where[name]} and {f.name} both hold {name!r}, and there is no "
                        "model.safetensors.index.json to say which to read. Remove the stray copy, or restore the "
                        "index of a sharded checkpoint."
                    )
                where[name] = f.name
        return where

    def _file(self, filename: str) -> SafetensorsFile:
        if filename not in self._files:
            self._files[filename] = SafetensorsFile(self.folder / filename)
        return self._files[filename]

    @property
    def name(self) -> str:
        """What to call the model: config.json's `_name_or_path`, else `folder_name`."""
        return str(self.config.get("_name_or_path") or folder_name(self.folder))

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
        if name not in self._file(self._where[name]):
            raise CheckpointError(
                f"model.safetensors.index.json puts {name!r} in {self._where[name]}, which does not hold it; the "
                "index and the shards come from different downloads. Download the checkpoint again."
            )

    def _check_shapes(self) -> None:
        """Every weight's shape against config.json, from the headers alone (nothing is read): a mismatch would
        build a graph that fails to load or computes garbage."""
        for name, expected in self.spec.tensor_shapes().items():
            if name not in self._where:
                continue  # reported by _require when the graph asks for it
            self._require(name)
            file = self._file(self._where[name])
            if file.dtype(name) not in _FLOAT_DTYPES:
                raise CheckpointError(
                    f"{self.folder}: tensor {name!r} is stored as {file.dtype(name)}, not as floating point: a "
                    "quantized or damaged checkpoint. glm-nb converts the original bf16, fp16 or fp32 weights "
                    "(with --precision int4 for 4-bit)."
                )
            actual = file.shape(name)
            if actual != expected:
                raise CheckpointError(
                    f"{self.folder}: tensor {name!r} has the shape {list(actual)}, but config.json (hidden_size, "
                    f"heads, head_dim, intermediate_size, vocab_size) gives {list(expected)}. The weights and the "
                    "config come from different models, or a file is damaged."
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
