"""`NotebookSession`: the state the magics and the chat panel share, in one kernel. No IPython here.

- Models by variant ("chat", "z1", "rumination"); `%glm_model` sets all three unless told otherwise. The first
  cell loads nano-GLM if nothing was loaded.
- One conversation thread per variant (`cell_threads.py`): its messages, system prompt, tool names, and which cell
  wrote which turn. Re-running a cell rewinds the thread to where that cell's turn began (later turns go too), so the
  history, the system prompt and tools and, through the backend's prefix reuse, the KV cache are as they were before
  it. `--new` sets the conversation so far aside (`earlier`), and a re-run of one of its cells goes back to it. A
  cell that ends before its first token (interrupted while it waits for the engine, a prompt too long) leaves every
  conversation as it was.
- `engine_lock`: one reply at a time across magics and the panel's background thread, so two replies never
  interleave on one KV cache (`engine_turn()`, engine_turn.py: a reply that waits for it says so).
- `last()`: the latest reply's record. Only the latest `KEPT_RECORDS` records stay in `transcripts` (each holds a
  reply's thinking and tool results, which history does not keep, so an hours-long kernel would grow without bound);
  `replies` counts them all. A cell stopped by an error or an interrupt keeps the record it shows; one
  stopped before it showed any leaves none, and `last()` says so rather than give an older cell's record.
- With `--drop-old-turns` a conversation that fills the context loses its oldest turns (`Conversation`), and the
  cells' turns are counted from what is left.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ..chat import (
    CHAT_SAMPLING,
    RUMINATION_SAMPLING,
    Z1_SAMPLING,
    Conversation,
    LocalCorpus,
    ResearchResponse,
    Response,
    Rumination,
    SystemMessage,
    UserMessage,
    as_tool,
)
from ..engine import SamplingParams
from ..errors import GlmError
from ..render import Transcript, TranscriptBuilder
from ..tools import Tool
from .cell_threads import CellThread, CellTurn, Placement, placed_after, set_aside
from .engine_turn import EngineTurn
from .models import LoadedModel, load_model
from .options import VARIANTS, GlmCellArgs, ModelArgs
from .replies import RecordInterrupted, ReplySink, context_full_note, stream_reply

__all__ = ["KEPT_RECORDS", "NotebookSession", "current_session", "last"]

KEPT_RECORDS = 100  # reply records kept for `last()` and a look back (the notebook's outputs keep every one)

_SAMPLING = {"chat": CHAT_SAMPLING, "z1": Z1_SAMPLING, "rumination": RUMINATION_SAMPLING}


class NotebookSession:
    def __init__(self, *, loader: Callable[[ModelArgs], LoadedModel] = load_model, refresh_s: float = 0.1):
        self.models: dict[str, LoadedModel] = {}
        self.threads: dict[str, CellThread] = {}
        self.earlier: dict[str, list[CellThread]] = {}  # conversations set aside by --new, the latest last
        self.defaults = GlmCellArgs()
        self.engine_lock = threading.Lock()
        self._engine_holder: list[str] = [""]  # who holds engine_lock, "cell" or "panel": what a waiter is told
        self.transcripts: deque[Transcript] = deque(maxlen=KEPT_RECORDS)  # the latest records, oldest first
        self.replies = 0  # records made this session, also those no longer kept
        self._records_lock = threading.Lock()
        self._awaiting_record = False  # a reply was asked for and showed no record: `last()` has none to give
        self.refresh_s = refresh_s
        self.cell_id: str | None = None  # of the cell now running, when the frontend sends one
        self.cell_run = 0  # counts the cells run: the turns of one run are never replaced by another of that run
        self._loader = loader
        self._model_listeners: list[weakref.WeakMethod] = []

    # -- models ---------------------------------------------------------------------------------------------------
    def load(self, args: ModelArgs) -> LoadedModel:
        model = self._loader(args)
        self.use(model, args.variant)
        return model

    def use(self, model: LoadedModel, variant: str = "all") -> None:
        """Serve `variant` (or all) with `model`; their conversations start afresh, and every listener added with
        `on_model_change` hears of it."""
        names = VARIANTS if variant == "all" else (variant,)
        for name in names:
            self.models[name] = model
            self.threads.pop(name, None)
            self.earlier.pop(name, None)
        for listener in list(self._model_listeners):
            if (method := listener()) is None:  # its owner (a closed chat panel) is gone
                self._model_listeners.remove(listener)
            else:
                method(names, model)

    def on_model_change(self, method: Callable[[tuple[str, ...], LoadedModel], None]) -> None:
        """Call the bound `method(variants, model)` whenever a model is served; held weakly, so that a chat panel
        listening here can still be garbage-collected."""
        self._model_listeners.append(weakref.WeakMethod(method))

    def begin_cell(self, cell_id: str | None) -> None:
        """A cell starts to run (`cell_id`: the frontend's id for it, None in a terminal)."""
        self.cell_id = cell_id
        self.cell_run += 1

    def model_for(self, variant: str) -> tuple[LoadedModel, bool]:
        """The model for `variant`, and whether it was just loaded (nano-GLM, when nothing was)."""
        if variant in self.models:
            return self.models[variant], False
        return self.load(ModelArgs()), True

    # -- conversations --------------------------------------------------------------------------------------------
    def reset(self, variant: str | None = None) -> None:
        for name in VARIANTS if variant is None else (variant,):
            self.threads.pop(name, None)
            self.earlier.pop(name, None)

    def every_thread(self, variant: str | None = None) -> list[CellThread]:
        """The conversations of `variant` (or of every magic): the current ones and those set aside."""
        names = VARIANTS if variant is None else (variant,)
        current = [self.threads[name] for name in names if name in self.threads]
        return current + [thread for name in names for thread in self.earlier.get(name, [])]

    def thread(self, variant: str) -> CellThread:
        return self.threads.setdefault(variant, CellThread())

    def begin_reply(self) -> None:
        """A cell asks for a reply: until its record is shown, `last()` says there is none rather than give an older
        reply's record."""
        self._awaiting_record = True

    def add_record(self, transcript: Transcript) -> None:
        """Keep a reply's record (shown in a cell or a chat panel): `last()` gives it."""
        with self._records_lock:  # a cell and the panel's thread may both end a reply
            self.transcripts.append(transcript)
            self.replies += 1
        self._awaiting_record = False

    def last(self) -> Transcript:
        if self._awaiting_record:
            raise GlmError(
                "The latest %%glm cell has no reply record: it ended before a reply began (an error or an interrupt, "
                "shown in its output, or it only asked for help). Re-run it; the latest records are in "
                "glm_nb.magics.current_session().transcripts."
            )
        if not self.transcripts:
            raise GlmError(
                "No reply yet: run a %%glm cell (after %load_ext glm_nb) or send a message in a ChatPanel."
            )
        return self.transcripts[-1]

    def check(self, variant: str, args: GlmCellArgs) -> SamplingParams:
        """The cell's sampling, with the defaults; raises GlmError for options no model can run (a research with no
        corpus, a sampling value out of range), so that they are refused before a model is loaded for them."""
        if variant == "rumination" and not args.corpus:
            raise GlmError("Tell the research where to look: %%glm_rumination --corpus path/to/documents")
        return args.over(self.defaults).sampling(_SAMPLING[variant])

    def ask(
        self,
        variant: str,
        args: GlmCellArgs,
        prompt: str,
        *,
        namespace: Mapping[str, Any],
        sink: ReplySink,
        cell_key: tuple[str, str] | None = None,
    ) -> Transcript:
        """Run one cell's turn (or research) and stream it into `sink`. The record shown is kept for `last()`, also
        when an error or an interrupt ends the reply; none when it ends before a record is shown."""
        self.begin_reply()
        sampling = self.check(variant, args)
        own_system = args.system  # a cell's own -s stays for the later cells; `%glm config -s` fills in otherwise
        args = dataclasses.replace(args.over(self.defaults), system=own_system)
        model, _ = self.model_for(variant)
        kept = self._placement(variant, args, cell_key).tool_names()
        if variant != "rumination":  # resolved before any state changes
            tools = _resolve_tools(kept if args.tools is None else args.tools, namespace)
        before = self._copies()  # put back if the prompt does not fit
        thread, settings = None, None
        if variant == "rumination":
            corpus = args.corpus or ""
            research = Rumination(model.backend, corpus=corpus, sampling=sampling, system=model.rumination_system)
            if isinstance(research.search, LocalCorpus) and research.search.skipped:
                print(_skipped_note(research.search), file=sys.stderr)
            response: Response = research.run(prompt)
            conversation = None
        else:
            thread, settings = self._thread_for(variant, args, cell_key)
            conversation = Conversation(
                model.backend, system=thread.system, tools=tools, messages=thread.messages, sampling=sampling,
                template=model.z1_template if variant == "z1" else None, force_thinking=variant == "z1",
                drop_old_turns=bool(args.drop_old_turns),
            )  # fmt: skip
            response = conversation.send(prompt)
        if cell_key is not None and cell_key[0] == "cell":  # a cell whose magic changed leaves its old conversation
            for name in VARIANTS:  # as a re-run would: its turn and the later ones go
                for other in self.every_thread(name) if name != variant else ():
                    other.rewind_for(cell_key, self.cell_run)
        template = Transcript(
            variant, model.label, prompt, output_format=args.output_format or "markdown", sampling=sampling,
            thinking_display=args.thinking or "collapsed",
        )  # fmt: skip
        builder = TranscriptBuilder(template, actions_as_text=variant != "rumination")

        def length_note() -> str | None:
            return None if conversation is None else context_full_note(response, conversation, _way_on(variant))

        shown = _ShownRecord(sink)
        try:
            with self.engine_turn(shown, template):
                transcript = stream_reply(
                    response, builder, shown, refresh_s=self.refresh_s, final_answer=_report, length_note=length_note
                )
        except RecordInterrupted as interrupt:  # as the record was shown: the reply had ended, and is kept
            self._keep(interrupt.transcript, thread, conversation, settings)
            raise
        except BaseException:
            if _nothing_generated(shown.record):  # e.g. a prompt too long, an interrupt while the engine was busy
                self.threads, self.earlier = before  # the cell changed nothing: not its re-run's rewind, not --new
            if shown.record is not None:  # what the cell shows: stopped by an error, or before anything was sent
                self.add_record(shown.record)
            raise
        self._keep(transcript, thread, conversation, settings)
        return transcript

    def _keep(
        self,
        transcript: Transcript,
        thread: CellThread | None,
        conversation: Conversation | None,
        settings: CellTurn | None,
    ) -> None:
        """Keep a reply's record and, for a conversation, its turn in the thread: `settings`, the thread's as the
        cell found them and which cell asked (None: a cell of no key, whose turn no re-run replaces)."""
        if thread is not None and conversation is not None:
            messages = [m for m in conversation.messages if not isinstance(m, SystemMessage)]
            # This cell's turn begins at its message (the last user message: the tool loop adds none). Before it,
            # the turns dropped to fit the context (--drop-old-turns) are gone, so the cells' turns begin that many
            # messages earlier; one whose turn went begins at 0: re-running it rewinds to before every turn kept.
            start = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=len(messages))
            shift = len(thread.messages) - start
            thread.turns = [turn._replace(start=max(turn.start - shift, 0)) for turn in thread.turns]
            thread.messages = messages
            if settings is not None:
                previous = thread.turns[-1].key if thread.turns else settings.after
                thread.turns.append(settings._replace(start=start))
                placed_after(self.every_thread(transcript.variant), {previous}, settings.key)
        self.add_record(transcript)

    def _copies(self) -> tuple[dict[str, CellThread], dict[str, list[CellThread]]]:
        """Copies of every conversation, current and set aside, to put back."""
        earlier = {name: [thread.copy() for thread in threads] for name, threads in self.earlier.items()}
        return {name: thread.copy() for name, thread in self.threads.items()}, earlier

    def _thread_for(
        self, variant: str, args: GlmCellArgs, cell_key: tuple[str, str] | None
    ) -> tuple[CellThread, CellTurn | None]:
        """The thread the cell's turn goes on (see `Placement.of`), its settings applied, and the turn as it begins
        (None: no key). The cell's own thread is rewound to before its turn, the one it joins to just after the cell
        before it; the current one set aside if another follows it."""
        current = self.threads.get(variant)
        place = self._placement(variant, args, cell_key)
        home, replaced, thread = place.home, place.replaced, place.following
        if home is not None and replaced is not None and cell_key is not None:
            dropped = {turn.key for turn in home.turns[home.turns.index(replaced) + 1 :]}
            placed_after(self.every_thread(variant), dropped, cell_key)  # the turns a --new noted go: it notes this
            home.rewind_for(cell_key, self.cell_run)
        if place.joins and place.after is not None:
            thread.rewind_after(place.after)  # joined without its --new: as a restart would leave it
        if thread is not current or home is not None:  # a rewound home with no cell's turn left is forgotten
            self.earlier[variant] = set_aside(self.earlier.get(variant, []), current, thread)
            self.threads[variant] = thread
        start = len(thread.messages)
        turn = None if cell_key is None else thread.turn(cell_key, start, self.cell_run, args.new, place.after)
        if args.system is not None:
            thread.system, thread.own_system = args.system or None, True
        elif not thread.own_system and self.defaults.system is not None:
            thread.system = self.defaults.system
        if args.tools is not None:
            thread.tool_names = args.tools
        return thread, turn

    def _placement(self, variant: str, args: GlmCellArgs, cell_key: tuple[str, str] | None) -> Placement:
        current, aside = self.threads.get(variant), self.earlier.get(variant, [])
        return Placement.of(current, aside, cell_key, self.cell_run, bool(args.new))

    def engine_turn(
        self, sink: ReplySink, template: Transcript, stopped: threading.Event | None = None
    ) -> EngineTurn:
        """`with session.engine_turn(sink, template):` holds the engine for one reply (waiting visibly if busy).
        `stopped`: set from another thread (the chat panel's Stop), it ends the wait with `TurnStopped`."""
        return EngineTurn(self.engine_lock, self._engine_holder, sink, template, stopped)


class _ShownRecord:
    """A `ReplySink` that passes everything on and keeps the final record it showed."""

    def __init__(self, sink: ReplySink):
        self.sink = sink
        self.record: Transcript | None = None

    def update(self, transcript: Transcript) -> None:
        self.sink.update(transcript)

    def finish(self, transcript: Transcript) -> None:
        self.record = transcript
        self.sink.finish(transcript)


def _nothing_generated(record: Transcript | None) -> bool:
    """Whether a reply that ended in an exception ended before its first token: it showed no final record, or one
    with nothing in it (an interrupt while it waited for the engine, a prompt refused as too long)."""
    return record is None or not record.parts


def _way_on(variant: str) -> str:
    magic = "glm_z1" if variant == "z1" else "glm"
    return (
        f"`%%{magic} --new` starts a new conversation; `%glm reset` forgets them all; `%glm config --drop-old-turns` "
        "keeps this one going by dropping its oldest turns to make room."
    )


def _skipped_note(corpus: LocalCorpus) -> str:
    shown = "; ".join(f"{path.relative_to(corpus.folder)} ({why})" for path, why in corpus.skipped[:5])
    more = f"; and {len(corpus.skipped) - 5} more" if len(corpus.skipped) > 5 else ""
    return f"{len(corpus.skipped)} file(s) in {corpus.folder} could not be read and are not searched: {shown}{more}."


def _report(response: Response) -> str | None:
    """A research response's final answer: its report with the sources listed, and a line saying so when the turns
    ran out or a token limit (max_new_tokens, or the context filling up) cut it off; with no report then, why, what
    to do, and what the research found. None (what streamed stays) for a research that ended otherwise with no
    report (the model's own empty answer) and for an interrupted one, whose cell shows what streamed."""
    if isinstance(response, ResearchResponse) and response.report().cut_off != "interrupted":
        return response.report().markdown() or None
    return None


def _resolve_tools(names: tuple[str, ...], namespace: Mapping[str, Any]) -> list[Tool]:
    tools = []
    for name in names:
        if name not in namespace:
            raise GlmError(
                f"No tool {name!r} in the notebook. Define it first, e.g.\n\n@glm_nb.tool\ndef {name}(city: str) "
                '-> str:\n    """What it does."""\n\nor remove it with --tools none.'
            )
        value = namespace[name]
        if not isinstance(value, Tool) and not callable(value):
            raise GlmError(
                f"{name!r} is a {type(value).__name__}, not a function; decorate a function with @glm_nb.tool."
            )
        if not isinstance(value, Tool) and getattr(value, "__name__", "<lambda>") == "<lambda>":
            value = Tool.from_function(value, name=name)  # a partial, a lambda or a callable object: its variable
        tools.append(as_tool(value))
    return tools


_SESSION: NotebookSession | None = None


def current_session() -> NotebookSession:
    """The kernel's session (made on first use; nothing is loaded until a cell needs a model)."""
    global _SESSION
    if _SESSION is None:
        _SESSION = NotebookSession()
    return _SESSION


def last() -> Transcript:
    """The record of the latest reply: `.text`, `.thinking`, `.tool_cards`, `.artifacts`, `.usage`."""
    return current_session().last()
