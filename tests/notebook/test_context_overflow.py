"""Magics at the edge of the context: `--drop-old-turns` (per cell, or `%glm config`) keeps a conversation going by
dropping its oldest turns; and what `glm_nb.last()` gives after a cell that failed."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import glm_nb
from glm_nb.chat import UserMessage
from glm_nb.errors import GlmError
from glm_nb.render import MIME_TYPE

CONTEXT = 160  # about three turns of `_fact` and "Noted." (a character is about a token here)


def _fact(index: int) -> str:
    return f"%%glm\nRemember fact number {index}, please."


def _asked(kernel) -> list[str]:
    return [m.content for m in kernel.session.thread("chat").messages if isinstance(m, UserMessage)]


def test_a_cell_with_drop_old_turns_goes_on_and_says_how_many_turns_went(kernel):
    generator = kernel.use(["\nNoted."] * 7, max_length=CONTEXT)
    for index in range(6):
        kernel.run(_fact(index))
    assert isinstance(kernel.errors[-1], UsageError)  # by default the full conversation refuses the cell
    assert "`%%glm --drop-old-turns` drops the conversation's oldest turns" in str(kernel.errors[-1])
    before = _asked(kernel)

    record = kernel.final(kernel.run("%%glm --drop-old-turns\nRemember fact number 9, please."))["data"][MIME_TYPE]

    assert kernel.errors[-1] is None and record["answer"] == "Noted."
    dropped = len(before) + 1 - len(_asked(kernel))
    assert dropped >= 1 and _asked(kernel) == before[dropped:] + ["Remember fact number 9, please."]
    turns = "turn" if dropped == 1 else f"{dropped} turns"
    assert f"the oldest {turns} of the conversation" in record["note"]
    assert "Remember fact number 0" not in generator.tokenizer.decode(generator.prompts[-1])


def test_config_drops_for_every_later_cell_until_turned_off(kernel):
    kernel.use(["\nNoted."] * 20, max_length=CONTEXT)
    kernel.run("%glm config --drop-old-turns")
    for index in range(8):
        kernel.run(_fact(index))
    assert kernel.errors == [None] * 9  # the config line and every cell

    kernel.run("%glm config --drop-old-turns off")
    for index in range(8, 16):  # the last drop left room for a few more turns; then the context is full
        kernel.run(_fact(index))
        if kernel.errors[-1] is not None:
            break

    assert kernel.session.defaults.drop_old_turns is False
    assert isinstance(kernel.errors[-1], UsageError) and "--drop-old-turns" in str(kernel.errors[-1])


def test_an_answer_cut_by_the_full_context_offers_dropping_old_turns(kernel):
    reply = "\nA reasonably long answer with several words in it, longer than this small context allows."
    kernel.use([reply], max_length=40)

    record = kernel.final(kernel.run("%%glm\nTell me"))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length"
    assert "`%glm config --drop-old-turns` keeps this one going" in record["note"]


def test_an_answer_cut_by_the_full_context_while_dropping_says_the_next_message_makes_room(kernel):
    reply = "\nA reasonably long answer with several words in it, longer than this small context allows."
    kernel.use([reply], max_length=40)

    record = kernel.final(kernel.run("%%glm --drop-old-turns\nTell me"))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length" and "--drop-old-turns`" not in record["note"]
    assert "The next message drops the oldest turns to make room for its answer." in record["note"]


def test_re_running_a_cell_after_drops_rewinds_to_where_its_turn_began(kernel):
    kernel.use(["\nNoted."] * 12, max_length=CONTEXT)
    kernel.run("%glm config --drop-old-turns")
    for index in range(6):
        kernel.run(_fact(index), cell_id=f"c{index}")
    kept = _asked(kernel)
    assert kept[0] != "Remember fact number 0, please."  # the first cells' turns were dropped

    kernel.run("%%glm\nRemember fact number 4, again.", cell_id="c4")  # a kept cell, edited and re-run
    assert _asked(kernel) == kept[:-2] + ["Remember fact number 4, again."]  # c5's turn, after it, goes too

    kernel.run("%%glm\nRemember fact number 0, again.", cell_id="c0")  # a cell whose turn was dropped
    assert _asked(kernel) == ["Remember fact number 0, again."]  # its later turns go, as in any re-run


def test_research_keeps_no_conversation_so_it_takes_no_drop_old_turns(kernel):
    kernel.use(["\nNoted."])

    kernel.run("%%glm_rumination --corpus . --drop-old-turns\nResearch")

    assert isinstance(kernel.errors[0], UsageError) and "--drop-old-turns" in str(kernel.errors[0])


def test_a_message_too_long_even_with_every_turn_dropped_says_to_shorten_it(kernel):
    kernel.use(["\nNoted."] * 3, max_length=CONTEXT)
    kernel.run(_fact(0))
    kernel.run(_fact(1))

    kernel.run("%%glm --drop-old-turns\n" + "far too long " * 20)

    assert "shorten the message" in str(kernel.errors[-1]) and "--drop-old-turns` drops" not in str(kernel.errors[-1])
    assert _asked(kernel) == ["Remember fact number 0, please.", "Remember fact number 1, please."]  # unchanged


# -- glm_nb.last() after a cell that failed -------------------------------------------------------------------------
def test_last_after_a_reply_stopped_by_an_error_gives_that_cells_record(kernel):
    kernel.use(["\nFirst."])  # one reply scripted: the second cell's backend fails
    kernel.run("%%glm\nOne")

    shown = kernel.final(kernel.run("%%glm\nTwo"))["data"][MIME_TYPE]

    assert isinstance(kernel.errors[-1], UsageError)
    assert glm_nb.last().prompt == "Two" and glm_nb.last().finish_reason == "error"
    assert glm_nb.last().note == shown["note"]


def test_last_after_a_prompt_too_long_gives_that_cells_record(kernel):
    kernel.use(["\nFirst."], max_length=CONTEXT)
    kernel.run("%%glm\nOne")

    kernel.run("%%glm\n" + "far too long " * 20)

    assert glm_nb.last().prompt.startswith("far too long") and glm_nb.last().finish_reason == "error"


def test_last_after_a_cell_that_stopped_before_its_reply_says_there_is_none(kernel):
    kernel.use(["\nFirst."])
    kernel.run("%%glm\nOne")
    assert glm_nb.last().answer == "First."

    kernel.run("%%glm --tools no_such_tool\nTwo")

    with pytest.raises(GlmError, match="The latest %%glm cell has no reply record"):
        glm_nb.last()


def test_last_after_an_interrupt_while_waiting_for_the_engine_gives_that_cells_record(kernel):
    class Busy:
        def acquire(self, blocking=True, timeout=-1):
            if not blocking:
                return False
            raise KeyboardInterrupt  # the kernel's interrupt, while the cell waits for the engine

    kernel.use(["\nFirst.", "\nNever."])
    kernel.run("%%glm\nOne")
    kernel.session.engine_lock = Busy()

    kernel.run("%%glm\nTwo")

    assert isinstance(kernel.errors[-1], KeyboardInterrupt)
    assert glm_nb.last().prompt == "Two" and "nothing was sent" in glm_nb.last().note
