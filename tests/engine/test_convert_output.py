"""What `convert` leaves on disk: permissions a shared folder needs, and nothing half-written when stopped."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from glm_nb.engine import convert


@pytest.mark.parametrize(
    "umask, folder, files", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)], ids=["umask022", "umask077"]
)
def test_the_output_has_the_permissions_the_umask_gives_a_new_folder(tiny, tmp_path, umask, folder, files):
    old = os.umask(umask)
    try:
        out = convert(tiny.src, tmp_path / "m", progress=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == folder
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in out.iterdir()} == {f.name: files for f in out.iterdir()}


_STOPPED_MIDWAY = """
import os, signal, sys
import glm_nb.engine.conversion as conversion
from glm_nb.cli import main

build = conversion.build_glm4_graph

def build_then_stop(*args, **kwargs):
    build(*args, **kwargs)  # the partial folder holds the weights now
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))

conversion.build_glm4_graph = build_then_stop
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_or_sighup_during_cli_convert_leaves_no_partial_folder(tiny, tmp_path, name, code):
    done = subprocess.run([sys.executable, "-c", _STOPPED_MIDWAY, name, "convert", str(tiny.src), "-o",
                           str(tmp_path / "m"), "--quiet"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == code and f"glm-nb: stopped by {name}" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []
