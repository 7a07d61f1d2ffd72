"""Grading nano-GLM's replies: does a generated stage have the right format, and the right values?

Shared by `benchmarks/nano_eval.py` and the tests. `grade(stage, text)` takes one `corpus.Stage` and the decoded
generation (special tokens kept, the stop token included) and returns `Grade(check, format_ok, values_ok)`,
where `check` names what was graded ("call", "answer", "svg", "html", "think", "research_call", "click", "report").
Tool calls are parsed the way FORMAT.md "What the model emits" describes, with this module's own small parser
so the grading does not depend on the chat layer.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .corpus import Stage

__all__ = ["Grade", "grade", "parse_calls", "STOP_TEXTS"]

STOP_TEXTS = ("<|user|>", "<|observation|>", "<|endoftext|>")
_SVG = "{http://www.w3.org/2000/svg}"
_RESEARCH_ARGS = {"search": {"query": str}, "click": {"link_id": int}, "open": {"url": str}, "finish": {}}


@dataclass(frozen=True)
class Grade:
    check: str
    format_ok: bool
    values_ok: bool


def _strip_stop(text: str) -> str:
    for stop in STOP_TEXTS:
        if text.endswith(stop):
            return text[: -len(stop)]
    return text


def parse_calls(text: str) -> list[tuple[str, dict]] | None:
    """`name\\n{json}` segments separated by `<|assistant|>`; None when any segment is not a call."""
    calls = []
    for segment in _strip_stop(text).split("<|assistant|>"):
        name, newline, rest = segment.partition("\n")
        if not newline or not re.fullmatch(r"[A-Za-z_][\w.\-]*", name.strip()):
            return None
        try:
            args = json.loads(rest)
        except json.JSONDecodeError:
            return None
        if not isinstance(args, dict):
            return None
        calls.append((name.strip(), args))
    return calls


def _shape(expected: str, values: list[str]) -> re.Pattern:
    """The trained sentence shape: the expected answer with its values and numbers as wildcards."""
    pattern = re.escape(expected)
    for value in sorted({v for v in values if v and not v.lstrip("-").replace(".", "").isdigit()}, key=len)[::-1]:
        pattern = pattern.replace(re.escape(value), "(.+?)")
    pattern = re.sub(r"(\\-)?\d+(\\\.\d+)?", r"-?[\\d.]+", pattern)
    return re.compile(pattern, re.S)


def _grade_calls(stage: Stage, text: str) -> Grade:
    expected = [(m["metadata"], json.loads(m["content"])) for m in stage.expected]
    calls = parse_calls(text) if text.endswith("<|observation|>") else None
    format_ok = calls is not None and [n for n, _ in calls] == [n for n, _ in expected]
    return Grade("call", format_ok, format_ok and calls == expected)


def _grade_answer(stage: Stage, text: str, values: list[str]) -> Grade:
    expected = stage.expected[0]["content"]
    body = _strip_stop(text)
    answer = body[1:] if body.startswith("\n") else None
    format_ok = answer is not None and bool(_shape(expected, values).fullmatch(answer))
    return Grade("answer", format_ok, answer == expected)


def _block(text: str, lang: str) -> str | None:
    match = re.search(rf"```{lang}\n(.*?)\n```", text, re.S)
    return match.group(1) if match else None


def _grade_svg(text: str, expect: dict) -> Grade:
    try:
        root = ET.fromstring(_block(text, "svg") or "")
    except ET.ParseError:
        return Grade("svg", False, False)
    if root.tag not in ("svg", _SVG + "svg"):
        return Grade("svg", False, False)
    shape, colour, sizes = expect["shape"], expect["colour"], [str(s) for s in expect["sizes"]]
    tag = {"circle": "circle", "square": "rect", "rectangle": "rect", "triangle": "polygon"}[shape]
    elements = [e for e in root if e.tag in (tag, _SVG + tag)]
    if not elements or elements[0].get("fill") != colour:
        return Grade("svg", True, False)
    e = elements[0]
    if shape == "circle":
        size_ok = [e.get("r")] == sizes
    elif shape == "triangle":
        size_ok = e.get("points") == f"20,20 20,{sizes[0]} {sizes[0]},{sizes[0]}"
    else:
        size_ok = [e.get("width"), e.get("height")] == (sizes * 2 if shape == "square" else sizes)
    return Grade("svg", True, size_ok)


def _grade_html(text: str, expect: dict) -> Grade:
    html = _block(text, "html")
    try:
        root = ET.fromstring(html or "")
    except ET.ParseError:
        return Grade("html", False, False)
    style = root.get("style") or ""
    colour_ok = f"background-color: {expect['colour']};" in style
    if expect["kind"] == "button":
        text_ok = root.tag == "button" and root.text == expect["text"]
    else:
        heading = root.find("h3")
        text_ok = root.tag == "div" and heading is not None and heading.text == expect["text"]
    return Grade("html", True, colour_ok and text_ok)


def _grade_think(stage: Stage, text: str) -> Grade:
    body = _strip_stop(text)
    thought, close, answer = body.partition("</think>")
    format_ok = bool(close) and "<think>" not in body and "</think>" not in answer and bool(answer.strip())
    expected = stage.expected[0]["content"].split("</think>")[-1].strip()
    return Grade("think", format_ok, format_ok and answer.strip() == expected)


def _grade_research_call(stage: Stage, text: str) -> Grade:
    """A Rumination action. A click is graded on its own ("click"): it is the one action that takes reading the
    results, and counted with the search and the finish, which copy or need nothing, a model that clicked the right
    result three times in five still scored ~87% on research calls."""
    body = _strip_stop(text)
    expected = json.loads(stage.expected[0]["content"].split("</think>")[-1])
    check = "click" if expected.get("name") == "click" else "research_call"
    if not (text.endswith("<|observation|>") and body.startswith("\n<think>") and body.count("</think>") == 1):
        return Grade(check, False, False)
    try:
        call = json.loads(body.split("</think>")[-1])
    except json.JSONDecodeError:
        return Grade(check, False, False)
    spec = _RESEARCH_ARGS.get(call.get("name")) if isinstance(call, dict) else None
    args = call.get("arguments") if spec is not None else None
    format_ok = isinstance(args, dict) and set(args) == set(spec) and all(
        isinstance(args[k], t) for k, t in spec.items())  # fmt: skip
    return Grade(check, format_ok, format_ok and call == expected)


def _grade_report(stage: Stage, text: str) -> Grade:
    """The report after any thinking: the research loop forces a `<think>` before it, which the first recipe's
    reports never had."""
    body = _strip_stop(text)
    answer = body.rpartition("</think>")[2]
    expected = stage.expected[0]["content"].rpartition("</think>")[2].lstrip("\n")
    balanced = body.count("<think>") == body.count("</think>")
    format_ok = balanced and answer.startswith("\n") and bool(re.search(r"【\d+†source】", answer))
    return Grade("report", format_ok, format_ok and answer[1:] == expected)


def grade(skill: str, stage: Stage, text: str, expect: dict) -> Grade:
    """Grade one generated stage of a sample of `skill` (`expect` is the sample's `expect`)."""
    first = stage.expected[0]
    if first.get("metadata"):
        return _grade_calls(stage, text)
    if skill == "svg":
        return _grade_svg(text, expect)
    if skill == "html":
        return _grade_html(text, expect)
    if skill == "z1":
        return _grade_think(stage, text)
    if skill == "research":
        if first.get("stop"):
            return _grade_research_call(stage, text)
        return _grade_report(stage, text)
    if skill == "chat":
        body = _strip_stop(text)
        format_ok = body.startswith("\n") and bool(body.strip()) and parse_calls(text) is None
        return Grade("answer", format_ok, body[1:] == first["content"])
    values = [str(v) for v in expect.get("quotes", [])]
    for _, args in expect.get("calls", []):
        values += [str(v) for v in args.values()]
    return _grade_answer(stage, text, values)
