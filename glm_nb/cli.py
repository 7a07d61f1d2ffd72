"""The `glm-nb` command line: convert checkpoints (cli_convert.py), generate text, chat (cli_chat.py), the cache.

glm-nb convert SRC -o OUT [--source huggingface|modelscope] [--precision fp32|fp16|bf16|int4] [--max-length N]
               [--int4-compute fp16] [--int4-accuracy-level 0..4] [--int4-symmetric] [--top-k-output K]
glm-nb generate MODEL (--prompt TEXT | --prompt-ids 1,2,3 | --chat TEXT) [--max-new-tokens N] [--json]
glm-nb chat [MODEL] [--z1] [--system TEXT] [-t T] [-n N] [--context N] ...
glm-nb nano path
glm-nb cache [list [--json] | clear [NAME ...] [--orphaned] [--all] [--dry-run]]
glm-nb serve MODEL [--host 127.0.0.1] [--port 8000] [--api-key-env NAME] [--served-model-name NAME]
             [--max-queue N] [--device auto|cuda|cpu] [--max-length N]

The context length options are refused and advised in cli_context.py; what the commands print goes through
cli_output.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys

from .chat import ChatTemplate, LocalBackend
from .cli_chat import DEVICE_HELP, SEED_HELP, THREADS_HELP, add_chat_parser, run_chat
from .cli_context import check_max_length, check_prompt_fits, more_context, too_much_context
from .cli_convert import Stopped, add_convert_parser, run_convert
from .cli_output import OutputFailed, drop_stdout, out, replace_unencodable_output, writes_utf8
from .engine import PRECISIONS, Engine, Generator, IncrementalDetokenizer, SamplingParams, open_model
from .engine.model_cache import CLEARED_BY_DEFAULT, STATES, cached_models, clear_cache, format_size, models_dir
from .engine.run import generate
from .errors import GlmError, MaxLengthError
from .models.hub import SOURCES
from .nano import checkpoint_path
from .serve import serve

__all__ = ["main"]


def _ids(text: str) -> list[int]:
    """Token ids separated by commas and/or whitespace: "1,2,3", "1 2 3" and "1, 2, 3" are the same three."""
    try:
        return [int(t) for t in re.split(r"[,\s]+", text.strip()) if t]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--prompt-ids wants integers separated by commas or spaces, got {text!r}"
        ) from None


MODEL_HELP = (
    "converted model folder, checkpoint folder, or hub id such as THUDM/GLM-4-9B-0414 (downloaded once; a "
    "checkpoint is converted once and cached)"
)
MAX_LENGTH_HELP = "context (KV cache) length in tokens (default: the model's, at most 8192)"
CUDA_GRAPH_HELP = "capture decode steps as CUDA graphs, on CUDA only (default: on for fp16/bf16 models there)"


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="huggingface", choices=SOURCES,
                        help="the hub a model id is downloaded from (default: huggingface)")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glm-nb", description="GLM-4-0414 models on ONNX Runtime, for Jupyter.")
    sub = parser.add_subparsers(dest="command", required=True)

    add_convert_parser(sub)
    g = sub.add_parser("generate", help="generate text from a converted model or a checkpoint folder")
    g.add_argument("model", help=MODEL_HELP)
    _add_source(g)
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="raw prompt text (no chat template)")
    src.add_argument("--prompt-ids", type=_ids, help="raw prompt token ids, separated by commas or spaces")
    src.add_argument("--chat", help="a user message, rendered with the model's chat template")
    g.add_argument("--max-new-tokens", type=int, default=256, help="the most tokens to generate (default: 256)")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0,
                   help="draw from the likeliest tokens, P of the probability (default: 1 = off)")  # fmt: skip
    g.add_argument("--top-k", type=int, default=0, help="draw from the K most likely tokens (default: 0 = off)")
    g.add_argument("--repetition-penalty", type=float, default=1.0,
                   help="above 1 discourages tokens already in the sequence (default: 1 = off)")  # fmt: skip
    g.add_argument("--seed", type=int, default=None, help=SEED_HELP)
    g.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help=DEVICE_HELP)
    g.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="when MODEL is a checkpoint folder (default: bf16 on CUDA, fp32 on the CPU)")  # fmt: skip
    g.add_argument("--max-length", type=int, default=None, help=MAX_LENGTH_HELP)
    g.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    g.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None, help=CUDA_GRAPH_HELP)
    g.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    add_chat_parser(sub, MODEL_HELP)
    n = sub.add_parser("nano", help="the bundled nano-GLM demo model (~3.4M parameters, not GLM-4)")
    n.add_argument("action", choices=("path",), help="path: print the folder of the bundled checkpoint")
    _add_serve_parser(sub)
    k = sub.add_parser("cache", help="list or clear the conversions cached by open_model, %%glm_model and generate")
    actions = k.add_subparsers(dest="action")  # none: list
    listing = actions.add_parser("list", help="every cached conversion: state, size, precision, context, source")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    clear = actions.add_parser("clear", help="remove the conversions open_model no longer uses (or those named)")
    clear.add_argument("names", nargs="*", metavar="NAME", help="remove these conversions (names as listed)")
    clear.add_argument("--orphaned", action="store_true", help="also conversions whose checkpoint folder is gone")
    clear.add_argument("--all", action="store_true", help="every conversion, current ones too")
    clear.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    return parser


def _add_serve_parser(sub) -> None:
    s = sub.add_parser("serve", help="serve a model over an OpenAI-compatible HTTP API (completions, chat, SSE)")
    s.add_argument("model", help=MODEL_HELP)
    _add_source(s)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (0: any free one, printed at start)")
    s.add_argument(
        "--api-key-env", metavar="NAME",
        help="require 'Authorization: Bearer KEY', with KEY read from the environment variable NAME",
    )  # fmt: skip
    s.add_argument("--served-model-name", help="the model name clients use (default: the model's own)")
    s.add_argument("--max-queue", type=int, default=32, help="requests that may wait for the model (more get 503)")
    s.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help=DEVICE_HELP)
    s.add_argument("--precision", default=None, choices=PRECISIONS, help="when MODEL is a checkpoint folder")
    s.add_argument("--max-length", type=int, default=None, help=MAX_LENGTH_HELP)
    s.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    s.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None, help=CUDA_GRAPH_HELP)
    s.add_argument("--quiet", action="store_true", help="no per-request log lines")


def _serve(args) -> int:
    if not 0 <= args.port <= 65535:  # checked before the model loads, which can take minutes
        raise GlmError(f"--port {args.port}: a port is 0..65535 (0 = any free one).")
    if args.max_queue < 0:
        raise GlmError(f"--max-queue {args.max_queue}: give how many requests may wait, 0 or more.")
    check_max_length(args.max_length)
    api_key = _served_api_key(args.api_key_env)
    engine = _open_engine(args, progress=True)  # a checkpoint's conversion takes minutes: its bar says so
    backend = LocalBackend.from_engine(engine, max_length=args.max_length)
    serve(backend, host=args.host, port=args.port, model_name=args.served_model_name, api_key=api_key,
          max_queue=args.max_queue, quiet=args.quiet)  # fmt: skip
    return 0


def _open_engine(args, progress: bool) -> Engine:
    """open_model with the options generate and serve share; --cuda-graph where nothing captures it is refused
    rather than ignored."""
    _refuse_cuda_graph_on_cpu(args.cuda_graph, args.device)  # before a load that can take minutes
    try:  # --max-length caps the engine; one beyond the model is refused before a download or a conversion
        engine = open_model(args.model, source=args.source, device=args.device, precision=args.precision,
                            max_length=args.max_length, threads=args.threads, cuda_graph=args.cuda_graph,
                            progress=progress)  # fmt: skip
    except MaxLengthError as e:  # its advice names open_model's Python argument
        raise GlmError(too_much_context(e, "--max-length")) from e
    _refuse_cuda_graph_on_cpu(args.cuda_graph, engine.device)  # --device auto found no usable GPU
    return engine


def _refuse_cuda_graph_on_cpu(asked: bool | None, device: str) -> None:
    if asked and device == "cpu":
        raise GlmError(
            "--cuda-graph captures decode steps on a CUDA GPU, and this model runs on the CPU: leave it out, or run "
            "on a GPU (--device cuda, with onnxruntime-gpu)."
        )


def _served_api_key(env: str | None) -> str | None:
    """The key `--api-key-env` names, without the whitespace around it, as RemoteBackend reads the same variable
    (a key read from a file keeps its line break); refused when HTTP could not carry it in a Bearer header."""
    if not env:
        return None
    key = os.environ.get(env, "").strip()
    if not key:
        raise GlmError(f"--api-key-env {env}: that environment variable is empty; set it to the key")
    if any(not "!" <= c <= "~" for c in key):  # never shown: the message names the variable, not the key
        raise GlmError(
            f"--api-key-env {env}: the key holds a space, a control or a non-ASCII character, which no client can "
            "send in an 'Authorization: Bearer KEY' header; set it to printable ASCII, e.g. $(openssl rand -hex 16)."
        )
    return key


def _cache(args) -> int:
    if args.action != "clear":
        return _cache_list(getattr(args, "json", False))
    if args.all and (args.names or args.orphaned):
        raise GlmError("--all removes every conversion: give it alone, or name conversions instead.")
    if args.names and args.orphaned:
        raise GlmError("Name conversions or pass --orphaned, not both.")
    states = STATES if args.all else CLEARED_BY_DEFAULT + (("orphaned",) if args.orphaned else ())
    verb = "would remove" if args.dry_run else "removed"

    def say(entry) -> None:  # as each goes: a failure partway still shows what was removed before it
        out(f"{verb} {entry.name} ({entry.state}, {format_size(entry.size)})")

    removed = clear_cache(args.names, states=states, dry_run=args.dry_run, on_removed=say)
    total = sum(e.size for e in removed)
    out(f"{'would free' if args.dry_run else 'freed'} {format_size(total)}" if removed else "nothing to remove")
    return 0


def _cache_list(as_json: bool) -> int:
    entries = cached_models()
    if as_json:
        out(json.dumps({"folder": str(models_dir()), "conversions": [
            {"name": e.name, "state": e.state, "size": e.size, "source": e.source, "precision": e.precision,
             "max_length": e.max_length, "why": e.why} for e in entries
        ]}, ensure_ascii=not writes_utf8(sys.stdout)))  # fmt: skip
        return 0
    total, links = sum(e.size for e in entries), sum(e.state == "alias" for e in entries)
    made = len(entries) - links  # an alias is a second name for one of them, not a conversion of its own
    named = f" (and {links} alias{'es' * (links != 1)}, a link to one)" if links else ""
    out(f"{models_dir()}: {made} conversion{'s' * (made != 1)}{named}, {format_size(total)} "
        "(set GLM_NB_CACHE to move the cache)")  # fmt: skip
    if not entries:
        return 0
    out(f"{'state':<11}{'size':>9}  {'precision':<10}{'context':>8}  name")
    for e in entries:
        context = str(e.max_length) if e.max_length else ""
        out(f"{e.state:<11}{format_size(e.size):>9}  {e.precision or '':<10}{context:>8}  {e.name}")
        out(f"{'':<11}{'':>9}  {e.why or 'from ' + str(e.source)}")
    freed = [e for e in entries if e.state in CLEARED_BY_DEFAULT]
    orphaned = [e for e in entries if e.state == "orphaned"]
    if freed:
        out(f"`glm-nb cache clear` frees {format_size(sum(e.size for e in freed))} ({len(freed)} no longer used).")
    if orphaned:
        out(f"`glm-nb cache clear --orphaned` also removes {len(orphaned)} whose checkpoint is gone "
            f"({format_size(sum(e.size for e in orphaned))}); they still load by their own path.")  # fmt: skip
    unknown = [e for e in entries if e.state == "unknown"]
    if unknown:
        out(f"{len(unknown)} from an older glm-nb cannot be matched to a checkpoint; "
            "`glm-nb cache clear NAME` removes one you no longer use.")  # fmt: skip
    return 0


def _chat_prompt(engine, text: str) -> str:
    if not engine.chat_template:
        raise GlmError(f"{engine.folder} has no chat template; use --prompt with the raw prompt text instead.")
    return ChatTemplate(engine.chat_template).render([{"role": "user", "content": text}])


def _check_lengths(args) -> None:
    """Length options, checked before the model loads (which can take minutes) and worded for the command line."""
    if args.max_new_tokens < 1:
        raise GlmError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}.")
    check_max_length(args.max_length)


def _check_prompt_ids(prompt: list[int], vocab: int) -> None:
    """The Generator's refusal names its Python way out (engine.tokenizer.encode); here the options."""
    bad = [t for t in prompt if not 0 <= t < vocab]
    if bad:
        raise GlmError(
            f"--prompt-ids: token id {bad[0]} is outside this model's vocabulary (ids 0 to {vocab - 1}); give ids "
            "from this model's tokenizer, or pass the text with --prompt or --chat."
        )


def _generate(args) -> int:
    _check_lengths(args)
    sampling = SamplingParams(  # refused (SamplingError) before the model loads, which can take minutes
        temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        repetition_penalty=args.repetition_penalty, seed=args.seed, max_new_tokens=args.max_new_tokens,
    )  # fmt: skip
    engine = _open_engine(args, progress=not args.json)
    if args.prompt_ids is not None:
        prompt = args.prompt_ids
        _check_prompt_ids(prompt, engine.metadata.vocab_size)
    else:
        text = args.prompt if args.prompt is not None else _chat_prompt(engine, args.chat)
        prompt = engine.tokenizer.encode(text)
    gen = Generator(engine, sampling, max_length=args.max_length)
    check_prompt_fits(prompt, gen, engine)
    stream = _TextStream(engine, shown=not args.json)
    try:
        result = generate(gen, prompt, on_token=stream)
    except KeyboardInterrupt:
        stream.end_line()  # so that main's "interrupted" (stderr) starts a line of its own on a terminal
        raise
    text_ids = result.token_ids[:-1] if result.stopped_on is not None else result.token_ids
    if args.json:
        out(json.dumps({
            "token_ids": result.token_ids,
            "text": engine.tokenizer.decode(text_ids).rstrip("\ufffd"),  # as streamed: no character cut in two
            "prompt_tokens": result.prompt_tokens,
            "ttft_ms": round(result.ttft_ms, 3),
            "decode_tok_s": round(result.decode_tok_s, 2),
            "provider": engine.provider,
            "finish_reason": result.finish_reason,
        }, ensure_ascii=not writes_utf8(sys.stdout)))  # fmt: skip
    else:
        stream.finish()
        print(
            f"[{engine.describe(context=gen.max_length)}] prompt {result.prompt_tokens} tokens, "
            f"{len(result.token_ids)} new, TTFT {result.ttft_ms:.1f} ms, {result.decode_tok_s:.1f} tok/s",
            file=sys.stderr,
        )
    if result.finish_reason == "context" and not args.json:
        print(_context_full(gen, engine, len(result.token_ids)), file=sys.stderr)
    return 0


class _TextStream:
    """The generated text on stdout as it comes (none with --json), ending its last line when generation ends or
    is interrupted."""

    def __init__(self, engine: Engine, shown: bool):
        self._detok = IncrementalDetokenizer(engine.tokenizer)
        self._stops = set(engine.stop_ids)
        self._shown = shown
        self._line_open = False  # text is on stdout after the last line break

    def __call__(self, token: int) -> None:
        text = self._detok.add(token) if self._shown and token not in self._stops else ""
        if text:
            out(text, end="")
            self._line_open = not text.endswith("\n")

    def end_line(self) -> None:
        """A line break after the text when its last line is unfinished; none after one that ended (no blank line)
        and none when nothing was shown."""
        if self._line_open:
            out("")
            self._line_open = False

    def finish(self) -> None:
        """What the detokenizer still holds (a character cut in two by the end is left out), then a line break."""
        out(self._detok.flush(drop_partial=True))
        self._line_open = False


def _context_full(gen: Generator, engine: Engine, new: int) -> str:
    """Why fewer tokens came than --max-new-tokens asked for, and how to get more."""
    return (
        f"glm-nb: stopped after {new} of --max-new-tokens {gen.sampling.max_new_tokens}: the context "
        f"({gen.max_length} tokens) is full; shorten the prompt, or {more_context(gen, engine)}."
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    replace_unencodable_output()
    try:
        if args.command == "nano":
            out(str(checkpoint_path()))
            return 0
        if args.command == "serve":
            return _serve(args)
        if args.command == "cache":
            return _cache(args)
        if args.command == "chat":
            return run_chat(args)
        if args.command == "convert":
            return run_convert(args)
        return _generate(args)
    except GlmError as e:
        if isinstance(e, OutputFailed):
            drop_stdout()
        print(f"glm-nb: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glm-nb: interrupted", file=sys.stderr)
        return 130
    except Stopped as e:
        print(f"glm-nb: stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum  # what the shell reports for a process the signal ended
    except BrokenPipeError:
        # The reader of stdout went away (`glm-nb generate ... | head`): stop quietly, as cat and grep do, and exit
        # 141 (128 + SIGPIPE), the status a shell reports for a writer the pipe ended, so `set -o pipefail` scripts
        # still see it.
        drop_stdout()
        return 141
