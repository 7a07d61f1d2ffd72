"""The chat panel widget (anywidget): `glm_nb.ChatPanel()`. Its view is chat_panel.js next to the Python class."""

from .chat_export import ChatExport
from .chat_panel import ChatPanel

__all__ = ["ChatExport", "ChatPanel"]
