"""Real model behaviour through `glm-nb serve`: the bundled nano-GLM (a tiny model trained on the GLM-4 format) calls
a tool, reads its result and answers, and thinks before answering with the Z1 template, through RemoteBackend
exactly as through the local engine. Skipped while the checkpoint is not in the package."""

from __future__ import annotations

import json

from glm_nb.chat import Conversation, LocalBackend, RemoteBackend, ThinkingDelta
from glm_nb.engine import SamplingParams
from glm_nb.nano import chat_template
from glm_nb.nano.phrasings import DEMO_PROMPTS
from glm_nb.nano.skills import TOOLS

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=200)
WEATHER = {"type": "function", "function": TOOLS["get_weather"]}  # the schema nano-GLM was trained with
OBSERVATION = {"city": "Paris", "temperature": 21, "condition": "sunny"}


def _pair(nano, **options) -> tuple[Conversation, Conversation]:
    remote = RemoteBackend.connect(nano.server.url, tokenizer=nano.folder)
    local = LocalBackend.from_engine(nano.engine, max_length=1024)
    return Conversation(remote, sampling=GREEDY, **options), Conversation(local, sampling=GREEDY, **options)


def test_tool_call_round_trip(nano):
    remote, local = _pair(nano, tools=[WEATHER])

    for conversation in (remote, local):
        first = conversation.send(DEMO_PROMPTS["weather"])
        first.finish()
        assert first.finish_reason == "tool_calls"  # a declared tool without a function: handed back to us
        for call in first.tool_calls():
            conversation.add_tool_result(call, OBSERVATION)
        conversation.respond().finish()

    assert _without_ids(remote.to_openai()) == _without_ids(local.to_openai())  # as on the local engine
    (call,) = remote.messages[1].tool_calls
    assert call.name == "get_weather" and set(call.arguments) == {"city"}  # (which city: tests/nano's business)
    assert "21°C" in remote.messages[-1].text  # the answer quotes the tool result (the model is tiny)


def _without_ids(messages: list[dict]) -> str:
    text = json.dumps(messages, ensure_ascii=False)
    for message in messages:
        for call in message.get("tool_calls", ()):
            text = text.replace(call["id"], "ID")
    return text


def test_z1_thinks_then_answers(nano):
    remote, local = _pair(nano, template=chat_template("z1"))

    reply = remote.send(DEMO_PROMPTS["z1"])
    events = reply.events()
    local_reply = local.send(DEMO_PROMPTS["z1"])

    assert (reply.thinking(), reply.text()) == (local_reply.thinking(), local_reply.text())
    assert reply.thinking() and any(isinstance(e, ThinkingDelta) for e in events)
    assert reply.text().endswith("is larger.") and "</think>" not in reply.text()


def test_chat_answer_equals_the_local_engine(nano):
    remote, local = _pair(nano)

    assert remote.send(DEMO_PROMPTS["chat"]).text() == local.send(DEMO_PROMPTS["chat"]).text() != ""
