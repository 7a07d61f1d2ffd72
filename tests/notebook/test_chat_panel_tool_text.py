"""Tool results that are not UTF-8 text (lone surrogates) reach every notebook output as text Jupyter can send.

A web or JSON tool's text cut inside an emoji's UTF-16 pair ('\\ud83d'), or `os.listdir` of a Latin-1 file name
('\\udce9'), used to reach the magics' display data, the panel's fallback and its Export page as they were:
jupyter_client's JSON packer raises UnicodeEncodeError for them (Export did nothing; a headless reply ended in the
error). Each output here goes through that packer, as the kernel sends it.
"""

from __future__ import annotations

import json

from jupyter_client.session import json_packer

import glm_nb
from glm_nb.chat import ScriptedGenerator
from glm_nb.magics import LoadedModel, NotebookSession
from glm_nb.widget import ChatPanel

CUT_EMOJI, NOT_UTF8_NAME = "cut emoji \ud83d", b"caf\xe9.txt".decode("utf-8", "surrogateescape")
REPLIES = ["list_files\n{}<|observation|>", "\nTwo files."]


def list_files() -> list:
    """The files here."""
    return [CUT_EMOJI, NOT_UTF8_NAME]


def _sent(data) -> dict:
    """`data` as the front end gets it: packed as the kernel's session packs a message, and read back."""
    return json.loads(json_packer(data))


def test_the_magics_display_data_of_such_a_result_packs_and_shows_it(kernel):
    kernel.shell.user_ns["list_files"] = list_files
    generator = kernel.use(REPLIES)

    outputs = kernel.run("%%glm --tools list_files\nWhat is here?")

    packed = [_sent(output["data"]) for output in outputs]  # each update and the final record
    assert kernel.errors[-1] is None and len(generator.prompts) == 2
    final = json.dumps(packed[-1], ensure_ascii=False)
    assert "cut emoji \ufffd" in final and "caf\ufffd.txt" in final and "Two files." in final


def test_the_panels_export_and_fallback_of_such_a_result_pack_and_show_it(tokenizer, glm_template):
    session = NotebookSession(refresh_s=0.0)
    backend = ScriptedGenerator(tokenizer, REPLIES).backend(chat_template=glm_template, name="scripted-GLM")
    session.use(LoadedModel("scripted-GLM", backend))
    panel = ChatPanel(session=session, tools=[glm_nb.tool(list_files)])
    sent = []
    panel.comm.send = lambda data=None, metadata=None, buffers=None: sent.append(_sent(data))

    panel.send("What is here?").join(10)
    panel._on_view_message(panel, {"type": "export"}, [])
    data, metadata = panel._repr_mimebundle_()

    assert "Two files." in panel.turns[0]["html"] and "Nothing to export" not in panel.status
    (download,) = [m["content"]["html"] for m in sent if m.get("content", {}).get("type") == "download"]
    fallback = _sent(data)["text/html"]
    for page in (download, fallback, panel.export().standalone_html()):
        assert "cut emoji \ufffd" in page and "caf\ufffd.txt" in page
