"""Conversation.rewind: redo a turn (what re-running a notebook cell does), with the KV cache prefix reused."""

from __future__ import annotations

import pytest

from glm_nb.chat import ChatError, UserMessage


def test_rewind_then_send_replaces_the_turn(scripted):
    conversation, generator = scripted(["\nFirst answer.", "\nSecond answer.", "\nRedone second."])
    conversation.send("one").text()
    before_second = len(conversation.messages)
    conversation.send("two").text()

    conversation.rewind(before_second)
    reply = conversation.send("two, again").text()

    users = [m.content for m in conversation.messages if isinstance(m, UserMessage)]
    assert users == ["one", "two, again"]
    assert reply == "Redone second."
    assert len(conversation.messages) == before_second + 2


def test_rewind_reuses_the_cache_up_to_the_kept_history(scripted):
    conversation, generator = scripted(["\nFirst answer.", "\nSecond answer.", "\nRedone second."])
    conversation.send("one").text()
    before_second = len(conversation.messages)
    kept_prompt = generator.tokenizer.encode(conversation.prompt())
    conversation.send("two").text()
    reused_before = generator.stats.reused_tokens

    conversation.rewind(before_second)
    conversation.send("two, again").text()

    # everything before the redone turn came from the cache (the generation prompt's last token runs again)
    assert generator.stats.reused_tokens - reused_before >= len(kept_prompt) - 2


def test_rewind_cancels_a_running_response(scripted):
    conversation, _ = scripted(["\nA long answer that is cut.", "\nNext."])
    response = conversation.send("one")
    next(iter(response))

    conversation.rewind(0)

    assert response.done
    assert conversation.messages == ()


def test_rewind_past_the_end_says_what_to_pass(scripted):
    conversation, _ = scripted(["\nHi."])
    conversation.send("one").text()

    with pytest.raises(ChatError, match="len\\(conversation.messages\\)"):
        conversation.rewind(5)
