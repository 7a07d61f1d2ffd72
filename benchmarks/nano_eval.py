"""How good is nano-GLM? Greedy generation through the glm-nb engine on three held-out sets (issue 5).

    python benchmarks/nano_eval.py [--model DIR] [--n 40] [--skills weather svg ...] [--local-research 1] [--json OUT]

Sets (glm_nb/nano/sample.py): `combos` (training phrasings and values in combinations training never drew),
`phrasings` (phrasings held out of training, both languages), `unseen` (values never in training). Every
generation point of a sample is one stage, prompted with the correct history rendered by the chat template as a
Conversation keeps it (earlier thinking dropped); a Rumination stage starts after the `<think>` the loop forces.
One table per skill: per check, the share of stages whose format is right and whose values are right.
`--local-research 1` gives Rumination the observations of a search over local documents (glm_nb/nano/documents.py,
what the notebook's corpus gives) instead of the first recipe's three short web results.

Gates: format >= 95% everywhere; values >= 90% on combos and >= 75% on phrasings (unseen: reported only).
The chat samples are also asked typed casually, as at a prompt ("hi", "who are you": `corpus.casual`), in a table
of their own that is reported, not gated; so are opening messages alone, as people type them ("hi", "Thanks",
"who are you": `corpus.opener_samples`, the combos and phrasings sets).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from glm_nb.engine import Generator, SamplingParams, open_model
from glm_nb.engine.run import generate
from glm_nb.nano import checkpoint_path
from glm_nb.nano.checks import grade
from glm_nb.nano.corpus import casual, eval_samples, opener_samples, stages
from glm_nb.nano.skills import SKILLS

SPLITS = ("combos", "phrasings", "unseen")
CASUAL = "chat, typed casually"  # reported, not gated
OPENERS = "chat, opening messages"  # the same
GATES = {"format": {"combos": 0.95, "phrasings": 0.95, "unseen": 0.95}, "values": {"combos": 0.90, "phrasings": 0.75}}


def run_stage(engine, prompt: str, max_new_tokens: int) -> str:
    gen = Generator(engine, SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens), max_length=1024)
    result = generate(gen, engine.tokenizer.encode(prompt))
    return engine.tokenizer.decode(result.token_ids)


def evaluate(engine, skills, n: int, seed: int, max_new_tokens: int = 200, local_research: float = 0.0):
    """{skill: {split: {check: [format_ok count, values_ok count, total]}}}, a few failures to show, and the
    clicks of the gated sets by the place of the right result ({place: [right, total]}): a model that clicks by
    place, not by reading the titles, shows there."""
    table = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: [0, 0, 0])))
    failures = []
    clicks = defaultdict(lambda: [0, 0])
    for skill in skills:
        for split in SPLITS:
            samples = [(skill, s) for s in eval_samples(skill, split, n, seed=seed, local_research=local_research)]
            if skill == "chat":
                typing = random.Random(f"{seed}/casual/{split}")
                samples += [(CASUAL, casual(s, typing)) for _, s in samples]
                if split != "unseen":  # a bare message has no values to be unseen
                    samples += [(OPENERS, s) for s in opener_samples(split, n, seed=seed)]
            for name, sample in samples:
                for stage in stages(sample):
                    text = stage.forced + run_stage(engine, stage.prompt, max_new_tokens)
                    g = grade(skill, stage, text, sample.expect)
                    cell = table[name][split][g.check]
                    cell[0] += g.format_ok
                    cell[1] += g.values_ok
                    cell[2] += 1
                    if g.check == "click" and split != "unseen":
                        place = clicks[sample.expect["calls"][1][1]["link_id"]]  # search, click, finish
                        place[0] += g.values_ok
                        place[1] += 1
                    if not g.values_ok and len(failures) < 200:
                        failures.append({"skill": name, "split": split, "check": g.check,
                                         "prompt": stage.prompt[-160:], "got": text[:300]})  # fmt: skip
    return table, failures, dict(sorted(clicks.items()))


def _pct(k: int, total: int) -> str:
    return f"{100 * k / total:5.1f}%" if total else "   - "


def print_tables(table) -> list[str]:
    """Print one table per skill; return the gate misses."""
    misses = []
    for skill, splits in table.items():
        checks = sorted({c for s in splits.values() for c in s})
        print(f"\n### {skill}")
        print("| set | " + " | ".join(f"{c} format | {c} values" for c in checks) + " | stages |")
        print("|---|" + "---|---|" * len(checks) + "---|")
        for split in SPLITS:
            cells, total = [], 0
            for c in checks:
                f, v, t = splits[split][c]
                total += t
                cells += [_pct(f, t), _pct(v, t)]
                for kind, ok in (("format", f), ("values", v)):
                    gate = GATES[kind].get(split) if skill not in (CASUAL, OPENERS) else None
                    if t and gate is not None and ok / t < gate:
                        misses.append(f"{skill}/{split}/{c} {kind} {100 * ok / t:.1f}% < {100 * gate:.0f}%")
            print(f"| {split} | " + " | ".join(cells) + f" | {total} |")
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint or converted folder (default: bundled)")
    parser.add_argument("--n", type=int, default=40, help="samples per skill and set")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--skills", nargs="*", default=list(SKILLS), choices=SKILLS)
    parser.add_argument("--json", type=Path, default=None, help="write the table and failures here")
    parser.add_argument("--local-research", type=float, default=0.0,
                        help="share of Rumination samples that search local documents (default 0)")  # fmt: skip
    args = parser.parse_args(argv)
    engine = open_model(args.model or checkpoint_path(), device="cpu", progress=False)
    start = time.time()
    table, failures, clicks = evaluate(engine, args.skills, args.n, args.seed, local_research=args.local_research)
    research = f", local research {args.local_research:g}" if args.local_research else ""
    print(f"nano-GLM eval: {engine.folder}, n={args.n} per skill and set{research}, greedy, "
          f"{time.time() - start:.0f} s")  # fmt: skip
    misses = print_tables(table)
    if clicks:
        places = ", ".join(f"result {k}: {r}/{t}" for k, (r, t) in clicks.items())
        print(f"\nRight clicks by the place of the right result (combos and phrasings): {places}")
    print("\nGates missed:" if misses else "\nAll gates met.")
    for miss in misses:
        print(f"- {miss}")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "misses": misses, "failures": failures, "clicks": clicks},
                                        ensure_ascii=False, indent=1))  # fmt: skip
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
