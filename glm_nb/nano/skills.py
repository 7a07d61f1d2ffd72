"""The skills nano-GLM learns, one generator per skill: `generate(skill, picker) -> Sample`.

Each generator draws a phrasing and values through the `Picker` (which keeps evaluation sets held out), writes
the dialog in the GLM-4 message format (FORMAT.md) and records in `Sample.expect` what a correct reply holds.
Tool observations are JSON written here, so the answer can quote their values.
"""

from __future__ import annotations

import json

from .documents import local_results, notebook_results
from .phrasings import FACTS, PHRASINGS
from .sample import Picker, Retry, Sample
from .vocab import COLOURS_ZH, CONDITIONS_ZH, SHAPES_ZH, TRAIN, UNITS

__all__ = ["SKILLS", "TOOLS", "RUMINATION_SYSTEM", "generate", "opener", "tool_call", "dumps"]


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _schema(name: str, description: str, **params: str) -> dict:
    properties = {key: {"type": kind} for key, kind in params.items()}
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": list(params)}}  # fmt: skip


TOOLS = {
    "get_weather": _schema("get_weather", "Current weather for a city", city="string"),
    "convert_units": _schema(
        "convert_units", "Convert a value between units", value="number", from_unit="string", to_unit="string"
    ),  # fmt: skip
    "add": _schema("add", "Add two numbers", a="number", b="number"),
    "search_docs": _schema("search_docs", "Search the glm-nb documentation", query="string"),
}
RUMINATION_SYSTEM = (
    "You are a research assistant. Tools: search(query) searches the web; click(link_id) opens a result of the "
    "last search; open(url) opens a page; finish() ends the research. Think inside <think></think>, then call "
    'one tool as JSON: {"name": ..., "arguments": {...}}. After finish, write a short report citing sources '
    "as 【n†source】."
)
_UNIT_NAMES_EN = {
    "km": ("km", "kilometers"), "mi": ("miles",), "kg": ("kg", "kilograms"), "lb": ("pounds",),
    "m": ("meters",), "ft": ("feet",), "l": ("liters",), "gal": ("gallons",), "cm": ("cm", "centimeters"),
    "in": ("inches",),
}  # fmt: skip


def tool_call(name: str, args: dict) -> dict:
    """An assistant tool-call message, as the model must produce it."""
    return {"role": "assistant", "metadata": name, "content": dumps(args), "gen": True}


def _user(p: Picker, lang: str, template: str, keyed: bool = False, bare: bool = False, **values) -> dict:
    """The user's message: `template` filled in, between filler words (part of the combination when `keyed`; none
    when `bare`)."""
    before, after = p.filler(lang, keyed, bare)
    return {"role": "user", "content": before + template.format(**values) + after}


def _lang(p: Picker) -> str:
    return "zh" if p.rng.random() < 0.3 else "en"


def _tools(p: Picker, *names: str) -> tuple[dict, ...]:
    """The needed tools' schemas, sometimes with one unneeded tool beside them."""
    chosen = list(names)
    if p.rng.random() < 0.1:
        chosen.append(p.rng.choice([n for n in TOOLS if n not in names]))
        p.rng.shuffle(chosen)
    return tuple({"type": "function", "function": TOOLS[n]} for n in chosen)


def _weather_obs(p: Picker, lang: str, city: str) -> tuple[dict, int, str]:
    temp = int(p.number(-15, 40))
    cond = p.rng.choice(CONDITIONS_ZH) if lang == "zh" else p.value("condition")
    return {"city": city, "temperature": temp, "condition": cond}, temp, cond


def _weather(p: Picker) -> Sample:
    lang = _lang(p)
    city = p.value(f"city_{lang}")
    user = _user(p, lang, p.phrase(f"weather_{lang}", PHRASINGS[f"weather_{lang}"]), city=city)
    obs, temp, cond = _weather_obs(p, lang, city)
    answer = f"{city}现在{cond}，气温{temp}°C。" if lang == "zh" else f"It is {temp}°C and {cond} in {city}."
    messages = (user, tool_call("get_weather", {"city": city}), {"role": "observation", "content": dumps(obs)},
                {"role": "assistant", "content": answer, "gen": True})  # fmt: skip
    return Sample("weather", lang, messages, _tools(p, "get_weather"),
                  expect={"calls": [("get_weather", {"city": city})], "quotes": [str(temp), cond, city]})  # fmt: skip


def _weather2(p: Picker) -> Sample:
    lang = _lang(p)
    c1, c2 = p.values(f"city_{lang}", 2)
    user = _user(p, lang, p.phrase(f"weather2_{lang}", PHRASINGS[f"weather2_{lang}"]), city1=c1, city2=c2)
    (o1, t1, w1), (o2, t2, w2) = _weather_obs(p, lang, c1), _weather_obs(p, lang, c2)
    if lang == "zh":
        answer = f"{c1}{w1}，{t1}°C；{c2}{w2}，{t2}°C。"
    else:
        answer = f"In {c1} it is {t1}°C and {w1}; in {c2} it is {t2}°C and {w2}."
    messages = (user, tool_call("get_weather", {"city": c1}), tool_call("get_weather", {"city": c2}),
                {"role": "observation", "content": dumps(o1)}, {"role": "observation", "content": dumps(o2)},
                {"role": "assistant", "content": answer, "gen": True})  # fmt: skip
    calls = [("get_weather", {"city": c1}), ("get_weather", {"city": c2})]
    return Sample("weather2", lang, messages, _tools(p, "get_weather"),
                  expect={"calls": calls, "quotes": [str(t1), str(t2), w1, w2]})  # fmt: skip


def _convert(p: Picker) -> Sample:
    lang = _lang(p)
    src, dst, factor, src_zh, dst_zh = p.rng.choice(UNITS)
    value = p.number(1, 500, decimals=p.rng.choice((0, 0, 1)))
    if lang == "zh":
        names = {"from_name": src_zh, "to_name": dst_zh}
    else:
        names = {"from_name": p.rng.choice(_UNIT_NAMES_EN[src]), "to_name": p.rng.choice(_UNIT_NAMES_EN[dst])}
    user = _user(p, lang, p.phrase(f"convert_{lang}", PHRASINGS[f"convert_{lang}"]), value=value, **names)
    result = round(value * factor, 2)
    args = {"value": value, "from_unit": src, "to_unit": dst}
    answer = f"{value} {src} 等于 {result} {dst}。" if lang == "zh" else f"{value} {src} is {result} {dst}."
    messages = (user, tool_call("convert_units", args),
                {"role": "observation", "content": dumps({"result": result, "unit": dst})},
                {"role": "assistant", "content": answer, "gen": True})  # fmt: skip
    return Sample("convert", lang, messages, _tools(p, "convert_units"),
                  expect={"calls": [("convert_units", args)], "quotes": [str(result)]})  # fmt: skip


def _add(p: Picker) -> Sample:
    lang = _lang(p)
    a, b = p.digits(), p.digits()
    user = _user(p, lang, p.phrase(f"add_{lang}", PHRASINGS[f"add_{lang}"]), a=a, b=b)
    total = a + b
    answer = f"{a} 加 {b} 等于 {total}。" if lang == "zh" else f"{a} + {b} = {total}."
    messages = (user, tool_call("add", {"a": a, "b": b}), {"role": "observation", "content": dumps({"result": total})},
                {"role": "assistant", "content": answer, "gen": True})  # fmt: skip
    return Sample("add", lang, messages, _tools(p, "add"),
                  expect={"calls": [("add", {"a": a, "b": b})], "quotes": [str(total)]})  # fmt: skip


def _doc_hit(p: Picker, lang: str, topic: str) -> tuple[str, str]:
    if lang == "zh":
        return topic + p.rng.choice(("指南", "概览", "常见问题", "教程")), f"介绍{topic}的用法和注意事项。"
    title = p.rng.choice(("{} guide", "{} overview", "{} in practice", "{} FAQ", "Working with {}")).format(topic)
    return title, p.rng.choice(("How {} works in glm-nb.", "When to use {} and why.", "A short tour of {}.",
                                "Common questions about {}.", "Tips for {} in notebooks.")).format(topic)  # fmt: skip


def _search(p: Picker) -> Sample:
    lang = _lang(p)
    topic = p.value(f"topic_{lang}")
    user = _user(p, lang, p.phrase(f"search_{lang}", PHRASINGS[f"search_{lang}"]), topic=topic)
    title, snippet = _doc_hit(p, lang, topic)
    answer = f"我找到了《{title}》：{snippet}" if lang == "zh" else f'I found "{title}": {snippet}'
    obs = {"results": [{"title": title, "snippet": snippet}]}
    messages = (user, tool_call("search_docs", {"query": topic}), {"role": "observation", "content": dumps(obs)},
                {"role": "assistant", "content": answer, "gen": True})  # fmt: skip
    return Sample("search", lang, messages, _tools(p, "search_docs"),
                  expect={"calls": [("search_docs", {"query": topic})], "quotes": [title]})  # fmt: skip


def _svg_element(shape: str, colour: str, sizes: tuple[int, ...]) -> str:
    if shape == "circle":
        return f'<circle cx="100" cy="100" r="{sizes[0]}" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="20" y="20" width="{sizes[0]}" height="{sizes[0]}" fill="{colour}"/>'
    if shape == "rectangle":
        return f'<rect x="20" y="20" width="{sizes[0]}" height="{sizes[1]}" fill="{colour}"/>'
    return f'<polygon points="20,20 20,{sizes[0]} {sizes[0]},{sizes[0]}" fill="{colour}"/>'


def _svg(p: Picker) -> Sample:
    lang = _lang(p)
    shape = p.rng.choice(("circle", "square", "rectangle", "triangle"))
    sizes = (int(p.number(10, 90)), int(p.number(10, 90))) if shape == "rectangle" else (int(p.number(10, 90)),)
    if lang == "zh":
        if p.split == "unseen":
            raise Retry  # Chinese colour words map to a closed set of CSS names: nothing to hold out
        shape_zh = next(k for k, v in SHAPES_ZH.items() if v == shape)
        colour_zh = p.rng.choice(sorted(COLOURS_ZH))
        colour, shown = COLOURS_ZH[colour_zh], {"colour": colour_zh, "shape": shape_zh}
        size_phrase = {"circle": "半径{}", "rectangle": "宽{}高{}"}.get(shape, "边长{}").format(*sizes)
    else:
        colour = p.value("colour")
        shown = {"colour": colour, "shape": shape}
        size_phrase = {"circle": "with radius {}", "rectangle": "{} wide and {} tall"}.get(shape, "of size {}")
        size_phrase = size_phrase.format(*sizes)
    user = _user(p, lang, p.phrase(f"svg_{lang}", PHRASINGS[f"svg_{lang}"]), size_phrase=size_phrase, **shown)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200">'
           f"{_svg_element(shape, colour, sizes)}</svg>")  # fmt: skip
    intro = "这是你要的图形：" if lang == "zh" else "Here is the SVG:"
    answer = f"{intro}\n\n```svg\n{svg}\n```"
    messages = (user, {"role": "assistant", "content": answer, "gen": True})
    return Sample("svg", lang, messages, expect={"shape": shape, "colour": colour, "sizes": sizes})


def _html(p: Picker) -> Sample:
    lang = _lang(p)
    kind = p.rng.choice(("button", "card"))
    if lang == "zh":
        colour_zh = p.rng.choice(sorted(COLOURS_ZH))
        colour, shown = COLOURS_ZH[colour_zh], colour_zh
        text = p.value("label_zh") if kind == "button" else p.value("title")
    else:
        colour = shown = p.value("colour")
        text = p.value("label_en") if kind == "button" else p.value("title")
    slot = "label" if kind == "button" else "title"
    user = _user(p, lang, p.phrase(f"{kind}_{lang}", PHRASINGS[f"{kind}_{lang}"]), colour=shown, **{slot: text})
    if kind == "button":
        html = (f'<button style="background-color: {colour}; color: white; padding: 8px 16px; border: none; '
                f'border-radius: 4px;">{text}</button>')  # fmt: skip
    else:
        html = (f'<div style="background-color: {colour}; padding: 16px; border-radius: 8px;">'
                f"<h3>{text}</h3><p>{'这是一张卡片。' if lang == 'zh' else 'This is a card.'}</p></div>")  # fmt: skip
    intro = "这是HTML：" if lang == "zh" else "Here is the HTML:"
    messages = (user, {"role": "assistant", "content": f"{intro}\n\n```html\n{html}\n```", "gen": True})
    return Sample("html", lang, messages, expect={"kind": kind, "colour": colour, "text": text})


def _digit_count(n: int) -> str:
    return "1 digit" if n == 1 else f"{n} digits"


def _compare_thought(a: int, b: int, lang: str) -> tuple[str, str]:
    """The thought and answer of a comparison, worked the way a tiny model can follow: each step compares two
    single digits it has just written. First the digit counts ("3 digits, 2 digits: 3>2"); when they are equal
    ("3=3"), the digits from the left up to the first that differs ("8=8, 7<9"). The verdict follows the last step.
    (A thought that had to choose between two wordings before writing the counts picked the wrong one.)"""
    big, small = max(a, b), min(a, b)
    da, db = str(a), str(b)
    counts = _relation(str(len(da)), str(len(db)))
    if len(da) == len(db):
        k = next(i for i in range(len(da)) if da[i] != db[i])
        digits = [_relation(x, y) for x, y in zip(da[: k + 1], db[: k + 1])]
    if lang == "zh":
        thought = f"比较{a}和{b}。{a}是{len(da)}位数，{b}是{len(db)}位数：{counts}。"
        if len(da) == len(db):
            thought += f"逐位比较：{'，'.join(digits)}。"
        return thought + f"{big}比{small}大。", f"{big}更大。"
    thought = f"I compare {a} and {b}. {a} has {_digit_count(len(da))}, {b} has {_digit_count(len(db))}: {counts}. "
    if len(da) == len(db):
        thought += f"Digit by digit: {', '.join(digits)}. "
    return thought + f"{big} is larger than {small}.", f"{big} is larger."


def _relation(x: str, y: str) -> str:
    return f"{x}{'=' if x == y else '>' if x > y else '<'}{y}"


def _z1(p: Picker) -> Sample:
    lang = _lang(p)
    if p.rng.random() < 0.35:
        question, answer = _fact(p, lang)
        thought = (
            "用户在问一个简单的问题，我直接回答。"
            if lang == "zh"
            else "The user asks a simple question. I answer it directly."
        )
        expect = {"answer": answer}
    else:
        a, b = p.digits(), p.digits()
        if a == b:
            raise Retry
        question = _user(p, lang, p.phrase(f"compare_{lang}", PHRASINGS[f"compare_{lang}"]), a=a, b=b)["content"]
        thought, answer = _compare_thought(a, b, lang)
        expect = {"answer": answer}
    messages = ({"role": "user", "content": question},
                {"role": "assistant", "content": f"<think>{thought}</think>\n{answer}", "gen": True})  # fmt: skip
    return Sample("z1", lang, messages, z1=True, expect=expect)


def _search_results(p: Picker, lang: str, topic: str) -> tuple[str, int, str]:
    others = [t for t in TRAIN[f"topic_{lang}"] if t != topic]
    topics = [topic, *p.rng.sample(others, 2)]
    p.rng.shuffle(topics)
    blocks = []
    for i, t in enumerate(topics):
        title, snippet = _doc_hit(p, lang, t)
        blocks.append(f"【{i}†{title}†https://docs.example.org/{i}{len(t)}\n{snippet}】")
    return "\n\n".join(blocks), topics.index(topic), _doc_hit(p, lang, topic)[1]


def _research(p: Picker) -> Sample:
    lang = _lang(p)
    topic = p.value(f"topic_{lang}")
    user = _user(p, lang, p.phrase(f"research_{lang}", PHRASINGS[f"research_{lang}"]), topic=topic)
    zh = lang == "zh"
    before_report = ""
    if not zh and p.notebook_pages():
        found = notebook_results(p.rng, topic)
        if found is None:  # no document of the notebook's matches the topic
            raise Retry
    elif p.local_pages():
        others = [t for t in TRAIN[f"topic_{lang}"] if t != topic]
        found = local_results(p.rng, lang, topic, others)
    else:
        found = None
    if found is not None:
        results, hit, page = found.observation, found.hit, found.page
        # The research loop forces thinking before every generation, the report's too (FORMAT.md: Rumination is a
        # Z1 model); a model that had only ever thought before an action wrote one as its report. The thought
        # carries the number to cite; the report names the page it read (copying its first sentence, from a page
        # hundreds of tokens back, came out as the corpus's own sentence patterns, garbled).
        before_report = f"<think>我读了第{hit}条结果。</think>\n" if zh else f"<think>I read result {hit}.</think>\n"
        fact = f"参见《{found.title}》" if zh else f'see "{found.title}"'
    else:
        results, hit, fact = _search_results(p, lang, topic)
        page = f"{topic}：{fact}" if zh else f"{topic}: {fact}"
    steps = (
        (f"我需要搜索{topic}。" if zh else f"I should search for {topic}.", "search", {"query": topic}),
        (f"{topic}在第{hit}条结果里。" if zh else f"{topic} is in result {hit}.", "click", {"link_id": hit}),
        ("信息已经足够了。" if zh else "I have what I need.", "finish", {}),
    )
    calls = [{"role": "assistant", "gen": True, "stop": "<|observation|>",
              "content": f"<think>{thought}</think>\n{dumps({'name': name, 'arguments': args})}"}
             for thought, name, args in steps]  # fmt: skip
    report = f"关于{topic}的报告：{fact}【{hit}†source】" if zh else f"Report on {topic}: {fact}【{hit}†source】"
    report = before_report + report
    messages = ({"role": "system", "content": RUMINATION_SYSTEM}, user, calls[0],
                {"role": "observation", "content": results}, calls[1], {"role": "observation", "content": page},
                calls[2], {"role": "assistant", "content": report, "gen": True})  # fmt: skip
    if p.loop_turn():
        # The loop's history keeps each action without its thinking (Conversation drops it), so a sample with every
        # thought in history taught a context the model never sees after its first action: one generation here,
        # after the earlier ones in the loop's form.
        last = p.rng.choice([i for i, m in enumerate(messages) if m.get("gen")])
        messages = tuple(history_form(m) if i < last else m for i, m in enumerate(messages[: last + 1]))
        if not messages[-1]["content"].startswith("<think>"):  # the loop forces it before a report on web results
            thought = f"<think>我读了第{hit}条结果。</think>\n" if zh else f"<think>I read result {hit}.</think>\n"
            messages = (*messages[:-1], {**messages[-1], "content": thought + messages[-1]["content"]})
    return Sample("research", lang, messages,
                  expect={"calls": [(n, a) for _, n, a in steps], "quotes": [f"【{hit}†source】"]})  # fmt: skip


def history_form(message: dict) -> dict:
    """A message as a `Conversation` keeps it in history: an assistant's answer or action without its thinking."""
    if message["role"] != "assistant" or "</think>" not in message["content"]:
        return message
    return {"role": "assistant", "content": message["content"].split("</think>")[-1].strip()}


def _fact(p: Picker, lang: str, idx: int | None = None, bare: bool = False) -> tuple[str, str]:
    """A question of `FACTS[idx]` (drawn when None) and its answer; `bare`: without filler words."""
    if idx is None:
        idx = p.rng.randrange(len(FACTS))
    q_en, a_en, q_zh, a_zh = FACTS[idx]
    # A fact has no values, so its combination is its phrasing and its filler: keyed by the phrasing alone, a tenth
    # of the phrasings would never be trained and `combos` would hold them (phrasings held out twice over).
    if lang == "zh":
        return _user(p, lang, p.phrase(f"fact{idx}_zh", q_zh), keyed=True, bare=bare)["content"], a_zh
    return _user(p, lang, p.phrase(f"fact{idx}_en", q_en), keyed=True, bare=bare)["content"], a_en


# How often each fact opens a conversation, against the others: greetings most, then who the model is and thanks.
_OPENER_WEIGHTS = {6: 3.0, 0: 2.0, 5: 2.0}


def opener(picker: Picker) -> Sample:
    """A chat sample whose message is a fact's question alone, with no filler words: what people type first ("Hi!",
    "Who are you?"). The same combinations as `_chat`'s bare facts, so the splits stay apart; draws again until
    the combination fits the picker's split."""
    weights = [_OPENER_WEIGHTS.get(i, 1.0) for i in range(len(FACTS))]
    for _ in range(1000):
        p = Picker.mixed(picker.rng, picker.split, picker.mix)
        lang = _lang(p)
        question, answer = _fact(p, lang, p.rng.choices(range(len(FACTS)), weights)[0], bare=True)
        try:
            p.check_combination("chat")
        except Retry:
            continue
        tools = _tools(p, p.rng.choice(list(TOOLS))) if p.rng.random() < 0.15 else None
        messages = ({"role": "user", "content": question}, {"role": "assistant", "content": answer, "gen": True})
        return Sample("chat", lang, messages, tools, expect={"answer": answer, "quotes": []})
    raise RuntimeError(f"could not draw a {picker.split} opener")


def _chat(p: Picker) -> Sample:
    lang = _lang(p)
    if p.rng.random() < 0.5:
        name = p.value(f"name_{lang}")
        user = _user(p, lang, p.phrase(f"greet_{lang}", PHRASINGS[f"greet_{lang}"]), name=name)
        answer = f"你好，{name}！有什么可以帮你的吗？" if lang == "zh" else f"Hello {name}! How can I help you today?"
        quotes = [name]
    else:
        question, answer = _fact(p, lang)
        user, quotes = {"role": "user", "content": question}, []
    tools = _tools(p, p.rng.choice(list(TOOLS))) if p.rng.random() < 0.15 else None
    return Sample("chat", lang, (user, {"role": "assistant", "content": answer, "gen": True}), tools,
                  expect={"answer": answer, "quotes": quotes})  # fmt: skip


_SKILL_FUNCS = {
    "chat": _chat, "weather": _weather, "weather2": _weather2, "convert": _convert, "add": _add,
    "search": _search, "svg": _svg, "html": _html, "z1": _z1, "research": _research,
}  # fmt: skip
SKILLS = tuple(_SKILL_FUNCS)


def generate(skill: str, picker: Picker) -> Sample:
    """One sample of `skill` for the picker's split (draws again until the combination fits the split)."""
    rng, split = picker.rng, picker.split
    for _ in range(1000):
        p = Picker.mixed(rng, split, picker.mix)
        try:
            sample = _SKILL_FUNCS[skill](p)
            p.check_combination(skill)
            return sample
        except Retry:
            continue
    raise RuntimeError(f"could not draw a {split} sample of {skill}")
