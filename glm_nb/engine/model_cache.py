"""What the conversion cache holds, and clearing what no longer serves.

`open_model` converts a checkpoint once into `cache_dir()/models/` (loading.py) and reuses that folder while the
files a conversion reads from the checkpoint (config, tokenizer, weights; not a README beside them) and glm-nb's
graph format stay the same. When either changes it converts afresh, and the old folder stays behind: for
GLM-4-9B that is 18 GB (bf16) to 37 GB (fp32) each time. So every entry gets a state:

    current    what open_model loads for its checkpoint today
    outdated   the checkpoint files it was converted from changed since (for a hub download: a newer revision
               came), an older glm-nb built it, or a longer conversion of the same checkpoint and precision
               serves its lengths too (an earlier glm-nb converted for each max_length): open_model will not load
               it again
    orphaned   its checkpoint folder is gone; it still loads by its own path (it may be the only copy left)
    unknown    an older glm-nb recorded its checkpoint as a relative path, so which one it was cannot be told
    partial    what an interrupted conversion left (one still writing, which holds the lock of the folder it
               writes, see folder_lock.py, is "converting" and never cleared)
    damaged    its glm_nb.json cannot be read, or its model.onnx is gone (open_model converts such a one again)
    alias      a link open_model made: today's name for an entry an earlier glm-nb named otherwise (loading.py's
               _aliased_for_today), 0 bytes; it is removed with its entry, and removing it removes only the link
               (one whose entry is gone is damaged)

`clear_cache()` removes the outdated, partial and damaged ones by default; orphaned ones and named ones on request.
Only folders named as the cache names them (`NAME-KEY-<12 hex digits>`, and the dot-named working folders of a
conversion) are entries: anything else a user put in the folder (a checkpoint, a `glm-nb convert -o` output) is
neither listed nor removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import GlmError
from .folder_lock import is_held, remove_if_free
from .loading import alias_target, cache_dir, entry_names, longest_conversion
from .metadata import FORMAT_VERSION, METADATA_FILE

__all__ = ["CachedModel", "STATES", "cached_models", "clear_cache", "format_size", "outdated_conversions"]

STATES = ("current", "outdated", "orphaned", "unknown", "partial", "converting", "damaged", "alias")
CLEARED_BY_DEFAULT = ("outdated", "partial", "damaged")
_STILL_WRITING_S = 300  # with no lock file: a folder written to this recently may be an older glm-nb's, still running
_ENTRY = re.compile(r"^.+-[0-9a-f]{12}$")  # loading.converted_path: {checkpoint}-{key}-{hash}
_WORKING = re.compile(r"^\.(.+)\.(partial-.+|old-\d+)$")  # conversion.py: .{name}.partial-XXXX, .{name}.old-PID


@dataclass(frozen=True)
class CachedModel:
    path: Path
    state: str  # one of STATES
    size: int  # bytes on disk
    source: str | None = None  # the checkpoint folder it was converted from
    precision: str | None = None
    max_length: int | None = None
    why: str = ""  # what makes it outdated, orphaned or damaged

    @property
    def name(self) -> str:
        return self.path.name


def models_dir() -> Path:
    return cache_dir() / "models"


def format_size(size: int) -> str:
    """Bytes as people read a folder's size: '18.1 GB', '13.6 MB'."""
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def cached_models(folder: Path | None = None) -> list[CachedModel]:
    """Every entry of the conversion cache (`models_dir()` unless `folder`), sorted by name."""
    folder = models_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    paths = sorted(folder.iterdir(), key=lambda p: p.name.lstrip("."))
    aliases = {path: to for path in paths if (to := alias_target(path)) is not None}  # loading._aliased_for_today
    entries = {}
    for path in paths:
        # A link placed here is not a conversion this cache made (and rmtree would refuse it): left alone.
        if path.is_symlink() or not path.is_dir() or not (_ENTRY.match(path.name) or _WORKING.match(path.name)):
            continue
        try:
            entry = _entry(path, tuple(a.name for a, to in aliases.items() if to == path))
        except FileNotFoundError:  # renamed into place or removed by another process meanwhile
            continue
        if entry is not None:
            entries[path] = entry
    for alias, to in aliases.items():
        entries[alias] = _alias(alias, entries.get(to))
    return [entries[path] for path in paths if path in entries]


def clear_cache(
    names: Iterable[str] = (),
    *,
    states: Iterable[str] = CLEARED_BY_DEFAULT,
    dry_run: bool = False,
    folder: Path | None = None,
    on_removed: Callable[[CachedModel], None] | None = None,
) -> list[CachedModel]:
    """Remove the entries named in `names` (any state but converting), or else those in `states`; return them.
    `on_removed` hears of each as it goes, so that a failure partway still tells what was removed before it."""
    entries = cached_models(folder)
    names, states = list(names), set(states)
    unknown_states = states - set(STATES)
    if unknown_states:
        raise GlmError(f"Unknown cache state {sorted(unknown_states)[0]!r}; the states are {', '.join(STATES)}.")
    if names:
        by_name = {e.name: e for e in entries}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise GlmError(
                f"No cached conversion named {missing[0]!r} in {folder or models_dir()}; `glm-nb cache list` shows "
                "the names."
            )
        chosen = [by_name[n] for n in dict.fromkeys(names)]
        busy = [e for e in chosen if e.state == "converting"]
        if busy:
            raise GlmError(f"{busy[0].name} is being written by a conversion that is still running; wait for it.")
    else:
        chosen = [e for e in entries if e.state in states and e.state != "converting"]
    chosen = _with_aliases(chosen, entries)
    removed = []
    for entry in chosen:
        if not dry_run:
            try:
                if entry.path.is_symlink():  # an alias: the link alone, never its entry through it
                    entry.path.unlink(missing_ok=True)
                else:
                    shutil.rmtree(entry.path)
                if entry.name.startswith("."):
                    remove_if_free(_working_target(entry.path))  # the lock file its killed conversion left
            except OSError as e:
                raise GlmError(f"Could not remove {entry.path}: {e.strerror or e}. Check its permissions.") from e
        removed.append(entry)
        if on_removed is not None:
            on_removed(entry)
    return removed


def _with_aliases(chosen: list[CachedModel], entries: list[CachedModel]) -> list[CachedModel]:
    """`chosen`, each entry followed by the aliases of it that `chosen` leaves out (a link to a removed entry
    would only dangle)."""
    links = [e for e in entries if e.path.is_symlink()]
    out: dict[Path, CachedModel] = {}
    for entry in chosen:
        out.setdefault(entry.path, entry)
        for link in links:
            if alias_target(link.path) == entry.path:
                out.setdefault(link.path, link)
    return list(out.values())


def _alias(path: Path, target: CachedModel | None) -> CachedModel:
    """A link open_model made to entry `target` (None: gone, or not a conversion)."""
    to = alias_target(path)
    if target is None or target.state == "damaged":
        return CachedModel(path, "damaged", 0, why=f"a link to {to.name}, which is gone or damaged")
    return CachedModel(path, "alias", 0, target.source, target.precision, target.max_length,
                       f"another name for {to.name} ({target.state}), the one this glm-nb looks it up by; "
                       f"{to.name} keeps the name an older glm-nb gave it")  # fmt: skip


def outdated_conversions(src: Path, folder: Path | None = None) -> list[CachedModel]:
    """The outdated entries converted from checkpoint `src` (or from an earlier revision of the same hub download):
    what a fresh conversion of it leaves behind."""
    checkpoint = _checkpoint_identity(src.expanduser().resolve())
    return [
        e for e in cached_models(folder)
        if e.state == "outdated" and e.source and _checkpoint_identity(Path(e.source)) == checkpoint
    ]  # fmt: skip


def _entry(path: Path, also_named: tuple[str, ...] = ()) -> CachedModel | None:
    """The entry's state, given the names its aliases give it too; None for a folder this cache did not make."""
    size = _size(path)
    if path.name.startswith("."):  # conversion.py's `.NAME.partial-XXXX` and `.NAME.old-PID` working folders
        if _still_writing(path):
            return CachedModel(path, "converting", size, why="a conversion is writing it now")
        return CachedModel(path, "partial", size, why="left by an interrupted conversion")
    if not (path / METADATA_FILE).exists() and (path / "config.json").exists():
        return None  # a checkpoint someone keeps here, never a conversion
    try:
        meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))  # as ModelMetadata.save writes it
        source = (meta.get("source") or {}).get("path")
        precision, max_length = meta.get("precision"), meta.get("max_length")
    except (OSError, ValueError, AttributeError) as e:
        return CachedModel(path, "damaged", size, why=f"{METADATA_FILE} cannot be read ({e})")
    entry = CachedModel(path, "current", size, source, precision, max_length)
    if not (path / "model.onnx").is_file():
        return _with(entry, "damaged", "its model.onnx is missing")
    if meta.get("format_version") != FORMAT_VERSION:
        return _with(entry, "outdated", f"graph format {meta.get('format_version')}, this glm-nb builds "
                     f"{FORMAT_VERSION}")  # fmt: skip
    if not source:
        return _with(entry, "unknown", "no checkpoint is recorded")
    if not Path(source).is_absolute():
        return _with(entry, "unknown", f"its checkpoint was recorded as the relative path {source!r}")
    if not Path(source).is_dir():
        return _with(entry, "orphaned", "its checkpoint folder is gone")
    newer = _newer_revision(Path(source))
    if newer:
        return _with(entry, "outdated", newer)
    key = next(filter(None, (_current_key(path.with_name(n), Path(source), max_length)
                             for n in (path.name, *also_named))), None)  # fmt: skip
    if key is None:
        return _with(entry, "outdated", "the checkpoint files it was converted from (config, tokenizer, "
                     "weights) changed since, or an older glm-nb named it")  # fmt: skip
    longest = _longest(Path(source), key, path.parent)
    if longest is not None and longest[0] != path and _named_as_before(path, Path(source), key):
        return _with(entry, "current", f"what a glm-nb from before 2026-11-29 loads (this one loads "
                     f"{longest[0].name})")  # fmt: skip
    if longest is not None and longest[0] != path:
        return _with(entry, "outdated", f"open_model loads {longest[0].name} instead, which holds up to "
                     f"{longest[1]} tokens")  # fmt: skip
    return entry


def _working_target(path: Path) -> Path:
    """The folder a conversion's working folder `.NAME.partial-XXXX` (or `.NAME.old-PID`) is written for."""
    return path.with_name(_WORKING.match(path.name).group(1))


def _still_writing(path: Path) -> bool:
    """Whether a conversion is writing working folder `path`: it holds its target's lock (folder_lock.py). With
    no lock file, a glm-nb from before the lock may be writing: then a folder written to lately counts as busy."""
    held = is_held(_working_target(path))
    if held is None:
        return time.time() - _newest_write(path) < _STILL_WRITING_S
    return held


def _hub_repo(snapshot: Path) -> Path | None:
    """The repository folder of a Hugging Face cache snapshot (`models--OWNER--NAME/snapshots/REVISION`)."""
    repo = snapshot.parent.parent
    if snapshot.parent.name == "snapshots" and repo.name.startswith("models--") and (repo / "refs").is_dir():
        return repo
    return None


def _checkpoint_identity(src: Path) -> Path:
    """What names one checkpoint across its revisions: a hub download's repository folder, else the folder."""
    return _hub_repo(src) or src


def _newer_revision(src: Path) -> str | None:
    """For a hub download: why it is outdated when no ref (main, a tag) points at its revision any more."""
    repo = _hub_repo(src)
    if repo is None:
        return None
    refs = {f.read_text().strip() for f in (repo / "refs").rglob("*") if f.is_file()}
    if not refs or src.name in refs:
        return None
    name = repo.name.removeprefix("models--").replace("--", "/")
    return f"a newer revision of {name} was downloaded since"


def _current_key(path: Path, src: Path, max_length: int | None) -> str | None:
    """The conversion key of `path` when it is named for `src` as it is today, else None: the entry's name is
    `{src.name}-{key}-{hash}`, and the hash covers the files a conversion reads (or, as an earlier glm-nb named it,
    every file of the folder), the key, the requested context (None for the full length) and the format
    (loading.entry_names)."""
    prefix = f"{src.name}-"
    if not path.name.startswith(prefix) or len(path.name) <= len(prefix) + 13:
        return None
    key = path.name[len(prefix) : -13]
    try:
        named = any(path.name in entry_names(src, key, length) for length in (None, max_length))
    except OSError:  # the checkpoint folder became unreadable
        return None
    return key if named else None


def _named_as_before(path: Path, src: Path, key: str) -> bool:
    """Whether `path` is named as a glm-nb from before 2026-11-29 names the full-length conversion of `src` today
    (loading.entry_names): that glm-nb, sharing this cache, loads it, so it is not cleared as outdated."""
    try:
        return path.name in entry_names(src, key, None)[1:]
    except OSError:  # the checkpoint folder became unreadable
        return False


def _longest(src: Path, key: str, models: Path) -> tuple[Path, int] | None:
    """The conversion open_model loads for `src` and `key` (loading.longest_conversion)."""
    try:
        return longest_conversion(src, key, models)
    except OSError:  # the checkpoint folder became unreadable
        return None


def _with(entry: CachedModel, state: str, why: str) -> CachedModel:
    return CachedModel(entry.path, state, entry.size, entry.source, entry.precision, entry.max_length, why)


def _size(path: Path) -> int:
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def _newest_write(path: Path) -> float:
    newest = path.stat().st_mtime  # FileNotFoundError when the folder went meanwhile: the caller skips it
    for top, _, files in os.walk(path):
        for name in files:
            try:
                newest = max(newest, os.lstat(os.path.join(top, name)).st_mtime)
            except OSError:
                pass
    return newest
