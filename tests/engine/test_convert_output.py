"""What `convert` leaves on disk: permissions a shared folder needs, and nothing half-written when stopped."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from glm_nb.engine import convert
from glm_nb.engine.metadata import ModelMetadata


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


def test_a_checkpoint_given_as_dot_is_named_after_its_folder(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny.src)

    out = convert(".", tmp_path / "m", progress=False)

    assert ModelMetadata.load(out).name == tiny.src.name  # not "", which the card and every footer showed


def test_a_hub_snapshot_is_named_after_its_repository_not_its_revision(tiny, tmp_path):
    repo = tmp_path / "hub" / "models--THUDM--GLM-4-9B-0414"
    snapshot = shutil.copytree(tiny.src, repo / "snapshots" / ("a" * 40))

    out = convert(snapshot, tmp_path / "m", progress=False)

    assert ModelMetadata.load(out).name == "THUDM/GLM-4-9B-0414"


def test_an_output_given_as_a_link_is_written_where_it_points_and_the_link_stays(tiny, tmp_path):
    (tmp_path / "disk").mkdir()  # a folder on a bigger disk, say
    link = tmp_path / "models"
    link.symlink_to(tmp_path / "disk")

    first = convert(tiny.src, link, progress=False)
    again = convert(tiny.src, link, progress=False)  # an earlier conversion behind the link is replaced too

    assert first == again == tmp_path / "disk"
    assert link.is_symlink() and (link / "glm_nb.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "models"]


def test_a_stop_between_moving_the_old_model_aside_and_the_new_one_in_keeps_the_old_one(tiny, tmp_path, monkeypatch):
    out = convert(tiny.src, tmp_path / "m", progress=False)
    rename = Path.rename

    def stopped_at_the_new_one(self, target):
        if ".partial-" in self.name:  # the finished folder moving into place: Ctrl-C lands here
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", stopped_at_the_new_one)
    with pytest.raises(KeyboardInterrupt):
        convert(tiny.src, out, precision="int4", progress=False)

    assert ModelMetadata.load(out).precision == "fp32"  # not gone into .m.old-PID, which the next one removes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_stop_just_after_the_new_model_moved_in_keeps_the_new_one_and_the_interrupt(tiny, tmp_path, monkeypatch):
    out = convert(tiny.src, tmp_path / "m", progress=False)
    rename = Path.rename

    def stopped_after_the_new_one(self, target):
        rename(self, target)
        if ".partial-" in self.name:  # moved into place, then Ctrl-C before the next line
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "rename", stopped_after_the_new_one)
    with pytest.raises(KeyboardInterrupt):  # not an OSError from moving the old one back over it
        convert(tiny.src, out, precision="int4", progress=False)
    monkeypatch.undo()

    assert ModelMetadata.load(out).precision == "int4"
