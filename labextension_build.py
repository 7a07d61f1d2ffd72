"""The JupyterLab extension's build step (hatch-jupyter-builder's build function): npm, unless an sdist ships it.

`pip install glm_nb-*.tar.gz` builds a wheel from the sdist. The sdist carries the extension already built
(glm_nb/labextension) and a stamp (labextension/build-stamp.json): the hash of the sources it was built from and
the hash of the build itself. When both still match, the wheel takes that build as it is, so installing the sdist
needs no Node.js; when either differs (a source edited after unpacking, a build replaced by `npm run build`), npm
builds it afresh. The stamp is trusted only in an unpacked sdist (PKG-INFO at its root): in a checkout npm always
builds, as hatch-jupyter-builder does. A production build writes the stamp, an editable (development) build
removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from hatch_jupyter_builder import npm_builder

__all__ = ["build", "current_stamp", "stamp_matches", "tree_hash", "SOURCES", "BUILT", "STAMP"]

SOURCES = Path("labextension")
BUILT = Path("glm_nb/labextension")
STAMP = SOURCES / "build-stamp.json"
# Not sources: what npm installs and tsc writes (git-ignored, so never in an sdist), and the stamp itself.
_NOT_SOURCES = {"node_modules", "lib", "tsconfig.tsbuildinfo", STAMP.name}


def tree_hash(folder: Path, skip: frozenset[str] | set[str] = frozenset()) -> str:
    """sha256 over every file under `folder` (its path relative to `folder`, then its bytes), in path order;
    a top-level entry named in `skip` is left out."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).parts[0] not in skip)
    for path in files:
        name = path.relative_to(folder).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def current_stamp(root: Path, build_cmd: str | None) -> dict[str, str | None]:
    """What the stamp says of a build of `root`'s extension sources made with `build_cmd` (an npm script)."""
    return {
        "sources": tree_hash(root / SOURCES, _NOT_SOURCES),
        "build": tree_hash(root / BUILT),
        "build_cmd": build_cmd,
    }


def stamp_matches(root: Path, build_cmd: str | None) -> bool:
    """Whether `root`'s built extension is the one its stamp says was built from its sources as they are now."""
    stamp, built = root / STAMP, root / BUILT
    if not stamp.is_file() or not built.is_dir():
        return False
    return json.loads(stamp.read_text(encoding="utf-8")) == current_stamp(root, build_cmd)


def build(target_name: str, version: str, **kwargs: Any) -> None:
    """Build the extension with npm (hatch-jupyter-builder's npm_builder), or take the sdist's build when its stamp
    still matches. Runs in the project root, as hatchling's build hooks do."""
    root = Path.cwd()
    build_cmd = kwargs.get("build_cmd")
    in_sdist = (root / "PKG-INFO").is_file()
    if version == "standard" and in_sdist and stamp_matches(root, build_cmd):
        print(f"glm-nb: {BUILT} was built from these sources ({STAMP} matches): no npm build needed")
        return
    npm_skipped = os.environ.get("HATCH_JUPYTER_BUILDER_SKIP_NPM") == "1" or "--skip-npm" in sys.argv
    try:
        npm_builder(target_name, version, **kwargs)
    except ValueError as error:  # npm_builder's "Could not find cmd (npm) in path"
        if _npm_found(kwargs.get("npm")):
            raise
        why = (
            f"this sdist's {STAMP} does not match its extension sources or the build in {BUILT}"
            if in_sdist
            else "it is built from its TypeScript sources"
        )
        raise RuntimeError(
            f"Building glm-nb builds its JupyterLab extension ({why}), which needs Node.js >= 20.19 and npm: install "
            "them, or install glm-nb's wheel instead (it carries the extension built)."
        ) from error
    (root / STAMP).unlink(missing_ok=True)
    # Stamped only after a production build that ran (the standard build-kwargs name no source_dir, so npm_builder
    # always builds); an editable build is a development build, never shipped.
    if version == "standard" and not npm_skipped:
        (root / STAMP).write_text(json.dumps(current_stamp(root, build_cmd), indent=1) + "\n", encoding="utf-8")


def _npm_found(npm: str | list[str] | None) -> bool:
    command = shlex.split(npm) if isinstance(npm, str) else list(npm or ["npm"])
    return shutil.which(str(command[0])) is not None
