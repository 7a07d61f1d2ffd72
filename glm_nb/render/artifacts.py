"""Artifacts: the SVG drawings, HTML pages and code the model writes in fenced blocks, as objects a user can keep.

DESIGN.md, decision 6: nothing the model wrote runs in the page's origin.

- SVG goes through the allow-list sanitizer (`svg.py`) and is shown inline.
- HTML is shown in a sandboxed frame, `<iframe sandbox="" srcdoc=...>`, and never with `allow-same-origin`: no
  script of the model's runs when the output is drawn, while its HTML and CSS render (buttons, cards, tables). No
  policy keeps a running script offline: chromium's Content-Security-Policy does not cover WebRTC, so a script can
  send a STUN/TURN request carrying data to a server of its choosing, with no click. So a page with scripts (a
  `<script>`, an `on…=` handler, a `javascript:` URL) runs them only when the user clicks "Run scripts" beside it:
  the click re-creates the frame with `sandbox="allow-scripts"`, everything else unchanged. Its scripts then run in
  an opaque origin with no access to the notebook, its cookies or the kernel. Whether a page "has scripts" only
  decides whether the button is offered: a script that escapes the check still does not run.
- A Content-Security-Policy inside the frame keeps it offline (no fetches, no external scripts or images). No policy
  of its own can stop a document from navigating itself (`location = "https://…?secret"`, `<meta
  http-equiv="refresh">`, a clicked link), so it sits inside a second sandboxed frame, a wrapper whose policy has
  `frame-src 'none'`: the browser then refuses every navigation of the model's frame, and nothing leaves in a URL.
- "Run scripts" and the frame's sizing are our own script in the output, which a frontend runs for a trusted output
  (a cell run in this session, a notebook the user trusts, the exported page): it shows the button, on a click
  makes the scripted frame from the wrapper document the button carries as data, and sets the height a running
  page reports through `postMessage` (its wrapper passes it on). Where output scripts do not run (an untrusted
  notebook, whose sanitizer drops scripts and frames alike), the button stays hidden and a note says where to run
  the page. ChatPanel's view and the JupyterLab extension do the same in their own code. A static frame keeps a
  fixed height (its corner can be dragged): nothing in it runs to report one.
- Any other fenced block is kept as a code artifact (shown as code, never run).
"""

from __future__ import annotations

import html
import itertools
import json
import re
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
_STATIC_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; media-src data:"
_REPORT_HEIGHT = (
    "<script>(function(){var last=0;function send(){var h=Math.ceil(document.documentElement.scrollHeight);"
    "if(h!==last){last=h;parent.postMessage({glmNbFrame:'%s',height:h},'*');}}"
    "addEventListener('load',send);new ResizeObserver(send).observe(document.documentElement);})();</script>"
)
# The wrappers between the page and the model's frame: they forbid that frame any navigation; a scripted one relays
# its height.
_WRAPPER_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-src 'none'"
_STATIC_WRAPPER_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'none'"
_WRAPPER_STYLE = (
    "<style>html,body{margin:0;height:100%;overflow:hidden}"
    "iframe{display:block;width:100%;height:100%;border:0}</style>"
)
_RELAY_HEIGHT = (
    "<script>(function(){var f=document.querySelector('iframe');addEventListener('message',function(e){"
    "if(e.source!==f.contentWindow||!e.data||e.data.glmNbFrame!=='%s')return;var h=Number(e.data.height);"
    "if(h>0)parent.postMessage({glmNbFrame:'%s',height:h},'*');});})();</script>"
)
# Our own listener, in the output: it only ever sets the height of the frame whose window sent the message (looked
# up at each message: "Run scripts" replaces the frame).
_LISTEN_HEIGHT = (
    "<script>(function(){var id='%s';addEventListener('message',function(e){var f=document.getElementById(id);"
    "if(!f||e.source!==f.contentWindow||!e.data||e.data.glmNbFrame!==id)return;"
    "var h=Number(e.data.height);if(h>0)f.style.height=Math.min(h+4,%d)+'px';});})();</script>"
)
# Our own "Run scripts", in the output: shows the button (hidden where output scripts do not run), and on a click
# replaces the static frame by one with allow-scripts whose wrapper document the button carries as data.
_OFFER_RUN = (
    "<script>(function(){var id='%s',b=document.getElementById(id+'-run');if(!b)return;var bar=b.parentNode;"
    "b.hidden=false;bar.querySelector('.glm-nb-run-note').hidden=false;"
    "bar.querySelector('.glm-nb-run-static').hidden=true;b.addEventListener('click',function(){"
    "var old=document.getElementById(id);if(!old||b.disabled)return;var f=document.createElement('iframe');"
    "f.id=id;f.className=old.className;f.setAttribute('style',old.getAttribute('style'));"
    "f.setAttribute('sandbox','allow-scripts');f.srcdoc=b.getAttribute('data-srcdoc');old.replaceWith(f);"
    "b.disabled=true;b.textContent='Scripts running';});})();</script>"
)
_RUN_NOTE = "Runs the model's script, sandboxed away from the notebook; it could send data out."
_RUN_ELSEWHERE = "Its scripts are not run here: open the notebook in JupyterLab with glm-nb to run them."
_FRAME_STYLE = "width:100%;height:{}px;border:1px solid #ddd;border-radius:4px;resize:vertical"
_SVG_BOX_STYLE = "overflow:hidden;contain:paint"  # paint containment clips whatever the drawing paints outside it
_SCRIPTED = re.compile(r"<script\b|[\s\"'/]on[a-z]+\s*=", re.IGNORECASE)
_BLANKS = re.compile(r"[\x00-\x20]+")


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
        """Write the source to `path`; returns the file written. A folder gets a new file, `artifact.<ext>`, or
        `artifact-2.<ext>` and so on when that is taken: saving a reply's artifacts into one folder keeps each."""
        target = Path(path).expanduser()
        if not target.is_dir():
            target.write_text(self.source, encoding="utf-8")
            return target
        suffix = _SUFFIX.get(self.kind, ".txt")
        for number in itertools.count(1):
            candidate = target / f"artifact{'' if number == 1 else f'-{number}'}{suffix}"
            try:
                with candidate.open("x", encoding="utf-8") as file:  # "x": never over a file already there
                    file.write(self.source)
            except FileExistsError:
                continue
            return candidate
        raise AssertionError("unreachable")

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
    """Sanitized SVG markup, inline in the page, in a box that clips it: a drawing may `transform` itself (an
    attribute or style it needs for its own shapes), which could otherwise move or scale it over the page around."""
    return f'<div class="glm-nb-svg" style="{_SVG_BOX_STYLE}">{markup}</div>'


def iframe_html(source: str, height_px: int = FRAME_HEIGHT_PX, *, scripts: bool = False) -> str:
    """A sandboxed frame showing `source`, offline and in an opaque origin. Its scripts do not run (`sandbox=""`);
    a page that has some comes with a "Run scripts" button, the user's way to run them. `scripts=True`: the frame
    that button makes, with `sandbox="allow-scripts"`, for a caller who asks for it in code."""
    frame_id = f"glm-nb-frame-{secrets.token_hex(6)}"
    sandbox = "allow-scripts" if scripts else ""
    wrapper = html.escape(_wrapper(source, frame_id, scripts=scripts), quote=True)
    frame = (
        f'<iframe id="{frame_id}" class="glm-nb-frame" sandbox="{sandbox}" srcdoc="{wrapper}" '
        f'style="{_FRAME_STYLE.format(height_px)}"></iframe>'
    )
    listen = _LISTEN_HEIGHT % (frame_id, _FRAME_MAX_PX)
    if scripts:
        return frame + listen
    if not _has_scripts(source):
        return frame
    return _run_bar(source, frame_id) + frame + listen + _OFFER_RUN % frame_id


def _wrapper(source: str, frame_id: str, *, scripts: bool) -> str:
    """Our wrapper's document: its policy first, then the model's document in an inner frame, sandboxed alike."""
    if scripts:
        document = _csp_meta(_CSP) + source + _REPORT_HEIGHT % frame_id
        policy, sandbox, relay = _WRAPPER_CSP, "allow-scripts", _RELAY_HEIGHT % (frame_id, frame_id)
    else:
        document, policy, sandbox, relay = _csp_meta(_STATIC_CSP) + source, _STATIC_WRAPPER_CSP, "", ""
    inner = f'<iframe sandbox="{sandbox}" srcdoc="{html.escape(document, quote=True)}"></iframe>'
    return _csp_meta(policy) + _WRAPPER_STYLE + inner + relay


def _csp_meta(policy: str) -> str:
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


def _run_bar(source: str, frame_id: str) -> str:
    """The "Run scripts" button (hidden until our script shows it) with what running means, and the note shown
    where it cannot work. The button carries the scripted wrapper as data; only our code turns it into a frame."""
    scripted = html.escape(_wrapper(source, frame_id, scripts=True), quote=True)
    return (
        '<div class="glm-nb-run-bar" style="font-size:85%;color:#888;margin:2px 0">'
        f'<button type="button" class="glm-nb-run-scripts" id="{frame_id}-run" data-frame="{frame_id}" '
        f'data-srcdoc="{scripted}" hidden>Run scripts</button> <span class="glm-nb-run-note" hidden>{_RUN_NOTE}'
        f'</span><span class="glm-nb-run-static">{_RUN_ELSEWHERE}</span></div>'
    )


def _has_scripts(source: str) -> bool:
    """Whether `source` would run script with scripts allowed: a `<script>`, an `on…=` handler or a `javascript:`
    URL, as written or behind character references (`&#106;avascript:`, a nested srcdoc's `&lt;script>`).
    Erring either way is safe: it only decides whether a "Run scripts" button is offered."""
    for text in (source, html.unescape(source)):
        if _SCRIPTED.search(text) or "javascript:" in _BLANKS.sub("", text).lower():
            return True
    return False


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
