"""DecodeQueue: one holder at a time, first come first served, bounded, and a waiter can leave."""

from __future__ import annotations

import socket
import threading

import pytest

from glm_nb.serve import DecodeQueue, ServerBusyError
from glm_nb.serve.queue import ClientGone, watch_peer


def _wait_until(predicate) -> None:
    done = threading.Event()
    for _ in range(2000):  # bounded: at most ~20 s
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError("condition never held")


def test_waiters_take_turns_in_arrival_order():
    queue = DecodeQueue(max_waiting=8)
    order: list[int] = []
    release = threading.Event()

    def work(n: int) -> None:
        with queue.turn(threading.Event()):
            order.append(n)
            if n == 0:
                release.wait(10)

    threads = [threading.Thread(target=work, args=(0,))]
    threads[0].start()
    _wait_until(lambda: queue.busy)
    for n in range(1, 5):
        threads.append(threading.Thread(target=work, args=(n,)))
        threads[-1].start()
        _wait_until(lambda n=n: queue.waiting == n)
    release.set()
    for thread in threads:
        thread.join(10)

    assert order == [0, 1, 2, 3, 4]


def test_a_full_queue_refuses_with_a_busy_error():
    queue = DecodeQueue(max_waiting=0)

    with queue.turn(threading.Event()):
        with pytest.raises(ServerBusyError, match="--max-queue"):
            with queue.turn(threading.Event()):
                pass


def test_a_cancelled_waiter_leaves_and_the_next_one_goes():
    queue = DecodeQueue(max_waiting=4)
    gone, outcome = threading.Event(), []

    def wait_then_leave() -> None:
        try:
            with queue.turn(gone):
                outcome.append("ran")
        except ClientGone:
            outcome.append("left")

    with queue.turn(threading.Event()):
        thread = threading.Thread(target=wait_then_leave)
        thread.start()
        _wait_until(lambda: queue.waiting == 1)
        gone.set()
        thread.join(10)
        assert queue.waiting == 0
    with queue.turn(threading.Event()):
        pass

    assert outcome == ["left"]


def test_a_closed_queue_refuses():
    queue = DecodeQueue()
    queue.close()

    with pytest.raises(ServerBusyError, match="shutting down"):
        with queue.turn(threading.Event()):
            pass


def test_a_hang_up_after_stray_bytes_past_the_body_is_still_noticed():
    """A client that sent a CRLF (or a pipelined request) after its body, then hung up: the bytes it left must not
    hide the end of the stream, or its abandoned generation runs on to max_tokens."""
    server_side, client_side = socket.socketpair()
    cancel = threading.Event()
    watcher = threading.Thread(target=watch_peer, args=(server_side, cancel), daemon=True)
    watcher.start()

    client_side.sendall(b"\r\n")
    client_side.close()
    noticed = cancel.wait(10)  # bounded: a watcher blind to the hang-up never sets it

    cancel.set()
    watcher.join(5)
    server_side.close()
    assert noticed
