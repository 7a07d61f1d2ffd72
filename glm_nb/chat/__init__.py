"""The chat layer: conversations with GLM-4-0414 models, tool calling, GLM-Z1 thinking, Rumination research.

Knows nothing of IPython. Protocol facts: ../shared/glm4/FORMAT.md. Generation goes through the `Backend` seam;
`LocalBackend` runs our own engine, `RemoteBackend` an OpenAI-compatible server (vLLM, SGLang, `glm-nb serve`),
`ScriptedGenerator` stands in for the engine in tests and demos. `Conversation` is
chat with tools and GLM-Z1 thinking; `Rumination` (in `research`) is the deep-research loop.
"""

from .backend import Backend, CompletionEnd, CompletionItem, CompletionStart, PrefillProgress, StopOptions, TextChunk
from .conversation import CHAT_SAMPLING, Z1_SAMPLING, Conversation, as_tool
from .errors import ChatError, ChatTemplateError, ConversationBusyError, MessageFormatError
from .events import (
    Done,
    Event,
    FinishReason,
    PromptProgress,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
)
from .local import LocalBackend
from .messages import (
    AssistantMessage,
    Message,
    ObservationMessage,
    SystemMessage,
    UserMessage,
    message_from_dict,
    messages_from_openai,
    messages_to_openai,
    messages_to_template,
    neutralize_control_tokens,
)
from .remote import (
    RemoteAuthError,
    RemoteBackend,
    RemoteConnectionError,
    RemoteError,
    RemoteHTTPError,
    RemoteStreamError,
    RemoteTimeoutError,
)
from .research import (
    RUMINATION_SAMPLING,
    LocalCorpus,
    Report,
    ResearchResponse,
    Rumination,
    SearchBackend,
    SearchResult,
    Source,
)
from .response import Response
from .scripted import ScriptedGenerator, ScriptedReply
from .streaming import AnswerStream, ThinkingSplitter
from .template import ChatTemplate
from .turn import TurnOutcome, run_turn

__all__ = [
    "CHAT_SAMPLING",
    "RUMINATION_SAMPLING",
    "Z1_SAMPLING",
    "AnswerStream",
    "AssistantMessage",
    "Backend",
    "ChatError",
    "ChatTemplate",
    "ChatTemplateError",
    "CompletionEnd",
    "CompletionItem",
    "CompletionStart",
    "Conversation",
    "ConversationBusyError",
    "Done",
    "Event",
    "FinishReason",
    "LocalBackend",
    "LocalCorpus",
    "Message",
    "MessageFormatError",
    "ObservationMessage",
    "PrefillProgress",
    "PromptProgress",
    "RemoteAuthError",
    "RemoteBackend",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteHTTPError",
    "RemoteStreamError",
    "RemoteTimeoutError",
    "Report",
    "ResearchResponse",
    "Response",
    "Rumination",
    "ScriptedGenerator",
    "ScriptedReply",
    "SearchBackend",
    "SearchResult",
    "Source",
    "StopOptions",
    "SystemMessage",
    "TextChunk",
    "TextDelta",
    "ThinkingDelta",
    "ThinkingSplitter",
    "ToolCallEvent",
    "ToolResultEvent",
    "TurnOutcome",
    "Usage",
    "UserMessage",
    "as_tool",
    "message_from_dict",
    "messages_from_openai",
    "messages_to_openai",
    "messages_to_template",
    "neutralize_control_tokens",
    "run_turn",
]
