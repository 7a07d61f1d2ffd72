"""Where `RemoteBackend` gets the tokenizer and chat template of the model a server serves: a local copy of the
checkpoint's tokenizer files, or the hub by name (only those files, through huggingface_hub's cache). A server
cannot hand them over (an OpenAI-compatible server lists names, not files), so a missing one is said with what to
pass; a server of the nano-GLM this install bundles is pointed at the bundled folder.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine import Tokenizer
from ..engine.tokenizer import load_chat_template
from ..errors import GlmError
from ..models.hub import is_hub_id
from ..nano import checkpoint_path as nano_checkpoint_path
from .remote_errors import RemoteError

if TYPE_CHECKING:
    import os

    from .remote_http import ServerEndpoint

__all__ = ["bundled_nano_hint", "load_tokenizer"]

_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"]
_TOKENIZER_HINT = (
    "Pass tokenizer= a local folder with the checkpoint's tokenizer.json and tokenizer_config.json, or its hub id "
    "such as THUDM/GLM-4-32B-0414 (in %glm_model: give it as MODEL, `%glm_model FOLDER --remote URL`)."
)


def load_tokenizer(source: str | os.PathLike) -> tuple[Tokenizer, str | None]:
    """The tokenizer and chat template of a checkpoint: a local folder, or a hub model name (downloads only the
    tokenizer files, through huggingface_hub's cache)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        if not is_hub_id(str(source)):  # e.g. vLLM's default served name: the checkpoint's path on the server
            path = " (a path on the server, maybe: glm-nb reads the tokenizer here)" if folder.is_absolute() else ""
            raise RemoteError(
                f"{str(source)!r}, where the tokenizer comes from (by default the served model's name), is neither "
                f"a folder on this machine nor a hub id (owner/name){path}. {_TOKENIZER_HINT}"
            )
        folder = _hub_tokenizer_folder(str(source))
    if not (folder / "tokenizer.json").is_file():
        raise RemoteError(
            f"{folder} has no tokenizer.json (copy it and tokenizer_config.json from the model you serve). "
            f"{_TOKENIZER_HINT}"
        )
    return Tokenizer(folder / "tokenizer.json"), load_chat_template(folder)


def bundled_nano_hint(endpoint: ServerEndpoint, served: str) -> str | None:
    """What to pass when the server serves the nano-GLM this install bundles (its name the same as the bundled
    checkpoint's): the tokenizer is on this machine already, but a server cannot say where."""
    try:
        folder = nano_checkpoint_path()
        own = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path")
    except (GlmError, OSError, ValueError):  # no bundled checkpoint in this install: nothing to point at
        return None
    if served != own:
        return None
    return (
        f"{endpoint.base_url} serves nano-GLM, glm-nb's demo model (not GLM-4), whose tokenizer ships with glm-nb: "
        f"pass tokenizer={str(folder)!r} (in %glm_model: `%glm_model {shlex.quote(str(folder))} --remote "
        f"{endpoint.base_url}`; `glm-nb nano path` prints that folder)."
    )


def _hub_tokenizer_folder(name: str) -> Path:
    try:
        # imported here, not at the top: it is slow to import and only a hub name needs it
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise RemoteError(
            f"{name!r} is not a folder, and huggingface_hub is not installed to fetch it: `pip install "
            f"huggingface_hub`, or: {_TOKENIZER_HINT}"
        ) from e
    try:
        return Path(snapshot_download(name, allow_patterns=_TOKENIZER_FILES))
    except Exception as e:  # huggingface_hub raises many types (offline, 404, gated, bad name)
        raise RemoteError(
            f"Cannot get the tokenizer of {name!r} from the Hugging Face hub ({type(e).__name__}: {_first_line(e)}). "
            f"{_TOKENIZER_HINT}"
        ) from e


def _first_line(e: Exception, limit: int = 300) -> str:
    """The first line of an error's message, cut at a word (the hub's messages run over several lines)."""
    line = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + " ..."
