"""`Conversation(drop_old_turns=True)`: a history that fills the context loses its oldest turns, whole, instead of
refusing the next message; driven by the scripted generator with a small context."""

from __future__ import annotations

import pytest

from glm_nb.chat import (
    AssistantMessage,
    Conversation,
    ObservationMessage,
    ScriptedGenerator,
    SystemMessage,
    UserMessage,
)
from glm_nb.engine import SamplingParams
from glm_nb.errors import GenerationError, PromptTooLongError
from glm_nb.tools import tool

CONTEXT = 160
SAMPLING = SamplingParams(max_new_tokens=8)  # the answer's room: 8 tokens (less than an eighth of the context)
ANSWER = "\nNoted."  # 6 tokens, and the stop token


@tool
def lookup(word: str) -> str:
    """Look a word up.

    Args:
        word: The word.
    """
    return f"{word}: a word"


def _conversation(tokenizer, glm_template, replies, context=CONTEXT, sampling=SAMPLING, **options):
    generator = ScriptedGenerator(tokenizer, replies, max_length=context)
    backend = generator.backend(chat_template=glm_template)
    return Conversation(backend, sampling=sampling, **options), generator


def _fill(conversation, count: int) -> None:
    for index in range(count):
        conversation.send(f"Remember fact number {index}, please.").finish()


def _prompt_text(generator, index: int = -1) -> str:
    return generator.tokenizer.decode(generator.prompts[index])


def test_by_default_a_full_history_refuses_the_next_message_as_before(tokenizer, glm_template):
    conversation, _ = _conversation(tokenizer, glm_template, [ANSWER] * 8, system="Be brief.")
    with pytest.raises(PromptTooLongError):
        _fill(conversation, 8)

    assert conversation.drop_old_turns is False
    assert UserMessage("Remember fact number 0, please.") in conversation.messages  # nothing was dropped


def test_the_oldest_turns_go_whole_and_the_system_prompt_and_the_new_message_stay(tokenizer, glm_template):
    conversation, generator = _conversation(
        tokenizer, glm_template, [ANSWER] * 12, context=240, system="Be brief.", drop_old_turns=True
    )
    _fill(conversation, 7)
    turns_before = sum(isinstance(m, UserMessage) for m in conversation.messages)
    question = "Now, looking back over everything so far, which fact was the very last one you noted down?"

    response = conversation.send(question)
    response.finish()

    turns_after = sum(isinstance(m, UserMessage) for m in conversation.messages)
    assert response.dropped_turns == turns_before + 1 - turns_after >= 2  # a long message needs more room
    assert response.finish_reason == "stop"
    messages = conversation.messages
    assert messages[0] == SystemMessage("Be brief.")
    assert messages[-2:] == (UserMessage(question), AssistantMessage(ANSWER.strip()))
    assert isinstance(messages[1], UserMessage)  # the history starts with a whole turn
    kept = [m.content for m in messages if isinstance(m, UserMessage)]
    assert kept[-2] == "Remember fact number 6, please."  # the newest turns are the ones kept
    assert "Remember fact number 0" not in _prompt_text(generator)
    assert _prompt_text(generator).startswith("[gMASK]<sop><|system|>\nBe brief.<|user|>")
    # The answer had its room, and a quarter of the context is left besides, so that the next messages reuse
    # the KV cache instead of dropping (and recomputing the whole history) again at once.
    assert len(generator.prompts[-1]) + SAMPLING.max_new_tokens + 240 // 4 <= 240


def test_a_drop_frees_a_quarter_of_the_context_so_the_next_messages_reuse_the_cache(tokenizer, glm_template):
    conversation, _ = _conversation(tokenizer, glm_template, [ANSWER] * 30, context=240, drop_old_turns=True)
    drops, reused = [], []
    for index in range(30):
        response = conversation.send(f"Remember fact number {index}, please.")
        response.finish()
        drops.append(response.dropped_turns)
        reused.append(response.usage().reused_prompt_tokens)
        if len([d for d in drops if d]) == 2:
            break
    first, second = [i for i, d in enumerate(drops) if d]
    assert drops[first] >= 2  # not one turn: dropping one a message would recompute the whole history at each
    assert second - first >= 3  # the messages after a drop found room ...
    assert all(reused[i] > 0 for i in range(first + 1, second))  # ... and the history they had in the KV cache


def test_a_reply_that_drops_nothing_says_zero(tokenizer, glm_template):
    conversation, _ = _conversation(tokenizer, glm_template, [ANSWER], drop_old_turns=True)

    response = conversation.send("Hi")
    response.finish()

    assert response.dropped_turns == 0


def test_a_tool_call_goes_with_its_result_and_the_tools_stay_offered(tokenizer, glm_template):
    call = 'lookup\n{"word": "lantern"}<|observation|>'
    conversation, generator = _conversation(
        tokenizer,
        glm_template,
        [call, "\nA lamp.", *[ANSWER] * 8],
        tools=[lookup],
        drop_old_turns=True,
        context=CONTEXT + 320,
        sampling=SamplingParams(max_new_tokens=32),  # the tool list: about 300 tokens
    )
    conversation.send("What is a lantern?").finish()
    assert any(isinstance(m, ObservationMessage) for m in conversation.messages)

    _fill(conversation, 8)

    messages = conversation.messages
    assert not any(isinstance(m, ObservationMessage) for m in messages)  # the result went with its call ...
    assert not any(isinstance(m, AssistantMessage) and m.tool_calls for m in messages)  # ... and the call with it
    assert "lantern" not in _prompt_text(generator)
    assert '"name": "lookup"' in _prompt_text(generator)  # the tool list is never dropped


def test_a_message_too_long_by_itself_is_refused_and_the_dropped_turns_come_back(tokenizer, glm_template):
    conversation, generator = _conversation(tokenizer, glm_template, [ANSWER] * 3, drop_old_turns=True)
    _fill(conversation, 2)
    before = conversation.messages

    response = conversation.send("far too long " * 60)
    with pytest.raises(PromptTooLongError):
        response.finish()

    assert conversation.messages == before and response.dropped_turns == 0
    assert len(generator.prompts) == 2  # nothing was generated for it


def test_a_mid_history_system_message_stays_in_place(tokenizer, glm_template):
    history = [
        UserMessage("Remember fact number 0, please."),
        AssistantMessage("Noted."),
        SystemMessage("From now on, answer in French."),
        UserMessage("Remember fact number 1, please."),
        AssistantMessage("Noted."),
    ]
    conversation, _ = _conversation(tokenizer, glm_template, [ANSWER] * 6, messages=history, drop_old_turns=True)

    _fill(conversation, 6)

    assert SystemMessage("From now on, answer in French.") in conversation.messages
    assert UserMessage("Remember fact number 0, please.") not in conversation.messages[:3]


def test_thinking_kept_in_history_is_left_as_it_was(tokenizer, glm_template):
    thought = "Hmm.</think>\nNoted."
    conversation, generator = _conversation(
        tokenizer, glm_template, [thought] * 8, force_thinking=True, drop_old_turns=True
    )
    _fill(conversation, 8)

    kept = [m for m in conversation.messages if isinstance(m, AssistantMessage)]
    assert kept and all(m.thinking == "Hmm." for m in kept)  # the record keeps it; the prompt never had it
    assert "Hmm." not in _prompt_text(generator).rsplit("<|user|>", 1)[0]


def test_a_turn_the_backend_refuses_puts_the_dropped_turns_back(tokenizer, glm_template):
    conversation, _ = _conversation(tokenizer, glm_template, [ANSWER] * 7, drop_old_turns=True)
    _fill(conversation, 7)  # the script is spent: the next completion fails before generating anything
    before = conversation.messages

    response = conversation.send("Remember fact number 7, please.")
    with pytest.raises(GenerationError, match="script one more reply"):
        response.finish()

    assert conversation.messages == before and response.dropped_turns == 0


def test_a_long_message_drops_only_what_it_needs_when_the_headroom_is_out_of_reach(tokenizer, glm_template):
    conversation, generator = _conversation(tokenizer, glm_template, [ANSWER] * 8, context=400, drop_old_turns=True)
    _fill(conversation, 5)
    question = "Please read all of this: " + "more words here, " * 17  # ~300 tokens: a quarter cannot be freed

    response = conversation.send(question)
    response.finish()

    kept = [m for m in conversation.messages if isinstance(m, UserMessage)]
    assert response.finish_reason == "stop" and 1 <= response.dropped_turns < 5
    assert len(kept) == 6 - response.dropped_turns  # the newest turns stay: not all thrown away for nothing
    assert len(generator.prompts[-1]) + 400 // 4 > 400 - SAMPLING.max_new_tokens  # indeed out of reach
