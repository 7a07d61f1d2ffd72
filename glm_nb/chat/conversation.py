"""`Conversation`: history, prompt rendering with the model's template, and the tool-calling loop.

Each turn renders the whole history with the checkpoint's own chat template (FORMAT.md, "Prompt format") and asks
the backend to continue it; `LocalBackend` reuses the KV cache for the common prefix, so a follow-up turn only
computes its new tokens. When the model calls tools (FORMAT.md, "What the model emits"), each call is validated
and run, its result goes back as an observation, and the model continues, until it answers in plain text or
`max_tool_rounds` (at least 1) is reached. A call that repeats, exactly, one refused as invalid earlier in the
reply is not run and the reply ends (`Done.repeated_failed_call`). One that already ran twice in it and returned the
same result both times is not run either, and the model is asked to answer with what it has; if it loops again, the
reply ends (`Done.looping_call`; see `tool_rounds`, and `@tool(repeatable=True)` for a tool polled on purpose).
A conversation that declares no tools reads every answer as text, as an OpenAI-style server answers a request
without tools: a model that writes a call anyway (a small one may) ends its turn there, nothing runs, no error goes
back to it to retry, and `Done.undeclared_tool_call` says so; several such calls show a paragraph apart. GLM-Z1
(FORMAT.md, "GLM-Z1"): a template whose generation prompt ends with `<think>` forces thinking; `force_thinking=True`
forces it with any template; history keeps only the answers. A turn that ends inside its thinking has no answer:
`Done` says whether the token limit cut it (`thinking_cut_off`) or the model stopped there itself
(`stopped_in_thinking`).

A history that fills the context is refused (`PromptTooLongError`) or cuts the answer short, unless
`drop_old_turns=True` drops its oldest turns (see `context_overflow`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..engine import SamplingParams
from ..errors import PromptTooLongError
from ..tools import (
    DEFAULT_TIMEOUT_S,
    ConfirmHook,
    RunningToolCall,
    Tool,
    ToolCall,
    ToolDefinitionError,
    ToolResult,
    running_tool_calls,
)
from .backend import Backend
from .context_overflow import DROP_HEADROOM, DroppedTurns, halve_longest_result
from .errors import ChatError, ChatTemplateError
from .events import Done, Event, FinishReason, Usage
from .messages import (
    AssistantMessage,
    Message,
    ObservationMessage,
    SystemMessage,
    UserMessage,
    messages_from_openai,
    messages_to_openai,
    messages_to_template,
)
from .response import Response
from .streaming import THINK_OPEN
from .template import ChatTemplate
from .tool_rounds import NOT_RUN_BECAUSE, CallLog, Repeat, run_calls, skip_calls
from .turn import OBSERVATION_TOKEN, leaves_room, run_turn

__all__ = ["CHAT_SAMPLING", "DROP_HEADROOM", "Z1_SAMPLING", "Conversation", "as_tool"]


# FORMAT.md, "Sampling defaults seen in official demos" and "GLM-Z1" (recommended sampling).
CHAT_SAMPLING = SamplingParams(temperature=0.6, top_p=0.8, max_new_tokens=2048)
Z1_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, top_k=40, max_new_tokens=30000)

ToolLike = Tool | Callable[..., Any] | Mapping[str, Any]


def as_tool(spec: ToolLike) -> Tool:
    """A Tool from a Tool, a typed function, or an OpenAI-style dict."""
    if isinstance(spec, Tool):
        return spec
    if isinstance(spec, Mapping):
        return Tool.from_dict(spec)
    return Tool.from_function(spec)


class Conversation:
    """A chat with one model. `send(text)` returns a streaming `Response`; history updates as it streams."""

    def __init__(
        self,
        backend: Backend,
        *,
        system: str | None = None,
        tools: Sequence[ToolLike] = (),
        messages: Iterable[Message | Mapping[str, Any]] = (),
        template: str | ChatTemplate | None = None,
        sampling: SamplingParams | None = None,
        force_thinking: bool = False,
        max_tool_rounds: int = 8,
        tool_timeout: float | None = DEFAULT_TIMEOUT_S,
        confirm: ConfirmHook | None = None,
        drop_old_turns: bool = False,
    ):
        self.backend = backend
        self.template = _template(template, backend)
        self.tools: tuple[Tool, ...] = tuple(as_tool(t) for t in tools)
        self._tool_map = {t.name: t for t in self.tools}
        if len(self._tool_map) < len(self.tools):  # the model could call only one of them, and which is unclear
            names = [t.name for t in self.tools]
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ToolDefinitionError(
                f"Two tools are named {', '.join(map(repr, twice))}; give one another name, e.g. "
                "Tool.from_function(fn, name='...')."
            )
        self.force_thinking = force_thinking
        self.max_tool_rounds = _check_tool_rounds(max_tool_rounds)
        self.tool_timeout = tool_timeout
        self.confirm = confirm
        self.drop_old_turns = drop_old_turns
        self._messages: list[Message] = [SystemMessage(system)] if system else []
        self._messages += messages_from_openai(messages)
        self.thinking = force_thinking or self._render([UserMessage("?")]).rstrip().endswith(THINK_OPEN)
        self.sampling = sampling or (Z1_SAMPLING if self.thinking else CHAT_SAMPLING)
        self._current: Response | None = None

    @classmethod
    def from_openai(
        cls,
        backend: Backend,
        messages: Iterable[Mapping[str, Any]],
        *,
        tools: Sequence[ToolLike] = (),
        **options: Any,
    ) -> Conversation:
        """A conversation continuing OpenAI-style `messages` (`role: "tool"` becomes an observation)."""
        return cls(backend, messages=messages, tools=tools, **options)

    # -- history --------------------------------------------------------------------------------------------------
    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    def add(self, *messages: Message | Mapping[str, Any]) -> None:
        """Append messages (values or OpenAI/GLM dicts) to the history as they are."""
        self._finish_current()
        self._messages += messages_from_openai(messages)

    def add_tool_result(self, call: ToolCall, value: Any) -> None:
        """Answer a call that was handed back (finish reason "tool_calls"); then `respond()` continues. The
        result takes its call's place among the turn's results: GLM pairs results with calls by position."""
        self.add(ObservationMessage.from_result(ToolResult.success(call, value)))
        self._order_results()

    def _order_results(self) -> None:
        """The results after the last calls, in the order of those calls (those of other ids after them)."""
        end = len(self._messages)
        start = end
        while start > 0 and isinstance(self._messages[start - 1], ObservationMessage):
            start -= 1
        caller = self._messages[start - 1] if start > 0 else None
        if not isinstance(caller, AssistantMessage) or not caller.tool_calls:
            return
        order = {call.id: index for index, call in enumerate(caller.tool_calls)}
        results = self._messages[start:end]
        self._messages[start:end] = sorted(results, key=lambda m: order.get(m.tool_call_id, len(order)))

    def clear(self) -> None:
        """Forget the turns; system messages stay. A reply not yet started is dropped without being generated."""
        self._finish_current(discard=True)
        self._messages = [m for m in self._messages if isinstance(m, SystemMessage)]

    def rewind(self, length: int) -> None:
        """Keep only the first `length` messages, e.g. `len(conversation.messages)` taken before a turn, to redo
        it. A running response is cancelled first; one not yet started is dropped without being generated. The next
        turn computes only the tokens after what remains in the KV cache (the backend reuses the longest common
        prefix). With `drop_old_turns`, a reply that dropped turns shifts the lengths taken before it by the messages
        it dropped."""
        self._finish_current(discard=True)
        if not 0 <= length <= len(self._messages):
            raise ChatError(
                f"Cannot rewind to {length} messages: the conversation has {len(self._messages)}. Pass a length "
                "taken from len(conversation.messages) earlier."
            )
        del self._messages[length:]

    def running_tool_calls(self) -> tuple[RunningToolCall, ...]:
        """This conversation's tool calls still running in the background after their timeout (or an interrupt):
        Python cannot stop them, their results are dropped, and they may still change what they work on."""
        ids = {call.id for m in self._messages if isinstance(m, AssistantMessage) for call in m.tool_calls}
        return tuple(r for r in running_tool_calls() if r.call.id in ids)

    def leaves_room(self) -> bool:
        """Whether the history leaves the next answer room in the backend's context (an eighth of it, or the
        answer's `max_new_tokens` if less); False once the conversation fills it and only a shorter one can go on."""
        return leaves_room(self.backend, self.prompt(), self.sampling)

    def to_openai(self, *, strict: bool = False) -> list[dict[str, Any]]:
        """The history as OpenAI chat messages; `strict=True` leaves out the keys OpenAI's API refuses
        (`reasoning_content`, a failed tool result's `status`, a cut-short turn's `end` and `thinking_complete`:
        see `messages_to_openai`)."""
        return messages_to_openai(self._messages, strict=strict)

    def prompt(self) -> str:
        """The prompt text the next turn will send (history + tools + generation prompt)."""
        return self._render(self._messages)

    def _render(self, messages: Sequence[Message]) -> str:
        text = self.template.render(
            messages_to_template(messages), tools=[t.to_dict() for t in self.tools], add_generation_prompt=True
        )
        if self.force_thinking and not text.rstrip().endswith(THINK_OPEN):
            text += "\n" + THINK_OPEN  # FORMAT.md, "GLM-Z1": the generation prompt ends `<|assistant|>\n<think>`
        return text

    # -- turns ----------------------------------------------------------------------------------------------------
    def send(self, content: str, *, sampling: SamplingParams | None = None) -> Response:
        """Add a user message and return the (lazy) streaming response to it."""
        self._finish_current()
        start = len(self._messages)
        self._messages.append(UserMessage(content))
        return self._start(start, sampling)

    def respond(self, *, sampling: SamplingParams | None = None) -> Response:
        """Let the assistant continue from the history as it is (e.g. after `add_tool_result`)."""
        self._finish_current()
        return self._start(len(self._messages), sampling)

    def _start(self, rollback_to: int, sampling: SamplingParams | None) -> Response:
        response = Response(lambda r: self._reply(r, rollback_to, sampling or self.sampling), self._append)
        self._current = response
        return response

    def _append(self, message: Message) -> None:
        self._messages.append(message)

    def _finish_current(self, discard: bool = False) -> None:
        """One response at a time: finish the previous one (cancelled if it was left midway; never run at all
        when `discard` and it has not started)."""
        current = self._current
        if current is not None and not current.done:
            if discard and not current.started:
                current.discard()
                return
            if current.started:
                current.cancel()
            current.finish()

    def _reply(self, response: Response, rollback_to: int, sampling: SamplingParams) -> Iterator[Event]:
        dropped = DroppedTurns()
        try:
            yield from self._tool_loop(response, sampling, dropped)
        except PromptTooLongError:
            self._roll_back(response, rollback_to, dropped)  # the conversation is as it was before this turn
            response.forget_messages()
            raise
        except Exception:
            if not response.recorded:  # refused before anything was generated (a server down, a 401): sending
                self._roll_back(response, rollback_to, dropped)  # again must not ask the question twice
            raise

    def _roll_back(self, response: Response, rollback_to: int, dropped: DroppedTurns) -> None:
        """Remove this turn's messages and put back the turns it dropped, where they were."""
        dropped.roll_back(self._messages, rollback_to)
        response.dropped_turns = 0

    def _tool_loop(self, response: Response, sampling: SamplingParams, dropped: DroppedTurns) -> Iterator[Event]:
        usage, last, stop = Usage(), None, None
        finish: FinishReason | None = None
        log = CallLog(t.name for t in self.tools if t.repeatable)  # this reply's calls, for the repeats not to run
        ended_by: list[Repeat] = []  # why the repeats that ended the reply were not run
        loop_refused = False  # a looping round was not run, and the model was asked to answer with what it has
        for round_index in range(self.max_tool_rounds + 1):
            if response.cancelled:
                break
            outcome = yield from self._fitted_turn(response, sampling, dropped)
            usage = response.usage_so_far = usage + outcome.usage
            last, stop = outcome.message, outcome.stop
            finish = self._finish_reason(last, round_index)
            repeats = log.repeats(last.tool_calls) if finish is None else None
            if repeats:  # running them again would only repeat what the model already has
                yield from skip_calls(response, [(c, NOT_RUN_BECAUSE[r]) for c, r in zip(last.tool_calls, repeats)])
                if "failed" not in repeats and not loop_refused:
                    loop_refused = True  # the model reads why, and answers (a round left: round_index < max)
                    continue
                finish, ended_by = "stop", repeats
            if finish == "round_limit":
                yield from skip_calls(
                    response, [(c, "the limit of tool rounds was reached") for c in last.tool_calls]
                )
            if finish is not None:
                break
            runnable = [c for c in last.tool_calls if not self._handed_back(c)]
            results = yield from run_calls(
                response, runnable, self._tool_map, timeout=self.tool_timeout, confirm=self.confirm
            )
            log.add(results)
            if len(runnable) < len(last.tool_calls):
                finish = "tool_calls"  # tools without a function: the caller runs them, then calls respond()
                break
        yield Done(
            finish or "cancelled",
            usage,
            thinking_cut_off=bool(last and last.thinking_cut_off),
            stopped_in_thinking=bool(last and last.stopped_in_thinking),
            undeclared_tool_call=not self.tools and stop == OBSERVATION_TOKEN,
            repeated_failed_call="failed" in ended_by,
            looping_call="looping" in ended_by,
        )

    def _fitted_turn(self, response: Response, sampling: SamplingParams, dropped: DroppedTurns) -> Iterator[Event]:
        """One model turn. With `drop_old_turns`, while the prompt leaves the answer no room in the context (or is
        too long for it), the oldest turn goes first. Then, when the tool results just added still leave no room,
        the longest of them is cut (its head kept, the cut said) until they do: the tools already ran, with their
        side effects, so rolling back the user's message is the last resort, not the first."""
        # message index -> the result as the tool gave it. Turns are dropped before any result is cut (once a cut is
        # made, no older turn is left to drop), so these indices stay valid.
        originals: dict[int, ObservationMessage] = {}
        while True:
            after_results = bool(self._messages) and isinstance(self._messages[-1], ObservationMessage)
            if (self.drop_old_turns or after_results) and not leaves_room(self.backend, self.prompt(), sampling):
                if self.drop_old_turns and self._drop_oldest_turn(response, dropped):
                    dropped.drop_for_headroom(
                        self._messages,
                        lambda kept: leaves_room(self.backend, self._render(kept), sampling, DROP_HEADROOM),
                    )
                    response.dropped_turns = len(dropped)
                    continue
                if after_results and self._cut_longest_result(response, originals):
                    continue
            try:
                return (yield from run_turn(
                    self.backend, self.prompt(), sampling, cancel=response.cancel_event, commit=response.record,
                    tool_calls=bool(self.tools), tool_names=tuple(self._tool_map),
                ))  # fmt: skip
            except PromptTooLongError:  # raised before the backend streams anything: nothing to take back
                if self.drop_old_turns and self._drop_oldest_turn(response, dropped):
                    continue
                if not self._cut_longest_result(response, originals):
                    for index, original in originals.items():  # no cut was enough: the results stay as they were
                        self._replace(response, index, original)
                    raise

    def _drop_oldest_turn(self, response: Response, dropped: DroppedTurns) -> bool:
        if not dropped.drop_oldest(self._messages):
            return False
        response.dropped_turns = len(dropped)
        return True

    def _cut_longest_result(self, response: Response, originals: dict[int, ObservationMessage]) -> bool:
        """Halve the longest result of the last tool round; False when none is worth cutting."""
        if (found := halve_longest_result(self._messages)) is None:
            return False
        index, cut = found
        originals.setdefault(index, self._messages[index])
        self._replace(response, index, cut)
        return True

    def _replace(self, response: Response, index: int, message: Message) -> None:
        response.replace_message(self._messages[index], message)
        self._messages[index] = message

    def _finish_reason(self, message: AssistantMessage, round_index: int) -> FinishReason | None:
        """Why the loop ends after this turn, or None to run its calls and go on."""
        if message.end == "interrupted":
            return "cancelled"
        if message.end == "length":
            return "length"
        if not message.tool_calls:
            return "stop"
        return "round_limit" if round_index >= self.max_tool_rounds else None

    def _handed_back(self, call: ToolCall) -> bool:
        """A well-formed call to a tool that has no Python function here (declared with an OpenAI dict)."""
        tool = self._tool_map.get(call.name)
        return call.error is None and tool is not None and tool.function is None

    def __repr__(self) -> str:
        return f"<Conversation with {self.backend.name}: {len(self._messages)} messages, {len(self.tools)} tools>"


def _template(template: str | ChatTemplate | None, backend: Backend) -> ChatTemplate:
    if isinstance(template, ChatTemplate):
        return template
    source = template if template is not None else backend.chat_template
    if source is None:
        raise ChatTemplateError(
            f"{backend.name} has no chat template. Pass template=... (the model's tokenizer_config.json "
            "'chat_template'), e.g. Conversation(backend, template=open('chat_template.jinja').read())."
        )
    return ChatTemplate(source)


def _check_tool_rounds(value: object) -> int:
    """`max_tool_rounds` must leave the model a round: with none, its calls could only end its reply unrun, empty."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ChatError(
            f"max_tool_rounds={value!r} leaves the model no round to run its tool calls in: give a whole number, "
            "at least 1 (the default is 8). For a chat in which no tool runs, pass no tools (a call the model writes "
            "anyway is then its answer text), or declare them as dicts (Tool.from_dict) to run each call yourself."
        )
    return value
