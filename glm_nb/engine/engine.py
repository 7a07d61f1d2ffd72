"""`Engine`: an immutable handle on a converted model: ONNX Runtime session, metadata, tokenizer, template.

The mutable state of a generation (KV cache, tokens) lives in `Generator`; one Engine can serve several
Generators, one at a time per thread (ONNX Runtime sessions are thread-safe for `run`, but a chat UI should
still serialise turns, see the chat layer's lock).
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

from ..errors import MaxLengthError, ModelLoadError
from .graph_plan import GraphIds
from .metadata import ModelMetadata
from .metadata_check import check_metadata
from .tokenizer import Tokenizer, load_chat_template

__all__ = ["Engine", "DEVICES", "INT4_KERNELS", "check_max_length", "check_threads", "cuda_usable"]

log = logging.getLogger(__name__)
DEVICES = ("auto", "cuda", "cpu")
CUDA = "CUDAExecutionProvider"
# onnxruntime and onnxruntime-gpu install the same `onnxruntime` module: uninstalling the CPU wheel alone deletes
# files the GPU wheel wrote too, and a plain install of an installed onnxruntime-gpu does not put them back.
GPU_INSTALL = "`pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'onnxruntime-gpu>=1.23'`"
CPU = "CPUExecutionProvider"
INT4_KERNELS = ("auto", "fpa_intb", "stock")
# ONNX Runtime's switch for MatMulNBits' weight-only kernels (the CUTLASS GEMM and a decode GEMV, fp16 / bf16
# activations): read by each node's constructor when the session is made, from the session config in newer
# versions and from the environment variable in older ones. Both are set, the variable only while the session is
# made.
_FPA_INTB_CONFIG = "ep.cuda.fpa_intb_gemm"
_FPA_INTB_ENV = "ORT_FPA_INTB_GEMM"


@dataclass(frozen=True)
class Engine:
    """A loaded model, immutable: the ORT session, its metadata and tokenizer. Open one with `Engine.load(folder)`
    (a converted folder) or `glm_nb.open_model(path)` (which converts a checkpoint first); generate with
    `Generator(engine, ...)`, which owns the mutable state (tokens, KV cache)."""

    folder: Path
    session: ort.InferenceSession
    metadata: ModelMetadata
    tokenizer: Tokenizer
    chat_template: str | None
    provider: str  # the provider actually running the graph (ORT may silently fall back to CPU)
    cuda_graph: bool = False  # the session may capture decode steps as CUDA graphs (see graph_plan.py)
    int4_kernel: str = "stock"  # which MatMulNBits kernels an int4 model's session was made with (see load)
    graph_ids: GraphIds = field(default_factory=GraphIds, compare=False, repr=False)  # one per Generator
    # The longest sequence the graph runs (what it was converted for); metadata.max_length is the engine's cap,
    # which Engine.load(max_length=) may make smaller. None (an Engine made directly): the metadata's.
    graph_max_length: int | None = None

    def __post_init__(self) -> None:
        if self.graph_max_length is None:  # frozen: set once, here
            object.__setattr__(self, "graph_max_length", self.metadata.max_length)

    @property
    def top_k_output(self) -> int:
        """k when the graph also outputs the k largest logits per row (converted with top_k_output), else 0."""
        spec = self.metadata.outputs.get("topk_values")
        return int(spec[1][-1]) if spec else 0

    @property
    def checkpoint_max_length(self) -> int | None:
        """The checkpoint's max_position_embeddings, past which converting again cannot help (YaRN can); None for a
        conversion by a glm-nb that did not record it."""
        most = self.metadata.source.get("max_position_embeddings") if isinstance(self.metadata.source, dict) else None
        return most if isinstance(most, int) and not isinstance(most, bool) else None

    @property
    def device(self) -> str:
        return "cuda" if self.provider == CUDA else "cpu"

    @property
    def stop_ids(self) -> tuple[int, ...]:
        return self.metadata.stop_ids

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        device: str = "auto",
        *,
        threads: int | None = None,
        cuda_graph: bool = False,
        int4_kernel: str = "auto",
        max_length: int | None = None,
    ) -> Engine:
        """Open a model folder made by `glm_nb.convert`. device: "auto" (CUDA when usable), "cuda" or "cpu".

        max_length: the longest sequence (tokens) this engine's Generators may hold, at most what the folder was
        converted for (None: that). A smaller one becomes `metadata.max_length`, which a Generator's limit and its
        default KV cache (at most DEFAULT_CONTEXT tokens) and `describe()` follow (`graph_max_length` keeps the
        conversion's, which loading again with a larger max_length gives); a larger one needs a conversion with a
        larger `--max-length`.

        cuda_graph: capture decode steps as CUDA graphs (CUDA only; see Generator). Every node must then run on the
        CUDA provider, which holds for fp16 / bf16 / int4-with-fp16-or-bf16 models: GroupQueryAttention has no
        fp32 CUDA kernel.

        int4_kernel (int4 models with fp16 / bf16 activations on CUDA): "fpa_intb" asks ONNX Runtime to repack the
        weights for its weight-only CUTLASS GEMM and decode GEMV; "stock" keeps MatMulNBits' own kernels; "auto"
        (the default) picks stock. The onnxruntime-gpu wheel's fpA_intB build takes only symmetric fp16 block-32
        models (`convert(..., int4_symmetric=True)`; other nodes keep the stock kernels), and on an H200 its GEMV
        was the slower one: 28.3 µs a call against 19.6 µs, 1483 against 1713 tok/s for 4 layers of GLM-4-9B
        (benchmarks/results/gpu_profile-h200-2026-11-28-run2.txt). Ignored elsewhere.
        """
        folder = Path(folder).expanduser()
        if device not in DEVICES:
            raise ModelLoadError(f"Unknown device {device!r}; choose one of {', '.join(DEVICES)}.")
        check_threads(threads)
        check_max_length(max_length)
        meta = ModelMetadata.load(folder)
        model_path = folder / "model.onnx"
        if not model_path.exists():
            raise ModelLoadError(f"{folder} has no model.onnx; convert the checkpoint again.")
        if int4_kernel not in INT4_KERNELS:
            raise ModelLoadError(f"Unknown int4_kernel {int4_kernel!r}; choose one of {', '.join(INT4_KERNELS)}.")
        check_metadata(meta, folder, model_path)  # before the device checks below trust its compute_dtype
        graph_max_length = meta.max_length
        meta = _within(meta, folder, max_length)  # after check_metadata, which compares the file's with the graph
        want_cuda = device == "cuda" or (device == "auto" and cuda_usable())
        if device == "cuda" and CUDA not in ort.get_available_providers():
            raise ModelLoadError(
                "device='cuda' but this onnxruntime has no CUDA provider "
                f"(available: {', '.join(ort.get_available_providers())}). "
                f"Install the GPU build: {GPU_INSTALL}, or use device='cpu'."
            )
        if not want_cuda and meta.compute_dtype != "fp32":
            raise ModelLoadError(
                f"{folder} was converted for CUDA ({meta.compute_dtype} activations) but no CUDA device is usable "
                "here. Convert with `--precision fp32` or `--precision int4` for the CPU."
            )
        if want_cuda and meta.compute_dtype == "fp32":
            if cuda_graph:
                raise ModelLoadError(
                    f"{folder} computes in fp32, and GroupQueryAttention has CUDA kernels for fp16 and bf16 only, so "
                    "its attention would run on the CPU, which CUDA graphs forbid. Convert with `--precision bf16` "
                    "(or fp16, or int4 with `--int4-compute bf16`), or load with cuda_graph=False."
                )
            log.warning("%s computes in fp32: attention will run on the CPU. Convert with --precision bf16.", folder)
        kernel = _int4_kernel(meta, want_cuda, int4_kernel)
        session = _open_session(model_path, want_cuda, threads, cuda_graph, kernel == "fpa_intb")
        provider = session.get_providers()[0]
        if want_cuda and provider != CUDA:
            message = (
                "onnxruntime could not start the CUDA provider and fell back to the CPU "
                "(check the CUDA / cuDNN libraries match your onnxruntime-gpu build)."
            )
            if device == "cuda" or meta.compute_dtype != "fp32":
                raise ModelLoadError(message + " Use device='cpu' with an fp32 or int4 model.")
            log.warning(message)
        tokenizer = Tokenizer(folder / "tokenizer.json")
        graph = cuda_graph and provider == CUDA
        return cls(folder, session, meta, tokenizer, load_chat_template(folder), provider, graph, kernel,
                   graph_max_length=graph_max_length)  # fmt: skip

    def describe(self, context: int | None = None) -> str:
        """One line: name, precision, provider, context (`context`: a generator's, when smaller than the model's)."""
        m = self.metadata
        provider = self.provider.replace("ExecutionProvider", "")
        return f"{m.name} · {m.precision} · {provider} · context {context or m.max_length}"


def check_threads(threads) -> None:
    """Refuse a thread count ONNX Runtime would misread: a negative one it quietly treats as its default, and a
    fraction or a string that its binding rejects with a bare TypeError."""
    if threads is None or (isinstance(threads, numbers.Integral) and not isinstance(threads, bool) and threads >= 0):
        return
    raise ModelLoadError(
        f"threads must be a whole number of CPU threads, 1 or more (0 or None: ONNX Runtime's default, one per "
        f"core), got {threads!r}."
    )


def check_max_length(max_length) -> None:
    """Refuse a context length that is not a whole number of tokens that holds a prompt token and a new one."""
    if max_length is None or (
        isinstance(max_length, numbers.Integral) and not isinstance(max_length, bool) and max_length >= 2
    ):
        return
    raise ModelLoadError(
        f"max_length must be a whole number of tokens, 2 or more (the longest sequence the model's Generators may "
        f"hold), or None for what the model was converted for; got {max_length!r}."
    )


def _within(meta: ModelMetadata, folder: Path, max_length: int | None) -> ModelMetadata:
    """The metadata of an engine whose Generators hold at most `max_length` tokens. The graph runs any sequence up
    to the rows of its rotary caches (its KV inputs have no fixed length: each Generator allocates its own), so
    less needs no conversion; more does."""
    if max_length is None or max_length == meta.max_length:
        return meta
    if max_length > meta.max_length:
        checkpoint_most = meta.source.get("max_position_embeddings") if isinstance(meta.source, dict) else None
        needs_yarn = max_length > checkpoint_most if isinstance(checkpoint_most, int) else None
        if needs_yarn:
            more = (
                f"past the checkpoint's max_position_embeddings ({checkpoint_most}) converting again cannot help: "
                "enable YaRN in its config.json, raise max_position_embeddings with it (the model card's recipe) "
                "and convert it again"
            )
        else:
            more = (
                f"convert the checkpoint again with `glm-nb convert CHECKPOINT -o FOLDER --max-length {max_length}`"
                + (" (the checkpoint's max_position_embeddings permitting)" if needs_yarn is None else "")
                + " and open that folder"
            )
        raise MaxLengthError(
            f"{folder} was converted for sequences of at most {meta.max_length} tokens, so it cannot hold "
            f"max_length={max_length}. Give at most {meta.max_length}, or {more}.",
            asked=max_length, most=meta.max_length, needs_yarn=needs_yarn,
        )  # fmt: skip
    return dataclasses.replace(meta, max_length=max_length)


def _int4_kernel(meta: ModelMetadata, cuda: bool, requested: str) -> str:
    """The MatMulNBits kernels a session gets: the weight-only ones need CUDA and fp16 / bf16 activations."""
    if not (cuda and meta.precision == "int4" and meta.compute_dtype in ("fp16", "bf16")):
        return "stock"
    return "stock" if requested == "auto" else requested


def cuda_usable() -> bool:
    """Whether ONNX Runtime really starts its CUDA provider here (the GPU build lists it even without a GPU)."""
    global _CUDA_USABLE
    if _CUDA_USABLE is None:
        _CUDA_USABLE = CUDA in ort.get_available_providers() and _probe_cuda()
    return _CUDA_USABLE


_CUDA_USABLE: bool | None = None


def _probe_cuda() -> bool:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=[CUDA, CPU])
    except Exception:  # a broken CUDA install: the CPU will do
        return False
    return session.get_providers()[0] == CUDA


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """The environment variable `name` set to `value` inside the block, restored after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _open_session(
    path: Path, cuda: bool, threads: int | None, cuda_graph: bool, fpa_intb: bool = False
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers: list = [CPU]
    if cuda:
        # Weights go straight to cudaMalloc, outside the arena, and the arena grows by what is asked rather than to
        # the next power of two, so the memory a model holds is close to what it needs (14.3 GiB for the 10.6 GB
        # 20-layer bf16 suite model with an 8k KV cache, on the H200).
        options.add_session_config_entry("session.use_device_allocator_for_initializers", "1")
        options.add_session_config_entry(_FPA_INTB_CONFIG, "1" if fpa_intb else "0")
        cuda_options = {"enable_cuda_graph": "1" if cuda_graph else "0", "arena_extend_strategy": "kSameAsRequested"}
        providers = [(CUDA, cuda_options), CPU]
    try:
        with _environment(_FPA_INTB_ENV, "1" if fpa_intb else "0") if cuda else nullcontext():
            return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as e:  # ORT raises its own exception types (Fail, InvalidProtobuf, ...) from pybind
        if cuda and cuda_graph and "graph" in str(e).lower():
            raise ModelLoadError(
                f"onnxruntime cannot capture {path} as CUDA graphs ({str(e)[:300]}): some node has no CUDA kernel "
                "for this model's dtype. Load with cuda_graph=False, or convert with `--precision bf16`."
            ) from e
        raise ModelLoadError(
            f"onnxruntime cannot load {path} ({type(e).__name__}: {str(e)[:300]}). The file is damaged or from an "
            "incompatible version; convert the checkpoint again."
        ) from e
