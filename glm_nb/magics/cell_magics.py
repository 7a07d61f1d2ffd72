"""The IPython magics: `%glm_model`, `%glm`, `%%glm`, `%%glm_z1`, `%%glm_rumination`. Thin adapters: each parses
its line once (options.py), then hands the work to the `NotebookSession` and shows what comes back."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display

from ..engine import SamplingParams
from ..errors import GlmError, PromptTooLongError
from ..render import Transcript
from .interpolation import interpolate, unknown_names
from .live import LiveOutput
from .models import LoadedModel
from .options import (
    CELL_HELP,
    GLM_LINE_HELP,
    MODEL_HELP,
    GlmCellArgs,
    GlmLineArgs,
    parse_cell_line,
    parse_glm_line,
    parse_model_line,
)
from .replies import RecordInterrupted
from .session import NotebookSession
from .views import history_view, status_view

__all__ = ["GlmMagics"]


@magics_class
class GlmMagics(Magics):
    def __init__(self, shell, session: NotebookSession):
        super().__init__(shell)
        self.session = session
        self.live_updates: bool | None = None  # None: update in place when running in a kernel

    def remember_cell(self, info) -> None:
        """`pre_run_cell` hook: the frontend's id of the cell about to run (None in a terminal)."""
        self.session.begin_cell(getattr(info, "cell_id", None))

    @line_magic("glm_model")
    def glm_model(self, line: str) -> None:
        args = parse_model_line(line)
        if args.help:
            print(MODEL_HELP)
            return
        held = [
            f"{name}: {len(thread.messages)} messages"
            for name, thread in self.session.threads.items()
            if thread.messages and args.variant in ("all", name)
        ]
        with _usage_errors():
            model = self.session.load(args)
        display(model.card())
        if args.context and model.engine is not None and args.context > (most := model.engine.metadata.max_length):
            print(f"glm-nb: {model.label} holds at most {most:,} tokens of context (the longest sequence it was "
                  f"built or converted for), so its KV cache is for {most:,}, not the {args.context:,} asked for "
                  "(--context). For more, load a model made for longer sequences.", file=sys.stderr)  # fmt: skip
        if held:  # its conversations start afresh: the turns so far were with another model (or another context)
            print(f"glm-nb: {model.label} starts new conversations; the ones so far ({', '.join(held)}) are not "
                  "sent to it. Re-run their cells to ask it.", file=sys.stderr)  # fmt: skip

    @line_cell_magic("glm")
    def glm(self, line: str, cell: str | None = None) -> None:
        if cell is None:
            self._line(line)
        else:
            self._ask("chat", line, cell)

    @line_cell_magic("glm_z1")
    def glm_z1(self, line: str, cell: str | None = None) -> None:
        if (cell := _cell_only(line, cell, "glm_z1")) is not None:
            self._ask("z1", line, cell)

    @line_cell_magic("glm_rumination")
    def glm_rumination(self, line: str, cell: str | None = None) -> None:
        if (cell := _cell_only(line, cell, "glm_rumination")) is not None:
            self._ask("rumination", line, cell)

    # `%%glm?`, `%glm_model?` and `%lsmagic` show a magic's docstring: its help, as `-h` prints it. `glm` is both the
    # line magic and the cell magic, so its docstring holds both helps.
    glm_model.__doc__ = MODEL_HELP
    glm.__doc__ = f"{GLM_LINE_HELP.rstrip()}\n\n{CELL_HELP}"
    glm_z1.__doc__ = glm_rumination.__doc__ = CELL_HELP

    def _line(self, line: str) -> None:
        args = parse_glm_line(line)
        if args.help:
            print(GLM_LINE_HELP)
            return
        given = list(args.settings.given())
        if args.command != "config" and args.clear:
            raise UsageError(
                f"%glm {args.command} takes no --clear: `%glm config --clear` forgets the defaults set with "
                "`%glm config`, and `%glm reset` forgets the conversations."
            )
        if args.command != "config" and given:
            raise UsageError(
                f"%glm {args.command} takes no cell options ({', '.join(given)} given); set defaults with "
                "`%glm config ...`."
            )
        if args.command == "config":
            self._configure(args)
        elif args.command == "reset":
            self.session.reset(args.variant)
        elif args.command == "history":
            display(history_view(self.session, args.variant))
            return
        display(status_view(self.session, None if args.command == "config" else args.variant))

    def _configure(self, args: GlmLineArgs) -> None:
        """`%glm config`: the options given become defaults, over the ones set before unless `--clear`."""
        if args.variant is not None:
            raise UsageError(
                "%glm config sets defaults for every magic's cells, so it takes no --variant; give a cell its "
                "own options instead (e.g. `%%glm_z1 -n 1024`)."
            )
        defaults = args.settings.over(GlmCellArgs() if args.clear else self.session.defaults)
        try:
            defaults.sampling(SamplingParams())  # refused now, not by every later cell
        except ValueError as e:
            raise UsageError(f"%glm config: {e}") from None
        if args.clear:  # a system prompt the defaults gave a conversation goes with them (a cell's own -s stays)
            for thread in self.session.every_thread():
                thread.forget_configured_system()
        self.session.defaults = defaults

    def _ask(self, variant: str, line: str, cell: str) -> None:
        self.session.begin_reply()  # whatever stops this cell, glm_nb.last() will not give an older cell's record
        args = parse_cell_line(line)
        if args.help:
            print(CELL_HELP)
            return
        try:
            transcript = self._reply(variant, args, line, cell)
        except RecordInterrupted as interrupt:  # the reply had ended, and is kept: so is its value
            self._store(args, interrupt.transcript)
            raise UsageError(_RECORD_INTERRUPTED) from None
        except BaseException:
            if args.output:  # else it would hold an earlier run's value, read as this run's
                self.shell.user_ns[args.output] = None
                print(f"glm-nb: this cell ended in an error, so {args.output} = None (not an earlier run's value); "
                      "fix what the error says and re-run the cell.", file=sys.stderr)  # fmt: skip
            raise
        self._store(args, transcript)
        if transcript.interrupted:
            # An error ends the cell, so "Run all" stops here as the user asked; the record above stays.
            raise UsageError(_interrupted(variant))
        if transcript.output_format == "code" and transcript.artifacts:
            self.shell.set_next_input(transcript.artifacts[0].source.rstrip("\n"), replace=False)

    def _reply(self, variant: str, args: GlmCellArgs, line: str, cell: str) -> Transcript:
        """The cell's reply, shown as it streams; raises UsageError for a cell no model can run."""
        if args.corpus is not None and variant != "rumination":
            raise UsageError("--corpus is where %%glm_rumination searches; %%glm and %%glm_z1 take no corpus.")
        options = (("--tools", args.tools), ("-s", args.system), ("--drop-old-turns", args.drop_old_turns))
        own = [option for option, value in options if value is not None]
        if variant == "rumination" and own:
            raise UsageError(
                f"%%glm_rumination takes no {' or '.join(own)}: research has its own tools (search, click, open) and "
                "system prompt, and keeps no conversation. Use them with %%glm or %%glm_z1."
            )
        prompt = (cell if args.raw else interpolate(cell, self.shell.user_ns)).strip()
        if not prompt:
            raise UsageError(f"The cell is empty: write your message under %%{_MAGIC[variant]}.")
        if not args.raw and (unknown := unknown_names(cell, self.shell.user_ns)):
            print(_unknown_names_warning(unknown), file=sys.stderr)
        session = self.session
        key = ("cell", session.cell_id) if session.cell_id else ("text", f"{variant}\n{line}\n{cell}")
        dropping = bool(args.over(session.defaults).drop_old_turns)
        with _usage_errors(lambda: session.models.get(variant), dropping, magic=_MAGIC[variant]):
            session.check(variant, args)  # before a model is loaded for the cell
            model, loaded = session.model_for(variant)
            if loaded:
                display(model.card())
            sink = LiveOutput(live=self._live())
            return session.ask(variant, args, prompt, namespace=self.shell.user_ns, sink=sink, cell_key=key)

    def _store(self, args: GlmCellArgs, transcript: Transcript) -> None:
        """`-o NAME`: this run's value (an interrupted reply's partial answer too: its record says interrupted)."""
        if not args.output:
            return
        value = self.shell.user_ns[args.output] = transcript.value()
        if value is None and transcript.output_format == "json" and not transcript.interrupted:
            print(_no_json_value(transcript, args.output), file=sys.stderr)

    def _live(self) -> bool:
        if self.live_updates is not None:
            return self.live_updates
        return getattr(self.shell, "kernel", None) is not None


_MAGIC = {"chat": "glm", "z1": "glm_z1", "rumination": "glm_rumination"}
_RECORD_INTERRUPTED = (
    "Interrupted as the reply was shown: it had ended, and it is kept (glm_nb.last() has it). The model is ready "
    "for the next cell."
)


def _interrupted(variant: str) -> str:
    if variant == "rumination":  # a research keeps no conversation: each %%glm_rumination cell starts afresh
        return (
            "Interrupted: the research stopped; what it streamed and found stays above (glm_nb.last() has it). "
            "The model is ready for the next cell."
        )
    return (
        "Interrupted: the partial answer is kept in the conversation, marked interrupted. The model is ready for "
        "the next cell."
    )


def _no_json_value(transcript: Transcript, name: str) -> str:
    """Why `-o NAME -f json` stored None: an answer that is not JSON, or no answer at all (the record's note says
    why, e.g. a GLM-Z1 thinking that reached the token limit)."""
    if not transcript.answer:
        return f"glm-nb: the reply has no answer, so {name} = None. {transcript.note}".rstrip()
    return f"glm-nb: the answer is not JSON, so {name} = None; the answer's text is glm_nb.last().answer."


def _unknown_names_warning(names: list[str]) -> str:
    braces = ", ".join("{" + name + "}" for name in names)
    return (
        f"{braces} sent as written: the notebook has no variable named {', '.join(names)}. Define it and re-run "
        f"the cell, write {{{{{names[0]}}}}} for literal braces, or add --raw to send the cell exactly as written."
    )


def _cell_only(line: str, cell: str | None, name: str) -> str | None:
    """The cell's text; None when the line form only asked for help (IPython refuses a cell magic with an empty
    body, so `%glm_z1 -h` is how to read the help without writing a message)."""
    if cell is not None:
        return cell
    if {"-h", "--help"} & set(line.split()):
        print(CELL_HELP)
        return None
    raise UsageError(f"%{name} is a cell magic: write %%{name} on the first line and your message below it.")


class _usage_errors:  # noqa: N801 - used as a statement: `with _usage_errors():`
    """Show a GlmError as a short message (what to do next), not a traceback. `model()`: the model a prompt that
    is too long was sent to, if any, for a hint in the notebook's own terms; `dropping`: whether the cell dropped
    old turns to fit (then only the message itself, with the system prompt and tools, can be too long); `magic`: the
    cell's, whose options the hint gives (a %%glm_rumination cell keeps no conversation: only its question can be too
    long)."""

    def __init__(
        self, model: Callable[[], LoadedModel | None] = lambda: None, dropping: bool = False, magic: str = "glm"
    ):
        self.model = model
        self.dropping = dropping
        self.magic = magic

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, PromptTooLongError):
            hint = f" Here: `%%{self.magic} --new` starts a new conversation; `%glm reset` forgets them all."
            if self.magic == "glm_rumination":
                hint = " Here, each research starts afresh, so the question alone is too long: shorten it."
            elif self.dropping:
                hint = (
                    " Here, with every earlier turn dropped, the system prompt, the tools and this message still do "
                    "not fit: shorten the message, or give fewer tools (--tools)."
                )
            else:
                hint += f" `%%{self.magic} --drop-old-turns` drops the conversation's oldest turns to make room."
            raise UsageError(str(error) + hint + _longer_context(self.model())) from error
        if isinstance(error, GlmError):
            raise UsageError(str(error)) from error
        return False


def _longer_context(model: LoadedModel | None) -> str:
    """How to reload `model` with a larger KV cache, when it was loaded with less than it supports."""
    if model is None or model.engine is None or model.backend.context_length is None:
        return ""
    most = model.engine.metadata.max_length
    if model.backend.context_length >= most:
        return ""
    command = " ".join(["%glm_model", *([shlex.quote(model.origin)] if model.origin else []), f"--context {most}"])
    return (
        f" A longer prompt needs more context: `{command}` reloads the model with room for {most:,} tokens (and "
        "starts its conversations afresh)."
    )
