"""Model names as users write them: a local folder, or a hub id (owner/name) downloaded once into the hub's cache.

Downloads go through `huggingface_hub.snapshot_download` (or ModelScope's, when `--source modelscope` asks for it
and the package is installed), fetching only what the engine reads: configs, tokenizer, safetensors. Both cache
what they fetched, so a second use of the same id reads the disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

__all__ = ["HUB_FILES", "SOURCES", "Downloader", "download", "download_config", "is_hub_id", "resolve"]

SOURCES = ("huggingface", "modelscope")
HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "tokenizer*", "*.txt", "*.model"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")

Downloader = Callable[[str, str], Path]  # (repo id, source) -> local folder


def is_hub_id(text: str) -> bool:
    return bool(_HUB_ID.match(text))


def download(repo_id: str, source: str = "huggingface") -> Path:
    """Download the files the engine needs from `repo_id`, with a progress bar; returns the local folder."""
    snapshot_download, hub = _hub(source)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    except Exception as e:  # network, auth, unknown repo: all reported the same way, from either hub
        raise ModelLoadError(
            f"Could not download {repo_id} from {hub} ({type(e).__name__}: {str(e)[:200]}). Check the id and "
            "your connection, or download the checkpoint yourself and pass its folder instead."
        ) from e


def download_config(repo_id: str, source: str = "huggingface") -> dict[str, Any] | None:
    """`repo_id`'s config.json alone (a few kB, into the hub's cache, which the whole download then reuses), so
    that a setting its checkpoint cannot take is refused before gigabytes of weights come. The hub's cache is read
    first: a config (or a whole snapshot) already there costs no round trip, nor, offline, a connection timeout.
    None when it cannot be fetched or read: the whole download then says why, or the checkpoint's own checks do."""
    try:
        snapshot_download, _ = _hub(source)
    except ModelLoadError:  # an unknown source, no modelscope package: the whole download says so
        return None
    for cached_only in (True, False):
        try:
            only = {"local_files_only": True} if cached_only else {}
            folder = Path(snapshot_download(repo_id, allow_patterns=["config.json"], **only))
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except Exception:  # not cached (or no local_files_only); network, auth, no such repo or file: see above
            continue
        return config if isinstance(config, dict) else None
    return None


def _hub(source: str) -> tuple[Callable[..., str], str]:
    """The snapshot_download of `source`'s hub package, and the hub's name."""
    if source not in SOURCES:
        raise ModelLoadError(f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    if source == "modelscope":
        try:
            # ModelScope is optional (pip install modelscope): imported only when asked for.
            from modelscope import snapshot_download
        except ImportError as e:
            raise ModelLoadError("--source modelscope needs the modelscope package: `pip install modelscope`.") from e
        return snapshot_download, "ModelScope"
    from huggingface_hub import snapshot_download  # a heavy import, and only a download needs it

    return snapshot_download, "Hugging Face"


def resolve(spec: str, source: str = "huggingface", downloader: Downloader | None = None) -> Path:
    """The local folder `spec` names: an existing folder as it is, a hub id after `downloader` (default:
    `download`) fetched it."""
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path} is a file; pass the folder that holds config.json (or glm_nb.json).")
        return path
    if is_hub_id(spec):
        try:
            return (downloader or download)(spec, source)
        except ModelLoadError as e:  # "models/glm4" may be a mistyped folder as much as a hub id
            raise ModelLoadError(f"{e} (Nor is there a local folder {str(path)!r} in {Path.cwd()}.)") from e
    raise ModelLoadError(
        f"There is no folder {spec!r}, and it is not a hub id (owner/name). Pass a local checkpoint folder, or an "
        "id such as THUDM/GLM-4-9B-0414 (add --source modelscope for ModelScope)."
    )
