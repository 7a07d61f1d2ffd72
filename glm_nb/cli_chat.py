"""`glm-nb chat [MODEL]`: a conversation in the terminal, streamed, on the same engine and chat layer as `%%glm`.

Without MODEL it talks to the bundled nano-GLM (announced as the demo model it is). Each line is a message;
`\"\"\"` on a line of its own starts and ends a message of several lines (never read as a command; one the input
ends inside is not sent, and the chat says so). Commands, typed at the start of a line: `/reset`, `/save FILE`,
`/load FILE` (a file /save wrote, to go on with), `/help`, `/exit`; a line starting with a space is always a
message. Ctrl-C stops a reply (the partial answer stays in the history, marked interrupted, as in a notebook) and
the conversation goes on; in a message of several lines it drops that message; at the prompt it leaves, as Ctrl-D
does. GLM-Z1's thinking (`--z1`, or a Z1 checkpoint's own template) streams dimmed before the answer. Once the
conversation fills the context a message is refused, unless `--drop-old-turns`: then its oldest turns go to make
room, and the reply's closing line says how many.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shlex
import sys
from typing import TextIO

from . import nano
from .chat import Conversation, LocalBackend, SystemMessage, messages_from_openai
from .chat.events import Done, PromptProgress, TextDelta, ThinkingDelta
from .cli_context import too_much_context
from .engine import PRECISIONS, SamplingParams, open_model
from .errors import GlmError, MaxLengthError, PromptTooLongError
from .models.hub import SOURCES

__all__ = ["DEVICE_HELP", "SEED_HELP", "THREADS_HELP", "add_chat_parser", "run_chat"]

# The help of the options generate, serve and chat share (cli.py builds on this module)
DEVICE_HELP = "where the model runs (default: auto, CUDA when usable, else the CPU)"
SEED_HELP = "the same prompt, seed and settings draw the same tokens (default: a fresh draw each time)"
THREADS_HELP = "CPU threads ONNX Runtime runs the model on (default: one per core)"

HELP = """\
/reset      start a new conversation (the system prompt stays)
/save FILE  write the conversation as OpenAI-style JSON (glm_nb.Conversation.from_openai reads it back)
/load FILE  go on with a conversation saved with /save, in place of this one
/exit       leave (Ctrl-D does too)
\"\"\"         on a line of its own, starts and ends a message of several lines
A line that starts with a space is sent as a message even when it looks like a command.
Ctrl-C stops a reply; the conversation goes on."""
_NO_ARGUMENT = ("/reset", "/exit", "/quit", "/bye", "/help")
_MULTILINE = '"""'
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_CLEAR_LINE = "\r\x1b[K"  # back to the line's start, and erase it


def add_chat_parser(sub, model_help: str) -> None:
    c = sub.add_parser("chat", help="a streamed conversation in the terminal (nano-GLM when no MODEL is given)")
    c.add_argument("model", nargs="?", help=model_help + "; default: the bundled nano-GLM demo model")
    c.add_argument("--source", default="huggingface", choices=SOURCES,
                   help="the hub a model id is downloaded from (default: huggingface)")  # fmt: skip
    c.add_argument("--z1", action="store_true", help="GLM-Z1: force thinking (a Z1 checkpoint's template does it)")
    c.add_argument("-s", "--system", help="system prompt")
    c.add_argument("-t", "--temperature", type=float, help="default: 0.6 (GLM's recommended sampling)")
    c.add_argument("--top-p", type=float, help="default: 0.8, or 0.95 with thinking")
    c.add_argument("--top-k", type=int, help="default: off, or 40 with thinking")
    c.add_argument("-n", "--max-new-tokens", type=int, help="per reply (default: 2048, or 30000 with thinking)")
    c.add_argument("--seed", type=int, default=None, help=SEED_HELP)
    c.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help=DEVICE_HELP)
    c.add_argument("--precision", default=None, choices=PRECISIONS, help="when MODEL is a checkpoint folder")
    c.add_argument("--context", type=int, default=None, help="KV cache length in tokens (default: up to 8192)")
    c.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    c.add_argument("--drop-old-turns", action="store_true",
                   help="when the conversation fills the context, drop its oldest turns instead of refusing the "
                   "message (the system prompt stays)")  # fmt: skip


def run_chat(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None,
             stderr: TextIO | None = None) -> int:  # fmt: skip
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    conversation, banner, room = _open(args)
    tty = stdin.isatty() and stdout.isatty()
    print(banner, file=stderr)
    print("Type a message; /help lists the commands.", file=stderr)
    typed = _Input(stdin, tty)
    while True:
        try:
            message = typed.message()
        except KeyboardInterrupt:
            print(file=stdout)
            return 0
        if message is None or message.unfinished:  # the end of input (Ctrl-D)
            if tty:  # as at Ctrl-C: the shell's prompt comes on a line of its own, not after ">>> "
                print(file=stdout)
            if message is not None and message.text.strip():  # inside a message of several lines: not lost unsaid
                print(f"(the input ended before the closing {_MULTILINE}, so that message was not sent; end a "
                      f"message of several lines with {_MULTILINE} on a line of its own)", file=stderr)  # fmt: skip
            return 0
        if message.dropped:
            print("(message dropped)", file=stderr)
            continue
        if not message.text.strip():
            continue
        if not message.block and _is_command(message.text):
            if _command(message.text, conversation, stdout, stderr) == "exit":
                return 0
            continue
        _reply(conversation, message.text, stdout, stderr, tty, room)


def _open(args: argparse.Namespace) -> tuple[Conversation, str, str]:
    """The conversation, the banner, and what to say when a message no longer fits the context."""
    # The options' own checks come before the model loads, which can take minutes (a download, a conversion).
    if args.max_new_tokens is not None and args.max_new_tokens < 1:  # in the option's name
        raise GlmError(f"--max-new-tokens (-n) must be at least 1, got {args.max_new_tokens}.")
    if args.context is not None and args.context < 2:
        raise GlmError(f"--context must be at least 2 (tokens the KV cache holds), got {args.context}.")
    overrides = {
        name: value
        for name, value in (("temperature", args.temperature), ("top_p", args.top_p), ("top_k", args.top_k),
                            ("max_new_tokens", args.max_new_tokens), ("seed", args.seed))
        if value is not None
    }  # fmt: skip
    SamplingParams(**overrides)  # each value on its own: SamplingError when out of range
    demo = args.model is None
    folder = nano.checkpoint_path() if demo else args.model
    try:  # --context caps the engine; one beyond the model is refused before a download or a conversion
        engine = open_model(folder, source=args.source, device=args.device, precision=args.precision,
                            max_length=args.context, threads=args.threads)  # fmt: skip
    except MaxLengthError as e:  # its advice names open_model's Python argument
        raise GlmError(too_much_context(e, "--context")) from e
    backend = LocalBackend.from_engine(engine, max_length=args.context)
    template = nano.chat_template("z1") if demo and args.z1 else None
    conversation = Conversation(
        backend, system=args.system, template=template, force_thinking=args.z1, drop_old_turns=args.drop_old_turns
    )
    conversation.sampling = dataclasses.replace(conversation.sampling, **overrides)
    # The bundled model's name says what it is: "nano-GLM (demo, ~3.4M params, not GLM-4)".
    banner = f"glm-nb chat · {engine.describe(context=backend.context_length)}"
    room = "/reset starts a new conversation"
    if args.drop_old_turns:  # every earlier turn was dropped and it still does not fit: the message is too long
        room = "even with every earlier turn dropped it is too long: shorten it"
    if (backend.context_length or 0) < engine.graph_max_length:  # not the engine's: --context caps that
        room += f"; --context up to {engine.graph_max_length} gives it more room"
    if not args.drop_old_turns:
        room += "; --drop-old-turns drops the oldest turns to make room"
    return conversation, banner, room


class _Input:
    """Lines typed at a terminal (with line editing and history: input() once readline is imported), or read from
    a pipe; None at the end of input."""

    def __init__(self, stdin: TextIO, tty: bool):
        self.stdin, self.tty = stdin, tty
        if isinstance(stdin, io.TextIOWrapper) and stdin.errors == "strict":
            # A byte that is not UTF-8 would end the chat with a UnicodeDecodeError; kept as a lone surrogate, it
            # reaches the tokenizer, which refuses that message by name and the chat goes on.
            stdin.reconfigure(errors="surrogateescape")
        if tty:
            try:
                import readline  # noqa: F401
            except ImportError:  # Windows: plain input()
                pass

    def line(self, prompt: str) -> str | None:
        if self.tty:
            try:
                return input(prompt)
            except EOFError:
                return None
        line = self.stdin.readline()
        return line.rstrip("\n") if line else None

    def message(self) -> _Message | None:
        """The next message; None at the end of input (Ctrl-D); inside a block of lines, what it held so far,
        marked unfinished."""
        first = self.line(">>> ")
        if first is None or first.strip() != _MULTILINE:
            return None if first is None else _Message(first)
        block = []
        try:
            while (line := self.line("... ")) is None or line.strip() != _MULTILINE:
                if line is None:
                    return _Message("\n".join(block), block=True, unfinished=True)
                block.append(line)
        except KeyboardInterrupt:
            return _Message("", block=True, dropped=True)
        return _Message("\n".join(block), block=True)


@dataclasses.dataclass(frozen=True)
class _Message:
    text: str
    block: bool = False  # typed between \"\"\" lines: never a command
    dropped: bool = False  # Ctrl-C inside the block
    unfinished: bool = False  # the input ended inside the block: it is not sent


def _is_command(text: str) -> bool:
    """A slash and a word at the very start of the line ("/usr/bin is …" and " /reset" are messages)."""
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    return text.startswith("/") and word[1:].isalpha()


def _command(text: str, conversation: Conversation, stdout: TextIO, stderr: TextIO) -> str | None:
    word, _, rest = text.strip().partition(" ")
    if word in _NO_ARGUMENT and rest.strip():
        print(f"{word} takes nothing after it; to send this as a message, start the line with a space.",
              file=stderr)  # fmt: skip
        return None
    if word in ("/exit", "/quit", "/bye"):
        return "exit"
    if word == "/help":
        print(HELP, file=stdout)
    elif word == "/reset":
        conversation.clear()
        print("(a new conversation)", file=stderr)
    elif word in ("/save", "/load"):
        path = _file_name(rest)
        if not path:
            print(f'{word} needs a file name, e.g. {word} chat.json (or {word} "my chat.json")', file=stderr)
        elif word == "/save":
            _save(conversation, path, stderr)
        else:
            _load(conversation, path, stderr)
    else:
        print(f"Unknown command {word}; /help lists the commands (a line starting with a space is sent as a "
              "message).", file=stderr)  # fmt: skip
    return None


def _save(conversation: Conversation, path: str, stderr: TextIO) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(conversation.to_openai(), f, ensure_ascii=False, indent=2)
    except OSError as e:
        print(f"Could not write {path}: {e.strerror or e}", file=stderr)
        return
    print(f"(saved {len(conversation.messages)} messages to {path})", file=stderr)


def _load(conversation: Conversation, path: str, stderr: TextIO) -> None:
    """Go on with the conversation saved in `path` (by /save: OpenAI-style messages), in place of this one; a file
    that cannot be read leaves this one as it was."""
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark from an editor is no JSON error
            items = json.load(f)
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ValueError("it is not a list of messages")
        messages = messages_from_openai(items)
    except OSError as e:
        print(f"Could not read {path}: {e.strerror or e}", file=stderr)
        return
    except (ValueError, GlmError) as e:  # not JSON (JSONDecodeError), not messages, or a message it cannot read
        print(f"Could not load {path}: {e}. /load reads a file written by /save.", file=stderr)
        return
    # A file saved without a system prompt goes on under this chat's (-s): that is what its /reset keeps too
    kept = [] if any(isinstance(m, SystemMessage) for m in messages) else conversation.messages[:1]
    kept = [m for m in kept if isinstance(m, SystemMessage)]
    conversation.rewind(0)
    conversation.add(*kept, *messages)
    print(f"(loaded {len(messages)} messages from {path}; the next message goes on with them)", file=stderr)


def _file_name(text: str) -> str:
    """A command's file name: as typed (spaces included), or unquoted when typed in quotes ("my chat.json"), with
    "~" read as a shell would; "" when there is none or its quotes do not close."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        try:
            parts = shlex.split(text)
        except ValueError:  # a quote left open
            return ""
        text = parts[0] if len(parts) == 1 else ""
    return os.path.expanduser(text)


def _reply(conversation: Conversation, message: str, stdout: TextIO, stderr: TextIO, tty: bool, room: str) -> None:
    section = None  # "thinking" or "answer": what the last delta written was
    response = None
    reading = False  # a "reading the prompt" line is on the terminal, to clear before the reply
    progress = tty and stderr.isatty()  # not into a log file (2>chat.log) as escape codes
    try:
        response = conversation.send(message)  # may refuse the message at once (too long, not UTF-8)
        for event in response:
            if reading and not isinstance(event, PromptProgress):
                stderr.write(_CLEAR_LINE)
                reading = False
            if isinstance(event, PromptProgress):
                if progress:  # a long prompt on a slow machine: minutes before the first token, said as it goes
                    stderr.write(f"\r(reading the prompt: {event.done:,} of {event.total:,} tokens)")
                    stderr.flush()
                    reading = True
            elif isinstance(event, ThinkingDelta):
                if section is None and tty:
                    stdout.write(_DIM)
                section = "thinking"
                stdout.write(event.text)
            elif isinstance(event, TextDelta):
                if section == "thinking":
                    stdout.write((_RESET if tty else "") + "\n\n")
                section = "answer"
                stdout.write(event.text)
            elif isinstance(event, Done):
                limit = _limit(event, conversation, room)
                _finish(event, stdout, stderr, tty, section, limit, response.dropped_turns)
            stdout.flush()
    except KeyboardInterrupt:
        stderr.write(_CLEAR_LINE if reading else "")
        stdout.write((_RESET if tty and section == "thinking" else "") + "\n")
        dropped = _dropped_note(response.dropped_turns if response else 0)
        print(f"[stopped; the partial reply stays in the conversation{dropped}]", file=stderr)
    except PromptTooLongError as e:  # the conversation is as it was before this message
        stdout.write((_RESET if tty and section == "thinking" else "") + ("\n" if section else ""))
        why = str(e).split(". ")[0].rstrip(".")  # the engine's advice after it is for the Python API
        print(f"glm-nb: this message does not fit: {why}. {room[0].upper()}{room[1:]}.", file=stderr)
    except GlmError as e:
        stderr.write(_CLEAR_LINE if reading else "")
        stdout.write((_RESET if tty and section == "thinking" else "") + ("\n" if section else ""))
        print(f"glm-nb: {e}", file=stderr)


def _limit(done: Done, conversation: Conversation, room: str) -> str:
    """Which limit a "length" finish hit, as advice: the reply's own (-n) or the context, full of the conversation
    (a reply shorter than --max-new-tokens can only have been stopped by the context)."""
    if done.usage.new_tokens >= conversation.sampling.max_new_tokens:
        return "--max-new-tokens"
    if conversation.drop_old_turns:
        return "the context is full (the next message drops the oldest turns to make room)"
    return f"the context is full ({room})"


def _dropped_note(count: int) -> str:
    """How many earlier turns a reply dropped to fit the context, for its closing line ("" when none)."""
    if not count:
        return ""
    return f" · dropped the oldest {'turn' if count == 1 else f'{count} turns'} to fit the context"


def _finish(
    done: Done, stdout: TextIO, stderr: TextIO, tty: bool, section: str | None, limit: str, dropped: int
) -> None:
    stdout.write((_RESET if tty and section == "thinking" else "") + "\n")
    usage = done.usage
    rate = f", {usage.decode_tokens_per_s:.1f} tok/s" if usage.decode_tokens_per_s else ""
    by_option = limit == "--max-new-tokens"
    notes = {
        "length": " · cut off by --max-new-tokens" if by_option else f" · cut off: {limit}",
        "cancelled": " · stopped",
    }
    note = notes.get(done.finish_reason, "")
    if done.thinking_cut_off:
        note = (
            " · the token limit ended the thinking before any answer (raise --max-new-tokens)"
            if by_option
            else f" · the context filled up during the thinking, before any answer: {limit}"
        )
    elif done.stopped_in_thinking:
        note = " · the model stopped while still thinking, so there is no answer (ask again)"
    elif done.undeclared_tool_call:  # the conversation has no tools: what it wrote to call one is the answer
        note = (
            " · the model stopped to call a tool; glm-nb chat runs none, so what it wrote is its answer (ask again)"
        )
    print(f"[{usage.new_tokens} tokens{rate}{_dropped_note(dropped)}{note}]", file=stderr)
