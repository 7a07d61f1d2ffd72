"""Several processes converting into the same folder: two notebooks' kernels opening the same checkpoint for the
first time, `glm-nb convert` in a terminal while a kernel converts, a kernel killed mid-conversion.

Each child process is a real Python that slows its conversion down (the graph build sleeps) so that the races
are certain rather than lucky, and waits for a start signal so that both convert at the same moment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from glm_nb.engine import conversion, folder_lock
from glm_nb.engine.conversion import convert
from glm_nb.engine.folder_lock import FolderLock
from glm_nb.engine.loading import converted_path, open_model
from glm_nb.engine.model_cache import cached_models, clear_cache
from glm_nb.errors import ConversionError

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    from glm_nb.engine import conversion, folder_lock
    from glm_nb.engine.loading import open_model

    mode, src, log, ready, go, pause = sys.argv[1:7]
    real_build = conversion.build_glm4_graph

    def slow_build(*args, **kwargs):
        with open(log, "a") as f:
            f.write(f"start {os.getpid()} {time.time()}\\n")
        time.sleep(float(pause))
        real_build(*args, **kwargs)
        with open(log, "a") as f:
            f.write(f"end {os.getpid()} {time.time()}\\n")

    conversion.build_glm4_graph = slow_build
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    if mode.startswith("open"):  # "open" or "open:N", N the max_length
        length = mode.partition(":")[2]
        print(open_model(src, device="cpu", max_length=int(length) if length else None, progress=False).folder)
    else:
        print(conversion.convert(src, mode, progress=False))
    """
)


class Children:
    """Child processes that convert `src` at the same moment, logging when each graph build starts and ends."""

    def __init__(self, tmp_path, src, cache):
        self.tmp, self.src, self.log, self.go = tmp_path, src, tmp_path / "builds.log", tmp_path / "go"
        self.env = {**os.environ, "GLM_NB_CACHE": str(cache)}
        self.procs: list[subprocess.Popen] = []

    def start(self, mode: str, pause: float) -> subprocess.Popen:
        ready = self.tmp / f"ready-{len(self.procs)}"
        args = (mode, self.src, self.log, ready, self.go, pause)
        argv = [sys.executable, "-c", _CHILD, *map(str, args)]
        proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the child process did not start"
            time.sleep(0.02)
        return proc

    def release(self) -> None:
        self.go.touch()

    def finish(self) -> list[tuple[int, str, str]]:
        return [(p.wait(timeout=60), *p.communicate()) for p in self.procs]

    def builds(self) -> list[tuple[str, int, float]]:
        if not self.log.exists():
            return []
        return [
            (what, int(pid), float(t))
            for what, pid, t in (line.split() for line in self.log.read_text().splitlines())
        ]

    def wait_for_build(self) -> None:
        deadline = time.monotonic() + 60
        while not self.builds():
            assert time.monotonic() < deadline, "the child never started converting"
            time.sleep(0.02)

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()


@pytest.fixture
def children(tmp_path, ckpt, cache):
    procs = Children(tmp_path, ckpt, cache.parent)
    yield procs
    procs.kill()


def test_two_kernels_opening_one_checkpoint_convert_it_once(children, ckpt, cache):
    """The second waits for the first's conversion, says so, and loads it: it does not convert again."""
    children.start("open", pause=2.0)
    children.start("open", pause=2.0)

    children.release()
    results = children.finish()

    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    target = converted_path(ckpt, "fp32", None)
    assert [out.strip() for _, out, _ in results] == [str(target), str(target)]
    assert [what for what, _, _ in children.builds()] == ["start", "end"]  # one conversion, not two
    assert sum("waiting for it to finish" in err for _, _, err in results) == 1
    assert sorted(p.name for p in cache.iterdir()) == [target.name]  # no working folder or lock file left


def test_two_kernels_opening_one_checkpoint_at_two_context_lengths_convert_it_once(children, ckpt, cache):
    """Each max_length is served by the one full-length conversion, so the second kernel waits for the first's."""
    children.start("open:32", pause=2.0)
    children.start("open:64", pause=2.0)

    children.release()
    results = children.finish()

    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    target = converted_path(ckpt, "fp32", None)
    assert [out.strip() for _, out, _ in results] == [str(target), str(target)]
    assert [what for what, _, _ in children.builds()] == ["start", "end"]  # one conversion, not one per length
    assert sorted(p.name for p in cache.iterdir()) == [target.name]


def test_two_conversions_into_one_folder_take_turns(children, tmp_path, cache):
    """`glm-nb convert -o X` twice at once (or in a terminal while a kernel converts to X): the second starts
    writing only once the first has finished, so neither trips over the other's rename; both succeed."""
    out = tmp_path / "out"
    children.start(str(out), pause=2.0)
    children.start(str(out), pause=2.0)

    children.release()
    results = children.finish()

    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    (_, first, _), (_, first_end, t1), (_, second, t2), _ = children.builds()
    assert first == first_end and second != first and t2 >= t1  # one after the other, not side by side
    assert sum("waiting for it to finish" in err for _, _, err in results) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert (out / "glm_nb.json").exists()


def test_a_conversion_killed_midway_is_cleaned_up_by_the_next_one(children, ckpt, cache):
    """A kernel restarted (SIGKILL) mid-conversion leaves its working folder; it neither blocks the next
    conversion of the same checkpoint nor stays behind after it."""
    victim = children.start("open", pause=60)
    children.release()
    children.wait_for_build()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert [e.state for e in cached_models()] == ["partial"]  # nobody is writing it any more

    engine = open_model(ckpt, device="cpu", progress=False)

    assert sorted(p.name for p in cache.iterdir()) == [engine.folder.name]


def test_what_a_killed_conversion_left_can_be_cleared_at_once(children, ckpt, cache):
    victim = children.start("open", pause=60)
    children.release()
    children.wait_for_build()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    removed = clear_cache()

    assert [e.state for e in removed] == ["partial"] and list(cache.iterdir()) == []


def test_a_conversion_still_running_is_not_cleared(children, ckpt, cache):
    children.start("open", pause=60)
    children.release()
    children.wait_for_build()

    [entry] = cached_models()

    assert entry.state == "converting" and clear_cache() == [] and entry.path.exists()


def test_conversions_from_two_threads_take_turns(ckpt, tmp_path, cache, monkeypatch):
    """One process, two threads (a ChatPanel's model load and a cell's): they take turns as processes do."""
    out, builds, real_build = tmp_path / "out", [], conversion.build_glm4_graph

    def slow_build(*args, **kwargs):
        start = time.monotonic()
        time.sleep(0.3)
        real_build(*args, **kwargs)
        builds.append((start, time.monotonic()))

    monkeypatch.setattr(conversion, "build_glm4_graph", slow_build)
    done = []
    threads = [threading.Thread(target=lambda: done.append(convert(ckpt, out, progress=False))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert done == [out] * 3
    builds.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in zip(builds, builds[1:]))  # never side by side
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_open_model_takes_its_own_lock_again_with_a_relative_cache(ckpt, tmp_path, monkeypatch):
    """open_model holds the entry's lock while convert takes it again: the same lock, though open_model names the
    folder relative to the working directory and convert absolutely, or the thread would wait for itself forever."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GLM_NB_CACHE", "cache")
    opened = []
    thread = threading.Thread(
        target=lambda: opened.append(open_model(ckpt, device="cpu", progress=False)), daemon=True
    )

    thread.start()
    thread.join(timeout=30)

    assert len(opened) == 1, "open_model is waiting for its own lock"


def _refuse(*args, **kwargs):
    raise PermissionError(30, "Read-only file system")


def test_a_read_only_cache_with_the_conversion_loads_without_locking(ckpt, cache, monkeypatch):
    """A shared cache someone else filled, mounted read-only: a finished conversion needs no lock to load."""
    folder = open_model(ckpt, device="cpu", progress=False).folder
    monkeypatch.setattr(FolderLock, "acquire", _refuse)

    assert open_model(ckpt, device="cpu", progress=False).folder == folder
    assert [e.state for e in cached_models()] == ["current"]


def test_a_cache_where_no_lock_can_be_made_says_to_set_glm_nb_cache(ckpt, cache, monkeypatch):
    monkeypatch.setattr(FolderLock, "acquire", _refuse)

    with pytest.raises(ConversionError, match="Read-only file system.*Set GLM_NB_CACHE to a folder you can write"):
        open_model(ckpt, device="cpu", progress=False)


def test_a_replacement_killed_midway_does_not_trip_the_next_one(ckpt, tmp_path):
    """Replacing a conversion renames it to `.NAME.old-PID` and then deletes it (seconds for 18 GB). Killed there,
    it leaves that folder; a later process with the same PID (a container's kernel often gets the same one) could
    not rename its own old folder onto it."""
    out = convert(ckpt, tmp_path / "out", progress=False)
    left = shutil.copytree(out, tmp_path / f".out.old-{os.getpid()}")

    assert convert(ckpt, out, progress=False) == out

    assert not left.exists() and (out / "glm_nb.json").exists()


def test_another_users_lock_file_is_locked_read_only_not_refused(tmp_path, monkeypatch):
    """In a shared cache the lock file another user made is 0644 (the usual umask): not writable, but lockable."""
    folder = tmp_path / "model"
    theirs = FolderLock(folder).acquire()
    their_file = theirs.path.stat().st_ino
    real_open = folder_lock.os.open

    def as_another_user(path, flags, *mode):  # their file is read-only to us; a new one would be ours
        mine = not os.path.exists(path) or os.stat(path).st_ino != their_file
        if Path(path) == theirs.path and flags & os.O_RDWR and not mine:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *mode)

    monkeypatch.setattr(folder_lock.os, "open", as_another_user)
    waited = []
    other = threading.Thread(target=lambda: FolderLock(folder, on_wait=lambda: waited.append(1)).acquire().release())
    other.start()
    other.join(0.5)
    assert other.is_alive() and waited == [1]  # it waits for the lock instead of failing on the file's mode
    theirs.release()
    other.join(5)
    assert not other.is_alive()
