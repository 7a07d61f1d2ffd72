"""What `%glm_model` loads: nano-GLM by default, a local folder, or a hub id downloaded once with a progress bar.

A model here is a `LoadedModel`: the chat `Backend` the magics and the chat panel talk to, and, for our own engine,
the `Engine` (provider, precision, memory). Checkpoints are converted to ONNX once and cached by
`glm_nb.engine.open_model`; hub ids are resolved and downloaded by `glm_nb.models.hub`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from .. import nano
from ..chat import Backend, LocalBackend, RemoteBackend
from ..engine import Engine, open_model
from ..models.hub import Downloader, download, resolve
from ..nano.skills import RUMINATION_SYSTEM as NANO_RUMINATION_SYSTEM
from .options import ModelArgs

__all__ = ["DEFAULT_CONTEXT", "LoadedModel", "ModelCard", "download", "load_model", "nano_checkpoint"]

DEFAULT_CONTEXT = 8192  # KV cache tokens unless --context says otherwise (GLM-4-9B: 40 KiB per token in bf16)
_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


@dataclass(frozen=True)
class LoadedModel:
    label: str
    backend: Backend
    engine: Engine | None = None
    demo: bool = False  # nano-GLM: a demo model, not GLM-4
    z1_template: str | None = None  # a template that forces thinking, when the model has its own Z1 variant
    rumination_system: str | None = None  # the research instruction the model was trained with, if not the default
    origin: str = ""  # the folder or hub id it came from

    def card(self) -> ModelCard:
        return ModelCard(self)


@dataclass(frozen=True)
class ModelCard:
    """What `%glm_model` shows: name, provider, precision, memory; nano-GLM announced as a demo model."""

    model: LoadedModel

    def lines(self) -> list[str]:
        m, lines = self.model, []
        if m.demo:
            lines.append(
                "nano-GLM is a tiny demo model trained for glm-nb, not GLM-4: it knows the GLM-4 prompt format, tool "
                "calls and artifacts, but its answers are toys. Switch with `%glm_model THUDM/GLM-4-9B-0414` or "
                "`%glm_model /path/to/checkpoint`."
            )
        origin = f" (from {m.origin})" if m.origin and m.origin not in m.label else ""  # a served model names it
        lines.append(f"Model: {m.label}{origin}")
        if m.engine is not None:
            meta, engine = m.engine.metadata, m.engine
            lines.append(f"Provider: {engine.provider.replace('ExecutionProvider', '')} · precision {meta.precision}")
            context = m.backend.context_length or meta.max_length
            lines.append(
                f"Memory: weights {_size(_folder_bytes(engine.folder))} · KV cache {_size(_kv_bytes(engine, context))} "
                f"for {context:,} tokens"
            )
            lines.append(f"ONNX model: {engine.folder}")
        elif m.backend.context_length:
            lines.append(f"Context: {m.backend.context_length:,} tokens")
        return lines

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        lines = self.lines()
        items = "".join(f"<div>{html.escape(line)}</div>" for line in lines)
        banner = ' style="border-left:4px solid #e69500;padding-left:8px"' if self.model.demo else ""
        return {"text/plain": "\n".join(lines), "text/html": f'<div class="glm-nb-model"{banner}>{items}</div>'}


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file() and f.suffix in (".onnx", ".data", ""))


def _kv_bytes(engine: Engine, tokens: int) -> int:
    meta = engine.metadata
    # keys and values: [layers][2] x [1, kv_heads, tokens, head_dim]
    return meta.num_layers * 2 * meta.num_kv_heads * tokens * meta.head_dim * _BYTES.get(meta.compute_dtype, 4)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def nano_checkpoint() -> Path:
    """The bundled nano-GLM checkpoint folder (GlmError when this install has none)."""
    return nano.checkpoint_path()


def load_model(args: ModelArgs, *, downloader: Downloader | None = None, progress: bool = True) -> LoadedModel:
    """Open the model `args` names (nano-GLM when none) on our engine, or connect to a served one (`--remote`);
    `downloader` defaults to `download`."""
    if args.remote:
        return _connect(args)
    if args.model is None:
        folder, origin, demo = nano_checkpoint(), "", True
    else:
        folder, origin, demo = resolve(args.model, args.source, downloader or download), args.model, False
    engine = open_model(folder, device=args.device, precision=args.precision, progress=progress)
    context = min(args.context or min(engine.metadata.max_length, DEFAULT_CONTEXT), engine.metadata.max_length)
    backend = LocalBackend.from_engine(engine, max_length=context)
    label = "nano-GLM" if demo else engine.metadata.name
    z1 = nano.chat_template("z1") if demo else None
    research = NANO_RUMINATION_SYSTEM if demo else None
    return LoadedModel(label, backend, engine, demo=demo, z1_template=z1, rumination_system=research, origin=origin)


def _connect(args: ModelArgs) -> LoadedModel:
    """A model on an OpenAI-compatible server; MODEL (if given) is the local folder or hub id of its tokenizer, and
    --context the context when the server does not say (or less than it says)."""
    timeout = {} if args.timeout is None else {"timeout": args.timeout}  # None: the backend's default
    backend = RemoteBackend.connect(
        args.remote,
        api_key_env=args.api_key_env,
        model=args.served_model,
        tokenizer=args.model,
        context_length=args.context,
        **timeout,
    )
    return LoadedModel(f"{backend.name} (served at {args.remote})", backend, origin=args.remote)
