"""Rendering for the notebook layer: transcripts as static records, artifacts, and the SVG sanitizer.

Knows nothing of IPython: every value here displays itself through `_repr_mimebundle_`. DESIGN.md, decisions 6
(artifacts never run in the page's origin) and 7 (every rich output is also a static record).
"""

from .artifacts import Artifact, ArtifactKind, extract_artifacts, iframe_html
from .markdown import markdown_html
from .page import footer_text, transcripts_html
from .svg import ArtifactError, SanitizedSvg, sanitize_svg
from .transcript import (
    MIME_TYPE,
    OUTPUT_FORMATS,
    OutputFormat,
    Part,
    ThinkingDisplay,
    ToolCard,
    Transcript,
    TranscriptBuilder,
)

__all__ = [
    "MIME_TYPE",
    "OUTPUT_FORMATS",
    "Artifact",
    "ArtifactError",
    "ArtifactKind",
    "OutputFormat",
    "Part",
    "SanitizedSvg",
    "ThinkingDisplay",
    "ToolCard",
    "Transcript",
    "TranscriptBuilder",
    "extract_artifacts",
    "footer_text",
    "iframe_html",
    "markdown_html",
    "sanitize_svg",
    "transcripts_html",
]
