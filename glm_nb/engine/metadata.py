"""`glm_nb.json`: the small description of a converted model that the runtime reads instead of the graph."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ModelLoadError

__all__ = ["ModelMetadata", "METADATA_FILE", "FORMAT_VERSION"]

METADATA_FILE = "glm_nb.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    precision: str  # fp32 | fp16 | bf16 | int4
    compute_dtype: str  # activation / KV dtype: fp32 | fp16 | bf16
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int
    # The longest sequence this model's Generators may hold. In glm_nb.json, what the graph was converted for
    # (the rows of its rotary caches); in an engine opened with a smaller max_length, that cap, while
    # Engine.graph_max_length keeps the conversion's.
    max_length: int
    rotary: str  # "gqa" (inside GroupQueryAttention) or "rotary_embedding"
    stop_ids: tuple[int, ...]
    pad_id: int
    inputs: dict[str, list] = field(default_factory=dict)  # name -> [dtype, shape]
    outputs: dict[str, list] = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def save(self, folder: Path) -> None:
        text = json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"
        (folder / METADATA_FILE).write_text(text, encoding="utf-8")  # not the locale's (GBK on Chinese Windows)

    @classmethod
    def load(cls, folder: Path) -> ModelMetadata:
        path = folder / METADATA_FILE
        if not path.exists():
            if (folder / "config.json").exists():  # a checkpoint: converting it into itself is refused
                raise ModelLoadError(
                    f"{folder} is a checkpoint, not a converted glm-nb model (no {METADATA_FILE}). Open it with "
                    f"open_model() (which converts it once, into the cache), or convert it into another folder: "
                    f"`glm-nb convert {folder} -o {folder.with_name(folder.name + '-onnx')}`"
                    " (any new folder) and load that."
                )
            raise ModelLoadError(
                f"{folder} is not a converted glm-nb model (no {METADATA_FILE}). "
                f"Convert a checkpoint first: `glm-nb convert CHECKPOINT -o {folder}`."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            if data.get("format_version") != FORMAT_VERSION:
                raise ModelLoadError(
                    f"{folder} was converted by another glm-nb version (format {data.get('format_version')}, "
                    f"this one reads {FORMAT_VERSION}); convert the checkpoint again."
                )
            data["stop_ids"] = tuple(data["stop_ids"])
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as e:  # ValueError: JSON and UTF-8 errors
            raise ModelLoadError(f"{path} is damaged ({e}); convert the checkpoint again.") from e
