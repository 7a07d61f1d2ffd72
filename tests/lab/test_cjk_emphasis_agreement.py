"""The extension's CJK-friendly emphasis (labextension/src/cjk.ts through marked, as JupyterLab renders markdown)
draws what the Python renderer (glm_nb/render/markdown_cjk.py) draws, over every pairing of the characters that
decide whether a run opens or closes: space, letters, CJK letters and punctuation, Hangul, ASCII punctuation. (Two
runs of different kinds side by side can still differ: labextension/src/cjk.ts says where.)"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from glm_nb.render.markdown import markdown_html

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

NEIGHBOURS = ["", " ", "a", "中", "：", "「", "」", "(", "한"]
RUNS = ["*", "**", "_", "__", "~~"]

DRAW_IN_NODE = """
import { readFileSync } from 'node:fs';
import { marked } from 'marked';
import { cjkFriendlyEmphasis, withoutJoiners } from './lib/cjk.js';
const sources = JSON.parse(readFileSync(0, 'utf8'));
const drawn = sources.map(s => withoutJoiners(marked.parseInline(cjkFriendlyEmphasis(s), { gfm: true })));
process.stdout.write(JSON.stringify(drawn));
"""


def _sources() -> list[str]:
    return [
        f"x{outside}{run}{inside}注意{inside_end}{run}{outside_end}这是"  # x: a paragraph, never a list item
        for run in RUNS
        for outside, inside, inside_end, outside_end in itertools.product(NEIGHBOURS, repeat=4)
    ]


def _python(source: str) -> str:
    return (
        re.sub(r"^<p>|</p>\n$", "", markdown_html(source, artifacts=False))
        .replace("<s>", "<del>")
        .replace("</s>", "</del>")
    )


@pytest.mark.skipif(NODE is None and not os.environ.get("CI"), reason="Node.js is not installed")
def test_the_extension_draws_emphasis_beside_cjk_as_the_python_renderer_does():
    assert (ROOT / "labextension" / "lib" / "cjk.js").exists(), "labextension/lib is built by `npm run build`"
    sources = _sources()
    run = subprocess.run(
        [NODE or "node", "--input-type=module", "-e", DRAW_IN_NODE],
        cwd=ROOT / "labextension", input=json.dumps(sources), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]

    python = [html.unescape(_python(source)) for source in sources]
    lab = [html.unescape(drawn) for drawn in json.loads(run.stdout)]
    differ = [
        (source, ours, theirs) for source, ours, theirs in zip(sources, python, lab, strict=True) if ours != theirs
    ]

    assert not differ, f"{len(differ)} of {len(sources)} differ, e.g. (source, python, lab): {differ[:5]}"
