"""Does nano-GLM's research in the Rumination notebook reach a cited report wherever the checkout lies? (issue 5)

    python benchmarks/nano_notebook_research.py [--model DIR] [--folders 10]

The research loop shows each result's file:// URL, so the path of the checkout is part of what the model reads.
This copies `notebooks/corpus` into `--folders` checkouts (the notebook's own folder first, then the three of
`tests/nano/test_shipped.py` and more) and runs each `%%glm_rumination` question of research_rumination.ipynb as
the cell does (greedy, 300 new tokens). A run passes when every action is valid, the first is a search, the last
a finish, and the report cites a source. Prints one line per run and the count.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

from glm_nb.chat import RUMINATION_SAMPLING, LocalBackend, ToolCallEvent
from glm_nb.chat.research import Rumination
from glm_nb.engine import open_model
from glm_nb.nano import checkpoint_path
from glm_nb.nano.skills import RUMINATION_SYSTEM

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECKOUTS = ("build/glm-nb", "runner/work/glm-nb/glm-nb", "srv/ci/repo", "home/alice/src/glm-nb", "work/ci-fresh",
             "builds/x/glm-nb", "Users/bob/code/glm-nb", "data/repos/glm", "opt/app",
             "workspace/nb/glm-nb-main")  # fmt: skip


def notebook_questions() -> list[str]:
    cells = json.loads((NOTEBOOKS / "research_rumination.ipynb").read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return [s.split("\n", 1)[1].strip() for s in sources if s.startswith("%%glm_rumination")]


def run(engine, corpus: Path, question: str) -> tuple[bool, str]:
    backend = LocalBackend.from_engine(engine, max_length=1024)
    sampling = dataclasses.replace(RUMINATION_SAMPLING, temperature=0.0, max_new_tokens=300)
    response = Rumination(backend, corpus=corpus, sampling=sampling, system=RUMINATION_SYSTEM).run(question)
    calls = [e.call for e in response if isinstance(e, ToolCallEvent)]
    report = response.report()
    valid = all(c.error is None for c in calls) and calls and calls[0].name == "search" and calls[-1].name == "finish"
    actions = " → ".join(c.name if c.error is None else f"{c.name or '?'} (invalid)" for c in calls)
    return bool(valid and report.sources), f"{actions or 'no action'} | {report.text[:100]!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint or converted folder (default: bundled)")
    parser.add_argument("--folders", type=int, default=10, help=f"checkouts to try, 1 to {len(CHECKOUTS) + 1}")
    args = parser.parse_args(argv)
    engine = open_model(args.model or checkpoint_path(), device="cpu", progress=False)
    questions = notebook_questions()
    passed = total = 0
    with tempfile.TemporaryDirectory(prefix="glm-nb-checkouts-") as root:
        folders = [("notebooks/corpus", NOTEBOOKS / "corpus")]
        for where in CHECKOUTS[: max(0, args.folders - 1)]:
            copy = Path(root) / where / "notebooks" / "corpus"
            shutil.copytree(NOTEBOOKS / "corpus", copy)
            folders.append((where, copy))
        for where, corpus in folders:
            for question in questions:
                ok, shown = run(engine, corpus, question)
                passed, total = passed + ok, total + 1
                print(f"{'ok  ' if ok else 'FAIL'} {where:28} {question[:36]:36} {shown}", flush=True)
    print(f"{passed}/{total} runs reached a cited report ({engine.folder})")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
