"""Open "a model" given as either a converted glm-nb folder or a Hugging Face checkpoint folder.

A checkpoint is converted once into the cache (`$GLM_NB_CACHE`, default `~/.cache/glm-nb`), keyed by its path,
its files' sizes and times, the precision and the context length; later loads reuse that conversion.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ModelLoadError
from .conversion import convert
from .engine import Engine
from .metadata import METADATA_FILE

__all__ = ["cache_dir", "converted_path", "open_model"]


def cache_dir() -> Path:
    return Path(os.environ.get("GLM_NB_CACHE") or Path.home() / ".cache" / "glm-nb").expanduser()


def converted_path(src: Path, precision: str, max_length: int | None) -> Path:
    """Where the conversion of checkpoint `src` with these options lives in the cache."""
    h = hashlib.sha256(str(src.resolve()).encode())
    for f in sorted(src.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(f"{precision}:{max_length}".encode())
    return cache_dir() / "models" / f"{src.name}-{precision}-{h.hexdigest()[:12]}"


def open_model(
    path: str | os.PathLike,
    *,
    device: str = "auto",
    precision: str | None = None,
    max_length: int | None = None,
    threads: int | None = None,
    cuda_graph: bool = False,
    progress: bool = True,
) -> Engine:
    """An Engine for `path`: a converted folder is loaded as it is; a checkpoint folder is converted first
    (once, into the cache). precision defaults to fp32 on CPU; pass fp16/bf16/int4 to choose.
    cuda_graph: capture decode steps as CUDA graphs (CUDA with an fp16/bf16/int4-on-half model)."""
    folder = Path(path).expanduser()
    if (folder / METADATA_FILE).exists():
        return Engine.load(folder, device=device, threads=threads, cuda_graph=cuda_graph)
    if not (folder / "config.json").exists():
        raise ModelLoadError(
            f"{folder} is neither a converted glm-nb model ({METADATA_FILE}) nor a checkpoint folder (config.json). "
            "Pass the folder of a downloaded GLM-4-0414 checkpoint or of `glm-nb convert` output."
        )
    precision = precision or "fp32"
    target = converted_path(folder, precision, max_length)
    if not (target / METADATA_FILE).exists():
        convert(folder, target, precision=precision, max_length=max_length, progress=progress)
    return Engine.load(target, device=device, threads=threads, cuda_graph=cuda_graph)
