"""`StepRunner`: how one Generator runs the graph: its KV cache, the buffers and IOBindings of its steps, and its
CUDA graph id. It knows the ids of the step it is given, not the sequences (those are the Generator's).

Per step the graph sees (B = batch, S = chunk length, right padding between rows of different length):
    input_ids [B, S] int64, seqlens_k [B] int32 (= total length - 1), total_sequence_length [] int32,
    logits_index [B, 1] int64 (last real position of each row in the chunk), position_ids [B, S] (only for
    graphs whose rotary runs outside GroupQueryAttention), and the KV buffers [B, Nkv, max_len, D].
Decode binds fixed buffers once and refreshes them in place, so a decode step allocates nothing and keeps every
bound address, as a captured CUDA graph needs (graph_plan.py). Prefill and scoring bind fresh input_ids (and
position_ids) per chunk and run uncaptured.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from .engine import Engine
from .graph_plan import UNCAPTURED, StepPlan, decode_plan, prefill_plan, run_options_entries
from .kv_cache import KVCache

__all__ = ["StepRunner", "StepBuffers"]


class StepBuffers:
    """Fixed-shape inputs/outputs of a decode step, on the engine's device, refreshed in place."""

    def __init__(self, engine: Engine, batch: int, device: str):
        self.device = device
        meta = engine.metadata

        def zeros(shape, dtype) -> ort.OrtValue:
            return ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype), device)

        # Decode inputs have host mirrors: on the CPU the OrtValue wraps the mirror's memory, so writing the mirror
        # is the whole update; on CUDA `push` copies it up (a few bytes a row).
        self.input_ids_host = np.zeros((batch, 1), np.int64)
        self.seqlens_k_host = np.zeros(batch, np.int32)
        self.input_ids = ort.OrtValue.ortvalue_from_numpy(self.input_ids_host, device)
        self.position_ids = zeros((batch, 1), np.int64)
        self.seqlens_k = ort.OrtValue.ortvalue_from_numpy(self.seqlens_k_host, device)
        self.logits_index = zeros((batch, 1), np.int64)  # prefill: last real position of each row's chunk
        self.decode_logits_index = zeros((batch, 1), np.int64)  # decode: always 0 (one token per row)
        # total_sequence_length is a CPU input of GroupQueryAttention even on CUDA.
        self.total_len_host = np.zeros((), np.int32)
        self.total_len = ort.OrtValue.ortvalue_from_numpy(self.total_len_host)
        # On the CPU the step writes the logits straight into this array (no copy to read them).
        self.logits_host = np.zeros((batch, 1, meta.vocab_size), np.float32)
        self.logits = ort.OrtValue.ortvalue_from_numpy(self.logits_host, device)
        k = engine.top_k_output
        self.topk_values = zeros((batch, 1, k), np.float32) if k else None
        self.topk_ids = zeros((batch, 1, k), np.int64) if k else None
        # Top-k graphs converted before 2026-11-29 have no exp-sum output; their top-p draws use a looser bound.
        self.expsum = zeros((batch, 1, 1), np.float32) if "logits_expsum" in meta.outputs else None

    def last_logits(self) -> np.ndarray:
        """[B, V]: the decode logits, a view of the bound buffer on the CPU, a copy from the device on CUDA."""
        return (self.logits_host if self.device == "cpu" else self.logits.numpy())[:, 0, :]

    def push(self, host: np.ndarray, value: ort.OrtValue) -> None:
        """Make the device value equal its host mirror (nothing to do on the CPU, where they share memory)."""
        if self.device != "cpu":
            value.update_inplace(host)


class StepRunner:
    def __init__(self, engine: Engine, batch_size: int, max_length: int, cuda_graph: bool):
        """cuda_graph: run decode steps under a graph id of their own (captured once, then replayed on CUDA)."""
        meta = engine.metadata
        self.engine = engine
        self.max_length = max_length
        self.needs_positions = meta.rotary != "gqa"
        self.cache = KVCache(meta, batch_size, max_length, engine.device)
        self.buf = StepBuffers(engine, batch_size, engine.device)
        self.top_k = engine.top_k_output
        self.decode = self._new_binding(self.buf.decode_logits_index)
        self.decode.bind_ortvalue_input("input_ids", self.buf.input_ids)
        if self.needs_positions:
            self.decode.bind_ortvalue_input("position_ids", self.buf.position_ids)
        self.prefill = self._new_binding(self.buf.logits_index)
        self.graph_id = engine.graph_ids.allocate() if cuda_graph else None  # own buffers, own graph
        self.uncaptured = _run_options(StepPlan(UNCAPTURED, 0))
        self.decode_options = _run_options(StepPlan(self.graph_id, max_length)) if cuda_graph else self.uncaptured

    def _new_binding(self, logits_index: ort.OrtValue | None) -> ort.IOBinding:
        """KV buffers, seqlens_k, total_sequence_length; with a logits_index also the outputs a step is sampled
        from (logits, and the top-k and exp-sum when the graph has them); run_scoring() passes None and binds its
        own."""
        binding = self.engine.session.io_binding()
        self.cache.bind(binding)
        binding.bind_ortvalue_input("seqlens_k", self.buf.seqlens_k)
        binding.bind_ortvalue_input("total_sequence_length", self.buf.total_len)
        if logits_index is not None:
            binding.bind_ortvalue_input("logits_index", logits_index)
            binding.bind_ortvalue_output("logits", self.buf.logits)
            if self.top_k:
                binding.bind_ortvalue_output("topk_values", self.buf.topk_values)
                binding.bind_ortvalue_output("topk_ids", self.buf.topk_ids)
            if self.buf.expsum is not None:
                binding.bind_ortvalue_output("logits_expsum", self.buf.expsum)
        return binding

    def run_decode(self, rows: list[list[int]], kv_len: list[int]) -> None:
        """One step over the last token of each row, whose position is `kv_len` (the tokens before it)."""
        ids = self.buf.input_ids_host  # [B, 1]
        for row, tokens in enumerate(rows):
            ids[row, 0] = tokens[-1]
        self.buf.push(ids, self.buf.input_ids)
        if self.needs_positions:
            self.buf.position_ids.update_inplace(np.array(kv_len, np.int64)[:, None])
        totals = [k + 1 for k in kv_len]
        self._step_inputs(totals, decode_plan(totals, self.graph_id, self.max_length))
        self.engine.session.run_with_iobinding(self.decode, self.decode_options)

    def run_prefill(self, pending: list[list[int]], start: np.ndarray) -> None:
        """One chunk: row r's `pending` tokens at positions start[r], ...; logits of each row's last one."""
        counts = np.array([len(p) for p in pending], np.int64)
        self.buf.logits_index.update_inplace((counts - 1)[:, None])
        self._run_chunk(self.prefill, pending, start)

    def run_scoring(self, ids: list[int], chunk: int) -> np.ndarray:
        """Logits at every position of `ids` (batch 1, from position 0): [len(ids), V] float32, computed `chunk`
        positions a call: ONNX Runtime runs every node, also a top-k graph's tail over all the rows asked for (two
        more tensors the size of their logits), so one call over the whole of a long text would hold three times
        its logits at once. The decode logits buffer then holds the last position's, so that `last_logits()` gives
        them rather than a stale step's."""
        parts = []
        for start in range(0, len(ids), chunk):
            piece = ids[start : start + chunk]
            binding = self._new_binding(None)
            every = ort.OrtValue.ortvalue_from_numpy(np.arange(len(piece), dtype=np.int64)[None], self.buf.device)
            binding.bind_ortvalue_input("logits_index", every)
            binding.bind_output("logits", self.buf.device)  # bound last, so it is the last of get_outputs()
            self._run_chunk(binding, [piece], np.array([start], np.int64))
            parts.append(binding.get_outputs()[-1].numpy()[0])
        logits = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.buf.logits_host[0, 0] = logits[-1]
        self.buf.push(self.buf.logits_host, self.buf.logits)
        return logits

    def _step_inputs(self, totals, plan: StepPlan) -> None:
        """Refresh seqlens_k in place and set total_sequence_length for a step ending at `totals` tokens per row."""
        self.buf.seqlens_k_host[:] = [int(t) - 1 for t in totals]
        self.buf.push(self.buf.seqlens_k_host, self.buf.seqlens_k)
        self.buf.total_len_host[...] = plan.total_length  # CPU OrtValue sharing this array's memory

    def _run_chunk(self, binding: ort.IOBinding, pending: list[list[int]], start: np.ndarray) -> None:
        counts = np.array([len(p) for p in pending], np.int64)
        width = int(counts.max())
        ids = np.full((len(pending), width), self.engine.metadata.pad_id, np.int64)  # [B, S], right padding
        for row, p in enumerate(pending):
            ids[row, : len(p)] = p
        device = self.buf.device
        binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(ids, device))
        if self.needs_positions:
            positions = np.minimum(start[:, None] + np.arange(width)[None], self.max_length - 1)  # [B, S]
            binding.bind_ortvalue_input("position_ids", ort.OrtValue.ortvalue_from_numpy(positions, device))
        totals = start + counts
        self._step_inputs(totals, prefill_plan(totals))
        self.engine.session.run_with_iobinding(binding, self.uncaptured)


def _run_options(plan: StepPlan) -> ort.RunOptions:
    options = ort.RunOptions()
    for key, value in run_options_entries(plan).items():
        options.add_run_config_entry(key, value)
    return options
