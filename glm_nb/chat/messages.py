"""Message values, and their two dict forms: GLM's template dicts and OpenAI-style chat messages.

FORMAT.md, "Prompt format": a tool call in GLM history is an assistant message with `metadata = <tool name>` and
`content = <arguments JSON>`; a tool result is role `observation` (OpenAI's `role: "tool"`). FORMAT.md, "GLM-Z1":
thinking is stripped from history, so an assistant's `thinking` never reaches the template.

    SystemMessage("You are helpful.")            {"role": "system", "content": ...}
    UserMessage("Weather in Paris?")             {"role": "user", "content": ...}
    AssistantMessage(text, thinking, calls)      {"role": "assistant", "content": text}
                                                 + {"role": "assistant", "metadata": name, "content": args} per call
    ObservationMessage(content, tool_call_id)    {"role": "observation", "content": ...}

In OpenAI form a failed observation (status invalid, error, timeout, declined, not_run) carries its status as an
extra `"status"` key on its `role: "tool"` message, as the assistant message carries vLLM's `reasoning_content`;
a successful one has none, so it stays plain OpenAI. An assistant turn cut short says how in the same way (`"end":
"length"` or `"interrupted"`, and `"thinking_complete": false` when it ended inside its thinking, so a turn with no
answer reads back as one); one that ended as asked has neither. Servers that ignore unknown message keys (vLLM,
SGLang, glm-nb serve) take it as it is; the content itself already says what went wrong (`{"error": ...}`).
OpenAI's own API validates each message against its schema and refuses a key it does not define (a 400,
"Additional properties are not allowed ('...' was unexpected) - 'messages.N'"), as Mistral's and Anthropic's do:
`messages_to_openai(..., strict=True)` leaves these keys out, for sending the conversation on to such an API
(reading it back then takes a failed result for ok and loses the thinking), and the result of a turn that stopped
for one but wrote no call (it answers no call the API could pair it with, which it refuses too).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..tools import ToolCall, ToolCallFormatError, ToolResult, ToolStatus, parse_arguments
from .errors import MessageFormatError

__all__ = [
    "CONTROL_TOKENS",
    "AssistantEnd",
    "AssistantMessage",
    "Message",
    "ObservationMessage",
    "SystemMessage",
    "UserMessage",
    "message_from_dict",
    "messages_from_openai",
    "messages_to_openai",
    "messages_to_template",
    "neutralize_control_tokens",
]

# stop: the model ended its turn; tool_calls: it asked for tools; length: the token limit cut it;
# interrupted: cancelled or interrupted (KeyboardInterrupt) while it was being written.
AssistantEnd = Literal["stop", "tool_calls", "length", "interrupted"]


@dataclass(frozen=True)
class SystemMessage:
    content: str


@dataclass(frozen=True)
class UserMessage:
    content: str


@dataclass(frozen=True)
class AssistantMessage:
    text: str = ""
    thinking: str | None = None  # None: no thinking section; "" : an empty one
    tool_calls: tuple[ToolCall, ...] = ()
    end: AssistantEnd = "stop"
    thinking_complete: bool = True  # False when the turn ended inside its thinking (no `</think>` seen)

    @property
    def thinking_cut_off(self) -> bool:
        """The token limit ended the turn inside the thinking section: there is no answer."""
        return self.end == "length" and self.thinking is not None and not self.thinking_complete

    @property
    def stopped_in_thinking(self) -> bool:
        """The model ended the turn itself (a stop token, not the token limit) inside the thinking section: there
        is no answer."""
        return self.end == "stop" and self.thinking is not None and not self.thinking_complete


@dataclass(frozen=True)
class ObservationMessage:
    content: str
    tool_call_id: str | None = None
    name: str | None = None
    status: ToolStatus = "ok"

    @classmethod
    def from_result(cls, result: ToolResult) -> ObservationMessage:
        """The observation the model reads; control tokens in the result are neutralized (see below)."""
        return cls(neutralize_control_tokens(result.content), result.call.id, result.call.name, result.status)


# FORMAT.md, "Tokenizer": these strings are special tokens, and the tokenizer encodes them as such even inside
# message text. A tool result or a web page containing "<|user|>" would otherwise end the observation and speak
# as the user (prompt injection).
CONTROL_TOKENS = (
    "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>",
    "[gMASK]", "[sMASK]", "[MASK]", "<sop>", "<eop>",
)  # fmt: skip
_WORD_JOINER = "\u2060"  # invisible; splits the string so that it no longer matches a special token
# Every `<|name|>` too: the image and video markers (151339..151342) and whatever a checkpoint's tokenizer adds.
_CONTROL = re.compile("|".join([r"<\|[A-Za-z0-9_]+\|>", *(re.escape(t) for t in CONTROL_TOKENS)]))


def neutralize_control_tokens(text: str) -> str:
    """`text` with every GLM special-token string broken by an invisible word joiner, so it stays plain text."""
    return _CONTROL.sub(lambda m: m.group(0)[0] + _WORD_JOINER + m.group(0)[1:], text)


Message = SystemMessage | UserMessage | AssistantMessage | ObservationMessage

_THINK_CLOSE = "</think>"
MIN_CUT_CHARS = 64  # a tool result or page this short is not cut further: the turn is out of context instead
_NOT_SHOWN = re.compile(r"\n…\[(\d+) more characters not shown\]$")


def not_shown(count: int) -> str:
    """The note that ends a text whose last `count` characters were left out."""
    return f"\n…[{count} more characters not shown]"


def halve_observation(message: ObservationMessage) -> ObservationMessage | None:
    """`message` with the first half of its text kept and the cut said (an earlier cut's count carried on), for a
    prompt that leaves the answer no room; None when there is too little left to cut."""
    shown = _NOT_SHOWN.search(message.content)
    body = message.content[: shown.start()] if shown else message.content
    if len(body) <= MIN_CUT_CHARS:
        return None
    keep = len(body) // 2
    return dataclasses.replace(
        message, content=body[:keep] + not_shown(len(body) - keep + int(shown[1] if shown else 0))
    )


def messages_to_template(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The dicts GLM's chat template reads (role, content, metadata)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        # Text is text: a control-token string typed or pasted in it ("what does <|user|> do?", a notebook variable
        # holding a transcript) must not open a turn of its own, as it would when tokenized as the special token.
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": neutralize_control_tokens(message.content)})
        elif isinstance(message, UserMessage):
            out.append({"role": "user", "content": neutralize_control_tokens(message.content)})
        elif isinstance(message, ObservationMessage):
            out.append({"role": "observation", "content": message.content})
        else:
            # A turn whose calls all lack a name (it stopped for a result but wrote no call) is still a turn: its
            # observation answers it, not the user.
            if message.text or not any(call.name for call in message.tool_calls):
                out.append({"role": "assistant", "content": neutralize_control_tokens(_after_thinking(message.text))})
            out.extend(_call_dict(call) for call in message.tool_calls if call.name)
    return out


def _after_thinking(text: str) -> str:
    """An answer as history keeps it (FORMAT.md, GLM-Z1): only what follows the last `</think>`, stripped. The
    streamed answer starts after the first one, so a second one written in it is still there."""
    return text.rsplit(_THINK_CLOSE, 1)[1].strip() if _THINK_CLOSE in text else text


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {"role": "assistant", "metadata": call.name, "content": _written(call)}


def _written(call: ToolCall) -> str:
    """A call's arguments as history carries them. A malformed call goes back as the model wrote it, so that the
    model sees its mistake next to the error (and an exported conversation, read back, renders the same)."""
    if call.error is None or call.arguments_text is not None:
        return call.arguments_json
    return call.raw.partition("\n")[2].strip()


def messages_to_openai(messages: Iterable[Message], *, strict: bool = False) -> list[dict[str, Any]]:
    """OpenAI chat-completions messages: tool calls as `tool_calls`, observations as `role: "tool"`, thinking as
    `reasoning_content` (the name vLLM and DeepSeek use) and a failed tool result's `status`.

    strict: only the keys OpenAI's Chat Completions API defines (no `reasoning_content`, no `status`), to send the
    messages to an API that refuses unknown keys; the default keeps both, so that the export reads back whole.
    """
    out: list[dict[str, Any]] = []
    unwritten: set[str] = set()  # the ids of calls that name no tool (the model stopped for a result of none)
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            out.append({"role": "user", "content": message.content})
        elif isinstance(message, ObservationMessage):
            if strict and message.tool_call_id in unwritten:
                continue  # a result of a call the model never wrote: OpenAI refuses one of no listed call (a 400)
            item = {"role": "tool", "content": message.content}
            if message.tool_call_id:
                item["tool_call_id"] = message.tool_call_id
            if message.status != "ok" and not strict:
                item["status"] = message.status
            out.append(item)
        else:
            item = {"role": "assistant", "content": message.text}
            if message.thinking and not strict:
                item["reasoning_content"] = message.thinking
            if not strict:  # how a turn ended when not as asked, so that a turn with no answer reads back as one
                if message.end in ("length", "interrupted"):
                    item["end"] = message.end
                if message.thinking is not None and not message.thinking_complete:
                    item["thinking_complete"] = False
            calls = [c for c in message.tool_calls if c.name]  # a call that names no tool is not shown either
            unwritten.update(c.id for c in message.tool_calls if not c.name)
            if calls:
                item["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _written(c)}}
                    for c in calls
                ]
            out.append(item)
    return out


def messages_from_openai(items: Iterable[Message | Mapping[str, Any]]) -> list[Message]:
    """Messages from OpenAI-style or GLM-style dicts (values pass through). A `tool` message takes its tool's name
    from the call it answers."""
    out: list[Message] = []
    names: dict[str, str] = {}
    for item in items:
        message = item if not isinstance(item, Mapping) else message_from_dict(item)
        if isinstance(message, AssistantMessage):
            names.update({c.id: c.name for c in message.tool_calls})
        elif isinstance(message, ObservationMessage) and message.name is None and message.tool_call_id in names:
            message = dataclasses.replace(message, name=names[message.tool_call_id])
        out.append(message)
    return out


def message_from_dict(item: Mapping[str, Any]) -> Message:
    """One message from an OpenAI-style dict or a GLM template dict."""
    role = item.get("role")
    if role in ("system", "developer"):
        return SystemMessage(_text(_required_content(item)))
    if role == "user":
        return UserMessage(_text(_required_content(item)))
    if role in ("tool", "observation", "function"):  # a tool's output, so as untrusted as one our tools return
        content = neutralize_control_tokens(_text(item))
        tool_call_id = _call_id(
            item.get("tool_call_id"),
            "A tool message's 'tool_call_id'",
            "Send the id of the call it answers, as text.",
        )
        return ObservationMessage(content, tool_call_id, item.get("name"), _status(item))
    if role == "assistant":
        return _assistant_from_dict(item)
    raise MessageFormatError(
        f"Unknown message role {role!r} in {dict(item)!r}; use system, user, assistant, tool or observation."
    )


_STATUSES = get_args(ToolStatus)


def _status(item: Mapping[str, Any]) -> ToolStatus:
    """A tool message's status: the `"status"` key `messages_to_openai` writes for a failed one (absent: ok)."""
    status = item.get("status")
    if status is None or status == "success":  # "success": LangChain's name for ok
        return "ok"
    if status not in _STATUSES:
        raise MessageFormatError(
            f"A tool message's status must be one of {', '.join(_STATUSES)} (or left out for ok); got {status!r}."
        )
    return status


def _assistant_from_dict(item: Mapping[str, Any]) -> AssistantMessage:
    thinking = item.get("reasoning_content") or item.get("thinking") or item.get("reasoning") or None
    if item.get("metadata"):  # GLM history form of a call: metadata = name, content = arguments (JSON or a dict)
        arguments = item.get("content")
        return AssistantMessage(tool_calls=(_call(item["metadata"], arguments if arguments is not None else ""),))
    calls = []
    for raw in item.get("tool_calls") or ():
        function = raw.get("function") if isinstance(raw, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise MessageFormatError(f"A tool call needs {{'function': {{'name': ..., 'arguments': ...}}}}: {raw!r}")
        call = _call(function["name"], function.get("arguments") or {})
        call_id = _call_id(raw.get("id"), "A tool call's 'id'", "Send it as text, or leave it out and one is made.")
        calls.append(dataclasses.replace(call, id=call_id or call.id))
    text = _text(item)
    if _THINK_CLOSE in text:  # thinking written into the content ("<think>...</think>\nHello!"): kept apart
        before, _, text = text.rpartition(_THINK_CLOSE)
        thinking = thinking or before.strip().removeprefix("<think>").strip()
        text = text.strip()
    complete = item.get("thinking_complete") is not False  # only our own false means anything: see _end
    if not complete and thinking is None:  # a turn that ended as its (empty) thinking began: it had one
        thinking = ""
    return AssistantMessage(text, thinking, tuple(calls), _end(item, bool(calls)), complete)


_ENDS = ("length", "interrupted")  # the ends `messages_to_openai` writes; the others follow from the message


def _end(item: Mapping[str, Any], calls: bool) -> AssistantEnd:
    """An assistant message's end: the `"end"` key `messages_to_openai` writes for a turn that was cut short
    (absent: it ended as asked, with its calls or its answer). A value it never writes is read as absent, as vLLM
    and OpenAI-style servers ignore keys they do not know: a client's own `end` must not make serve refuse it."""
    end = item.get("end")
    return end if end in _ENDS else ("tool_calls" if calls else "stop")


def _call(name: str, arguments: Any) -> ToolCall:
    if isinstance(arguments, Mapping):
        return ToolCall(name, dict(arguments))
    text = str(arguments)  # kept as written: the template renders a history call's content verbatim
    try:
        return ToolCall(name, parse_arguments(text) if text.strip() else {}, arguments_text=text)
    except ToolCallFormatError as e:
        return ToolCall(name, {}, error=str(e), raw=f"{name}\n{text}", arguments_text=text)


def _call_id(value: Any, what: str, advice: str) -> str | None:
    """A call id as sent (None when left out): a string, as OpenAI's are, since a tool message is paired with its
    call by it. Anything else (a list, an object) is refused, saying what to send, rather than failing later."""
    if value is None or isinstance(value, str):
        return value
    raise MessageFormatError(f'{what} must be a string (such as "call_1"); got {_kind(value)}. {advice}')


def _required_content(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """`item` (a user or system message), refused when it has no content, as OpenAI refuses it."""
    if item.get("content") is None:
        raise MessageFormatError(
            f'A {item.get("role")} message needs its \'content\': send it as text ("content": "..."), or as a list '
            'of text parts ([{"type": "text", "text": "..."}]).'
        )
    return item


def _text(item: Mapping[str, Any]) -> str:
    """A message's content as text: a string, or OpenAI's list of text parts; none is "" (an assistant's, with tool
    calls). Anything else (a number, an object) is refused, as OpenAI refuses it, rather than sent as its JSON."""
    content = item.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        texts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise MessageFormatError(
                    f"Only text content parts are supported: GLM-4-0414 is a text model, and this message has a "
                    f"{_part_kind(part)} part. Send the text parts only (describe an image in words), or use a "
                    "vision model for images."
                )
            if not isinstance(part.get("text"), str):
                raise MessageFormatError(
                    f'A text content part needs its text as a string: send {{"type": "text", "text": "..."}}'
                    f" (this one has {_kind(part.get('text'))})."
                )
            texts.append(part["text"])
        return "".join(texts)
    raise MessageFormatError(
        f'Message content must be text; got {_kind(content)}. Send "content": "..." (a number or an object '
        "written as text, e.g. its JSON), or a list of text parts."
    )


def _kind(value: object) -> str:
    """What a refused value is, for an error, without echoing it (it may be large)."""
    if value is None:
        return "no 'text'"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _part_kind(part: object) -> str:
    """What a content part is, for an error: its `type`, never its content (a data URL can be megabytes)."""
    kind = part.get("type") if isinstance(part, Mapping) else None
    return repr(kind)[:40] if isinstance(kind, str) else type(part).__name__
