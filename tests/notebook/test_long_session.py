"""A kernel kept open for hours: what one reply leaves behind must not grow with the number of cells."""

from __future__ import annotations

import gc
import tracemalloc

from glm_nb.magics import NotebookSession
from glm_nb.magics.session import KEPT_RECORDS
from glm_nb.magics.views import status_view
from glm_nb.render import Part, Transcript


def _record(index: int) -> Transcript:
    thinking = Part("thinking", f"thinking {index} " * 200)  # GLM-Z1 thinking: the record keeps it, history does not
    return Transcript("z1", "scripted-GLM", f"question {index}", parts=(thinking, Part("text", "42")), answer="42")


def test_the_session_keeps_only_the_latest_records_however_many_replies():
    session = NotebookSession()
    tracemalloc.start()
    for index in range(KEPT_RECORDS):
        session.add_record(_record(index))
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]

    for index in range(KEPT_RECORDS, 3 * KEPT_RECORDS):
        session.add_record(_record(index))
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert len(session.transcripts) == KEPT_RECORDS
    assert grown / (2 * KEPT_RECORDS) < 200  # bytes kept per reply past the limit (a record here is ~3.5 KB)
    assert session.last().prompt == f"question {3 * KEPT_RECORDS - 1}"
    assert f"replies this session: {3 * KEPT_RECORDS}" in status_view(session)._repr_mimebundle_()["text/plain"]


def test_status_counts_the_replies_of_the_cells(kernel):
    kernel.use(["\nOne.", "\nTwo."])

    kernel.run("%%glm\nFirst?")
    kernel.run("%%glm\nSecond?")
    outputs = kernel.run("%glm status")

    assert "replies this session: 2" in outputs[-1]["data"]["text/plain"]
    assert kernel.session.last().answer == "Two."
