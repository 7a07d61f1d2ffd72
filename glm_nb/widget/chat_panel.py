"""`ChatPanel`: a chat with the loaded model as a widget (anywidget; its view is chat_panel.js next to this file).

Generation runs in a background thread, so the kernel stays free and Stop works while a reply streams: Stop
cancels the response (thread-safe), which ends at its next token with the partial answer kept, as an interrupt
does in a cell. The panel shares the magics' `NotebookSession`: the same models, and the same engine lock, so a
magic and the panel never interleave on one KV cache (the second waits, and says so). The panel keeps its own
conversation,
one per setting of the Model dropdown (chat and Z1 do not see each other's turns; switching says so), started
afresh when `%glm_model` serves another model (the next send says so). `tools=`: functions or `@glm_nb.tool`
values the model may call; their cards show in the history. `drop_old_turns` (the "Drop old turns" box): once the
conversation fills the context, its oldest turns go to make room instead of the message being refused; the reply
says how many went.

What the view shows is HTML made by `glm_nb.render` (model text escaped, SVG sanitized, HTML only in sandboxed
frames, its scripts run only when the user clicks its "Run scripts"), the same as a cell's static record. Messages
from the view: `{"type": "view"}` (a view was drawn), `{"type": "sync", "turns"}` (turn_sync.py), `{"type": "send",
"text", "view"}`, `stop`, `clear`, `export`; to the view: `{"type": "accepted", "text", "view"}` (the message was
taken: the view named empties its box; a second view of the panel keeps its own) or `{"type": "refused", "reason",
"view"}` (the box keeps it, the view shows why), then `{"type": "returned", "text", "view"}` where a taken message
failed before any turn showed it (the model did not load: it goes back in that view's box), `{"type": "download",
"html"}` (Export's page), `{"type": "turn", "index", "turn"}`, `{"type": "live", ...}` and `{"type": "synced"}`
(turn_sync.py).

A saved notebook keeps the conversation: `turns` (the finished turns) is a synced trait, sent to a front end turn by
turn and the streaming turn (`live`) as edits, never the whole list or reply per token (turn_sync.py).
The panel is displayed with a display id, and its text/plain and text/html fallbacks (what GitHub, an untrusted
notebook or an HTML export without widgets show) are brought up to date after each finished turn, but only while
no view has been drawn: in JupyterLab an updated display re-creates the live view (losing a half-typed message, the
scroll position and running pages), so there the fallbacks keep what they said when drawn, and the saved widget
state is the record.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t
from IPython.display import display, update_display

from ..chat import CHAT_SAMPLING, Z1_SAMPLING, Conversation, Message, Response, SystemMessage, as_tool
from ..errors import GlmError, PromptTooLongError
from ..magics.engine_turn import TurnStopped
from ..magics.models import LoadedModel
from ..magics.replies import context_full_note, stream_reply
from ..magics.session import NotebookSession, current_session
from ..render import Transcript, TranscriptBuilder, transcripts_html
from ..tools import Tool
from .chat_export import ChatExport
from .panel_sink import PanelSink
from .turn_sync import TurnSync

__all__ = ["ChatPanel"]

_HERE = Path(__file__).parent
_BUSY = "A reply is still streaming: press Stop, or wait for it to finish."
_STOPPING = "Stopping: the reply ends at its next token (a tool call that is running, or a model load, ends first)."
_CLEAR = "Clear starts a new conversation (the model stays loaded)."
_DROP = "Drop old turns keeps this one going by dropping its oldest turns to make room."
_SHORTEN = (
    "Even with every earlier turn dropped, the system prompt, the tools and this message do not fit: shorten the "
    "message."
)
_NAMES = {"chat": "GLM-4 (chat)", "z1": "GLM-Z1 (reasoning)"}
_OTHER_CONVERSATION = {
    "chat": "GLM-4 (chat) keeps its own conversation: it does not see the GLM-Z1 turns above.",
    "z1": "GLM-Z1 (reasoning) keeps its own conversation: it does not see the chat turns above.",
}


class ChatPanel(anywidget.AnyWidget):
    """`glm_nb.ChatPanel()`: type below, Enter sends, Shift+Enter starts a new line, Stop ends a reply early."""

    _esm = _HERE / "chat_panel.js"
    _css = _HERE / "chat_panel.css"

    turns = t.List(t.Dict(), help="Finished turns: {prompt, html}.").tag(sync=True)
    live = t.Dict(help="The turn now streaming: {html, version}, or {}.").tag(sync=True)
    live_prompt = t.Unicode(help="The streaming turn's message: apart, so a long one is not resent per token.").tag(
        sync=True
    )
    busy = t.Bool(False).tag(sync=True)
    variant = t.Enum(("chat", "z1"), "chat").tag(sync=True)
    temperature = t.Float(CHAT_SAMPLING.temperature, min=0.0, max=2.0).tag(sync=True)
    max_tokens = t.Int(1024, min=1).tag(sync=True)
    system = t.Unicode("").tag(sync=True)
    drop_old_turns = t.Bool(False, help="A full context drops the oldest turns instead of refusing.").tag(sync=True)
    tokens_per_s = t.Float(0.0).tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    model_name = t.Unicode("").tag(sync=True)

    def __init__(
        self,
        session: NotebookSession | None = None,
        *,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.session = session or current_session()
        self.tools: tuple[Tool, ...] = tuple(as_tool(tool) for tool in tools)  # a bad one fails here, not mid-chat
        self.transcripts: list[Transcript] = []
        self._messages: dict[str, list[Message]] = {"chat": [], "z1": []}
        self._models: dict[str, LoadedModel] = {}  # the model each conversation was held with
        self._response: Response | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()  # Stop pressed for the current reply, whatever stage it is at
        # orders Stop and a Clear pressed mid-reply against the reply's end (reentrant: clear() calls stop())
        self._lock = threading.RLock()
        self._clear_pending = False
        self._shown: list[Transcript] = []  # the record of each turn in `turns`, for the text/html fallback
        self._turn_sync = TurnSync(self)  # how `turns` and `live` reach a front end
        self._display_id = f"glm-nb-chat-panel-{self.model_id}"
        self._displayed = False  # shown through IPython's display, with `_display_id`
        self._view_seen = False  # a frontend drew a view: updating the display would re-create it
        self.on_msg(self._on_view_message)
        self.observe(self._on_variant, names="variant")
        self.session.on_model_change(self._on_model_change)

    def __repr__(self) -> str:  # the text/plain a saved or headless notebook shows in place of the live view
        model = self.model_name or "the notebook's model"
        return (
            f"<glm-nb ChatPanel: {len(self.turns)} turn(s) with {model} when this output was drawn; a live widget "
            "(run the cell in Jupyter to chat), and panel.export() keeps the conversation in the notebook>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:  # closed
            return None
        data, metadata = bundle
        return {**data, "text/html": self._fallback_html()}, metadata

    def _ipython_display_(self) -> None:
        """Displayed with a display id (a cell's result cannot carry one), so finished turns can update it. A closed
        panel (`close()`: no comm, no view to draw) shows its text."""
        if self.comm is None:
            closed = f"<glm-nb ChatPanel (closed): {len(self.transcripts)} turn(s); panel.export() shows them>"
            display({"text/plain": closed}, raw=True)
            return
        bundle = self._repr_mimebundle_()
        if bundle is not None:
            data, metadata = bundle
            display(data, metadata=metadata, raw=True, display_id=self._display_id)
            self._displayed = True

    def _fallback_html(self) -> str:
        """The conversation as a static page, escaped and sandboxed as in the view (and in `export()`)."""
        if not self._shown:
            return f"<p>{html.escape(repr(self))}</p>"
        return transcripts_html(self._shown)

    def _refresh_fallbacks(self) -> None:
        """Bring the displayed fallbacks up to date, where that cannot disturb a live view (see the module doc)."""
        if self._displayed and not self._view_seen and self.comm is not None:  # closed: ipywidgets dropped the
            bundle = self._repr_mimebundle_()  # method (close() sets it to None), and there is no view to update
            if bundle is not None:
                data, metadata = bundle
                update_display(data, metadata=metadata, raw=True, display_id=self._display_id)

    # -- actions (the view's buttons call these; so can code) ---------------------------------------------------
    def send(self, text: str) -> threading.Thread:
        """Start a reply to `text` in a background thread (returned, e.g. to `join()`)."""
        return self._start(self._take(text), box=None)

    def _take(self, text: str) -> str:
        """The message, stripped, once the panel takes it (it is busy from now on); refused with the reason."""
        text = text.strip()
        if not text:
            raise GlmError("Nothing to send: type a message first.")
        if self.busy:
            raise GlmError(_BUSY)
        self.busy, self.status, self.tokens_per_s = True, "", 0.0  # the last reply's rate is not this one's
        self._stopped.clear()
        return text

    def _start(self, text: str, box: dict[str, str] | None) -> threading.Thread:
        """box: the message was typed in a view's box (`{"view": id}` names which, where the view says), which a
        failure before its turn gives back; None: sent from code."""
        # The conversation is the one selected when the message was taken, read here, not on the new thread: a
        # dropdown change the kernel handles next (or a cell's next line) could land before that thread reads it.
        target, args = self._reply, (text, self.variant, box)
        self._thread = threading.Thread(target=target, args=args, name="glm-nb-chat-panel", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """End the reply: at its next token if it streams (the partial answer stays, marked interrupted); before
        anything is sent if it still waits for the model to load or for another reply to end."""
        with self._lock:  # not between the reply's end and its clearing of the status: "Stopping" would stay
            if self.busy:  # said at once: a running tool call (or a model load) cannot be cut short, may take long
                self.status = _STOPPING
        self._stopped.set()
        response = self._response
        if response is not None:
            response.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the streaming reply to end; False if it is still running after `timeout` seconds."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def clear(self) -> None:
        """Forget the conversation (the model stays loaded). Mid-reply it stops the reply and returns at once; the
        clear happens when the reply ends (a model still loading cannot be interrupted, and the kernel must not
        wait for it)."""
        with self._lock:
            if self.busy:
                self._clear_pending = True
                self.stop()
                self.status = "Clearing once the reply stops."
                return
        self._forget()

    def export(self) -> ChatExport:
        """The conversation as a static record, each turn the panel shows (a turn stopped before anything was sent
        too, as it says so): display it in a cell to keep it in the notebook."""
        return ChatExport(tuple(self._shown))

    def _forget(self) -> None:
        self._messages = {"chat": [], "z1": []}
        self.transcripts, self._shown = [], []
        self.turns, self.live, self.live_prompt, self.tokens_per_s, self.status = [], {}, "", 0.0, ""
        self._refresh_fallbacks()

    # -- the background thread ------------------------------------------------------------------------------------
    def _reply(self, text: str, variant: str, box: dict[str, str] | None) -> None:
        shown_before = len(self._shown)
        try:
            model, _ = self.session.model_for(variant)
            self._start_afresh_if_new(variant, model)
            z1 = variant == "z1"
            base = Z1_SAMPLING if z1 else CHAT_SAMPLING
            sampling = dataclasses.replace(base, temperature=self.temperature, max_new_tokens=self.max_tokens)
            conversation = Conversation(
                model.backend, system=self.system or None, tools=self.tools, messages=self._messages[variant],
                sampling=sampling, template=model.z1_template if z1 else None, force_thinking=z1,
                drop_old_turns=self.drop_old_turns,
            )  # fmt: skip
            self._response = response = conversation.send(text)
            template = Transcript(variant, model.label, text, sampling=sampling)
            builder = TranscriptBuilder(template)
            sink = PanelSink(self, builder, text)
            with self.session.engine_turn(sink, template, self._stopped):
                transcript = stream_reply(
                    response, builder, sink, refresh_s=self.session.refresh_s,
                    length_note=lambda: context_full_note(response, conversation, f"{_CLEAR} {_DROP}"),
                )  # fmt: skip
            self._messages[variant] = [m for m in conversation.messages if not isinstance(m, SystemMessage)]
            self.transcripts.append(transcript)
            self.session.add_record(transcript)
        except TurnStopped:
            pass  # the record, already among the turns, says that nothing was sent
        except Exception as e:  # the thread has no caller: show the error in the panel instead of losing it
            # Given back where no turn shows it, and where the advice is to shorten it (a long paste, to edit).
            give_back = len(self._shown) == shown_before or isinstance(e, PromptTooLongError)
            self._show_failure(e, text, box=box if give_back else None)
        finally:
            with self._lock:
                self._response = None
                if self.status in (_BUSY, _STOPPING):  # a refusal while it streamed (it can be sent now); or done
                    self.status = ""
                if self._clear_pending:
                    self._clear_pending = False
                    self._forget()
                self.busy = False

    def _show_failure(self, error: Exception, text: str, *, box: dict[str, str] | None) -> None:
        self._turn_sync.end_live()
        if isinstance(error, PromptTooLongError):  # the conversation is as it was; its advice is for the Python API
            advice = _SHORTEN if self.drop_old_turns else f"{_CLEAR} {_DROP}"
            self.status = f"{str(error).split('. ')[0].rstrip('.')}. {advice}"
        else:
            self.status = str(error) if isinstance(error, GlmError) else f"{type(error).__name__}: {error}"
        if box is not None:  # typed in a box, and failed before a turn began (e.g. loading the model): no turn has it
            self._tell_view({"type": "returned", "text": text, **box})  # the view emptied its box: give it back

    def _start_afresh_if_new(self, variant: str, model: LoadedModel) -> None:
        """`%glm_model` served another model since the last turn: its prompt must not hold the old model's turns."""
        old = self._models.get(variant)
        self._models[variant] = model
        shown = variant == self.variant  # a Z1-only model changes nothing on show while "chat" is selected
        if shown:
            self.model_name = model.label
        if old is not None and old is not model and self._messages[variant]:
            self._messages[variant] = []
            who = f"{model.label} now answers" if shown else f"{_NAMES[variant]} is now {model.label}"
            self.status = (
                f"{who}: a new conversation starts (the turns above were with {old.label}, and are not sent to it)."
            )

    def _on_model_change(self, variants: tuple[str, ...], model: LoadedModel) -> None:
        """`%glm_model` served a model: an idle panel says so at once (a streaming reply finishes with the model it
        began with, and the next send starts afresh)."""
        with self._lock:
            if self.busy:
                return
            for variant in variants:
                if variant in self._messages and variant in self._models:
                    self._start_afresh_if_new(variant, model)

    def _on_variant(self, change: dict[str, Any]) -> None:
        model = self.session.models.get(change["new"]) or self._models.get(change["new"])
        self.model_name = model.label if model is not None else ""  # not yet known: the next send says which
        if any(record.variant != change["new"] for record in self._shown):  # the other conversation's turns above
            self.status = _OTHER_CONVERSATION[change["new"]]
        elif self.status in _OTHER_CONVERSATION.values():  # back to the only conversation above: nothing to say
            self.status = ""

    def _on_view_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        try:
            if kind == "view":
                self._view_seen = True
            elif kind == "sync":
                self._turn_sync.applies_turns = True
                with self._lock:  # not interleaved with a Clear the reply thread does as it ends (turns stay cleared)
                    self._turn_sync.send_turns_after(content.get("turns"))
            elif kind == "send":
                self._answer_send(str(content.get("text", "")), content.get("view"))
            elif kind == "stop":
                self.stop()
            elif kind == "clear":
                self.clear()
            elif kind == "export":
                self._download()
        except GlmError as e:
            self.status = str(e)

    def _answer_send(self, typed: str, view: Any) -> None:
        """Every send from a view gets an answer naming that view (only its box empties, or keeps the text):
        `accepted`, or `refused` with the reason, which the view shows. Not only `status`: a refusal that sets it
        to what it already says (two views refused while a reply streams) sends no update, and the view would
        take the silence for a kernel that is not there."""
        box = {"view": view} if isinstance(view, str) else {}
        try:
            text = self._take(typed)
        except GlmError as e:
            self.status = str(e)
            self._tell_view({"type": "refused", "reason": str(e), **box})
            return
        # Before the reply (it may fail at once); the text as the view sent it: the view compares it with its box,
        # and JavaScript's trim() leaves characters that Python's strip() takes (U+001C to U+001F).
        self._tell_view({"type": "accepted", "text": typed, **box})
        self._start(text, box)

    def _download(self) -> None:
        """Export's button: the page to download, on every click."""
        if not self._shown:  # what the panel shows: a turn stopped before anything was sent is exported too
            raise GlmError("Nothing to export yet: send a message first.")
        self._tell_view({"type": "download", "html": self.export().standalone_html()})

    # -- the reply's snapshots, from its `PanelSink` -------------------------------------------------------------
    def _finish_turn(self, turn: dict[str, str], record: Transcript) -> None:
        """A finished turn, sent once (never per token: turn_sync.py); the fallbacks then show it too."""
        self._shown.append(record)
        self._turn_sync.finish_turn(turn)
        self._refresh_fallbacks()

    def _show_live(self, page: str) -> None:
        """The streaming turn's HTML after an update: to a front end as what changed since its copy (turn_sync.py)."""
        self._turn_sync.show_live(page)

    def _tell_view(self, content: dict[str, Any]) -> None:
        anywidget.AnyWidget.send(self, content)  # the widget's custom message (`send` here is the chat's)
