"""Training-only English chat prompts composed from parts (the corpus option `paraphrase`).

The phrasing lists of `phrasings.py` give each small-talk intent 7 to 20 English phrasings, a fifth of them held
out. With so few, nano-GLM learned the words of its lists rather than the intents: a held-out "How have you been?"
got the self-introduction, and an unfamiliar word anywhere ("Thanks a lot!", "Describe yourself.") was taken for a
name to greet. Here every intent is an opener, a request among a dozen or more and an ending, a few hundred prompts
each, with words no list uses, and greetings put the name in many more places.

None of it ever reaches an evaluation set: `compose` redraws whenever a held-out phrasing of the same intent
(placeholders and punctuation aside) appears inside what it made, and the tests check that over many draws.

A 45-minute phase with it at 0.6 (W, not shipped) moved chat in held-out phrasings little and cost search calls in
held-out phrasings their format: with greetings in many more shapes, "Hi! Search for context length." was greeted
(benchmarks/results/nano-gpu-sweep-2026-11-27.md).
"""

from __future__ import annotations

import random
import re

from .phrasings import FACTS, PHRASINGS

__all__ = ["INTENTS", "compose", "held_out"]

_OPENERS = ("", "So, ", "OK, ", "First, ", "Just curious: ", "Out of curiosity, ", "One thing: ", "Well, ")
_ENDINGS = ("", "", " Just wondering.", " I'm new here.")  # "I'm new" names nobody: the answer is still the fact
_THANKS_ENDINGS = ("", "", " That's all for now.", " See you later.")

# Requests per intent; an intent is "greet" or a FACTS index (as text), the answer `skills._chat` gives.
_REQUESTS: dict[str, tuple[str, ...]] = {
    "0": (  # who the model is
        "who are you exactly?", "what kind of model are you?", "what should I call you?", "who am I chatting with?",
        "what is this assistant?", "are you a large model?", "are you the real GLM-4?", "which assistant is this?",
        "what model is answering me?", "can you introduce yourself?", "could you say who you are?",
        "what exactly is nano-GLM?", "is this GLM-4?", "what's this model called?", "who is answering?",
        "what are you called?", "tell me who you are.", "explain what you are.", "let me know which model you are.",
        "I want to know what model this is.", "say a few words on who you are.", "what do I call this model?",
    ),
    "1": (  # GLM-4
        "what's GLM-4?", "what exactly is GLM-4?", "explain what GLM-4 is.", "I'd like to know what GLM-4 is.",
        "give me a short summary of GLM-4.", "what is the GLM-4 family?", "what are the GLM-4 models?",
        "is GLM-4 open?", "what is in the GLM-4 0414 release?", "where does GLM-4 come from?",
        "summarize GLM-4 for me.", "what's the GLM family?", "what can you say on GLM-4?", "GLM-4: what is it?",
    ),
    "2": (  # Jupyter
        "what's Jupyter?", "what exactly is Jupyter?", "explain what Jupyter is.", "how does a Jupyter notebook work?",
        "summarize Jupyter for me.", "why would I use Jupyter?", "what are Jupyter cells?", "what is Jupyter good at?",
        "I'd like to know what Jupyter is.", "Jupyter: what is it?", "what's a notebook environment?",
        "give me a short summary of Jupyter.",
    ),
    "3": (  # ONNX Runtime
        "what's ONNX Runtime?", "what exactly is ONNX Runtime?", "explain what ONNX Runtime is.",
        "which inference engine does glm-nb use?", "what is ORT?", "summarize ONNX Runtime for me.",
        "why ONNX Runtime?", "what does glm-nb convert checkpoints to?", "I'd like to know what ONNX Runtime is.",
        "ONNX Runtime: what is it?", "give me a short summary of ONNX Runtime.", "what engine is under glm-nb?",
    ),
    "4": (  # how are you
        "how are you today?", "how are things?", "how's your day?", "how's your day going?", "how are you feeling?",
        "are you OK?", "are you alright?", "how do you do?", "how is everything?", "all good with you?",
        "how's life?", "what's up?", "how are things with you?", "you doing OK?", "are you well?",
    ),
    "5": (  # thanks
        "thanks.", "thank you!", "thanks so much!", "cheers!", "much appreciated.", "I appreciate it.",
        "thanks, that was useful.", "great, thanks!", "perfect, thank you.", "awesome, thanks!",
        "thank you kindly.", "thanks for that.", "that was helpful, thank you.", "many thanks for your help.",
        "thanks for answering.", "nice, thanks!", "cool, thank you.",
    ),
}  # fmt: skip
_GREET_OPENERS = ("Hi", "Hello", "Hey", "Good morning", "Good afternoon", "Howdy", "Hi there", "Hello again", "Yo")
_GREET_INTROS = (
    "I'm {name}", "I am {name}", "my name is {name}", "this is {name}", "{name} here", "it's {name}",
    "I go by {name}", "you can call me {name}", "people call me {name}", "they call me {name}",
    "the name is {name}", "I'm called {name}",
)  # fmt: skip
_GREET_ENDINGS = ("", " Pleased to meet you.", " Glad to meet you.", " Good to be here.", " Hello!")

INTENTS = ("greet", *_REQUESTS)


def _normal(text: str) -> str:
    """Lower case, placeholders and punctuation gone, single spaces: what two phrasings are compared by."""
    text = re.sub(r"\{\w+\}", " ", text.lower())
    return " ".join(re.sub(r"[^\w\s-]", " ", text).split())


def held_out(intent: str) -> tuple[str, ...]:
    """The held-out English phrasings of `intent` (every fifth of its list, as `sample.Picker.phrase` holds out),
    normalized."""
    options = PHRASINGS["greet_en"] if intent == "greet" else FACTS[int(intent)][0]
    return tuple(_normal(options[i]) for i in range(4, len(options), 5))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _draw(rng: random.Random, intent: str) -> str:
    if intent == "greet":
        opener, intro = rng.choice(_GREET_OPENERS), rng.choice(_GREET_INTROS)
        if rng.random() < 0.3:  # the name first: "I'm Ana. Hi!"
            return f"{_capital(intro)}. {opener}!" + rng.choice(_GREET_ENDINGS)
        sep = rng.choice((", ", "! ", ". "))
        intro = intro if sep == ", " else _capital(intro)
        return opener + sep + intro + rng.choice((".", "!")) + rng.choice(_GREET_ENDINGS)
    opener = rng.choice(_OPENERS)
    request = rng.choice(_REQUESTS[intent])
    ending = rng.choice(_THANKS_ENDINGS if intent == "5" else _ENDINGS)
    return opener + (request if opener.endswith(", ") else _capital(request)) + ending


def compose(rng: random.Random, intent: str) -> str:
    """A training prompt for `intent` ("greet", with a `{name}` placeholder, or a FACTS index as text) that holds
    no held-out phrasing of it."""
    held = held_out(intent)
    for _ in range(100):
        text = _draw(rng, intent)
        padded = f" {_normal(text)} "
        if not any(f" {h} " in padded for h in held):
            return _capital(text)
    raise RuntimeError(f"no {intent} prompt without a held-out phrasing in 100 draws")
