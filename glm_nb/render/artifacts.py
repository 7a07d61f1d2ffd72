"""Artifacts: the SVG drawings, HTML pages and code the model writes in fenced blocks, as objects a user can keep.

DESIGN.md, decision 6: nothing the model wrote runs in the page's origin.

- SVG goes through the allow-list sanitizer (`svg.py`) and is shown inline.
- HTML is shown in `<iframe sandbox="allow-scripts" srcdoc=...>` and never with `allow-same-origin`: its scripts
  run in an opaque origin with no access to the notebook, its cookies or the kernel. A Content-Security-Policy
  inside the frame keeps it offline (no fetches, no external scripts or images). No policy of its own can stop a
  document from navigating itself (`location = "https://…?secret"`, `<meta http-equiv="refresh">`), so it sits
  inside a second sandboxed frame, a wrapper whose policy has `frame-src 'none'`: the browser then refuses every
  navigation of the model's frame, and nothing leaves in a URL. The model's frame reports its height through
  `postMessage`, the wrapper passes it on, and a listener in the output (where the frontend runs output scripts)
  sizes the outer frame; a fixed height is the fallback where it does not.
- Any other fenced block is kept as a code artifact (shown as code, never run).
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from markdown_it import MarkdownIt

from .svg import ArtifactError, sanitize_svg

__all__ = ["Artifact", "ArtifactKind", "extract_artifacts", "iframe_html", "svg_html"]

ArtifactKind = Literal["svg", "html", "code", "json"]
_SUFFIX = {"svg": ".svg", "html": ".html", "json": ".json"}
FRAME_HEIGHT_PX = 360  # until (or unless) the frame reports its own height
_FRAME_MAX_PX = 2000
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; media-src data:"
)
_REPORT_HEIGHT = (
    "<script>(function(){var last=0;function send(){var h=Math.ceil(document.documentElement.scrollHeight);"
    "if(h!==last){last=h;parent.postMessage({glmNbFrame:'%s',height:h},'*');}}"
    "addEventListener('load',send);new ResizeObserver(send).observe(document.documentElement);})();</script>"
)
# The wrapper between the page and the model's frame: it forbids that frame any navigation and relays its height.
_WRAPPER_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-src 'none'"
_WRAPPER = (
    f'<meta http-equiv="Content-Security-Policy" content="{_WRAPPER_CSP}">'
    "<style>html,body{margin:0;height:100%%;overflow:hidden}"
    "iframe{display:block;width:100%%;height:100%%;border:0}</style>"
    '<iframe sandbox="allow-scripts" srcdoc="%s"></iframe>'
    "<script>(function(){var f=document.querySelector('iframe');addEventListener('message',function(e){"
    "if(e.source!==f.contentWindow||!e.data||e.data.glmNbFrame!=='%s')return;var h=Number(e.data.height);"
    "if(h>0)parent.postMessage({glmNbFrame:'%s',height:h},'*');});})();</script>"
)
# Our own listener, in the output: it only ever sets the height of the frame whose window sent the message.
_LISTEN_HEIGHT = (
    "<script>(function(){var f=document.getElementById('%s');if(!f)return;addEventListener('message',function(e){"
    "if(e.source!==f.contentWindow||!e.data||e.data.glmNbFrame!=='%s')return;"
    "var h=Number(e.data.height);if(h>0)f.style.height=Math.min(h+4,%d)+'px';});})();</script>"
)


@dataclass(frozen=True)
class Artifact:
    """One artifact. `source` is what the model wrote; `markup` what is shown (sanitized SVG, framed HTML)."""

    kind: ArtifactKind
    source: str
    language: str = ""  # the fence's language for code artifacts
    removed: tuple[str, ...] = ()  # what the SVG sanitizer dropped
    error: str | None = None  # why it is shown as source only (e.g. SVG that does not parse)
    markup: str = field(default="", repr=False)

    @classmethod
    def from_block(cls, language: str, source: str) -> Artifact:
        """An artifact from a fenced block's language tag and body."""
        language = language.strip().lower()
        if language == "svg" or (language in ("xml", "") and source.lstrip().startswith("<svg")):
            try:
                clean = sanitize_svg(source)
            except ArtifactError as e:
                return cls("svg", source, "svg", error=str(e))
            return cls("svg", source, "svg", clean.removed, markup=svg_html(clean.markup))
        if language == "html":
            return cls("html", source, "html", markup=iframe_html(source))
        if language == "json":
            return cls("json", source, "json")
        return cls("code", source, language)

    @property
    def safe(self) -> bool:
        """It can be shown rendered (sanitized or sandboxed), not only as source."""
        return bool(self.markup)

    def html(self) -> str:
        """HTML for the page: the rendered artifact, or its escaped source."""
        if self.markup:
            return self.markup
        note = f'<div class="glm-nb-note">{html.escape(self.error)}</div>' if self.error else ""
        return (
            f'{note}<pre><code class="language-{html.escape(self.language)}">{html.escape(self.source)}</code></pre>'
        )

    def save(self, path: str | Path) -> Path:
        """Write the source to `path` (a folder gets `artifact.<ext>`); returns the file written."""
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / f"artifact{_SUFFIX.get(self.kind, '.txt')}"
        target.write_text(self.source, encoding="utf-8")
        return target

    def value(self) -> Any:
        """The parsed value of a JSON artifact (raises ArtifactError if it does not parse)."""
        if self.kind != "json":
            raise ArtifactError(f"A {self.kind} artifact has no JSON value; use .source.")
        try:
            return json.loads(self.source)
        except json.JSONDecodeError as e:
            raise ArtifactError(f"The JSON does not parse ({e}); read .source instead.") from e

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "language": self.language, "source": self.source, "removed": list(self.removed),
                "error": self.error}  # fmt: skip

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.source, "text/html": self.html()}
        if self.kind == "svg" and self.markup and not self.error:
            bundle["image/svg+xml"] = sanitize_svg(self.source).markup  # the bare SVG, for frontends that want it
        return bundle


def svg_html(markup: str) -> str:
    return f'<div class="glm-nb-svg">{markup}</div>'


def iframe_html(source: str, height_px: int = FRAME_HEIGHT_PX) -> str:
    """A sandboxed frame showing `source` (scripts run, but in an opaque origin, offline)."""
    frame_id = f"glm-nb-frame-{secrets.token_hex(6)}"
    document = f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">' + source + _REPORT_HEIGHT % frame_id
    wrapper = _WRAPPER % (html.escape(document, quote=True), frame_id, frame_id)
    return (
        f'<iframe id="{frame_id}" class="glm-nb-frame" sandbox="allow-scripts" '
        f'srcdoc="{html.escape(wrapper, quote=True)}" '
        f'style="width:100%;height:{height_px}px;border:1px solid #ddd;border-radius:4px;resize:vertical"></iframe>'
        + _LISTEN_HEIGHT
        % (frame_id, frame_id, _FRAME_MAX_PX)
    )


def extract_artifacts(markdown: str) -> list[Artifact]:
    """The SVG, HTML and JSON blocks of an answer, in order (other code blocks are not artifacts here)."""
    artifacts = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "fence":
            artifact = Artifact.from_block(token.info.split(maxsplit=1)[0] if token.info else "", token.content)
            if artifact.kind != "code":
                artifacts.append(artifact)
    return artifacts


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [(t.info.split(maxsplit=1)[0] if t.info else "", t.content) for t in tokens if t.type == "fence"]
