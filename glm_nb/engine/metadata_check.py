"""Does a folder's `glm_nb.json` describe the `model.onnx` next to it?

The runtime sizes its KV buffers, logits buffer and context from glm_nb.json rather than from the graph. A JSON
edited by hand or copied from another conversion would otherwise fail much later, inside ONNX Runtime, with a
raw binding or kernel error ("cos_cache dimension 0 shall not be less than total_sequence_length"). So
`Engine.load` compares the two first, before it pays for a session.

The graph proto alone is read (`load_external_data=False`): every weight lives in `model.data`, so it is a few
hundred kilobytes even for GLM-4-32B, and it holds what a session's metadata does not: the rows of the rotary
caches (max_length) and whether the weights are MatMulNBits (int4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from ..errors import ModelLoadError
from .metadata import METADATA_FILE, ModelMetadata

__all__ = ["check_metadata", "GraphFacts", "read_graph", "disagreements"]

_COMPUTE_DTYPES = {TensorProto.FLOAT: "fp32", TensorProto.FLOAT16: "fp16", TensorProto.BFLOAT16: "bf16"}
_KV_KEY = re.compile(r"past_key_values\.(\d+)\.key")
_ROTARY_CACHE = "rotary.cos_cache"  # [max_length, rotary_dim / 2], see glm4_graph.py
_SHOWN = 4  # disagreements a message lists before "and N more"


@dataclass(frozen=True)
class GraphFacts:
    """What model.onnx itself says, in glm_nb.json's terms."""

    inputs: dict[str, list]  # name -> [ONNX element type, shape], as glm_nb.json records them
    outputs: dict[str, list]
    rotary_rows: int | None  # rows of the rotary caches: the longest sequence the graph runs
    int4: bool  # its weights are MatMulNBits


def read_graph(model_path: Path) -> GraphFacts:
    """The facts of the graph at `model_path`, without its weights."""
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except (OSError, DecodeError, ValueError) as e:
        raise ModelLoadError(
            f"{model_path} cannot be read as an ONNX model ({type(e).__name__}: {str(e)[:300]}). The file is damaged "
            "or from an incompatible version; convert the checkpoint again."
        ) from e
    graph = model.graph
    rows = [int(t.dims[0]) for t in graph.initializer if t.name == _ROTARY_CACHE and t.dims]
    return GraphFacts(
        inputs=_io_description(graph.input),
        outputs=_io_description(graph.output),
        rotary_rows=rows[0] if rows else None,
        int4=any(node.op_type == "MatMulNBits" for node in graph.node),
    )


def _io_description(values) -> dict[str, list]:
    """{name: [element type, shape]}, a symbolic dimension by its name (conversion.py records the same)."""
    return {
        v.name: [v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]]
        for v in values
    }


def disagreements(meta: ModelMetadata, graph: GraphFacts) -> list[str]:
    """Each field of `meta` that the graph contradicts: "<field> is <the JSON's> there but <the graph's> ..."."""
    found = _field_disagreements(meta, graph)
    for kind, recorded, actual in (("inputs", meta.inputs, graph.inputs), ("outputs", meta.outputs, graph.outputs)):
        found += _io_disagreements(kind, recorded, actual)
    return found


def _field_disagreements(meta: ModelMetadata, graph: GraphFacts) -> list[str]:
    found = []

    def compare(field: str, actual, where: str) -> None:
        if actual is not None and getattr(meta, field) != actual:
            found.append(f"{field} is {getattr(meta, field)!r} there but {actual!r} in the graph ({where})")

    layers = sum(1 for name in graph.inputs if _KV_KEY.fullmatch(name))
    compare("num_layers", layers, "its past_key_values.*.key inputs")
    kv = graph.inputs.get("past_key_values.0.key")  # [element type, [batch, Nkv, max_length, D]]
    kv_type, kv_shape = kv if kv and len(kv[1]) == 4 else (None, [None] * 4)
    compute = _COMPUTE_DTYPES.get(kv_type)
    compare("compute_dtype", compute, "the KV cache's element type")
    compare("num_kv_heads", kv_shape[1], "the KV cache's dimension 1")
    compare("head_dim", kv_shape[3], "the KV cache's dimension 3")
    logits = graph.outputs.get("logits")  # [element type, [batch, num_logits, V]]
    vocab = logits[1][-1] if logits and logits[1] else None
    compare("vocab_size", vocab, "the logits' last dimension")
    compare("max_length", graph.rotary_rows, f"rows of {_ROTARY_CACHE}")
    compare(
        "rotary", "rotary_embedding" if "position_ids" in graph.inputs else "gqa", "whether it takes position_ids"
    )
    compare("precision", "int4" if graph.int4 else compute, "MatMulNBits weights or not, and the compute dtype")
    if isinstance(vocab, int):
        bad = [t for t in (*meta.stop_ids, meta.pad_id) if not (isinstance(t, int) and 0 <= t < vocab)]
        if bad:
            found.append(
                f"stop_ids / pad_id hold {bad[0]!r}, not a token id of the graph's vocabulary (0 to {vocab - 1})"
            )
    return found


def _io_disagreements(kind: str, recorded, actual: dict) -> list[str]:
    if not isinstance(recorded, dict):
        return [f"{kind} is {type(recorded).__name__}, not a mapping of names to [element type, shape]"]
    found = []
    for name in [*actual, *(n for n in recorded if n not in actual)]:
        if name not in recorded:
            found.append(f"{kind} lacks the graph's {name} {_spec(actual[name])}")
        elif name not in actual:
            found.append(f"{kind} lists {name}, which the graph does not have")
        elif recorded[name] != actual[name]:
            found.append(f"{kind} has {name} {_spec(recorded[name])} but the graph {_spec(actual[name])}")
    return found


def _spec(spec) -> str:
    """`float [batch, 2, max_length, 32]` for [1, ["batch", 2, "max_length", 32]]; anything else as it is."""
    try:
        element, shape = spec
        return f"{TensorProto.DataType.Name(element).lower()} [{', '.join(str(d) for d in shape)}]"
    except (TypeError, ValueError):
        return repr(spec)


def check_metadata(meta: ModelMetadata, folder: Path, model_path: Path) -> None:
    """Raise ModelLoadError naming each field of folder's glm_nb.json that the graph at model_path contradicts."""
    graph = read_graph(model_path)
    if "logits" not in graph.outputs or "input_ids" not in graph.inputs:
        raise ModelLoadError(
            f"{model_path} is not a glm-nb graph (it has no input_ids input or no logits output); convert the "
            "checkpoint again."
        )
    found = disagreements(meta, graph)
    if not found:
        return
    more = f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    source = meta.source.get("path") if isinstance(meta.source, dict) else None
    named = f" ({METADATA_FILE} names {source} as the checkpoint)" if source else ""
    raise ModelLoadError(
        f"{folder / METADATA_FILE} does not describe the {model_path.name} next to it: {'; '.join(found[:_SHOWN])}"
        f"{more}. It was edited or comes from another conversion; convert the checkpoint again, which rewrites "
        f"both: `glm-nb convert CHECKPOINT -o {folder}` with the --precision and --max-length you want{named}."
    )
