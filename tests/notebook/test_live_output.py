"""The live display of a `%%glm` cell: what its streaming snapshots and its final record say in the notebook."""

from __future__ import annotations

import time

from glm_nb.render import MIME_TYPE


def test_streaming_snapshots_are_stamped_with_the_time_shown_and_the_final_record_is_not(kernel):
    kernel.use(["Hello there, how are you today?"])
    before = time.time()

    outputs = kernel.run("%%glm\nHi")

    records = [o["data"][MIME_TYPE] for o in outputs if MIME_TYPE in o["data"]]
    streaming = [r for r in records if r["finish_reason"] is None]
    assert streaming  # refresh_s=0: every token was shown while it streamed
    stamps = [r["updated_at"] for r in streaming]
    assert before <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= time.time()
    assert records[-1]["finish_reason"] == "stop" and "updated_at" not in records[-1]
    assert "text/html" in outputs[0]["data"] and "glm_nb" in outputs[0]["metadata"]  # the whole bundle, as before
