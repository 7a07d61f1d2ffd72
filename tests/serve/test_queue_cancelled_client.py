"""DecodeQueue: a request whose client is already gone when its turn comes does not take the model."""

from __future__ import annotations

import threading

from glm_nb.serve import DecodeQueue
from glm_nb.serve.queue import ClientGone


def test_a_client_gone_before_its_turn_does_not_take_the_model():
    """The client hung up while its request was parsed, or in the moment between its last check while waiting and
    its turn: it must not run a prefill (seconds for a long prompt) that nobody will read."""
    queue, gone, outcome = DecodeQueue(), threading.Event(), []
    gone.set()

    try:
        with queue.turn(gone):
            outcome.append("ran")
    except ClientGone:
        outcome.append("left")

    assert outcome == ["left"] and not queue.busy and queue.waiting == 0
