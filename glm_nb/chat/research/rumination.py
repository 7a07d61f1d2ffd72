"""GLM-Z1-Rumination's research loop (FORMAT.md, "GLM-Z1-Rumination").

The model thinks, then writes one action as JSON, `{"name": "search", "arguments": {"query": "..."}}`; we run it
and answer with an observation; this repeats (at most 35 turns) until it calls `finish`, after which one more
generation writes the report, citing sources as `【3†source】`. Actions:

    search(query)    ranked results, each `【{i}†{title}†{url}\\n{snippet}】`, blocks joined by blank lines
    click(link_id)   the main text of result `link_id`
    open(url)        the main text of a URL, domain or local path
    finish()         research done

When the turns run out before `finish` (FORMAT.md leaves this open), an observation tells the model its budget is
spent and it gets one more turn for its report (plain text, or `finish` and then the report); the report says it
was written so, and when none comes the research ends with what it found listed (`Report.markdown()`). A report
the token limit cuts off is kept as far as it got, and says so. A page too long for the context is cut to fit (the
last one read, also to make room for the report); when nothing is left to cut and the next turn still has no room,
the research ends there as if cut by the token limit (`Report.cut_off` "context"), not with an error that would
lose what it found. Whatever the ending, `Report.found` keeps every search result. When the question is in
Chinese, so are the budget note the model reads and the report's notes.

Result numbers run on across searches within one research session, so every citation names one source. The
checkpoint's template carries Rumination's fixed system prompt; with a template that has none (e.g. a small test
model), our own short English instruction for the four actions is used. A malformed action becomes an
observation saying what was wrong, as for tool calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

from ...cjk import writes_chinese
from ...engine import SamplingParams
from ...errors import PromptTooLongError
from ...tools import (
    Tool,
    ToolArgumentError,
    ToolCall,
    ToolCallFormatError,
    ToolResult,
    opens_json_object,
    parse_arguments,
    strip_code_fence,
)
from ...tools import validate_arguments as _validate
from ..backend import Backend
from ..conversation import Conversation
from ..errors import ChatError
from ..events import Done, Event, FinishReason, ToolCallEvent, ToolResultEvent
from ..messages import AssistantMessage, Message, ObservationMessage, UserMessage, halve_observation
from ..response import Response
from ..template import ChatTemplate
from ..turn import TurnOutcome, leaves_room, run_turn
from .pages import DOCUMENT_SUFFIXES, MAX_DOCUMENT_BYTES, Fetcher
from .report import Language, Report
from .search import LocalCorpus, SearchBackend
from .session import ResearchSession, format_results

__all__ = [
    "MAX_TURNS",
    "RUMINATION_SAMPLING",
    "ResearchResponse",
    "Rumination",
    "format_results",
    "parse_action",
    "rumination_system_prompt",
]

MAX_TURNS = 35  # FORMAT.md: the reference loop allows at most 35 turns
RUMINATION_SAMPLING = SamplingParams(temperature=0.95, top_p=0.7, max_new_tokens=16384)
_ACTIONS = {
    "search": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    "click": {"type": "object", "properties": {"link_id": {"type": "integer"}}, "required": ["link_id"]},
    "open": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    "finish": {"type": "object", "properties": {}},
}
_T = TypeVar("_T")
_Steps = Generator[Event, None, _T]  # a step of the loop: its events, then what it returns (use `yield from`)


def rumination_system_prompt(today: date) -> str:
    """Our own instruction for templates without Rumination's fixed prompt."""
    return (
        "You are a research assistant with a simple browser. Research the user's question step by step, then "
        f"write a clear, well organised report that answers it. Today is {today.isoformat()}.\n\n"
        "After thinking, take exactly one action per turn by writing one JSON object, "
        '{"name": <action>, "arguments": {...}}. Actions:\n'
        "- search(query: str): search for documents; each result comes back as 【id†title†url】 and a snippet.\n"
        "- click(link_id: int): read the full text of the search result with that id.\n"
        "- open(url: str): read the text of a URL, a domain or a file path.\n"
        "- finish(): stop researching; you will then write the report.\n\n"
        "Check important facts in more than one source. In the report, cite the sources you used as 【id†source】 "
        "right after the statements they support."
    )


class ResearchResponse(Response):
    """A `Response` whose stream is a research session; `report()` gives the final report and its sources, and
    what was found however the research ended (`finish_reason` "round_limit": the turns ran out first)."""

    def __init__(self, run: Callable[[Response], Iterator[Event]], on_message: Callable[[Message], None]) -> None:
        super().__init__(run, on_message)
        self._report = Report("", ())

    def report(self) -> Report:
        self.finish()
        return self._report

    def set_report(self, report: Report) -> None:
        self._report = report


def parse_action(text: str) -> ToolCall | None:
    """The action in a Rumination answer (thinking already removed); None when the text is not an action (a
    report); a call with `.error` set when it is a malformed one."""
    body = strip_code_fence(text)
    if not body.startswith("{"):
        body = _trailing_action(text)
        if body is None:
            return None
    try:
        action = parse_arguments(body)
    except ToolCallFormatError:  # its message describes the tool-call format, not Rumination's actions
        return ToolCall("", error='not a JSON object; write one action, e.g. {"name": "search", "arguments": '
                        '{"query": "..."}}', raw=text)  # fmt: skip
    name, arguments = action.get("name"), action.get("arguments", {})
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return ToolCall("", error='write {"name": <action>, "arguments": {...}}', raw=text)
    if name not in _ACTIONS:
        return ToolCall(
            name, arguments, error=f"unknown action {name!r}; use search, click, open or finish", raw=text
        )
    try:
        return ToolCall(name, _validate(Tool(name, "", _ACTIONS[name]), arguments), raw=text)
    except ToolArgumentError as e:
        return ToolCall(name, arguments, error="; ".join(e.problems), raw=text)


_TRAILING_TRIES = 8  # the last lines that open an object, tried as the start of an action written after text
_LINE_OPENS_OBJECT = re.compile(r"^(?:\{|```)", re.MULTILINE)  # a line that begins a JSON object, bare or fenced


def _trailing_action(text: str) -> str | None:
    """The action a turn wrote after a few words of its own ("Let me search.\n{...}"), as one JSON object (maybe in
    a code fence) that ends the text and names an action; None when the text does not end with one (a report)."""
    if not text.rstrip().endswith(("}", "```")):
        return None  # a report, as most are: no object at its end to look for
    starts = [m.start() for m in _LINE_OPENS_OBJECT.finditer(text)]
    for start in reversed(starts[-_TRAILING_TRIES:]):  # each try parses the rest of the text: a code-heavy report
        body = strip_code_fence(text[start:])  # would take seconds with every line that opens an object tried
        try:
            name = parse_arguments(body).get("name")
        except ToolCallFormatError:
            continue
        return body if name in _ACTIONS else None
    return None


class Rumination:
    """Deep research with GLM-Z1-Rumination: `Rumination(backend, corpus="docs/").run(question)`."""

    def __init__(
        self,
        backend: Backend,
        *,
        search: SearchBackend | None = None,
        corpus: str | Path | None = None,
        fetch: Fetcher | None = None,
        local_roots: Sequence[str | Path] = (),
        template: str | None = None,
        system: str | None = None,
        sampling: SamplingParams = RUMINATION_SAMPLING,
        max_turns: int = MAX_TURNS,
        results_per_search: int = 5,
        page_chars: int = 8000,
    ):
        _check_count("max_turns", max_turns, MAX_TURNS, "leaves the research no turn to act in")
        _check_count("results_per_search", results_per_search, 5, "leaves every search empty")
        _check_count("page_chars", page_chars, 8000, "leaves every page it reads empty")
        if (search is None) == (corpus is None):
            raise ChatError("Give the research one thing to search: corpus='folder/' or search=YourSearchBackend().")
        self.backend = backend
        self.search = search if search is not None else LocalCorpus(corpus)
        self.fetch = fetch
        roots = [Path(r).expanduser() for r in local_roots]
        suffixes, self.max_document_bytes = DOCUMENT_SUFFIXES, MAX_DOCUMENT_BYTES
        if isinstance(self.search, LocalCorpus):
            roots.append(self.search.folder)
            suffixes = tuple(dict.fromkeys(DOCUMENT_SUFFIXES + self.search.suffixes))
            self.max_document_bytes = self.search.max_document_bytes
        self.local_roots = tuple(roots)
        self.local_suffixes = suffixes  # the local files `open` and `click` may read
        self.template = ChatTemplate(template or backend.chat_template or "")
        self.system = system  # for a template without the fixed prompt; default: rumination_system_prompt()
        self.sampling = sampling
        self.max_turns = max_turns
        self.results_per_search = results_per_search
        self.page_chars = page_chars
        probe = self.template.render([{"role": "user", "content": "?"}], add_generation_prompt=True)
        self.has_own_prompt = "<|system|>" in probe  # the real checkpoint's template carries the fixed prompt

    def run(self, question: str) -> ResearchResponse:
        """Start researching `question` (lazily, like any Response)."""
        system = None if self.has_own_prompt else (self.system or rumination_system_prompt(date.today()))
        conversation = Conversation(self.backend, system=system, template=self.template, force_thinking=True)
        conversation.add(UserMessage(question))
        language: Language = "zh" if writes_chinese(question) else "en"
        return ResearchResponse(lambda r: self._research(r, conversation, language), conversation.add)

    def _research(
        self, response: ResearchResponse, conversation: Conversation, language: Language
    ) -> Iterator[Event]:
        session = ResearchSession(self, language)
        try:
            for _ in range(self.max_turns):
                finish = yield from self._step(response, conversation, session)
                if finish is not None:
                    break
            else:  # every turn ran an action and none was `finish`: the budget is spent
                finish = yield from self._last_turn(response, conversation, session)
            if finish == "cancelled":
                session.cut_off = session.cut_off or "interrupted"
        except _ContextFull:  # no room for the next turn: the research ends with what it has, as at a token limit
            session.cut_off, finish = "context", "length"
        except KeyboardInterrupt:  # in a generation, a search or a page's fetch
            last = conversation.messages[-1] if conversation.messages else None
            if isinstance(last, AssistantMessage) and last.end == "interrupted" and not session.report_text:
                session.report_text = last.text if session.writing_report else _report_so_far(last)
            session.cut_off = session.cut_off or "interrupted"
            raise
        finally:  # an interrupt or an error too: what the research found stays in its report
            response.set_report(session.report())
        yield Done(finish, response.usage_so_far, bool(session.last and session.last.thinking_cut_off))

    def _step(
        self, response: Response, conversation: Conversation, session: ResearchSession
    ) -> _Steps[FinishReason | None]:
        """One turn and its action; why the research ended, or None to go on."""
        if response.cancelled:  # cancelled while an action ran: no new turn (a prefill of the whole history)
            return "cancelled"
        action, finish = yield from self._turn_action(response, conversation, session)
        if action is None:
            return finish
        result = _not_run(action, "the user interrupted the research")
        try:
            result = session.act(action)
        finally:  # a KeyboardInterrupt in a slow search or fetch: the action still gets its observation
            response.record(ObservationMessage.from_result(result))
        yield ToolResultEvent(result)
        return None

    def _last_turn(
        self, response: Response, conversation: Conversation, session: ResearchSession
    ) -> _Steps[FinishReason]:
        """The turns ran out before `finish`: an observation says so, and one more turn may write the report (as
        text, or `finish` and then the report). Any other action is not run: the research ends without a report."""
        session.turn_limit = self.max_turns
        if response.cancelled:
            return "cancelled"
        note = ObservationMessage(_BUDGET_SPENT[session.language].format(n=self.max_turns), name="budget")
        response.record(note)
        action, finish = yield from self._turn_action(response, conversation, session, keep=(note,))
        if action is not None:
            result = ToolResult.failure(action, "not_run", _BUDGET_NOT_RUN[session.language])
            response.record(ObservationMessage.from_result(result))
            yield ToolResultEvent(result)
        return "round_limit" if finish == "stop" else finish

    def _turn_action(
        self, response: Response, conversation: Conversation, session: ResearchSession, keep: tuple[Message, ...] = ()
    ) -> _Steps[tuple[ToolCall | None, FinishReason]]:
        """A turn: its action, to run; or (None, why the research ended) after a report, `finish` and the report
        it asks for (FORMAT.md), or a turn cut short (a report the token limit cut is kept as far as it got; an
        action it cut is not run). `keep`: the last messages, not pages, that no cut may shorten (see `_turn`)."""
        message = yield from self._generate(response, conversation, session, keep)
        finish = _stopped(message)
        if finish == "cancelled":
            session.report_text = _report_so_far(message)
            return None, finish
        action = parse_action(message.text) if message.thinking_complete else _unclosed_thinking(message)
        if action is None:  # plain text instead of an action: the model wrote its report
            session.report_text = message.text
            return None, finish or "stop"
        if finish is not None:
            return None, finish
        yield ToolCallEvent(action)
        if response.cancelled:
            response.record(ObservationMessage.from_result(_not_run(action, "the user cancelled the research")))
            return None, "cancelled"
        if action.name != "finish" or action.error is not None:
            return action, "stop"
        # One more turn writes the report; to make room for it, the page before the `finish` call may be cut.
        session.writing_report = True
        message = yield from self._generate(response, conversation, session, (*keep, conversation.messages[-1]))
        session.report_text = message.text  # as far as it got, when a token limit or an interrupt cut it off
        return None, _stopped(message) or "stop"

    def _generate(
        self, response: Response, conversation: Conversation, session: ResearchSession, keep: tuple[Message, ...] = ()
    ) -> _Steps[AssistantMessage]:
        outcome = yield from self._turn(response, conversation, keep)
        response.usage_so_far = response.usage_so_far + outcome.usage
        session.last = outcome.message
        if outcome.message.end == "length":  # the context's limit when it left less room than the answer's own
            context = self.backend.context_length
            if context:
                by_context = outcome.usage.prompt_tokens + self.sampling.max_new_tokens > context
            else:  # a backend that cannot say its context: a turn cut short of max_new_tokens met its end there
                by_context = outcome.usage.new_tokens < self.sampling.max_new_tokens
            session.cut_off = "context" if by_context else "max_new_tokens"
        return outcome.message

    def _turn(self, response: Response, conversation: Conversation, keep: tuple[Message, ...]) -> _Steps[TurnOutcome]:
        """One generation. When the page just read leaves the answer no room in the model's context (or makes the
        prompt too long for it), that page is cut (its head kept, the cut said) until it does; the research goes
        on. With no such page left, `_ContextFull` ends the research. `keep`: the last messages, which are not
        pages (the budget note, the `finish` call), left whole: the page before them is cut."""
        while True:
            if not leaves_room(self.backend, conversation.prompt(), self.sampling):
                if _cut_last_page(response, conversation, keep):
                    continue
                if any(isinstance(m, ObservationMessage) for m in conversation.messages):
                    raise _ContextFull  # what it has read leaves no room for the next answer
            try:
                return (yield from run_turn(
                    self.backend, conversation.prompt(), self.sampling, cancel=response.cancel_event,
                    commit=response.record, tool_calls=False,
                ))  # fmt: skip
            except PromptTooLongError as e:  # raised before anything was generated: nothing to take back
                if not any(isinstance(m, ObservationMessage) for m in conversation.messages):
                    raise  # the question alone is too long: the engine's message says what to do
                if not _cut_last_page(response, conversation, keep):  # a backend that cannot count tokens
                    raise _ContextFull from e


class _ContextFull(Exception):
    """The research no longer fits the model's context, and no page is left to cut: it ends, with what it has
    (never raised out of `Rumination._research`, which catches it)."""


def _report_so_far(message: AssistantMessage) -> str:
    """The text of a turn interrupted while it wrote a report instead of an action ("" otherwise): an action is a
    JSON object, maybe in a code fence (``` or its first backticks, cut off), a report is not."""
    text = message.text
    return "" if not text.strip() or opens_json_object(text) else text


def _unclosed_thinking(message: AssistantMessage) -> ToolCall | None:
    """A turn that ended inside its thinking (no `</think>`, so no action and no report): a malformed action, so that
    the model is told and tries again, rather than an empty report ending the research. None when a token limit or an
    interrupt cut it (those end the research as such)."""
    if message.end != "stop":
        return None
    return ToolCall("", error="your turn ended inside your thinking, without </think>. Close your thinking with "
                    '</think>, then write one action, e.g. {"name": "search", "arguments": {"query": "..."}}, or '
                    "your report", raw=message.thinking or "")  # fmt: skip


def _not_run(call: ToolCall, why: str) -> ToolResult:
    return ToolResult.failure(call, "not_run", f"Not run: {why}.")


def _cut_last_page(response: Response, conversation: Conversation, keep: tuple[Message, ...] = ()) -> bool:
    """Halve the last observation (what the last action read), passing over the messages in `keep` at the end;
    False when there is none worth cutting."""
    messages = list(conversation.messages)
    index = len(messages) - 1
    while index >= 0 and any(messages[index] is m for m in keep):
        index -= 1
    page = messages[index] if index >= 0 else None
    cut = halve_observation(page) if isinstance(page, ObservationMessage) else None
    if cut is None:
        return False
    conversation.rewind(index)
    conversation.add(cut, *messages[index + 1 :])
    response.replace_message(page, cut)
    return True


def _check_count(name: str, value: object, default: int, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ChatError(f"{name}={value!r} {why}: give a whole number, at least 1 (the default is {default}).")


# What the model reads when its turns ran out (no more actions, write the report now), in the question's language
_BUDGET_SPENT: dict[Language, str] = {
    "en": "The research budget is spent: all {n} turns are used, and no more actions will run. Write your final "
    "report now, from the sources you have read, and cite them as 【id†source】.",
    "zh": "研究预算已用完：全部 {n} 轮都已用掉，不会再执行任何操作。现在请根据已读过的资料写出最终报告，"
    "并用【id†source】引用它们。",
}
_BUDGET_NOT_RUN: dict[Language, str] = {
    "en": "Not run: the research budget is spent.",
    "zh": "未执行：研究预算已用完。",
}


def _stopped(message: AssistantMessage) -> FinishReason | None:
    if message.end == "interrupted":
        return "cancelled"
    return "length" if message.end == "length" else None
