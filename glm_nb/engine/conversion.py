"""`convert()`: a Hugging Face GLM-4-0414 checkpoint folder -> a glm-nb model folder.

The output folder holds `model.onnx` + `model.onnx.data`, the tokenizer files and `glm_nb.json`. Everything is
written to a temporary sibling folder and renamed into place at the end, so an interrupted or failed conversion
never leaves a half-written model where a loader would find it. Conversions into the same folder (two kernels, or
`glm-nb convert` beside a kernel) take turns through its lock (folder_lock.py), and each removes the working
folders that killed ones left.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from tokenizers import Tokenizer
from tqdm.auto import tqdm

from ..errors import CheckpointError, ConversionError, MaxLengthError
from ..models import Checkpoint, Glm4Spec
from ..models.checkpoint import TOKENIZER_FILES
from .folder_lock import FolderLock
from .glm4_graph import GraphOptions, build_glm4_graph, uses_gqa_rotary
from .metadata import METADATA_FILE, ModelMetadata
from .onnx_writer import GraphWriter

__all__ = ["convert", "conversion_length", "DiskFullError", "PRECISIONS"]

PRECISIONS = ("fp32", "fp16", "bf16", "int4")
_GLM_STOP_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")


class DiskFullError(ConversionError):
    """The disk has no room for the model: before writing (free space) or while writing (ENOSPC, a quota)."""


def _stop_ids(ckpt: Checkpoint, vocab: dict[str, int]) -> tuple[int, ...]:
    """generation_config's eos_token_id (one id or a list; config.json's when it has none) and GLM's stop tokens."""
    generation = ckpt.generation_config()
    if not isinstance(generation, dict):
        raise CheckpointError(f"{ckpt.folder / 'generation_config.json'} is not a JSON object; restore it.")
    eos = generation.get("eos_token_id", ckpt.config.get("eos_token_id"))
    ids = [eos] if isinstance(eos, int) else eos if isinstance(eos, list) else [] if eos is None else None
    top = max(len(vocab), ckpt.spec.vocab_size)
    if ids is None or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < top for i in ids):
        raise CheckpointError(
            f"eos_token_id must be a token id or a list of them (0 to {top - 1}), got {eos!r}; restore "
            "generation_config.json from the original checkpoint."
        )
    ids += [vocab[t] for t in _GLM_STOP_TOKENS if t in vocab and vocab[t] not in ids]
    return tuple(int(i) for i in ids)


def _vocab(folder: Path) -> dict[str, int]:
    """The tokenizer's vocabulary; a tokenizer.json that does not load is reported before any work is done."""
    try:
        return Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab(with_added_tokens=True)
    except Exception as e:  # the tokenizers library raises a bare Exception for a file it cannot read
        raise CheckpointError(
            f"{folder / 'tokenizer.json'} cannot be read as a tokenizer ({e}); copy the tokenizer files of the same "
            "model into the folder."
        ) from e


def _io_description(writer: GraphWriter) -> tuple[dict, dict]:
    def describe(values):
        return {
            v.name: [v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]]
            for v in values
        }

    return describe(writer.inputs), describe(writer.outputs)


def conversion_length(spec: Glm4Spec, max_length: int | None) -> int:
    """The rows of the rotary caches a conversion for `max_length` gets (None: the checkpoint's own length); one
    the checkpoint's rotary settings do not cover is refused."""
    length = int(spec.max_position_embeddings if max_length is None else max_length)
    if not 2 <= length <= spec.max_position_embeddings:
        message = (
            f"max_length must be between 2 and the checkpoint's max_position_embeddings "
            f"({spec.max_position_embeddings}), got {length}. For a longer context, enable YaRN in config.json "
            "and raise max_position_embeddings with it (the model card's recipe), then convert again."
        )
        if length < 2:
            raise ConversionError(message)
        raise MaxLengthError(message, asked=length, most=spec.max_position_embeddings, needs_yarn=True)
    return length


def convert(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    precision: str = "fp32",
    max_length: int | None = None,
    int4_block_size: int = 32,
    int4_lm_head: bool = True,
    int4_compute: str = "fp32",
    int4_accuracy_level: int = 4,
    top_k_output: int = 0,
    int4_symmetric: bool = False,
    progress: bool = True,
) -> Path:
    """Convert checkpoint folder `src` into a glm-nb model folder `out`: a new or empty folder, or an earlier
    conversion, which is replaced only once the new one is complete (any other existing `out` is refused); a link
    to such a folder is followed, so the model goes where it points and the link stays.

    precision: fp32 (CPU), fp16 / bf16 (CUDA), int4 (MatMulNBits weights; `int4_compute` sets the activation
    dtype: fp32 for CPU, fp16 or bf16 for CUDA). max_length: longest sequence the graph will run (default: the
    checkpoint's `max_position_embeddings`). int4_accuracy_level: MatMulNBits' `accuracy_level` (0..4; on the CPU
    4 quantizes activations to int8, 0 keeps them in the compute dtype). top_k_output: when > 0 the graph also
    outputs the k largest logits of each row, so a GPU decode step copies 2k numbers instead of the whole row
    (see topk_sampling.py). int4_symmetric: scale-only blocks, no zero points (quantize.py), the form ONNX
    Runtime's weight-only CUDA kernels take (Engine.load's int4_kernel).
    """
    if precision not in PRECISIONS:
        raise ConversionError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if int4_compute not in ("fp32", "fp16", "bf16"):
        raise ConversionError(f"Unknown int4 compute dtype {int4_compute!r}; choose fp32, fp16 or bf16.")
    if int4_accuracy_level not in range(5):
        raise ConversionError(f"int4_accuracy_level must be 0, 1, 2, 3 or 4, got {int4_accuracy_level!r}.")
    if precision == "int4" and (int4_block_size < 16 or int4_block_size & (int4_block_size - 1)):
        raise ConversionError(f"int4_block_size must be a power of two >= 16 (32 or 128), got {int4_block_size}.")
    ckpt = Checkpoint(src)
    ckpt.validate_files()
    if not (ckpt.folder / "tokenizer.json").exists():
        raise CheckpointError(
            f"{ckpt.folder} has no tokenizer.json; copy the tokenizer files of the same model into the folder."
        )
    vocab = _vocab(ckpt.folder)  # tokenizer and stop ids checked now, not after the whole graph is built
    stop_ids = _stop_ids(ckpt, vocab)
    spec = ckpt.spec
    max_length = conversion_length(spec, max_length)
    if not 0 <= top_k_output <= spec.vocab_size:
        raise ConversionError(f"top_k_output must be between 0 (off) and the vocabulary size, got {top_k_output}.")
    options = GraphOptions(
        precision, max_length, int4_block_size, int4_lm_head, int4_compute, int4_accuracy_level, top_k_output,
        int4_symmetric,
    )  # fmt: skip

    out = Path(out).expanduser().resolve()  # a link to a folder: the model goes where it points, the link stays
    _check_output(out, ckpt.folder)  # said at once, before any wait for another conversion
    lock = FolderLock(out, on_wait=lambda: _say(f"another conversion is writing {out}; waiting for it to finish, "
                                                 "then this one replaces it."))  # fmt: skip
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as e:
        raise ConversionError(
            f"Cannot write the output next to {out} ({e}); choose a folder you can write to."
        ) from e
    try:
        _check_output(out, ckpt.folder)  # again: another conversion may have written it meanwhile
        _remove_leftovers(out)
        _write(ckpt, out, options, vocab, stop_ids, progress)
    finally:
        lock.release()
    return out


def _write(
    ckpt: Checkpoint,
    out: Path,
    options: GraphOptions,
    vocab: dict[str, int],
    stop_ids: tuple[int, ...],
    progress: bool,
) -> None:
    """Build the model in a working folder beside `out` and rename it into place; `out`'s lock is held."""
    spec, precision = ckpt.spec, options.precision
    try:
        free = shutil.disk_usage(out.parent).free
    except OSError:  # a filesystem that does not say: writing will tell
        free = math.inf
    if free < _model_bytes(spec, precision, margin=1.0):  # said now, not after minutes of writing
        raise DiskFullError(_no_room(out, spec, precision, free, "not enough free space"))
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as e:
        raise ConversionError(
            f"Cannot write the output next to {out} ({e}); choose a folder you can write to."
        ) from e
    writer = GraphWriter(tmp)
    try:
        steps = spec.num_layers + 2
        with tqdm(total=steps, desc=f"convert {ckpt.name} ({precision})", unit="step",
                  disable=not progress) as bar:  # fmt: skip
            build_glm4_graph(ckpt, writer, options, progress=bar.update)
            writer.save(graph_name=ckpt.name, metadata={"glm_nb.source": str(ckpt.folder.resolve())})
        for f in ckpt.tokenizer_files():
            shutil.copy2(f, tmp / f.name)
        inputs, outputs = _io_description(writer)
        ModelMetadata(
            name=ckpt.name,
            precision=precision,
            compute_dtype=options.compute,
            num_layers=spec.num_layers,
            num_heads=spec.num_heads,
            num_kv_heads=spec.num_kv_heads,
            head_dim=spec.head_dim,
            hidden_size=spec.hidden_size,
            vocab_size=spec.vocab_size,
            max_length=options.max_length,
            rotary="gqa" if uses_gqa_rotary(spec) else "rotary_embedding",
            stop_ids=stop_ids,
            pad_id=int(ckpt.config.get("pad_token_id") or vocab.get("<|endoftext|>", 0)),
            inputs=inputs,
            outputs=outputs,
            source={
                "path": str(ckpt.folder.resolve()),  # absolute: `glm-nb cache` checks it against the cache
                # what a longer conversion could hold (Engine.load's advice): past it, only YaRN gives more
                "max_position_embeddings": spec.max_position_embeddings,
                "int4_block_size": options.int4_block_size,
                "int4_lm_head": options.int4_lm_head,
                "int4_accuracy_level": options.int4_accuracy_level,
                "int4_symmetric": options.int4_symmetric,
                "top_k_output": options.top_k_output,
            },
        ).save(tmp)
        _share_like_mkdir(tmp)
        _replace(tmp, out)
    except BaseException as e:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):  # the disk, not the checkpoint: those are CheckpointErrors, raised as such
            raise _write_error(e, out, spec, precision) from e
        raise


def _say(message: str) -> None:
    """A line on stderr for whoever waits: a conversion can take minutes, and a silent wait looks like a hang."""
    print(f"glm-nb: {message}", file=sys.stderr, flush=True)


def _remove_leftovers(out: Path) -> None:
    """Remove the working folders of earlier conversions to `out` that were killed (SIGKILL, a kernel restarted)
    before they could clean up: gigabytes each for a real model. Any conversion still writing to `out` would hold
    its lock, which this one holds now, so whatever is left is dead."""
    working = re.compile(rf"\.{re.escape(out.name)}\.(partial-\w+|old-\d+)")  # what _write and _replace name
    for path in out.parent.iterdir():
        if working.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)  # cleanup only: what stays, `glm-nb cache clear` reports


# Bytes a weight takes in the graph's external data, by precision (int4: 4 bits, an fp32 scale and a 4-bit zero
# point per block of 32; the embedding stays in the compute dtype, which the estimate's 10% margin covers).
_BYTES_PER_WEIGHT = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int4": 0.5 + 4.5 / 32}


def _write_error(e: OSError, out: Path, spec, precision: str) -> ConversionError:  # DiskFullError for a full one
    """What to do when writing the model failed: a full disk says how much the model needs and what is free."""
    where = out.parent
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        return ConversionError(
            f"Writing the model next to {out} failed ({e}); nothing was written. Check that the disk is healthy "
            "and writable, or convert to another folder with -o."
        )
    free = shutil.disk_usage(where).free if where.exists() else float("nan")
    return DiskFullError(_no_room(out, spec, precision, free, f"full: {e}"))


def _model_bytes(spec, precision: str, margin: float = 1.1) -> float:
    """About what the converted model takes on disk: its weights at `precision`, times `margin`."""
    return margin * sum(math.prod(shape) for shape in spec.tensor_shapes().values()) * _BYTES_PER_WEIGHT[precision]


def _no_room(out: Path, spec, precision: str, free: float, why: str) -> str:
    def gb(precision: str) -> str:
        return f"{_model_bytes(spec, precision) / 1e9:.1f} GB"

    smaller = f", or choose --precision int4 (about {gb('int4')})" if precision != "int4" else ""
    return (
        f"The disk holding {out.parent} has no room for the model ({why}); nothing was written. The {precision} "
        f"model needs about {gb(precision)} there and {free / 1e9:.1f} GB is free: free some space, or put the model "
        "on another disk (`-o FOLDER` for `glm-nb convert`; for the cache that open_model, %glm_model and `glm-nb "
        f"generate` convert into, set GLM_NB_CACHE){smaller}."
    )


_OUTPUT_FILES = frozenset({"model.onnx", "model.onnx.data", METADATA_FILE, *TOKENIZER_FILES})  # what we write


def _check_output(out: Path, src: Path) -> None:
    """`out` is replaced when the conversion succeeds, so it must be new, empty, or an earlier conversion holding
    nothing but what a conversion writes: never the checkpoint, a folder holding it, or a folder of other files,
    which the replacement would delete."""
    if not out.exists() and not out.is_symlink():
        return
    if out.resolve() == src.resolve():
        raise ConversionError(f"The output {out} is the checkpoint folder itself; write the model to another folder.")
    if src.resolve().is_relative_to(out.resolve()):
        raise ConversionError(
            f"The checkpoint {src} is inside the output {out}, which conversion replaces (the checkpoint would go "
            "with it); write the model to a folder outside it."
        )
    if out.is_dir() and not out.is_symlink():
        names = {p.name for p in out.iterdir()}
        if not names or (_is_conversion(out) and names <= _OUTPUT_FILES):
            return
    raise ConversionError(
        f"{out} exists and is not a glm-nb model folder (only what `glm-nb convert` writes, with a readable "
        f"{METADATA_FILE}). Conversion replaces its output, so it will not touch other files: choose a new or empty "
        "folder, or remove this one first."
    )


def _is_conversion(folder: Path) -> bool:
    try:
        meta = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "format_version" in meta


def _share_like_mkdir(tmp: Path) -> None:
    """Give the finished folder the permissions a plain mkdir would: mkdtemp makes it 0700 whatever the umask,
    and the rename keeps that, so a shared model folder or cache would be unreadable to everyone else. A probe
    folder made inside reads the umask (and any default ACL) without os.umask's process-wide, thread-unsafe
    change; files get the same bits less execute (0o666 & ~umask), as open() makes them, whatever copy2 kept."""
    probe = tmp / ".mode-probe"
    probe.mkdir()
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.rmdir()
    for f in tmp.iterdir():
        f.chmod(mode & 0o666)
    tmp.chmod(mode)


def _replace(tmp: Path, out: Path) -> None:
    """Atomically move the finished folder into place; an existing `out` is replaced only after success."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:  # a signal between the renames, a failing disk: the earlier model goes back
            if not out.exists():  # (a signal just after the rename succeeded leaves the new one in place)
                old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
