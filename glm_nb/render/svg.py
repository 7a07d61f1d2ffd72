"""SVG from the model, made safe to put into the notebook page (DESIGN.md, decision 6).

An allow-list, not a deny-list: the markup is parsed with `xml.etree` and rebuilt from elements and attributes
known to be inert. Everything else is dropped and named in `SanitizedSvg.removed`, so the user can see what went:

- elements that run code or pull content in: `script`, `foreignObject`, `image`, `a`, `use` of another document,
  animation elements (`set`/`animate` can rewrite `href` to `javascript:`), `style` sheets (`@import`, `url()`);
- every event handler (`on*`) and any attribute not on the list, `class` too: with the style sheets gone, a class
  could only take up the page's own CSS (JupyterLab's `jp-Dialog` would lay the drawing over the whole page);
- references that leave the document: `href` other than `#id`, `url(...)` other than `url(#id)`, in attributes and
  in `style` declarations;
- DOCTYPE and entity declarations (refused outright: no entity expansion), comments, processing instructions.

Model output is untrusted; the serialized result is the only thing that reaches the page.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..errors import GlmError

__all__ = ["ArtifactError", "SanitizedSvg", "sanitize_svg"]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_MAX_CHARS = 2_000_000

_ELEMENTS = frozenset(
    """svg g defs title desc symbol use path rect circle ellipse line polyline polygon text tspan textPath
    linearGradient radialGradient stop clipPath mask pattern marker filter feGaussianBlur feOffset feBlend
    feColorMatrix feFlood feComposite feMerge feMergeNode feDropShadow feMorphology""".split()
)
_ATTRIBUTES = frozenset(
    """id x y x1 y1 x2 y2 cx cy r rx ry dx dy width height viewBox preserveAspectRatio d points transform
    fill fill-opacity fill-rule stroke stroke-width stroke-opacity stroke-linecap stroke-linejoin stroke-dasharray
    stroke-dashoffset stroke-miterlimit opacity color display visibility font-family font-size font-weight
    font-style text-anchor dominant-baseline alignment-baseline letter-spacing word-spacing text-decoration
    writing-mode rotate lengthAdjust textLength startOffset offset stop-color stop-opacity gradientUnits
    gradientTransform spreadMethod fx fy fr clip-path clip-rule mask maskUnits maskContentUnits patternUnits
    patternContentUnits patternTransform markerWidth markerHeight markerUnits refX refY orient marker-start
    marker-mid marker-end filter filterUnits primitiveUnits in in2 result stdDeviation mode values type operator
    k1 k2 k3 k4 flood-color flood-opacity radius pathLength version vector-effect shape-rendering
    text-rendering image-rendering paint-order style href""".split()
)
# CSS properties allowed in `style="..."`: presentation only.
_STYLE_PROPERTIES = frozenset(
    """fill fill-opacity fill-rule stroke stroke-width stroke-opacity stroke-linecap stroke-linejoin
    stroke-dasharray stroke-dashoffset stroke-miterlimit opacity color display visibility font-family font-size
    font-weight font-style font text-anchor dominant-baseline letter-spacing word-spacing text-decoration
    stop-color stop-opacity clip-path mask filter marker-start marker-mid marker-end paint-order
    vector-effect shape-rendering flood-color flood-opacity transform transform-origin""".split()
)


class ArtifactError(GlmError):
    """An artifact (SVG, HTML, JSON) from the model cannot be shown as one."""


@dataclass(frozen=True)
class SanitizedSvg:
    markup: str  # safe to embed in the page
    removed: tuple[str, ...]  # what was dropped, e.g. "element <script>", "attribute onload on <rect>"


def sanitize_svg(source: str) -> SanitizedSvg:
    """Parse `source` as one `<svg>` document and rebuild it from the allow-list. Raises ArtifactError when it is
    not well-formed SVG."""
    text = source.strip()
    if len(text) > _MAX_CHARS:
        raise ArtifactError(
            f"The SVG is {len(text):,} characters; the limit is {_MAX_CHARS:,}. Ask for a simpler one."
        )
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise ArtifactError("The SVG declares a DOCTYPE or entities, which are not allowed; remove the declaration.")
    try:
        root = ET.fromstring(text)  # comments and processing instructions are dropped by the default TreeBuilder
    except ET.ParseError as e:
        raise ArtifactError(f"The SVG is not well-formed XML ({e}); it is shown as source instead.") from e
    if _local(root.tag) != "svg":
        raise ArtifactError(f"Expected an <svg> element, found <{_local(root.tag)}>.")
    removed: list[str] = []
    clean = _clean_element(root, removed)
    assert clean is not None  # the root is an allowed <svg>
    clean.set("xmlns", SVG_NS)
    markup = ET.tostring(clean, encoding="unicode", short_empty_elements=True)
    return SanitizedSvg(markup, tuple(dict.fromkeys(removed)))


def _local(tag: str) -> str:
    """`{namespace}name` -> name. Elements must be in the SVG namespace or in none."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _clean_element(element: ET.Element, removed: list[str]) -> ET.Element | None:
    name = _local(element.tag)
    if name not in _ELEMENTS or _namespace(element.tag) not in ("", SVG_NS):
        removed.append(f"element <{name}>")
        return None
    clean = ET.Element(name)
    for key, value in element.attrib.items():
        attribute = _clean_attribute(name, key, value, removed)
        if attribute is not None:
            clean.set(*attribute)
    if name == "use" and clean.get("href") is None:
        removed.append("element <use> without a local reference")
        return None
    clean.text = element.text
    for child in element:
        kept = _clean_element(child, removed)
        if kept is not None:
            kept.tail = child.tail
            clean.append(kept)
        elif child.tail:  # keep the text that followed a dropped element
            _append_text(clean, child.tail)
    return clean


def _append_text(parent: ET.Element, text: str) -> None:
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _clean_attribute(element: str, key: str, value: str, removed: list[str]) -> tuple[str, str] | None:
    namespace, name = _namespace(key), _local(key)
    if namespace == XLINK_NS and name == "href":
        namespace = ""  # xlink:href is the old spelling of href; both are written as href
    elif namespace == XML_NS and name == "space":
        return key, value if value in ("default", "preserve") else "default"
    if namespace or name not in _ATTRIBUTES:
        removed.append(f"attribute {name} on <{element}>")
        return None
    if name == "href":
        return (name, value) if _local_reference(value) else _drop(f"external reference on <{element}>", removed)
    if name == "style":
        style = _clean_style(value, removed)
        return (name, style) if style else None
    if not _safe_value(value):
        return _drop(f"attribute {name} on <{element}> (external or scripted value)", removed)
    return name, value


def _drop(what: str, removed: list[str]) -> None:
    removed.append(what)
    return None


def _local_reference(value: str) -> bool:
    """`#id` only: a fragment of this document."""
    value = value.strip()
    return value.startswith("#") and len(value) > 1 and all(c.isalnum() or c in "-_.:" for c in value[1:])


# CSS functions that take an image by its address (a quoted string as well as url()): `image-set` covers the
# -webkit- prefixed form too.
_IMAGE_FUNCTIONS = ("image-set(", "image(", "cross-fade(", "src(", "element(", "paint(")


def _safe_value(value: str) -> bool:
    """No `url(...)` except `url(#id)`, no other function that loads an image (`mask: image-set('https://...')`
    fetched from the page), no script-ish schemes, no CSS escapes or expressions."""
    lowered = "".join(value.lower().split())
    if any(bad in lowered for bad in ("javascript:", "data:", "vbscript:", "expression(", "@import", "\\")):
        return False
    if any(loader in lowered for loader in _IMAGE_FUNCTIONS):
        return False
    start = 0
    while (at := lowered.find("url(", start)) >= 0:
        end = lowered.find(")", at)
        target = lowered[at + 4 : end if end >= 0 else len(lowered)].strip("'\"")
        if end < 0 or not _local_reference(target):
            return False
        start = end + 1
    return True


def _clean_style(style: str, removed: list[str]) -> str:
    kept = []
    for declaration in style.split(";"):
        prop, colon, value = declaration.partition(":")
        prop = prop.strip().lower()
        if not colon and not prop:
            continue
        if prop in _STYLE_PROPERTIES and colon and _safe_value(value):
            kept.append(f"{prop}: {value.strip()}")
        else:
            removed.append(f"style {prop or declaration.strip()!r}")
    return "; ".join(kept)
