"""Token ids as callers pass them to a Generator, parsed at its boundary into lists of Python ints: whole numbers
only (int(1.7) would quietly be token 1), inside the vocabulary, one list per row."""

from __future__ import annotations

import numbers
import operator

import numpy as np

from ..errors import GenerationError

__all__ = ["parse_rows", "parse_stop_ids", "whole"]


def parse_rows(ids, batch_size: int, vocab_size: int) -> list[list[int]]:
    """Token ids as a caller gives them (a list of ids for batch 1, one list per row, an integer array) as
    `batch_size` lists of Python ints, refused with what to pass instead when they are not ids of a vocabulary
    of `vocab_size`."""
    ids = ([ids] if ids.ndim == 1 else list(ids)) if isinstance(ids, np.ndarray) else list(ids)
    if not ids:  # not "Expected 1 row(s) of tokens, got 0", which reads as a batch mix-up
        raise GenerationError("No token ids were given: pass a list of ids (one list per row for a batch).")
    if not isinstance(ids[0], (list, tuple, np.ndarray)):
        ids = [ids]
    if len(ids) != batch_size:
        raise GenerationError(f"Expected {batch_size} row(s) of tokens, got {len(ids)}.")
    rows = [_ints(r) for r in ids]
    for row in rows:
        if row and 0 <= min(row) and max(row) < vocab_size:
            continue
        bad = [t for t in row if not 0 <= t < vocab_size]
        if bad:
            raise GenerationError(
                f"Token id {bad[0]} is outside this model's vocabulary (ids 0 to {vocab_size - 1}). Encode text "
                "with this model's own tokenizer (engine.tokenizer.encode) rather than another model's ids."
            )
    return rows


def whole(value) -> bool:
    """An int (numpy's too), not a bool or a float."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def parse_stop_ids(ids) -> list[int]:
    """Stop ids as given to a Generator: whole numbers (int(1.5) would quietly stop at token 1)."""
    try:
        return _ints(ids)
    except GenerationError:
        raise GenerationError(f"stop_ids are token ids, whole numbers; got {tuple(ids)!r}.") from None


def _ints(row) -> list[int]:
    """A row of token ids as Python ints, refused when one is not a whole number (int(1.7) would quietly be token
    1). Fast for what callers pass: a list of ints (a tokenizer's), an integer numpy array, any sequence of values
    that are integers to Python (`operator.index`: numpy's and torch's integer scalars)."""
    if isinstance(row, np.ndarray):
        if row.dtype.kind not in "iu":
            raise GenerationError(
                f"Token ids are whole numbers; got an array of {row.dtype}. Pass the ids encode() gives."
            )
        return row.astype(np.int64).ravel().tolist()
    row = list(row)
    if all(type(t) is int for t in row):
        return row
    out = []
    for t in row:
        try:
            if isinstance(t, (bool, np.bool_)):
                raise TypeError
            out.append(operator.index(t))
        except TypeError:
            raise GenerationError(f"Token ids are whole numbers; got {t!r}. Pass the ids encode() gives.") from None
    return out
