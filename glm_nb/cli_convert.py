"""`glm-nb convert SRC -o OUT`: a checkpoint folder or hub id to a glm-nb model folder (engine/conversion.py).

The options of an int4 model are refused with another precision rather than dropped, and SIGTERM or SIGHUP stop
a conversion as Ctrl-C does, so that its cleanup removes the partial folder.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from .cli_output import out as out_line
from .engine import PRECISIONS, convert
from .errors import GlmError
from .models.hub import SOURCES, resolve

__all__ = ["Stopped", "add_convert_parser", "run_convert"]


def add_convert_parser(sub) -> None:
    c = sub.add_parser("convert", help="convert a Hugging Face GLM-4-0414 checkpoint folder to an ONNX model")
    c.add_argument("src", help="checkpoint folder (config.json, *.safetensors, tokenizer files), or a hub id")
    c.add_argument("--source", default="huggingface", choices=SOURCES,
                   help="the hub a model id is downloaded from (default: huggingface)")  # fmt: skip
    c.add_argument(
        "-o", "--output", required=True,
        help="output folder: new, empty, or an earlier conversion (replaced when this one succeeds)",
    )  # fmt: skip
    c.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="fp32 (CPU), fp16/bf16 (CUDA), int4 (MatMulNBits weights)")  # fmt: skip
    c.add_argument("--max-length", type=int, default=None, help="longest sequence (default: the checkpoint's)")
    c.add_argument("--int4-block-size", type=int, default=None,
                   help="int4 quantization block: a power of two >= 16 (32, or 128 on CUDA)")  # fmt: skip
    c.add_argument("--int4-compute", default=None, choices=("fp32", "fp16", "bf16"),
                   help="activation dtype of an int4 model: fp32 for CPU, fp16/bf16 for CUDA")  # fmt: skip
    c.add_argument("--no-int4-lm-head", action="store_true", help="keep lm_head in float in an int4 model")
    c.add_argument(
        "--int4-symmetric", action="store_true",
        help="int4 blocks without zero points (ONNX Runtime's weight-only CUDA kernels need them)",
    )  # fmt: skip
    c.add_argument(
        "--int4-accuracy-level", type=int, default=None, choices=range(5), metavar="{0..4}",
        help="MatMulNBits accuracy_level: 4 = int8 activations on CPU (fast), 0 = unquantized activations",
    )  # fmt: skip
    c.add_argument(
        "--top-k-output", type=int, default=0, metavar="K",
        help="also output the K largest logits per row, so GPU decoding copies K values, not the row",
    )  # fmt: skip
    c.add_argument("--quiet", action="store_true", help="no progress bar")


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived during `glm-nb convert`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise():
    """SIGTERM and SIGHUP raise Stopped while converting, so convert's cleanup removes its partial folder
    (gigabytes for a real model) as it does on Ctrl-C. Here, not in `convert`: a library function must not
    install signal handlers behind its caller's back."""

    def stop(signum, frame):
        raise Stopped(signum)

    names = [name for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]  # no SIGHUP on Windows
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {name: signal.signal(getattr(signal, name), stop) for name in names}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


_INT4_OPTIONS = {  # option: (its attribute, what leaving it out means)
    "--int4-block-size": ("int4_block_size", 32),
    "--int4-compute": ("int4_compute", "fp32"),
    "--int4-accuracy-level": ("int4_accuracy_level", 4),
    "--int4-symmetric": ("int4_symmetric", False),
    "--no-int4-lm-head": ("no_int4_lm_head", False),
}


def _int4_options(args) -> dict:
    """The int4 options with their defaults; given with another precision they are refused, not quietly dropped
    (`--int4-compute fp16` without `--precision int4` made an fp32 model)."""
    given = [option for option, (name, _) in _INT4_OPTIONS.items() if getattr(args, name) is not None
             and getattr(args, name) is not False]  # fmt: skip
    if given and args.precision != "int4":
        raise GlmError(
            f"{given[0]} shapes an int4 model, and this conversion is {args.precision}: add --precision int4, or "
            f"leave {given[0]} out."
        )
    values = {name: default if getattr(args, name) is None else getattr(args, name)
              for name, default in _INT4_OPTIONS.values()}  # fmt: skip
    values["int4_lm_head"] = not values.pop("no_int4_lm_head")
    return values


def _check_sizes(args, int4: dict) -> None:
    """What the options alone decide, refused before a hub id downloads (gigabytes) and in the options' words;
    their upper bounds come from the checkpoint's config, which `convert` checks."""
    if args.max_length is not None and args.max_length < 2:
        raise GlmError(
            f"--max-length must be at least 2 (tokens the longest sequence holds), got {args.max_length}; leave it "
            "out for the checkpoint's own (max_position_embeddings)."
        )
    if args.top_k_output < 0:
        raise GlmError(f"--top-k-output must be 0 (off) or a number of logits, such as 64; got {args.top_k_output}.")
    block = int4["int4_block_size"]
    if block < 16 or block & (block - 1):
        raise GlmError(f"--int4-block-size must be a power of two, 16 or more (32, or 128 on CUDA), got {block}.")


def run_convert(args) -> int:
    int4 = _int4_options(args)
    _check_sizes(args, int4)
    with _signals_raise():
        out = convert(
            resolve(args.src, args.source), args.output, precision=args.precision, max_length=args.max_length,
            top_k_output=args.top_k_output, progress=not args.quiet, **int4,
        )  # fmt: skip
    out_line(str(out))
    return 0
