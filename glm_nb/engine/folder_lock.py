"""`FolderLock`: one writer at a time for a folder that a conversion writes, across processes and threads.

Two notebooks' kernels opening the same checkpoint for the first time convert into the same cache folder, and
`glm-nb convert -o X` may run in a terminal while a kernel converts to X. Unserialised, both spend minutes (and
the disk space twice) converting, and the second to finish renames the first's folder away while the first is
loading it. The lock is an advisory lock (flock; on Windows, msvcrt's byte lock) on a file `.NAME.lock` beside
the folder. The operating system drops it when its process dies, even by SIGKILL, so a killed conversion never
leaves a lock that blocks the next one; the file itself is removed by whoever releases the lock.

Removing a lock file races with a process that opened it just before: that process would then hold a lock on a
file no longer there while a third locks a new one. So a process that has the lock checks that the file it
locked is still the one at the path, and starts over when it is not (the usual pattern for removable lock files).

The lock is reentrant within a thread (open_model holds it while `convert` takes it again) and exclusive between
threads: each acquisition opens the file afresh, and flock locks of separate opens exclude each other.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

__all__ = ["FolderLock", "is_held", "lock_path", "remove_if_free"]

_POLL_S = 0.5  # Windows only: how often a waiter tries again (msvcrt has no lock that waits indefinitely)
_held = threading.local()  # .depth: {lock path: how many times this thread holds it}


def lock_path(folder: Path) -> Path:
    """The lock file of `folder`: `.NAME.lock` beside it."""
    return folder.parent / f".{folder.name}.lock"


class FolderLock:
    """`with FolderLock(folder, on_wait):` the block runs while no other process or thread holds `folder`'s lock.
    `on_wait` is called once, before waiting, when another holds it. Raises OSError when the lock file cannot be
    made (the parent folder is missing or read-only)."""

    def __init__(self, folder: Path, on_wait: Callable[[], None] | None = None):
        self.path = lock_path(Path(folder).expanduser().absolute())
        self._on_wait = on_wait
        self._fd: int | None = None

    @property
    def _key(self) -> str:
        """One name per lock file however the folder was spelled (a relative GLM_NB_CACHE, a link), so that a
        thread taking it again is let in rather than waiting for itself."""
        return os.path.join(os.path.realpath(self.path.parent), self.path.name)

    def acquire(self) -> FolderLock:
        depth = _depths()
        key = self._key
        if depth.get(key):
            depth[key] += 1
            return self
        self._fd = self._acquire()
        depth[key] = 1
        return self

    def release(self) -> None:
        depth = _depths()
        key = self._key
        depth[key] -= 1
        if depth[key] or self._fd is None:
            return
        del depth[key]
        fd, self._fd = self._fd, None
        try:
            self.path.unlink()  # while still held: a waiter that opened this file sees it gone and starts over
        except OSError:  # Windows will not remove an open file: it stays, unheld, which reads as free
            pass
        finally:
            _unlock(fd)
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _acquire(self) -> int:
        on_wait = self._on_wait
        while True:
            fd = _open(self.path, create=True)
            try:
                if not _try_lock(fd):
                    if on_wait is not None:
                        on_wait()
                        on_wait = None
                    _lock(fd)
                if _is_current(fd, self.path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the holder before us removed this file: lock the one now at the path


def is_held(folder: Path) -> bool | None:
    """Whether a process holds `folder`'s lock now: True, False (a lock file is there but nobody holds it: its
    holder died), or None (no lock file: nobody locked it, or a glm-nb older than the lock is writing)."""
    try:
        fd = os.open(lock_path(folder), os.O_RDONLY)  # flock needs no write access: a read-only cache is fine
    except OSError:  # no lock file (or one this user may not read: nothing can be told)
        return None
    try:
        if not _try_lock(fd):
            return True
        _unlock(fd)
        return False
    except OSError:  # a filesystem that cannot lock a read-only file (NFS emulates flock with fcntl locks)
        return None
    finally:
        os.close(fd)


def remove_if_free(folder: Path) -> None:
    """Remove `folder`'s lock file when nobody holds it (its holder died): taken first, as a release removes it."""
    try:
        fd = _open(lock_path(folder), create=False)
    except FileNotFoundError:
        return
    try:
        if _try_lock(fd):
            try:
                if _is_current(fd, lock_path(folder)):
                    lock_path(folder).unlink()
            except OSError:  # Windows (the file is open), or another user's file in a sticky folder: it stays
                pass
            finally:
                _unlock(fd)
    finally:
        os.close(fd)


def _open(path: Path, create: bool) -> int:
    """A descriptor to lock `path` with. Another user's lock file in a shared cache is not writable for us (made
    0644 under the usual umask), but a lock needs no write access: it is opened read-only then."""
    try:
        return os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


def _depths() -> dict[str, int]:
    if not hasattr(_held, "depth"):
        _held.depth = {}
    return _held.depth


def _is_current(fd: int, path: Path) -> bool:
    try:
        here = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the file position: always the first one
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):  # flock says EWOULDBLOCK; msvcrt says EACCES
        return False
    return True


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a Ctrl-C (KeyboardInterrupt) still ends the wait
        return
    while not _try_lock(fd):
        time.sleep(_POLL_S)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
