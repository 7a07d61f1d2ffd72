"""The magics' lines, parsed once at the boundary into typed frozen values (after jupyter-ai's magics).

IPython's `magic_arguments` builds the parsers and their help texts, which are also the magics' docstrings, so
`%%glm?` and `%%glm --help` show the same thing. Lines are split as a shell splits them (`_split`): quotes group
words and go away, `--system "Be brief."`, `%glm_model "~/my models/glm4"`.
"""

from __future__ import annotations

import argparse
import dataclasses
import keyword
import math
import os
import shlex
from dataclasses import dataclass
from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument
from IPython.utils.process import arg_split

from ..engine import PRECISIONS, SamplingParams
from ..models.hub import SOURCES
from ..render import OUTPUT_FORMATS, OutputFormat, ThinkingDisplay

__all__ = [
    "CELL_HELP",
    "GLM_LINE_HELP",
    "MODEL_HELP",
    "VARIANTS",
    "GlmCellArgs",
    "GlmLineArgs",
    "ModelArgs",
    "parse_cell_line",
    "parse_glm_line",
    "parse_model_line",
]

VARIANTS = ("chat", "z1", "rumination")


@dataclass(frozen=True)
class GlmCellArgs:
    """The options of one `%%glm` / `%%glm_z1` / `%%glm_rumination` cell. None means "the default"."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    system: str | None = None
    new: bool = False
    tools: tuple[str, ...] | None = None  # None: keep the conversation's tools; (): no tools
    output_format: OutputFormat | None = None
    output: str | None = None  # a variable name for the answer
    thinking: ThinkingDisplay | None = None
    corpus: str | None = None
    help: bool = False
    raw: bool = False  # send the cell as written: no `{name}` substitution
    drop_old_turns: bool | None = None  # a full context drops the oldest turns instead of refusing the cell

    def sampling(self, base: SamplingParams) -> SamplingParams:
        """`base` with this cell's sampling options applied (raises ValueError on a bad value)."""
        changes = {
            name: value
            for name in ("temperature", "top_p", "top_k", "max_new_tokens", "seed")
            if (value := getattr(self, name)) is not None
        }
        return dataclasses.replace(base, **changes)

    def given(self) -> dict[str, Any]:
        """The options set: unset ones are None, flags False (by identity: a given 0 counts, though 0 == False; a
        setting whose unset value is None counts when False, e.g. `--drop-old-turns off`)."""
        return {
            f.name: v
            for f in dataclasses.fields(self)
            if (v := getattr(self, f.name)) is not None and not (v is False and f.default is False)
        }

    def over(self, defaults: GlmCellArgs) -> GlmCellArgs:
        """These options, with `defaults` (from `%glm config`) filling what this cell leaves unset."""
        changes = {
            f.name: getattr(defaults, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is None and getattr(defaults, f.name) is not None
        }
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ModelArgs:
    """`%glm_model [MODEL] [options]`: MODEL is a local folder or a hub id; none means nano-GLM."""

    model: str | None = None
    source: str = "huggingface"
    device: str = "auto"
    precision: str | None = None
    context: int | None = None
    variant: str = "all"
    help: bool = False
    remote: str | None = None  # an OpenAI-compatible server's URL; MODEL then names the tokenizer source
    served_model: str | None = None  # --model: the served model's name on that server
    api_key_env: str | None = None  # the environment variable holding the server's API key
    timeout: float | None = None  # --remote: seconds to wait for the server (None: the backend's default)


@dataclass(frozen=True)
class GlmLineArgs:
    """`%glm [status|config|history|reset] [options]`."""

    command: str = "status"
    variant: str | None = None
    settings: GlmCellArgs = GlmCellArgs()
    help: bool = False
    clear: bool = False  # config: forget the defaults set so far


# -- argument types: a bad value is refused when the line is parsed, with the reason ---------------------------
def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number such as 0.6, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, such as 600, got {text!r}")
    return value


def _seed(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a seed is a whole number >= 0, got {text!r}")
    return int(text)


def _variable(text: str) -> str:
    if not text.isidentifier() or keyword.iskeyword(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name (e.g. -o answer)")
    if text.startswith("__") and text.endswith("__"):  # -o __builtins__ would replace the kernel's builtins
        raise argparse.ArgumentTypeError(f"{text!r} is one of Python's own names; choose another (e.g. -o answer)")
    return text


# -- parsers: each decorated function exists only to carry its parser and help text -------------------------------
def _sampling_arguments(func):
    for deco in reversed(
        [
            argument("-t", "--temperature", type=_number, help="Sampling temperature; 0 is greedy."),
            argument("--top-p", type=_number, dest="top_p", help="Nucleus sampling: keep this probability mass."),
            argument("--top-k", type=int, dest="top_k", help="Keep the k most likely tokens (0: off)."),
            argument(
                "-n",
                "--max-new-tokens",
                type=int,
                dest="max_new_tokens",
                help="Most tokens to generate at a time (after a tool call's result the model goes on with as many).",
            ),
            argument("--seed", type=_seed, help="Random seed (>= 0), for a reproducible sample."),
            argument("-s", "--system", help="System prompt of the conversation (kept for its later cells)."),
            argument(
                "-f",
                "--format",
                dest="output_format",
                choices=OUTPUT_FORMATS,
                help="How to show the answer: markdown (default), text, code (the code goes into the next cell, "
                "never run), html (sandboxed frame), svg (sanitized), json (parsed; -o stores the value).",
            ),  # fmt: skip
            argument(
                "--thinking",
                choices=("collapsed", "shown", "hidden"),
                help="How to show thinking: hidden leaves it out of the output and the saved notebook (the kernel "
                "keeps it: glm_nb.last().thinking).",
            ),  # fmt: skip
            argument(
                "--drop-old-turns",
                dest="drop_old_turns",
                nargs="?",
                const="on",
                choices=("on", "off"),
                help="When the conversation fills the model's context, drop its oldest turns (each whole, the "
                "system prompt and tools kept) instead of refusing the cell; the reply says how many went. "
                "`%%glm config --drop-old-turns` does it for every later cell, `... off` stops it.",
            ),  # fmt: skip
        ]
    ):
        func = deco(func)
    return func


@magic_arguments.magic_arguments(name="%glm, %%glm_z1, %%glm_rumination")
@argument("-h", "--help", action="store_true", help="Show this help.")
@_sampling_arguments
@argument("--new", action="store_true", help="Start a fresh conversation with this cell.")
@argument("--raw", action="store_true", help="Send the cell exactly as written: `{name}` is not replaced.")
@argument(
    "--tools",
    help="Comma-separated names of @glm_nb.tool functions (or plain typed functions) in the notebook the model may "
    "call; kept for later cells; 'none' removes them.",
)
@argument(
    "-o", "--output", type=_variable, help="Store the answer in this variable (the parsed value with --format json)."
)
@argument(
    "--corpus", help="%%%%glm_rumination: the folder of documents to research (text, markdown, HTML, notebooks)."
)
def _glm_cell(line):
    """Ask the model. `%%glm` chats with GLM-4, `%%glm_z1` reasons first (GLM-Z1), `%%glm_rumination` researches
    a local corpus. The cell is the prompt; `{name}` inserts a notebook variable (`{{` and `}}` write braces).
    Consecutive cells form one conversation; re-running a cell replaces its turn. Interrupt the kernel to stop
    generating: the partial answer is kept, marked interrupted."""


@magic_arguments.magic_arguments(name="glm_model")
@argument("-h", "--help", action="store_true", help="Show this help.")
@argument("model", nargs="?", help="A local checkpoint or converted folder, or a hub id such as THUDM/GLM-4-9B-0414.")
@argument("--source", choices=SOURCES, help="The hub to download from (default huggingface).")
@argument("--device", choices=("auto", "cuda", "cpu"), help="Where to run (default auto).")
@argument(
    "--precision",
    choices=PRECISIONS,
    help="Weights precision when converting (default bf16 on CUDA, fp32 on the CPU).",
)
@argument("--context", type=int, help="Tokens the KV cache holds (default: the model's, at most 8192); with "
          "--remote, the context when the server does not report one (or less than it reports).")  # fmt: skip
@argument(
    "--variant", choices=(*VARIANTS, "all"), default="all",
    help="Which magics use this model (default all; e.g. --variant z1 for a GLM-Z1 checkpoint).",
)  # fmt: skip
@argument("--remote", metavar="URL", help="Use a model served by an OpenAI-compatible server (vLLM, SGLang, "
          "glm-nb serve) at URL, e.g. http://gpu-box:8000/v1; MODEL is then where its tokenizer comes from (a "
          "folder or hub id; default: the served model's name).")  # fmt: skip
@argument("--model", dest="served_model", metavar="NAME", help="--remote: the served model's name (default: the "
          "server's first).")  # fmt: skip
@argument("--api-key-env", dest="api_key_env", metavar="NAME", help="--remote: the environment variable that "
          "holds the server's API key.")  # fmt: skip
@argument("--timeout", type=_seconds, metavar="SECONDS", help="--remote: how long to wait for the server to "
          "connect and for each streamed piece (default 120).")  # fmt: skip
def _glm_model(line):
    """Load a model for the magics and the chat panel. Without a model: the bundled nano-GLM, a tiny demo model
    (not GLM-4). A checkpoint is converted to ONNX once and cached; hub ids are downloaded with a progress bar."""


@magic_arguments.magic_arguments(name="glm")
@argument("-h", "--help", action="store_true", help="Show this help.")
@argument("command", nargs="?", default="status", choices=("status", "config", "history", "reset"))
@argument("--variant", choices=VARIANTS, help="status / history / reset: only this conversation.")
@argument(
    "--clear",
    action="store_true",
    help="config: forget the defaults set so far (the options given with it are the new ones), so that cells use "
    "each model's own sampling again, unseeded.",
)
@_sampling_arguments
def _glm_line(line):
    """`%glm status` shows the models and conversations; `%glm config [options]` sets defaults for later cells
    (e.g. `%glm config -t 0.2 --thinking hidden`), `%glm config --clear` forgets them; `%glm history` shows the
    conversations; `%glm reset` forgets them."""


CELL_HELP = _glm_cell.__doc__ or ""
MODEL_HELP = _glm_model.__doc__ or ""
GLM_LINE_HELP = _glm_line.__doc__ or ""


def _tools(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if "none" in names and len(names) > 1:
        raise UsageError("--tools none means no tools: give it alone, or list only the tools to use.")
    return () if names in ((), ("none",)) else names


def _parse(magic, line: str) -> argparse.Namespace:
    """The magic's parser over `line` split as a shell splits it. (IPython's own parse_argstring splits with
    posix=False, which keeps the quotes: `-s 'Be brief.'` sent the quotes to the model and a quoted path with a
    space could not be opened at all.)"""
    return magic.parser.parse_args(_split(line))


def _split(line: str) -> list[str]:
    if os.name == "nt":  # Windows paths keep their backslashes; quotes around a word still go
        return [w[1:-1] if len(w) > 1 and w[0] == w[-1] and w[0] in "'\"" else w for w in arg_split(line)]
    try:
        return shlex.split(line)
    except ValueError as e:  # "No closing quotation"
        raise UsageError(f"{e}: close the quote, or escape it with a backslash.") from None


def parse_cell_line(line: str) -> GlmCellArgs:
    """Raises IPython's UsageError (with the problem) on a bad line."""
    ns = _parse(_glm_cell, line)
    return GlmCellArgs(
        ns.temperature, ns.top_p, ns.top_k, ns.max_new_tokens, ns.seed, ns.system, ns.new, _tools(ns.tools),
        ns.output_format, ns.output, ns.thinking, ns.corpus, ns.help, ns.raw, _on_off(ns.drop_old_turns),
    )  # fmt: skip


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


MIN_CONTEXT = 16  # tokens: below this not even a short prompt and its answer fit


def parse_model_line(line: str) -> ModelArgs:
    ns = _parse(_glm_model, line)
    if ns.context is not None and ns.context < MIN_CONTEXT:
        raise UsageError(
            f"--context is the tokens the KV cache holds: give at least {MIN_CONTEXT}, got {ns.context}."
        )
    _refuse_misplaced_options(ns)
    return ModelArgs(
        ns.model, ns.source or "huggingface", ns.device or "auto", ns.precision, ns.context, ns.variant, ns.help,
        ns.remote, ns.served_model, ns.api_key_env, ns.timeout,
    )  # fmt: skip


def _refuse_misplaced_options(ns: argparse.Namespace) -> None:
    """Options that mean something only with --remote, or only without it, or only with a MODEL to download:
    refused rather than ignored."""
    if ns.remote is None and ns.model is None and ns.source is not None:
        raise UsageError(
            f"--source {ns.source} names the hub MODEL is downloaded from, and no MODEL is given (without one, "
            f"nano-GLM loads from this install). Give a hub id, e.g. `%glm_model THUDM/GLM-4-9B-0414 --source "
            f"{ns.source}`."
        )
    if ns.remote is None:
        for flag, value in (
            ("--model", ns.served_model),
            ("--api-key-env", ns.api_key_env),
            ("--timeout", ns.timeout),
        ):
            if value is not None:
                raise UsageError(
                    f"{flag} only means something with --remote URL (a model on a server). To load a checkpoint "
                    "here, give it as MODEL, e.g. `%glm_model THUDM/GLM-4-9B-0414`."
                )
        return
    for flag, value in (("--device", ns.device), ("--precision", ns.precision)):
        if value is not None:
            raise UsageError(
                f"With --remote the server chooses {flag[2:]} (start it with the setting you want); leave {flag} out."
            )
    if ns.source == "modelscope":
        raise UsageError(
            "With --remote, MODEL names where the tokenizer comes from: a local folder or a Hugging Face hub id, "
            "not ModelScope. Download the checkpoint's tokenizer.json and tokenizer_config.json from ModelScope "
            "into a folder and give that folder as MODEL."
        )


def parse_glm_line(line: str) -> GlmLineArgs:
    ns = _parse(_glm_line, line)
    settings = GlmCellArgs(
        ns.temperature, ns.top_p, ns.top_k, ns.max_new_tokens, ns.seed, ns.system,
        output_format=ns.output_format, thinking=ns.thinking, drop_old_turns=_on_off(ns.drop_old_turns),
    )  # fmt: skip
    return GlmLineArgs(ns.command, ns.variant, settings, ns.help, ns.clear)
