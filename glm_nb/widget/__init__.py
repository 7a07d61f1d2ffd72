"""The chat panel widget (anywidget): `glm_nb.ChatPanel()`. Its view is chat_panel.js next to the Python class."""

from .chat_panel import ChatExport, ChatPanel

__all__ = ["ChatExport", "ChatPanel"]
