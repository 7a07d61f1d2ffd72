"""Open "a model" given as either a converted glm-nb folder or a Hugging Face checkpoint folder.

A checkpoint is converted once into the cache (`$GLM_NB_CACHE`, default `~/.cache/glm-nb`), keyed by its path,
its files' sizes and times, the precision, the context length and the graph format; later loads reuse it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConversionError, ModelLoadError
from ..models.checkpoint import folder_name
from ..models.hub import is_hub_id, resolve
from .conversion import convert
from .engine import DEVICES, GPU_INSTALL, Engine, check_max_length, check_threads, cuda_usable
from .folder_lock import FolderLock
from .metadata import FORMAT_VERSION, METADATA_FILE, ModelMetadata

__all__ = ["cache_dir", "converted_path", "open_model", "conversion_for", "ConversionChoice"]


def cache_dir() -> Path:
    return Path(os.environ.get("GLM_NB_CACHE") or Path.home() / ".cache" / "glm-nb").expanduser()


def converted_path(src: Path, precision: str, max_length: int | None) -> Path:
    """Where the conversion of checkpoint `src` with these options lives in the cache (named after the folder the
    path leads to, so that a link or "." names it as the folder itself does)."""
    src = src.resolve()
    h = hashlib.sha256(str(src).encode())
    for f in sorted(src.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    # The graph format too: a glm-nb that builds graphs differently converts afresh instead of failing to load.
    h.update(f"{precision}:{max_length}:format{FORMAT_VERSION}".encode())
    if "-top" in precision:  # a top-k tail has output the row's exp-sum too since 2026-11-29 (topk_sampling.py)
        h.update(b":expsum")
    return cache_dir() / "models" / f"{src.name}-{precision}-{h.hexdigest()[:12]}"


@dataclass(frozen=True)
class ConversionChoice:
    """How open_model converts a checkpoint for the device it will run on."""

    precision: str
    int4_compute: str = "fp32"
    top_k_output: int = 0
    int4_block_size: int = 32

    @property
    def key(self) -> str:  # names the cached conversion
        extra = f"-{self.int4_compute}" if self.precision == "int4" and self.int4_compute != "fp32" else ""
        block = f"-b{self.int4_block_size}" if self.precision == "int4" and self.int4_block_size != 32 else ""
        return f"{self.precision}{extra}{block}" + (f"-top{self.top_k_output}" if self.top_k_output else "")


def conversion_for(cuda: bool, precision: str | None = None) -> ConversionChoice:
    """The conversion open_model makes. On CUDA, from the H200 measurements (benchmarks/results, gpu_suite): bf16 by
    default (as fast as fp16, 288 vs 291 tok/s, and it keeps the checkpoint's own range, so long prompts cannot
    overflow); int4 computes in fp16 (451 tok/s against 357 with bf16 activations) in blocks of 128, the usual int4
    group size (475 tok/s against 438 for blocks of 32, 20 layers, 2026-11-28); a top-64 tail, so a decode step
    copies 128 numbers instead of the logits row (+2% on 20 layers). On the CPU: fp32, int4 with fp32 activations in
    blocks of 32."""
    if not cuda:
        return ConversionChoice(precision or "fp32")
    precision = precision or "bf16"
    if precision == "int4":
        return ConversionChoice(precision, "fp16", top_k_output=64, int4_block_size=128)
    return ConversionChoice(precision, top_k_output=64)


def open_model(
    path: str | os.PathLike,
    *,
    device: str = "auto",
    precision: str | None = None,
    max_length: int | None = None,
    threads: int | None = None,
    cuda_graph: bool | None = None,
    progress: bool = True,
    source: str = "huggingface",
) -> Engine:
    """An Engine for `path`: a converted folder is loaded as it is; a checkpoint folder is converted first
    (once, into the cache); a hub id such as THUDM/GLM-4-9B-0414 is downloaded first (from `source`:
    huggingface or modelscope; once, into the hub's cache). precision defaults to bf16 on a GPU and fp32 on the
    CPU (see `conversion_for`); pass fp16/bf16/int4 to choose. cuda_graph: capture decode steps as CUDA graphs;
    by default on whenever the model runs on CUDA in fp16/bf16 (or int4 with half activations).

    max_length: the longest sequence (tokens) the engine's Generators may hold. A checkpoint is converted for it
    (default: its max_position_embeddings); a converted folder takes at most what it was converted for, and a
    smaller one bounds its Generators' limit and default KV cache (`engine.describe()` gives it; see Engine.load)."""
    if device not in DEVICES:
        raise ModelLoadError(f"Unknown device {device!r}; choose one of {', '.join(DEVICES)}.")
    check_threads(threads)  # before a download or a conversion that can take minutes
    check_max_length(max_length)
    cuda = device == "cuda" or (device == "auto" and cuda_usable())
    if is_hub_id(str(path)) and not Path(path).expanduser().exists():  # a checkpoint, once downloaded (gigabytes)
        _refuse_before_converting(device, cuda, precision)
    folder = resolve(str(path), source)
    if (folder / METADATA_FILE).exists():
        target = folder
        _refuse_other_precision(folder, precision)
    elif (folder / "config.json").exists():
        _refuse_before_converting(device, cuda, precision)
        choice = conversion_for(cuda, precision)
        target = converted_path(folder, choice.key, max_length)
        if not (target / METADATA_FILE).exists():
            _convert_once(folder, target, choice, max_length, progress)
    else:
        raise ModelLoadError(
            f"{folder} is neither a converted glm-nb model ({METADATA_FILE}) nor a checkpoint folder (config.json). "
            "Pass the folder of a downloaded GLM-4-0414 checkpoint or of `glm-nb convert` output."
        )
    if cuda_graph is None:
        cuda_graph = device != "cpu" and cuda_usable() and ModelMetadata.load(target).compute_dtype != "fp32"
    return Engine.load(target, device=device, threads=threads, cuda_graph=cuda_graph, max_length=max_length)


def _convert_once(folder: Path, target: Path, choice: ConversionChoice, max_length: int | None, progress: bool):
    """Convert checkpoint `folder` into the cache entry `target`. While another process (a second notebook's
    kernel, `glm-nb convert`) or thread converts it, wait, saying so, and then use its conversion."""

    def waiting() -> None:
        print(f"glm-nb: {folder_name(folder)} is being converted into glm-nb's cache by another kernel or command "
              f"({target}); waiting for it to finish, then loading that conversion.", file=sys.stderr,
              flush=True)  # fmt: skip

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(target, on_wait=waiting).acquire()
    except OSError as e:
        raise _cache_unwritable(folder, e) from e
    try:
        if (target / METADATA_FILE).exists():
            return  # converted by the process this one waited for
        convert(folder, target, precision=choice.precision, max_length=max_length, progress=progress,
                int4_compute=choice.int4_compute, top_k_output=choice.top_k_output,
                int4_block_size=choice.int4_block_size)  # fmt: skip
    except ConversionError as e:
        if not isinstance(e.__cause__, OSError):
            raise
        raise _cache_unwritable(folder, e.__cause__) from e
    finally:
        lock.release()
    if progress:
        _note_outdated(folder)


def _cache_unwritable(folder: Path, cause: OSError) -> ConversionError:
    # convert's advice ("choose a folder", "-o") is for a folder the user named; this one is the cache
    return ConversionError(
        f"Cannot write the conversion of {folder_name(folder)} into glm-nb's cache, {cache_dir()} ({cause}). Set "
        "GLM_NB_CACHE to a folder you can write to, with room for the model (or convert it yourself with "
        "`glm-nb convert CHECKPOINT -o FOLDER` and open FOLDER)."
    )


def _refuse_before_converting(device: str, cuda: bool, precision: str | None) -> None:
    """What Engine.load would refuse, said before a download or a conversion that can take minutes and tens of GB."""
    if device == "cuda" and not cuda_usable():
        raise ModelLoadError(
            "device='cuda' but ONNX Runtime cannot use a CUDA device here: that needs an NVIDIA GPU and the GPU "
            f"build ({GPU_INSTALL}). Or use device='cpu'."
        )
    if not cuda and precision in ("fp16", "bf16"):
        raise ModelLoadError(
            f"precision {precision!r} runs on CUDA only, and this model would run on the CPU (device={device!r}). "
            "Choose precision 'fp32' or 'int4' for the CPU (`--precision fp32` or `--precision int4`)."
        )


def _refuse_other_precision(folder: Path, precision: str | None) -> None:
    """A converted folder has the precision it was converted with: one asked for otherwise is not quietly ignored."""
    converted = ModelMetadata.load(folder).precision
    if precision is not None and precision != converted:
        raise ModelLoadError(
            f"{folder} is a converted {converted} model, so it cannot run in {precision}: the precision is chosen "
            f"when converting. Leave the precision out to run it in {converted}, or open the checkpoint folder "
            f"instead (or `glm-nb convert CHECKPOINT -o FOLDER --precision {precision}`)."
        )


def _note_outdated(src: Path) -> None:
    """After converting `src` afresh, say what its earlier conversions take on disk (they are never used again)."""
    from .model_cache import format_size, outdated_conversions  # model_cache builds on this module

    old = outdated_conversions(src)
    if old:
        what = "conversion" if len(old) == 1 else "conversions"
        print(
            f"glm-nb: {len(old)} earlier {what} of {folder_name(src)} ({format_size(sum(e.size for e in old))}) "
            "will not be used again; `glm-nb cache clear` removes them.",
            file=sys.stderr,
        )
