"""Standard output for the `glm-nb` commands: what they print, and what they do when it cannot be printed.

A stdout the shell closed (`>&-`) takes nothing, as print() does; one whose writes fail (`> /dev/full`, a full
disk) ends the command with the reason (`OutputFailed`, a GlmError: exit 2) instead of a traceback; a reader that
left (`| head`) is main's BrokenPipeError. A legacy encoding shows what it cannot encode as "?".
"""

from __future__ import annotations

import codecs
import io
import os
import sys

from .errors import GlmError

__all__ = ["OutputFailed", "drop_stdout", "out", "replace_unencodable_output", "writes_utf8"]


class OutputFailed(GlmError):
    """Writing stdout failed (a full disk, /dev/full, an I/O error): what the command did is said on stderr."""


def out(text: str, end: str = "\n") -> None:
    """`text` on stdout, flushed. A stdout closed by the shell (`>&-`) takes nothing, as print() does then; one
    whose writes fail ends the command with the reason instead of a traceback (BrokenPipeError goes to main)."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.write(text + end)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputFailed(
            f"cannot write to standard output ({e.strerror or e}); redirect it to a disk with room (`> FILE`), or "
            "to /dev/null."
        ) from e


def drop_stdout() -> None:
    """Point stdout at devnull (Python's recipe for a broken pipe), so that the flush at exit of what is still
    buffered cannot fail again with a traceback."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): no exit flush to fear
        pass


def replace_unencodable_output() -> None:
    """A stdout in a legacy encoding (a file or pipe on Chinese Windows is GBK, which has no emoji; an old locale's
    latin-1 has no Chinese at all) shows what it cannot encode as "?", instead of the reply ending in a
    UnicodeEncodeError. `--json` escapes instead (`writes_utf8`), so its text stays exact."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="replace")


def writes_utf8(stream) -> bool:
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name == "utf-8"
    except LookupError:
        return False
