"""Open "a model" given as either a converted glm-nb folder or a Hugging Face checkpoint folder.

A checkpoint is converted once into the cache (`$GLM_NB_CACHE`, default `~/.cache/glm-nb`), keyed by its path,
the sizes and times of the files a conversion reads (not a README or a notebook saved beside them), the precision,
the context length and the graph format; later loads reuse it.

One conversion serves every context length up to its own: conversions of a checkpoint at two lengths differ only
in the rows of the rotary cos/sin caches (row p is cos/sin(p * inv_freq), whatever the row count; YaRN's
frequencies follow max_position_embeddings, not the length) and in glm_nb.json's max_length. The graph's nodes,
its KV inputs (each Generator allocates its own) and every weight are the same, so a longer conversion capped to
N (Engine.load's max_length) gives the same logits as one made for N (tests/engine/test_open_model.py). open_model
therefore converts at the checkpoint's full length and caps that: for GLM-4-9B the full caches (32768 rows of 32)
take 4 MB of an 18 GB bf16 model, while a conversion per length took minutes and 18 GB each. Conversions made
for one length by earlier versions (named with it) still load for any length up to it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, ConversionError, ModelLoadError
from ..models import Checkpoint, Glm4Spec
from ..models.checkpoint import TOKENIZER_FILES, folder_name
from ..models.hub import download_config, is_hub_id, resolve
from .conversion import DiskFullError, conversion_length, convert
from .engine import DEVICES, GPU_INSTALL, Engine, check_max_length, check_threads, cuda_usable
from .folder_lock import FolderLock
from .metadata import FORMAT_VERSION, METADATA_FILE, ModelMetadata

__all__ = [
    "cache_dir",
    "converted_path",
    "entry_names",
    "longest_conversion",
    "open_model",
    "conversion_for",
    "ConversionChoice",
    "alias_target",
]


def cache_dir() -> Path:
    return Path(os.environ.get("GLM_NB_CACHE") or Path.home() / ".cache" / "glm-nb").expanduser()


def converted_path(src: Path, precision: str, max_length: int | None) -> Path:
    """Where the conversion of checkpoint `src` with these options lives in the cache (named after the folder the
    path leads to, so that a link or "." names it as the folder itself does)."""
    return cache_dir() / "models" / entry_names(src, precision, max_length)[0]


# What a conversion reads from a checkpoint folder (models/checkpoint.py, conversion.py), besides its *.safetensors:
# a change to any other file (a README, a notebook saved there, a `git pull` of the model card) leaves it as it was.
_CONVERSION_INPUTS = frozenset({"config.json", "model.safetensors.index.json", *TOKENIZER_FILES})


def entry_names(src: Path, key: str, max_length: int | None) -> tuple[str, ...]:
    """The names the conversion of checkpoint `src` with `key` (a ConversionChoice's) and `max_length` has in the
    cache: today's, hashing the files a conversion reads, then the one glm-nb gave it before 2026-11-29, hashing
    every file of the folder (one and the same when the folder holds nothing else), which still loads: it keeps
    that name, which an older glm-nb sharing the cache looks for, and gets today's as a link (alias_target)."""
    src = src.resolve()
    files = [f for f in sorted(src.iterdir()) if f.is_file()]
    read = [f for f in files if f.name in _CONVERSION_INPUTS or f.suffix == ".safetensors"]
    return tuple(dict.fromkeys(_entry_name(src, fs, key, max_length) for fs in (read, files)))


def alias_target(path: Path) -> Path | None:
    """The cache entry that `path` is another name for, when `path` is a link open_model made
    (_aliased_for_today): a relative link to a sibling named for the same checkpoint and key, hash aside; else None
    (a link someone else placed is not followed)."""
    if not path.is_symlink():
        return None
    try:
        to = os.readlink(path)
    except OSError:
        return None
    named = all(re.fullmatch(r".+-[0-9a-f]{12}", n) for n in (to, path.name))  # {src.name}-{key}-{hash}
    return path.with_name(to) if named and to[:-12] == path.name[:-12] and to != path.name else None


def _entry_name(src: Path, files: list[Path], key: str, max_length: int | None) -> str:
    """`{src.name}-{key}-{hash}`, the hash over `src`'s path, `files`' names, sizes and times and the options."""
    h = hashlib.sha256(str(src).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    # The graph format too: a glm-nb that builds graphs differently converts afresh instead of failing to load.
    h.update(f"{key}:{max_length}:format{FORMAT_VERSION}".encode())
    if "-top" in key:  # a top-k tail has output the row's exp-sum too since 2026-11-29 (topk_sampling.py)
        h.update(b":expsum")
    return f"{src.name}-{key}-{h.hexdigest()[:12]}"


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

    max_length: the longest sequence (tokens) the engine's Generators may hold (default: all the model has); it
    bounds their limit and default KV cache (`engine.describe()` gives it; see Engine.load). A checkpoint is
    converted once, at its full max_position_embeddings, and every max_length up to that reuses the conversion
    (the module docstring says why); a converted folder takes at most what it was converted for."""
    if device not in DEVICES:
        raise ModelLoadError(f"Unknown device {device!r}; choose one of {', '.join(DEVICES)}.")
    check_threads(threads)  # before a download or a conversion that can take minutes
    check_max_length(max_length)
    cuda = device == "cuda" or (device == "auto" and cuda_usable())
    if is_hub_id(str(path)) and not Path(path).expanduser().exists():  # a checkpoint, once downloaded (gigabytes)
        _refuse_before_converting(device, cuda, precision)
        _refuse_more_than_the_hub_checkpoint(str(path), source, max_length)
    folder = resolve(str(path), source)
    if (folder / METADATA_FILE).exists():
        target = folder
        _refuse_other_precision(folder, precision)
    elif (folder / "config.json").exists():
        _refuse_before_converting(device, cuda, precision)
        target = _conversion_serving(folder, conversion_for(cuda, precision), max_length, progress)
    else:
        raise ModelLoadError(
            f"{folder} is neither a converted glm-nb model ({METADATA_FILE}) nor a checkpoint folder (config.json). "
            "Pass the folder of a downloaded GLM-4-0414 checkpoint or of `glm-nb convert` output."
        )
    if cuda_graph is None:
        cuda_graph = device != "cpu" and cuda_usable() and ModelMetadata.load(target).compute_dtype != "fp32"
    return Engine.load(target, device=device, threads=threads, cuda_graph=cuda_graph, max_length=max_length)


def longest_conversion(src: Path, key: str, models: Path | None = None) -> tuple[Path, int] | None:
    """The current conversion of checkpoint `src` with `key` (a ConversionChoice's) that holds the longest sequences,
    with that length: the full-length one when there is one, else the longest one an earlier glm-nb made for a
    given max_length. `models`: the cache's models folder (default: cache_dir()/models)."""
    models = cache_dir() / "models" if models is None else models
    for name in entry_names(src, key, None):
        length = _usable_length(models / name)
        if length is not None:  # nothing is longer (looked up without listing the cache, which may not be readable)
            return alias_target(models / name) or models / name, length
    prefix = f"{src.resolve().name}-{key}-"
    found = []
    for path in models.glob(f"{glob.escape(prefix)}*") if models.is_dir() else ():
        length = _usable_length(path)
        if length is None or not re.fullmatch(r"[0-9a-f]{12}", path.name[len(prefix) :]):
            continue
        if path.name in entry_names(src, key, length):  # current: named for today's files and length
            found.append((length, alias_target(path) or path))
    if not found:
        return None
    length, path = max(found)
    return path, length


def _usable_length(folder: Path) -> int | None:
    """The max_length a conversion's glm_nb.json records; None when that cannot be read or model.onnx is gone."""
    if not (folder / "model.onnx").is_file():
        return None
    try:
        length = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8")).get("max_length")
    except (OSError, ValueError, AttributeError):
        return None
    return length if isinstance(length, int) and not isinstance(length, bool) else None


def _conversion_serving(folder: Path, choice: ConversionChoice, max_length: int | None, progress: bool) -> Path:
    """The cache entry that serves checkpoint `folder` up to `max_length` tokens (None: its full length): the
    longest current conversion when it is long enough, else a new one at the full length, which serves any."""
    length = conversion_length(Checkpoint(folder).spec, max_length)  # more than the checkpoint has: refused now
    longest = longest_conversion(folder, choice.key)
    if longest is not None and longest[1] >= length:
        return _aliased_for_today(folder, choice.key, *longest)
    target = converted_path(folder, choice.key, None)
    _convert_once(folder, target, choice, progress)
    return target


def _aliased_for_today(src: Path, key: str, path: Path, length: int) -> Path:
    """Cache entry `path`, which open_model loads; one an earlier glm-nb named by every file of the checkpoint
    folder keeps that name (an older glm-nb sharing the cache, a script holding the path, a process loading it now
    all find it there) and gets today's name (entry_names) as a link to it, so that a README edited later leaves
    it current. Where no link can be made (Windows without the right to make one, a read-only cache) it loads
    under its old name alone: then a later change to a file the conversion does not read converts it again."""
    for names in (entry_names(src, key, None), entry_names(src, key, length)):
        if path.name in names[1:]:
            _link(path.with_name(names[0]), path)
            break
    return path


def _link(alias: Path, target: Path) -> None:
    """Make `alias` a relative link to its sibling `target`, unless something is there already."""
    try:
        with FolderLock(alias):  # no conversion writes it meanwhile
            if not alias.exists() and not alias.is_symlink():
                alias.symlink_to(target.name, target_is_directory=True)
    except OSError:  # housekeeping only: the entry loads under its own name, as the docstring above says
        pass


def _convert_once(folder: Path, target: Path, choice: ConversionChoice, progress: bool):
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
        if _usable_length(target) is not None:
            return  # converted by the process this one waited for
        _remove_damaged(target)
        convert(folder, target, precision=choice.precision, progress=progress,
                int4_compute=choice.int4_compute, top_k_output=choice.top_k_output,
                int4_block_size=choice.int4_block_size)  # fmt: skip
    except DiskFullError as e:  # its own message says how much room the model needs; the cache may free some
        raise DiskFullError(f"{e}{_clearable_note()}") from e
    except ConversionError as e:
        if not isinstance(e.__cause__, OSError):
            raise
        raise _cache_unwritable(folder, e.__cause__) from e
    except OSError as e:  # removing a damaged entry failed
        raise _cache_unwritable(folder, e) from e
    finally:
        lock.release()
    if progress:
        _note_outdated(folder)


def _remove_damaged(target: Path) -> None:
    """Remove cache entry `target` when it is there but cannot load (its glm_nb.json or model.onnx damaged or
    gone): open_model never loads it, and `convert` will not replace what is not a whole conversion. Its lock is
    held; a checkpoint someone keeps under the name, or a link, is left for `convert` to refuse, except a link
    open_model made to another entry (that entry went, or no longer loads): only the link goes."""
    if alias_target(target) is not None:
        target.unlink()
        return
    if not target.is_dir() or target.is_symlink() or (target / "config.json").exists():
        return
    print(f"glm-nb: {target} is damaged (its {METADATA_FILE} or model.onnx cannot be read); converting it again.",
          file=sys.stderr, flush=True)  # fmt: skip
    shutil.rmtree(target)


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


def _refuse_more_than_the_hub_checkpoint(repo_id: str, source: str, max_length: int | None) -> None:
    """A max_length past the hub checkpoint's max_position_embeddings, refused from its config.json alone."""
    config = download_config(repo_id, source) if max_length is not None else None
    if config is None:  # not fetched: refused after the download, still before converting
        return
    try:
        spec = Glm4Spec.from_config(config)
    except CheckpointError:  # the checkpoint's own checks say what is wrong with it, after the download
        return
    conversion_length(spec, max_length)


def _refuse_other_precision(folder: Path, precision: str | None) -> None:
    """A converted folder has the precision it was converted with: one asked for otherwise is not quietly ignored."""
    converted = ModelMetadata.load(folder).precision
    if precision is not None and precision != converted:
        raise ModelLoadError(
            f"{folder} is a converted {converted} model, so it cannot run in {precision}: the precision is chosen "
            f"when converting. Leave the precision out to run it in {converted}, or open the checkpoint folder "
            f"instead (or `glm-nb convert CHECKPOINT -o FOLDER --precision {precision}`)."
        )


def _clearable_note() -> str:
    """' `glm-nb cache clear` frees ...' when the cache holds conversions open_model no longer uses, else ''."""
    from .model_cache import CLEARED_BY_DEFAULT, cached_models, format_size  # model_cache builds on this module

    try:
        unused = [e for e in cached_models() if e.state in CLEARED_BY_DEFAULT]
    except OSError:  # the full disk's own message stands without it
        return ""
    if not unused:
        return ""
    return (
        f" `glm-nb cache clear` frees {format_size(sum(e.size for e in unused))} there ({len(unused)} "
        f"conversion{'s' * (len(unused) != 1)} no longer used)."
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
