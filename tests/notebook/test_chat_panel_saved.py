"""A notebook with a ChatPanel, run headless in a real kernel (nbclient, as `nbconvert --execute` and
`scripts/demo --headless` run them) and saved: the file keeps the conversation, in the widget state and in the
fallbacks that GitHub, an untrusted notebook or an HTML export without widgets show."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # starts a kernel

_TESTS = Path(__file__).resolve().parents[1]
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

_SETUP = f"""\
import sys, tempfile
sys.path.insert(0, {str(_TESTS)!r})
from pathlib import Path
from tiny_checkpoint import TEMPLATE_PATH, write_tokenizer
from glm_nb.chat import ScriptedGenerator
from glm_nb.engine import Tokenizer
from glm_nb.magics import LoadedModel, NotebookSession
from glm_nb.widget import ChatPanel

folder = Path(tempfile.mkdtemp())
write_tokenizer(folder)
tokenizer = Tokenizer(folder / "tokenizer.json")
replies = [
    "\\nHello <img src=x onerror=alert(1)> there.",
    "\\nA drawing:\\n\\n```svg\\n<svg xmlns='http://www.w3.org/2000/svg'><script>alert(2)</script>"
    "<circle r='5'/></svg>\\n```",
]
generator = ScriptedGenerator(tokenizer, replies)
session = NotebookSession(refresh_s=0.0)
backend = generator.backend(chat_template=TEMPLATE_PATH.read_text(), name="scripted-GLM")
session.use(LoadedModel("scripted-GLM", backend))
"""


def _run_and_save(cells: list[str], tmp_path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "chat.ipynb"
    nbformat.write(notebook, path)
    return nbformat.read(path, as_version=4)


def test_a_saved_headless_chat_keeps_its_turns_in_the_widget_state_and_the_fallbacks(tmp_path):
    saved = _run_and_save(
        [
            _SETUP,
            "panel = ChatPanel(session=session)\npanel",
            "panel.send('Hi <b>you</b>').join(60)\npanel.send('Draw a circle').join(60)\nlen(panel.turns)",
        ],
        tmp_path,
    )

    errors = [o for cell in saved.cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    (shown,) = [o for o in saved.cells[1].outputs if _WIDGET_VIEW in o.get("data", {})]
    model_id = shown.data[_WIDGET_VIEW]["model_id"]
    state = saved.metadata.widgets[_WIDGET_STATE]["state"][model_id]["state"]
    assert [turn["prompt"] for turn in state["turns"]] == ["Hi <b>you</b>", "Draw a circle"]
    assert state["live"] == {} and state["busy"] is False  # not saved mid-reply
    assert "2 turn(s) with scripted-GLM" in shown.data["text/plain"]
    page = shown.data["text/html"]
    assert "Hi &lt;b&gt;you&lt;/b&gt;" in page and "Draw a circle" in page and "<circle" in page
    for saved_html in (page, *(turn["html"] for turn in state["turns"])):  # as safe as the live panel
        assert not re.search(r"<img|<script|<b>", saved_html), saved_html
