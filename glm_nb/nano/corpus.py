"""The deterministic nano-GLM corpus: samples for a split and seed, rendered into weighted training segments.

A training example is a list of `(text, weight)` segments whose texts concatenate to exactly what the chat
template renders, except that what the model generates is written as the model emits it (a tool call as
`name\\n{args}`, FORMAT.md "What the model emits") and followed by the token it stops with. Weights follow the
recipe of issue 5: 1.0 on what the model must write, 0.2 on prompt tokens, 0 on text the model never writes in
that form (a tool call in history form, a role token inserted by the application, the `<think>` that the Z1
template writes after `<|assistant|>`: trained even at 0.2, it made a third of plain chat replies open one).

A copy warm-up task ("Repeat: ...", "Put ... in JSON.") teaches copying values from the prompt early; its share
decays over training (`copy_share`).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass

from .phrasings import PHRASINGS
from .sample import FIRST_RECIPE, SPLITS, Mix, Picker, Sample
from .skills import SKILLS, dumps, generate, history_form, opener
from .templates import render
from .vocab import TRAIN, made_up_han, made_up_word

__all__ = [
    "PROMPT_WEIGHT", "REPLY_WEIGHT", "SKILL_WEIGHTS", "Stage", "to_segments", "eval_samples", "stages",
    "copy_sample", "copy_share", "training_samples", "corpus_text", "casual", "typed_opener", "opener_samples",
]  # fmt: skip

PROMPT_WEIGHT = 0.2
REPLY_WEIGHT = 1.0
SKILL_WEIGHTS = {"chat": 1.0, "weather": 1.5, "weather2": 1.0, "convert": 1.2, "add": 1.0, "search": 1.0,
                 "svg": 1.5, "html": 1.2, "z1": 0.8, "research": 1.0}  # fmt: skip
_ROLE_TOKEN = {"user": "<|user|>", "assistant": "<|assistant|>", "observation": "<|observation|>"}
_TOOL_NOTE = "在调用上述函数时，请使用 Json 格式表示调用的参数。"


def _tools_block(tools) -> str:
    parts = ["<|system|>\n# 可用工具\n"]
    for tool in tools:
        fn = tool["function"] if tool.get("function") else tool
        parts.append(f"\n## {fn['name']}\n\n{json.dumps(fn, indent=4, ensure_ascii=False)}\n{_TOOL_NOTE}")
    return "".join(parts)


def _training_view(messages: list[dict], rng: random.Random) -> list[dict]:
    """Vary which generated messages are trained: half the tool calls that come before a later reply are shown
    in history form (as the template renders them on the next request), and a third of the samples end early."""
    gen = [i for i, m in enumerate(messages) if m.get("gen")]
    out = []
    for i, m in enumerate(messages):
        if m.get("gen") and m.get("metadata") and i < gen[-1] and rng.random() < 0.5:
            m = {k: v for k, v in m.items() if k not in ("gen", "stop")}
        out.append(m)
    if len(gen) > 1 and rng.random() < 0.35:
        k = rng.choice(gen[:-1])
        last = {**out[k], "stop": out[k].get("stop") or _ROLE_TOKEN[out[k + 1]["role"]]}
        out = [*out[:k], last]
    return out


def to_segments(sample: Sample, rng: random.Random | None = None) -> list[tuple[str, float]]:
    """The weighted segments of one sample; with `rng`, the training view (`_training_view`) of it."""
    messages = [dict(m) for m in sample.messages]
    if rng is not None:
        messages = _training_view(messages, rng)
    P, R = PROMPT_WEIGHT, REPLY_WEIGHT
    segments = [("[gMASK]<sop>", P)]
    if sample.tools:
        segments.append((_tools_block(sample.tools), P))
    segments += [(f"<|system|>\n{m['content']}", P) for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    stop = None  # the token the model emitted after the previous generated message
    for i, m in enumerate(turns):
        token = _ROLE_TOKEN[m["role"]]
        segments.append((token, P if stop is None else R if stop == token else 0.0))
        stop = None
        meta, content = m.get("metadata"), m["content"]
        if m["role"] != "assistant":
            segments.append(("\n" + content, P))
        elif not m.get("gen"):
            if meta:
                segments.append((f"{meta} \n{content}", 0.0))
            else:
                segments.append(("\n" + (content.split("</think>")[-1].strip() if sample.z1 else content), P))
        else:
            if meta:
                segments.append((f"{meta}\n{content}", R))
            elif sample.z1:
                assert content.startswith("<think>"), content
                segments += [("\n<think>", 0.0), (content[len("<think>") :], R)]
            else:
                segments.append(("\n" + content, R))
            following = turns[i + 1]["role"] if i + 1 < len(turns) else None
            stop = m.get("stop") or (_ROLE_TOKEN[following] if following else "<|user|>")
    if stop is not None:
        segments.append((stop, R))
    return segments


@dataclass(frozen=True)
class Stage:
    """One generation of a sample: the rendered prompt and the messages the model should produce."""

    prompt: str
    expected: tuple[dict, ...]
    forced: str = ""  # what the application wrote after the generation prompt (the end of `prompt`)


def stages(sample: Sample) -> list[Stage]:
    """Each point where the model generates, with the history before it rendered by the chat template as a
    `Conversation` keeps it: earlier assistant messages without their thinking (the Rumination loop's actions).
    A Rumination stage's prompt ends with the `<think>` that the research loop forces before every generation."""
    kind = "z1" if sample.z1 else "chat"
    out, i, msgs = [], 0, sample.messages
    history = [history_form(m) for m in msgs]
    forced = "\n<think>" if sample.skill == "research" else ""
    while i < len(msgs):
        if not msgs[i].get("gen"):
            i += 1
            continue
        j = i + 1
        while j < len(msgs) and msgs[j].get("gen") and msgs[j].get("metadata") and msgs[i].get("metadata"):
            j += 1  # several calls in one turn are one generation
        out.append(Stage(render(history[:i], sample.tools, kind=kind) + forced, tuple(msgs[i:j]), forced))
        i = j
    return out


def _copy_item(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        pool = rng.choice(list(TRAIN.values()))
        return rng.choice(pool)
    if r < 0.7:
        return made_up_word(rng)
    if r < 0.85:
        return str(rng.randint(0, 10 ** rng.randint(1, 5)))
    if r < 0.93:
        return "#" + "".join(rng.choice("0123456789abcdef") for _ in range(6))
    return made_up_han(rng, rng.randint(1, 3))


def _joined(items: list[str], lang: str, rng: random.Random) -> str:
    """Items as a prompt lists them: "a and b", "a, b or c", "甲和乙", "甲、乙、丙"."""
    if lang == "zh":
        sep = rng.choice(("、", "，"))
        return sep.join(items[:-1]) + rng.choice(("和", "跟", sep)) + items[-1]
    last = rng.choice((" and ", " or ", ", "))
    return ", ".join(items[:-1]) + last + items[-1]


def _each_sample(rng: random.Random, lang: str) -> Sample:
    """Two to four values, one JSON object each, in order: after the first object the model must find the value
    that follows the one it just wrote, past the words between them (what two tool calls in one turn need)."""
    items, n = [], rng.randint(2, 4)
    while len(items) < n:
        item = _copy_item(rng)
        if item not in items:
            items.append(item)
    key = rng.choice(("value", "city", "name", "item"))
    prompt = rng.choice(PHRASINGS[f"each_{lang}"]).format(items=_joined(items, lang, rng))
    answer = "\n".join(dumps({key: item}) for item in items)
    if key != "value":
        prompt += f" Key: {key}." if lang == "en" else f"键：{key}。"
    messages = ({"role": "user", "content": prompt}, {"role": "assistant", "content": answer, "gen": True})
    return Sample("copy", lang, messages, expect={"answer": answer})


def copy_sample(rng: random.Random) -> Sample:
    """The warm-up task: repeat a random string, put it in JSON, or put each of a few values in its own JSON."""
    lang = "zh" if rng.random() < 0.25 else "en"
    if rng.random() < 0.3:
        return _each_sample(rng, lang)
    text = " ".join(_copy_item(rng) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.6:
        prompt, answer = rng.choice(PHRASINGS[f"repeat_{lang}"]), text
    else:
        key = rng.choice(("value", "text", "name", "data"))
        prompt, answer = rng.choice(PHRASINGS[f"json_{lang}"]), dumps({key: text})
        if key != "value":
            prompt += f" Key: {key}." if lang == "en" else f"键：{key}。"
    messages = ({"role": "user", "content": prompt.format(text=text)},
                {"role": "assistant", "content": answer, "gen": True})  # fmt: skip
    return Sample("copy", lang, messages, expect={"answer": answer})


def copy_share(progress: float) -> float:
    """The copy task's share of examples at `progress` (0..1) through training: 30%, decaying to 5% by 60%."""
    return 0.05 + 0.25 * max(0.0, 1.0 - progress / 0.6)


def _with_context(sample: Sample, rng: random.Random, invent: float = 0.0) -> Sample:
    """Sometimes put a system prompt or an earlier exchange before the sample (not for Rumination)."""
    if sample.skill == "research":
        return sample
    messages = list(sample.messages)
    if rng.random() < 0.15:
        earlier = generate("chat", Picker(rng, "train", invent)).messages
        messages = [earlier[0], {k: v for k, v in earlier[1].items() if k != "gen"}, *messages]
    if rng.random() < 0.2:
        system = "你是一个乐于助人的助手。" if sample.lang == "zh" else "You are a helpful assistant."
        messages.insert(0, {"role": "system", "content": system})
    return Sample(sample.skill, sample.lang, tuple(messages), sample.tools, sample.z1, sample.expect)


def _chain(first: Sample, rng: random.Random, mix: Mix) -> Sample:
    """One to three dialogs of the same skill as successive turns of one conversation (same tools), so the
    long tools prompt is shared by several replies; only the last turn's thinking is kept (Z1 strips it)."""
    if first.skill in ("research", "z1") or rng.random() < 0.4:
        return first
    messages = list(first.messages)
    for _ in range(rng.randint(1, 2)):
        nxt = generate(first.skill, Picker.mixed(rng, "train", mix))
        if nxt.tools != first.tools:
            break
        messages += nxt.messages
    return Sample(first.skill, first.lang, tuple(messages), first.tools, first.z1, first.expect)


def training_samples(seed: int, progress=lambda: 0.0, mix: Mix = FIRST_RECIPE) -> Iterator[Sample]:
    """An endless, seeded stream of training samples; `progress()` (0..1) sets the copy task's share; `mix`: what
    the corpus invents and how its Rumination samples search (`Mix`)."""
    rng = random.Random(seed)
    skills, weights = list(SKILL_WEIGHTS), list(SKILL_WEIGHTS.values())
    while True:
        if rng.random() < copy_share(progress()):
            yield copy_sample(rng)
        elif mix.openers and rng.random() < mix.openers:
            yield _with_context(typed_opener(opener(Picker.mixed(rng, "train", mix)), rng), rng, mix.invent)
        else:
            skill = rng.choices(skills, weights)[0]
            first = generate(skill, Picker.mixed(rng, "train", mix))
            if mix.casual and rng.random() < mix.casual:  # every skill, so that casual typing does not mean chat
                first = casual(first, rng)
            yield _with_context(_chain(first, rng, mix), rng, mix.invent)


_CLOSING = ".!?。！？"


def casual(sample: Sample, rng: random.Random) -> Sample:
    """A sample whose first user message is typed as people type at a prompt: no closing punctuation, and half
    the time in lower case. A chat message may go all lower case ("who are you") unless it greets a name; any
    other message only loses its first capital ("search for Jupyter magics"), and keeps it when that first word
    is a value the replies copy ("Tasks card in maroon"). The replies are unchanged."""
    at = next(i for i, m in enumerate(sample.messages) if m["role"] == "user")
    user = sample.messages[at]
    text = user["content"].rstrip().rstrip(_CLOSING).rstrip() or user["content"]
    if sample.skill == "chat":
        kept = sample.expect.get("quotes", [])
    else:
        replies = " ".join(m["content"] for m in sample.messages[at + 1 :] if m["role"] == "assistant")
        kept = [word for word in text.split()[:1] if word in replies]
    style = rng.random()
    if style < 0.25 and sample.skill == "chat" and not kept:
        text = text.lower()
    elif style < 0.5 and not any(text.startswith(word) for word in kept):
        text = text[:1].lower() + text[1:]
    messages = (*sample.messages[:at], {**user, "content": text}, *sample.messages[at + 1 :])
    return Sample(sample.skill, sample.lang, messages, sample.tools, sample.z1, sample.expect)


def typed_opener(sample: Sample, rng: random.Random) -> Sample:
    """An opening message as people type one: its closing punctuation kept a third of the time ("hi!", "Hi"), in
    lower case half the time ("hello", "who are you"). The reply is unchanged."""
    user = sample.messages[0]
    text = user["content"]
    if rng.random() >= 1 / 3:
        text = text.rstrip(_CLOSING) or text
    if rng.random() < 0.5:
        text = text.lower()
    return Sample(sample.skill, sample.lang, ({**user, "content": text}, *sample.messages[1:]), sample.tools,
                  sample.z1, sample.expect)  # fmt: skip


def opener_samples(split: str, n: int, seed: int = 1234) -> list[Sample]:
    """`n` opening messages typed as people type them (`typed_opener`) from a held-out split (`combos` or
    `phrasings`): what nano_eval reports beside the gated chat table."""
    assert split in ("combos", "phrasings"), split
    rng = random.Random(f"{seed}/openers/{split}")
    return [typed_opener(opener(Picker(rng, split)), rng) for _ in range(n)]


def eval_samples(skill: str, split: str, n: int, seed: int = 1234, local_research: float = 0.0) -> list[Sample]:
    """`n` samples of one skill from a held-out split (`combos`, `phrasings` or `unseen`); `local_research`: the
    share of Rumination samples that search generated local documents."""
    assert skill in SKILLS and split in SPLITS[1:], (skill, split)
    rng = random.Random(f"{seed}/{skill}/{split}")
    return [generate(skill, Picker(rng, split, local_research=local_research)) for _ in range(n)]


def corpus_text(seed: int, n: int) -> Iterator[str]:
    """Plain text of `n` training examples (for training the tokenizer)."""
    rng = random.Random(seed)
    stream = training_samples(seed, progress=lambda: 0.3)
    for _ in range(n):
        yield "".join(text for text, _ in to_segments(next(stream), rng))
    yield string.printable
