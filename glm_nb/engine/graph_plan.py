"""CUDA-graph bookkeeping for decode steps, as small pure values so that the CPU tests cover it.

ONNX Runtime's CUDA provider (session option `enable_cuda_graph=1`) captures one graph per value of the run option
`gpu_graph_id`, after a warm-up run with that id, and from then on replays it for every run with the same id.
A replay re-launches the captured kernels with their captured arguments, so:
- every bound input and output must keep its device address and shape (the Generator refreshes its decode
  buffers in place with `OrtValue.update_inplace` and never rebinds them);
- host values read during capture are frozen. GroupQueryAttention reads one: the CPU input
  `total_sequence_length`, from which it sizes its flash-decoding split (how many key blocks each split covers).
  A graph captured at total length t would keep attending to about t positions. Under capture a decode step
  therefore passes the KV buffer's length, the largest total it can ever see (onnxruntime-genai does the same
  with its static `[batch, max_length]` attention mask); the real lengths reach the kernel through the device
  tensor `seqlens_k`, which is refreshed before every replay;
- runs whose shapes change (prefill chunks, scoring) use id -1, "run without capture". A run with no id at all
  would be id 0 and be captured, so uncaptured runs always say -1;
- each Generator owns its KV buffers, so each needs an id of its own: a graph replayed over another generator's
  buffers would read and write memory it no longer owns. `GraphIds` hands out ids once per session.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

__all__ = ["UNCAPTURED", "StepPlan", "GraphIds", "prefill_plan", "decode_plan", "run_options_entries"]

UNCAPTURED = -1  # the gpu_graph_id that means "run normally, capture nothing"


@dataclass(frozen=True)
class StepPlan:
    """How one forward call runs: under which graph id, and what `total_sequence_length` it is given."""

    graph_id: int  # gpu_graph_id run option; UNCAPTURED (-1) = no capture, no replay
    total_length: int  # the value of the CPU input total_sequence_length

    @property
    def captured(self) -> bool:
        return self.graph_id != UNCAPTURED


def prefill_plan(totals) -> StepPlan:
    """A chunk of several tokens (shapes vary): uncaptured, with the real longest total length. `totals`: the
    length of each row after the step (a sequence of ints)."""
    return StepPlan(UNCAPTURED, int(max(totals)))


def decode_plan(totals, graph_id: int | None, buffer_length: int) -> StepPlan:
    """One token per row. With a graph id the step is captured/replayed and must pass the buffer length (see the
    module docstring); without one it runs uncaptured with the real longest total."""
    longest = int(max(totals))
    if graph_id is None:
        return StepPlan(UNCAPTURED, longest)
    if longest > buffer_length:
        raise ValueError(f"total length {longest} exceeds the KV buffer ({buffer_length})")
    return StepPlan(graph_id, int(buffer_length))


def run_options_entries(plan: StepPlan) -> dict[str, str]:
    """The run-config entries for ONNX Runtime's RunOptions (ignored by the CPU provider)."""
    return {"gpu_graph_id": str(plan.graph_id)}


class GraphIds:
    """Hands out `gpu_graph_id` values for one session: 1, 2, 3, ... never reused (0 is what a run without the
    option would get, so it is never handed out). Thread-safe."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def allocate(self) -> int:
        with self._lock:
            return next(self._counter)
