"""The cell magics through a real InteractiveShell: streaming, the static record, conversations, re-runs."""

from __future__ import annotations

import random

import pytest
from IPython.core.error import UsageError

import glm_nb
from glm_nb.chat import CHAT_SAMPLING, AssistantMessage, UserMessage
from glm_nb.magics import live
from glm_nb.magics.options import GlmCellArgs
from glm_nb.magics.views import history_view
from glm_nb.render import MIME_TYPE


def test_a_cell_streams_then_ends_as_a_static_record(kernel):
    kernel.use(["\nHello **world**, from the model."])

    outputs = kernel.run("%%glm\nSay hello")

    assert kernel.errors == [None]
    assert len(outputs) >= 3 and all(o["update"] for o in outputs[1:])  # shown once, then updated in place
    assert outputs[0]["data"][MIME_TYPE]["finish_reason"] is None  # a streaming snapshot
    final = kernel.final(outputs)
    record = final["data"][MIME_TYPE]
    assert record["answer"] == "Hello **world**, from the model."
    assert record["finish_reason"] == "stop" and record["prompt"] == "Say hello"
    assert "<strong>world</strong>" in final["data"]["text/html"]
    assert "Hello **world**" in final["data"]["text/markdown"]
    assert final["data"]["text/plain"].startswith("Hello **world**")
    meta = final["metadata"]["glm_nb"]
    assert meta["model"] == "scripted-GLM" and meta["usage"]["new_tokens"] > 0
    assert meta["sampling"]["temperature"] == glm_nb.chat.CHAT_SAMPLING.temperature


def test_the_footer_reports_tokens_and_speed(kernel):
    kernel.use(["\nA reasonably long answer with several tokens in it."])

    final = kernel.final(kernel.run("%%glm\nHi"))

    footer = final["data"]["text/plain"].splitlines()[-1]
    assert "scripted-GLM" in footer and "tokens" in footer and "first token" in footer and "tok/s" in footer


def test_sampling_options_reach_the_model(kernel):
    generator = kernel.use(["\nOk."])

    final = kernel.final(kernel.run("%%glm -t 0.2 --top-p 0.5 --top-k 7 -n 64 --seed 3\nHi"))

    assert final["metadata"]["glm_nb"]["sampling"] == {
        "temperature": 0.2, "top_k": 7, "top_p": 0.5, "repetition_penalty": 1.0, "seed": 3, "max_new_tokens": 64
    }  # fmt: skip
    assert generator.sampling.max_new_tokens == 64


def test_consecutive_cells_form_one_conversation(kernel):
    generator = kernel.use(["\nParis is sunny.", "\nYes, sunny."])

    kernel.run("%%glm\nWeather in Paris?", cell_id="a")
    kernel.run("%%glm\nAre you sure?", cell_id="b")

    assert "Paris is sunny." in generator.tokenizer.decode(generator.prompts[1])
    assert generator.stats.reused_tokens >= len(generator.prompts[0]) - 1  # the first turn came from the cache


def test_rerunning_a_cell_replaces_its_turn_and_later_ones(kernel):
    generator = kernel.use(["\nOne.", "\nTwo.", "\nOne again."])
    kernel.run("%%glm\nfirst", cell_id="a")
    first_prompt = generator.prompts[0]
    kernel.run("%%glm\nsecond", cell_id="b")

    kernel.run("%%glm\nfirst, edited", cell_id="a")

    messages = kernel.session.threads["chat"].messages
    assert [m.content for m in messages if isinstance(m, UserMessage)] == ["first, edited"]
    assert [m.text for m in messages if isinstance(m, AssistantMessage)] == ["One again."]
    assert generator.prompts[2][:-8] == first_prompt[: len(generator.prompts[2]) - 8]  # same start as before


def _said(kernel) -> list[str]:
    """The chat conversation's user messages and answers, in order."""
    return _said_in(kernel.session.threads["chat"])


def _said_in(thread) -> list[str]:
    """A conversation's user messages and answers, in order."""
    return [m.content if isinstance(m, UserMessage) else m.text for m in thread.messages]


def test_rerunning_a_cell_from_before_a_new_conversation_goes_back_to_its_own(kernel):
    kernel.use(["\nA1.", "\nB1.", "\nC1.", "\nA2.", "\nC2.", "\nB2.", "\nD1."])
    kernel.run("%%glm -s ALPHA\nalpha", cell_id="a")
    kernel.run("%%glm --new\nbravo", cell_id="b")
    kernel.run("%%glm\ncharlie", cell_id="c")

    kernel.run("%%glm\nalpha again", cell_id="a")  # as a restart and "Run all" would run it: before b's --new
    assert _said(kernel) == ["alpha again", "A2."] and kernel.session.threads["chat"].system is None
    kernel.run("%%glm\ncharlie again", cell_id="c")  # back to b's conversation, after b's turn
    assert _said(kernel) == ["bravo", "B1.", "charlie again", "C2."]
    kernel.run("%%glm --new\nbravo again", cell_id="b")  # b's conversation starts afresh, without c's turn
    assert _said(kernel) == ["bravo again", "B2."]
    kernel.run("%%glm\ndelta", cell_id="d")  # a new cell goes on from the cell run last
    assert _said(kernel) == ["bravo again", "B2.", "delta", "D1."]
    assert kernel.errors == [None] * 7


def test_reset_forgets_the_conversations_set_aside_by_new_too(kernel):
    kernel.use(["\nA1.", "\nB1.", "\nC1.", "\nA2.", "\nB2."])
    kernel.run("%%glm\nalpha", cell_id="a")
    kernel.run("%%glm --new\nbravo", cell_id="b")
    kernel.run("%%glm --new\ncharlie", cell_id="c")
    kernel.run("%glm reset")

    kernel.run("%%glm\nalpha again", cell_id="a")
    kernel.run("%%glm\nbravo again", cell_id="b")  # its --new gone: it goes on from a, not back to its old thread

    assert _said(kernel) == ["alpha again", "A2.", "bravo again", "B2."]


def test_a_cell_rerun_without_its_new_goes_on_from_the_conversation_before_it(kernel):
    generator = kernel.use(["\nA1.", "\nB1.", "\nB2."])
    kernel.shell.user_ns["add"] = _add
    kernel.run("%%glm -s ALPHA --tools add\nalpha", cell_id="a")
    kernel.run("%%glm --new\nbravo", cell_id="b")

    kernel.run("%%glm\nbravo", cell_id="b")  # its --new removed: as a restart and "Run all" would run it

    assert kernel.errors == [None] * 3
    assert _said(kernel) == ["alpha", "A1.", "bravo", "B2."]
    prompt = generator.tokenizer.decode(generator.prompts[-1])
    assert "ALPHA" in prompt and "add" in prompt  # a's conversation goes on, with its system prompt and tools
    assert kernel.session.earlier["chat"] == []  # b's old conversation is gone, and a's is not also set aside


def test_a_cell_rerun_without_its_new_from_a_conversation_set_aside_goes_on_from_the_cell_before_it(kernel):
    kernel.use(["\nA1.", "\nB1.", "\nD1.", "\nB2."])
    kernel.run("%%glm\nalpha", cell_id="a")
    kernel.run("%%glm --new\nbravo", cell_id="b")
    kernel.run("%%glm --new\ndelta", cell_id="d")

    kernel.run("%%glm\nbravo", cell_id="b")  # its --new removed: after a, as a restart and "Run all" would run it

    assert _said(kernel) == ["alpha", "A1.", "bravo", "B2."]
    assert [_said_in(thread) for thread in kernel.session.earlier["chat"]] == [["delta", "D1."]]  # b's old one went


def test_a_cell_rerun_with_then_without_its_new_goes_on_after_the_cell_before_it(kernel):
    kernel.use(["\nA1.", "\nB1.", "\nC1.", "\nD1.", "\nE1.", "\nB2.", "\nB3."])
    for cell, line in zip("abcde", ["", " --new", "", " --new", ""], strict=True):
        kernel.run(f"%%glm{line}\n{_WORDS[cell]}", cell_id=cell)
    kernel.run("%%glm --new\nbravo", cell_id="b")

    kernel.run("%%glm\nbravo", cell_id="b")

    assert kernel.errors == [None] * 7
    assert _said(kernel) == ["alpha", "A1.", "bravo", "B3."]  # not after e: as a restart would give
    assert [_said_in(thread) for thread in kernel.session.earlier["chat"]] == [["delta", "D1.", "echo", "E1."]]


def test_cells_rerun_without_a_new_then_a_later_new_lose_no_turn(kernel):
    kernel.use(["\nA1.", "\nB1.", "\nC1.", "\nD1.", "\nE1.", "\nB2.", "\nC2.", "\nD2."])
    for cell, line in zip("abcde", ["", " --new", "", " --new", ""], strict=True):
        kernel.run(f"%%glm{line}\n{_WORDS[cell]}", cell_id=cell)
    kernel.run("%%glm\nbravo", cell_id="b")
    kernel.run("%%glm\ncharlie", cell_id="c")

    kernel.run("%%glm --new\ndelta", cell_id="d")

    assert _said(kernel) == ["delta", "D2."]
    assert [_said_in(thread) for thread in kernel.session.earlier["chat"]] == [
        ["alpha", "A1.", "bravo", "B2.", "charlie", "C2."]
    ]


_WORDS = {"a": "alpha", "b": "bravo", "c": "charlie", "d": "delta", "e": "echo"}


@pytest.mark.parametrize("seed", range(12))
def test_cells_run_and_rerun_with_and_without_new_keep_each_turn_in_one_conversation_as_a_restart_would(kernel, seed):
    rng = random.Random(seed)
    steps = 12
    kernel.use([f"\nR{n}." for n in range(steps)])
    restart = _RestartAndRunAll()
    said: dict[str, list[str]] = {}  # a cell's latest prompt and answer

    for n in range(steps):
        cell, new = rng.choice("abcde"), rng.random() < 0.35
        kernel.run(f"%%glm{' --new' if new else ''}\n{cell} {n}", cell_id=cell)
        restart.run(cell, new)
        said[cell] = [f"{cell} {n}", f"R{n}."]

        assert kernel.errors[-1] is None
        current, *others = restart.conversations()
        threads = [kernel.session.threads["chat"], *kernel.session.earlier["chat"]]
        assert _cells_in(threads[0]) == current, f"step {n}: ran {cell}{' --new' if new else ''}"
        assert sorted(_cells_in(thread) for thread in threads[1:]) == sorted(others), f"step {n}"
        for thread in threads:  # each turn once, whole, in its cell's conversation only
            assert _said_in(thread) == [text for cell in _cells_in(thread) for text in said[cell]]


def _cells_in(thread) -> list[str]:
    return [turn.key[1] for turn in thread.turns]


class _RestartAndRunAll:
    """The conversations a restart and "Run all" would give, the cells in the order they stand: a cell run for the
    first time (or whose turn a re-run dropped) stands right below the cell run last; without the cells whose turns
    a re-run dropped (the cells below it in its conversation), until they run again."""

    def __init__(self):
        self.order: list[str] = []
        self.new: dict[str, bool] = {}
        self.kept: set[str] = set()
        self.last: str | None = None

    def run(self, cell: str, new: bool) -> None:
        if cell in self.kept:
            segment = next(segment for segment in self._segments() if cell in segment)
            self.kept -= set(segment[segment.index(cell) + 1 :])
        else:
            if cell in self.order:
                self.order.remove(cell)
            at = len(self.order) if self.last is None else self.order.index(self.last) + 1
            self.order.insert(at, cell)
            self.kept.add(cell)
        self.new[cell], self.last = new, cell

    def conversations(self) -> list[list[str]]:
        """The current conversation first."""
        kept = [[cell for cell in segment if cell in self.kept] for segment in self._segments()]
        kept = [segment for segment in kept if segment]
        return sorted(kept, key=lambda segment: self.last not in segment)

    def _segments(self) -> list[list[str]]:
        segments: list[list[str]] = []
        for cell in self.order:
            if self.new[cell] or not segments:
                segments.append([])
            segments[-1].append(cell)
        return segments


def _add(a: float, b: float) -> float:
    """Add two numbers"""
    return a + b


def test_rerunning_a_cell_without_its_system_prompt_and_tools_runs_as_it_now_reads(kernel):
    generator = kernel.use(["\nOne.", "\nTwo.", "\nOne again."])
    kernel.shell.user_ns["add"] = _add
    kernel.run("%%glm -s CELLSYS --tools add\nfirst", cell_id="a")
    kernel.run("%%glm\nsecond", cell_id="b")

    kernel.run("%%glm\nfirst", cell_id="a")  # its -s and --tools deleted: as a restarted kernel would run it

    assert kernel.errors == [None, None, None]
    prompt = generator.tokenizer.decode(generator.prompts[2])
    assert "CELLSYS" not in prompt and "add" not in prompt
    thread = kernel.session.thread("chat")
    assert thread.system is None and thread.tool_names == () and len(thread.messages) == 2


def test_without_cell_ids_the_same_cell_again_replaces_only_the_last_turn(kernel):
    kernel.use(["\nA.", "\nA, redone."])

    kernel.run("%%glm\nsame question")
    kernel.run("%%glm\nsame question")

    messages = kernel.session.threads["chat"].messages
    assert len([m for m in messages if isinstance(m, UserMessage)]) == 1
    assert messages[-1].text == "A, redone."


def test_a_loop_asking_in_one_cell_keeps_every_turn_and_a_rerun_replaces_them_all(kernel):
    kernel.use(["\nA.", "\nB.", "\nC.", "\nA2.", "\nB2.", "\nC2."])
    loop = "for q in ['one', 'two', 'three']:\n    get_ipython().run_cell_magic('glm', '', q)"

    kernel.run(loop, cell_id="x")
    first = [m.text for m in kernel.session.threads["chat"].messages if isinstance(m, AssistantMessage)]
    kernel.run(loop, cell_id="x")  # the cell again: its turns are replaced, not added to

    assert first == ["A.", "B.", "C."]
    messages = kernel.session.threads["chat"].messages
    assert [m.text for m in messages if isinstance(m, AssistantMessage)] == ["A2.", "B2.", "C2."]


def test_without_cell_ids_a_loop_asking_the_same_question_keeps_every_turn(kernel):
    kernel.use(["\nA.", "\nB.", "\nC."])

    kernel.run("for _ in range(3):\n    get_ipython().run_cell_magic('glm', '', 'Tell me a joke')")

    messages = kernel.session.threads["chat"].messages
    assert [m.text for m in messages if isinstance(m, AssistantMessage)] == ["A.", "B.", "C."]


def test_new_starts_a_fresh_conversation_and_system_is_kept(kernel):
    generator = kernel.use(["\nOne.", "\nTwo."])
    kernel.run("%%glm -s 'Answer in French.'\nfirst", cell_id="a")

    kernel.run("%%glm --new\nsecond", cell_id="b")

    prompt = generator.tokenizer.decode(generator.prompts[1])
    assert "first" not in prompt and "second" in prompt
    assert "Answer in French." not in prompt  # --new forgets the system prompt as well


def test_names_in_braces_come_from_the_notebook(kernel):
    generator = kernel.use(["\nOk."])
    kernel.shell.user_ns["city"] = "Paris"

    kernel.run('%%glm\nWeather in {city}? {unknown} stays, {{city}} is literal, {"json": {"x": 1}} too.')

    prompt = generator.tokenizer.decode(generator.prompts[0])
    assert 'Weather in Paris? {unknown} stays, {city} is literal, {"json": {"x": 1}} too.' in prompt


def test_a_chinese_variable_name_in_braces_comes_from_the_notebook(kernel):
    generator = kernel.use(["\n好的。"])
    kernel.run('城市 = "北京"')  # Python 3 names may be Chinese

    kernel.run("%%glm\n{城市}今天天气怎么样？{{城市}}照写。")

    assert "北京今天天气怎么样？{城市}照写。" in generator.tokenizer.decode(generator.prompts[0])


def test_history_cuts_a_chinese_message_by_the_columns_it_takes(kernel):
    kernel.use(["\n" + "好" * 80])
    kernel.run("%%glm\n" + "你" * 80)

    user, assistant = history_view(kernel.magics.session).lines

    # a Chinese character takes two columns: 49 of them and the ellipsis fit the 100 an English line gets
    assert user == "[chat] user: " + "你" * 49 + "…"
    assert assistant == "[chat] assistant: " + "好" * 49 + "…"


def test_history_says_which_turns_have_no_answer_and_why(kernel):
    kernel.use(
        [
            "Counting the r's one by one<|user|>",
            "Let me think it over again",
            "\nCut short here",
            "<|observation|>",
            "\nSorry.",
        ]
    )
    kernel.run("def get_weather(city: str) -> dict:\n    return {'temp': 21}")

    kernel.run("%%glm_z1\nHow many r in strawberry?")
    kernel.run("%%glm_z1 -n 5\nAnd now?")
    kernel.run("%%glm -n 3\nHi")
    kernel.run("%%glm --tools get_weather -n 3\nWeather?")

    lines = history_view(kernel.magics.session).lines

    assert "[z1] assistant (no answer: it stopped while still thinking): " in lines
    assert "[z1] assistant (no answer: the token limit ended its thinking): " in lines
    assert any(line.startswith("[chat] assistant (cut off at the token limit): C") for line in lines)
    assert "[chat] assistant:  [calls (unreadable call)]" in lines


def test_a_name_with_no_variable_is_sent_as_written_with_a_warning(kernel, capsys):
    generator = kernel.use(["\nOk.", "\nOk."])
    kernel.shell.user_ns["city"] = "Paris"

    kernel.run("%%glm\nWeather in {citty}? ({city})")
    warned = capsys.readouterr().err
    kernel.run("%%glm --raw\nWeather in {citty}?")

    assert "Weather in {citty}? (Paris)" in generator.tokenizer.decode(generator.prompts[0])
    assert "{citty} sent as written" in warned and "{{citty}}" in warned and "--raw" in warned
    assert "{city}" not in warned
    assert capsys.readouterr().err == ""  # --raw asked for the braces as written


def test_raw_sends_the_cell_as_written(kernel):
    generator = kernel.use(["\nOk."])
    kernel.shell.user_ns["city"] = "Paris"

    kernel.run('%%glm --raw\nprint(f"{city} {{city}}")')

    prompt = generator.tokenizer.decode(generator.prompts[0])
    assert 'print(f"{city} {{city}}")' in prompt


def test_output_variable_holds_the_answer_or_the_parsed_json(kernel):
    kernel.use(["\nJust text.", '\n```json\n{"city": "Paris", "temp": 21}\n```'])

    kernel.run("%%glm -o answer\nHi")
    kernel.run("%%glm -f json -o data\nAs JSON")

    assert kernel.shell.user_ns["answer"] == "Just text."
    assert kernel.shell.user_ns["data"] == {"city": "Paris", "temp": 21}


def test_a_cell_that_ends_in_an_error_sets_its_output_variable_to_none_not_an_earlier_runs_answer(kernel, capsys):
    generator = kernel.use(["\nThe first run's answer.", "\nNever sent."])
    kernel.run("%%glm -o answer\nHi", cell_id="a")
    assert kernel.shell.user_ns["answer"] == "The first run's answer."
    generator.max_length = 40

    kernel.run("%%glm -o answer\n" + "many words here " * 20, cell_id="a")  # the same cell, now too long

    assert isinstance(kernel.errors[-1], UsageError) and kernel.shell.user_ns["answer"] is None
    assert "ended in an error, so answer = None" in capsys.readouterr().err


def test_an_interrupt_as_the_record_is_shown_still_stores_the_ended_reply(kernel, monkeypatch):
    kernel.use(["\nAn old answer.", "\nThis run's answer."])
    kernel.run("%%glm -o answer\nHi", cell_id="a")
    real_finish = live.LiveOutput.finish

    def interrupted_finish(self, transcript):
        monkeypatch.setattr(live.LiveOutput, "finish", real_finish)
        raise KeyboardInterrupt  # the kernel's interrupt, as the cell renders the final record

    monkeypatch.setattr(live.LiveOutput, "finish", interrupted_finish)

    kernel.run("%%glm -o answer\nHi", cell_id="a")

    assert "Interrupted as the reply was shown" in str(kernel.errors[-1])
    assert kernel.shell.user_ns["answer"] == "This run's answer."  # the reply had ended and is kept


def test_code_format_puts_the_code_in_the_next_cell_and_never_runs_it(kernel):
    kernel.use(["\n```python\npwned = True\nprint('hi')\n```"])

    kernel.run("%%glm -f code\nWrite code")

    assert kernel.shell.rl_next_input == "pwned = True\nprint('hi')"
    assert "pwned" not in kernel.shell.user_ns


def test_code_cut_at_the_token_limit_says_the_next_cell_has_it_incomplete(kernel):
    kernel.use(["\n```python\ndef add(a, b):\n    total = a + b\n    return total\n```"])

    final = kernel.final(kernel.run("%%glm -f code -n 12\nWrite code"))

    assert kernel.shell.rl_next_input.startswith("def") and "return" not in kernel.shell.rl_next_input
    assert "what went into the next cell is incomplete" in final["data"]["text/plain"]
    assert "what went into the next cell is incomplete" in final["data"]["text/html"]


def test_glm_last_gives_the_latest_record(kernel):
    kernel.use(["\nHere:\n\n```svg\n<svg><circle r='3' onclick='x()'/></svg>\n```"])

    kernel.run("%%glm\nDraw")

    record = glm_nb.last()
    assert record.text.startswith("Here:")
    assert [a.kind for a in record.artifacts] == ["svg"]
    assert "onclick" not in record.artifacts[0].html()


def test_the_z1_and_rumination_help_prints_from_the_line_form(kernel, capsys):
    for magic in ("glm_z1", "glm_rumination"):
        kernel.run(f"%{magic} -h")  # `%%glm_z1 -h` alone is refused by IPython: a cell magic needs a body
        assert "--max-new-tokens" in capsys.readouterr().out
    kernel.run("%glm_z1 -t 0")
    assert "is a cell magic" in str(kernel.errors[-1])


def test_bad_options_and_help_say_what_to_do(kernel, capsys):
    kernel.use(["\nOk."])

    kernel.run("%%glm --temperature warm\nHi")
    kernel.run("%%glm --help\nHi")

    assert "temperature" in str(kernel.errors[0])
    assert "--max-new-tokens" in capsys.readouterr().out
    assert kernel.errors[1] is None


@pytest.mark.parametrize(
    "options, problem",
    [("--seed -1", "seed"), ("-t nan", "number"), ("--top-p inf", "number"), ("-o 1st", "variable name")],
)
def test_values_the_model_cannot_use_are_refused_before_anything_runs(kernel, options, problem):
    generator = kernel.use(["\nOk."])

    outputs = kernel.run(f"%%glm {options}\nHi")

    assert isinstance(kernel.errors[0], UsageError) and problem in str(kernel.errors[0])
    assert outputs == [] and generator.prompts == []  # nothing was generated, nothing stored
    assert "1st" not in kernel.shell.user_ns


def test_an_empty_cell_and_a_line_use_of_a_cell_magic_are_refused(kernel):
    kernel.use(["\nOk."])

    kernel.run("%%glm\n   ")
    kernel.run("%glm_z1 hello")

    assert "empty" in str(kernel.errors[0])
    assert "cell magic" in str(kernel.errors[1])


def test_a_conversation_too_long_for_the_context_says_how_to_start_afresh(kernel):
    generator = kernel.use(["\nOk."])
    generator.max_length = 40

    kernel.run("%%glm\n" + "many words here " * 20)
    kernel.run("%%glm_z1\n" + "many words here " * 20)

    assert "%%glm --new" in str(kernel.errors[0]) and "`%%glm --drop-old-turns`" in str(kernel.errors[0])
    # a GLM-Z1 conversation is told its own magic's options: `%%glm --new` would start a chat and leave it full
    assert "`%%glm_z1 --new`" in str(kernel.errors[1]) and "`%%glm_z1 --drop-old-turns`" in str(kernel.errors[1])


_LONG_REPLY = "\nA reasonably long answer with several words in it, longer than this small context allows."


def test_an_answer_cut_short_by_the_full_context_says_so_and_how_to_go_on(kernel):
    kernel.use([_LONG_REPLY], max_length=40)  # room for about 20 of its tokens after the prompt

    record = kernel.final(kernel.run("%%glm\nTell me"))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length" and record["answer"]  # the part that fitted stays
    assert "filled the model's context" in record["note"] and "%%glm --new" in record["note"]


def test_thinking_cut_short_by_the_full_context_does_not_advise_more_tokens(kernel):
    kernel.use(["A long train of thought that goes on and on, well past the end of the context."], max_length=40)

    record = kernel.final(kernel.run("%%glm_z1\nThink"))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length" and record["answer"] == ""
    assert "filled the model's context" in record["note"] and "%%glm_z1 --new" in record["note"]
    assert "(-n)" not in record["note"]  # -n is 30000 for GLM-Z1: more tokens cannot help


def test_an_answer_cut_short_by_its_own_token_limit_is_not_blamed_on_the_context(kernel):
    kernel.use([_LONG_REPLY])

    record = kernel.final(kernel.run("%%glm -n 3\nTell me"))["data"][MIME_TYPE]

    assert record["finish_reason"] == "length" and "context" not in record["note"]


def test_quoted_option_values_lose_their_quotes(kernel):
    from glm_nb.magics.options import parse_cell_line, parse_model_line

    generator = kernel.use(["\nBref."])
    kernel.run("%%glm -s 'Be brief.'\nHi", cell_id="a")
    prompt = generator.tokenizer.decode(generator.prompts[0])
    assert "Be brief." in prompt and "'Be brief.'" not in prompt

    assert parse_model_line('"/tmp/my models/glm4" --context 64').model == "/tmp/my models/glm4"
    assert parse_cell_line(r"--corpus my\ docs").corpus == "my docs"
    with pytest.raises(UsageError, match="No closing quotation"):
        parse_cell_line("-s 'unclosed")


@pytest.mark.parametrize("value", ["-5", "0", "2"])
def test_a_context_too_small_for_any_prompt_is_refused(value):
    from glm_nb.magics.options import parse_model_line

    with pytest.raises(UsageError, match="--context is the tokens the KV cache holds: give at least 16"):
        parse_model_line(f"--context {value}")


@pytest.mark.parametrize("source", ["modelscope", "huggingface"])
def test_a_hub_without_a_model_to_download_is_refused_not_ignored(source):
    from glm_nb.magics.options import parse_model_line

    with pytest.raises(UsageError, match=f"Give a hub id, e.g. `%glm_model THUDM/GLM-4-9B-0414 --source {source}`"):
        parse_model_line(f"--source {source} --precision int4")  # nano-GLM is not downloaded from anywhere
    assert parse_model_line(f"THUDM/GLM-4-9B-0414 --source {source}").source == source


def test_a_cell_whose_prompt_does_not_fit_changes_nothing(kernel):
    kernel.use(["\nA.", "\nB."], max_length=64)
    kernel.run("%%glm -s 'Be brief.'\nfirst", cell_id="a")
    kernel.run("%%glm\nsecond", cell_id="b")
    before = list(kernel.session.thread("chat").messages)

    for line in ("%%glm -s 'Other.'", "%%glm --new"):
        kernel.run(f"{line}\n{'word ' * 200}", cell_id="c")
        assert isinstance(kernel.errors[-1], UsageError)
        thread = kernel.session.thread("chat")
        assert thread.messages == before and thread.system == "Be brief."
    kernel.run(f"%%glm\n{'word ' * 200}", cell_id="a")  # re-running cell a, too long: a and b stay
    assert kernel.session.thread("chat").messages == before
    kernel.run(f"%%glm_z1\n{'word ' * 200}", cell_id="a")  # cell a moved to GLM-Z1, too long: chat keeps a
    assert kernel.session.thread("chat").messages == before and "z1" not in kernel.session.threads


def test_a_cells_own_system_prompt_outlasts_the_configured_one(kernel):
    generator = kernel.use(["\nOne.", "\nTwo.", "\nThree."])
    kernel.run("%glm config -s CONFSYS")
    kernel.run("%%glm\nq1", cell_id="a")
    kernel.run("%%glm -s CELLSYS\nq2", cell_id="b")
    kernel.run("%%glm\nq3", cell_id="c")
    prompts = [generator.tokenizer.decode(p) for p in generator.prompts]
    assert "CONFSYS" in prompts[0] and "CELLSYS" in prompts[1]
    assert "CELLSYS" in prompts[2] and "CONFSYS" not in prompts[2]


def test_config_clear_is_not_undone_by_rerunning_a_cell_but_a_cells_own_system_prompt_stays(kernel):
    generator = kernel.use(["\nOne.", "\nTwo.", "<think>Hm.</think>\nThree.", "<think>Hm.</think>\nFour.", "\nFive.",
                            "<think>Hm.</think>\nSix."])  # fmt: skip
    kernel.run("%glm config -s CONFSYS")
    kernel.run("%%glm\nq1", cell_id="a")
    kernel.run("%%glm\nq2", cell_id="b")  # its turn began with the configured system prompt
    kernel.run("%%glm_z1 -s CELLSYS\nz1", cell_id="y")
    kernel.run("%%glm_z1\nz2", cell_id="z")
    kernel.run("%glm config --clear")

    kernel.run("%%glm\nq2 again", cell_id="b")
    kernel.run("%%glm_z1\nz2 again", cell_id="z")

    assert kernel.errors[-2:] == [None, None]
    chat, z1 = (generator.tokenizer.decode(prompt) for prompt in generator.prompts[-2:])
    assert "q2 again" in chat and "CONFSYS" not in chat
    assert "z2 again" in z1 and "CELLSYS" in z1  # a cell's own -s is not the configured one: it stays


def test_config_clear_forgets_the_defaults_and_the_system_prompt_they_gave(kernel):
    generator = kernel.use(["\nOne.", "\nTwo.", "\nThree."])
    status = kernel.run("%glm config --seed 3 -t 0.2 -s CONFSYS")[-1]["data"]["text/plain"]
    kernel.run("%%glm\nq1", cell_id="a")
    kernel.run("%glm config --clear")

    final = kernel.final(kernel.run("%%glm\nq2", cell_id="b"))

    assert "(%glm config --clear forgets them)" in status and kernel.errors[-2:] == [None, None]
    sampling = final["metadata"]["glm_nb"]["sampling"]
    assert sampling["seed"] is None and sampling["temperature"] == CHAT_SAMPLING.temperature
    assert "CONFSYS" not in generator.tokenizer.decode(generator.prompts[-1])
    kernel.run("%glm config --clear -n 9")  # with options: they are the new defaults
    assert kernel.session.defaults == GlmCellArgs(max_new_tokens=9)


@pytest.mark.parametrize(
    "line, reason",
    [
        ("%glm reset --clear", "%glm reset takes no --clear: `%glm config --clear` forgets the defaults"),
        ("%glm config -t -1", "%glm config: temperature must be >= 0"),
        ("%glm config -n 0", "%glm config: max_new_tokens must be >= 1"),
        ("%glm -t 0", "%glm status takes no cell options (temperature given)"),
        ("%glm reset -s hi", "%glm reset takes no cell options (system given)"),
    ],
)
def test_glm_line_options_are_checked_or_refused_where_they_do_nothing(kernel, line, reason):
    kernel.run(line)
    assert isinstance(kernel.errors[-1], UsageError) and reason in str(kernel.errors[-1])
    assert kernel.session.defaults.temperature is None and kernel.session.defaults.system is None


def test_a_tool_without_a_name_of_its_own_takes_its_variable_name(kernel):
    import functools

    def weather(city: str, unit: str) -> str:
        """The weather.

        Args:
            city: A city.
            unit: C or F.
        """
        return f"sunny in {city}, {unit}"

    kernel.shell.user_ns["celsius_weather"] = functools.partial(weather, unit="C")
    generator = kernel.use(["\nOk."])
    kernel.run("%%glm --tools celsius_weather\nHi")
    assert kernel.errors[-1] is None
    assert "celsius_weather" in generator.tokenizer.decode(generator.prompts[0])


def test_tools_none_mixed_with_names_is_refused():
    from glm_nb.magics.options import parse_cell_line

    with pytest.raises(UsageError, match="--tools none means no tools"):
        parse_cell_line("--tools none,get_weather")


def test_json_output_that_does_not_parse_says_so_where_the_user_looks(kernel, capsys):
    kernel.use(["\nnot json at all"])
    kernel.run("%%glm -f json -o data\nGive me JSON")
    assert kernel.shell.user_ns["data"] is None
    assert "the answer is not JSON, so data = None" in capsys.readouterr().err


def test_json_output_with_no_answer_at_all_says_why_not_that_it_is_not_json(kernel, capsys):
    kernel.use(["I must think about the keys first, then about the values, and then write them."])

    kernel.run("%%glm_z1 -f json -o data -n 8\nGive me Paris as JSON.")  # its thinking cut by the token limit

    assert kernel.shell.user_ns["data"] is None
    err = capsys.readouterr().err
    assert "no answer, so data = None" in err and "token limit while still thinking; allow more tokens (-n)" in err
    assert "not JSON" not in err


def test_a_corpus_outside_research_is_refused(kernel):
    kernel.use(["\nOk."])
    kernel.run("%%glm --corpus docs\nHi")
    assert isinstance(kernel.errors[-1], UsageError) and "--corpus is where %%glm_rumination searches" in str(
        kernel.errors[-1]
    )


def test_research_refuses_the_tools_and_system_prompt_it_would_ignore(kernel, tmp_path):
    kernel.use(["\nOk."])
    for options, named in (
        ("--tools none", "--tools"),
        ("-s 'Be brief.'", "-s"),
        ("--tools x -s y", "--tools or -s"),
    ):
        kernel.run(f"%%glm_rumination --corpus {tmp_path} {options}\nResearch ONNX")
        error = kernel.errors[-1]
        assert isinstance(error, UsageError) and f"%%glm_rumination takes no {named}: research has" in str(error)


def test_status_shows_one_conversation_with_variant_and_config_refuses_it(kernel, capsys):
    from glm_nb.magics.views import status_view

    kernel.use(["\nHello."])
    kernel.run("%%glm\nHi")
    every = status_view(kernel.magics.session)
    z1 = status_view(kernel.magics.session, "z1")
    assert [line.split(":")[0] for line in every.lines[:3]] == ["chat", "z1", "rumination"]
    assert z1.lines[0].startswith("z1: ") and not any(line.startswith(("chat:", "rumination:")) for line in z1.lines)
    kernel.run("%glm status --variant z1")
    assert kernel.errors[-1] is None
    kernel.run("%glm config --variant z1 -t 0.3")
    assert isinstance(kernel.errors[-1], UsageError) and "takes no --variant" in str(kernel.errors[-1])
    assert kernel.magics.session.defaults.temperature is None  # nothing set by the refused line


def test_the_context_note_leaves_out_a_size_the_backend_does_not_know():
    """A remote server that lists no max_model_len: the note said the context held "0 tokens"."""
    from types import SimpleNamespace

    from glm_nb.magics.replies import context_full_note

    response = SimpleNamespace(usage_so_far=SimpleNamespace(new_tokens=12))
    conversation = SimpleNamespace(
        sampling=SimpleNamespace(max_new_tokens=512), backend=SimpleNamespace(context_length=None),
        drop_old_turns=False, leaves_room=lambda: False,
    )  # fmt: skip
    note = context_full_note(response, conversation, "Start anew.")
    said = "This reply was cut short: with the conversation before it, it filled the model's context. Start anew."
    assert note == said


@pytest.mark.parametrize(
    "name, option",
    [("%%glm", "--max-new-tokens"), ("%glm", "--clear"), ("%%glm_z1", "--thinking"),
     ("%%glm_rumination", "--corpus"), ("%glm_model", "--remote")],
)  # fmt: skip
def test_a_question_mark_shows_the_magics_help(kernel, name, option):
    shown = kernel.shell.object_inspect_mime(name)["text/plain"]  # what `%%glm?` shows

    assert option in shown and "no docstring" not in shown


@pytest.mark.parametrize(
    "cell, problem",
    [("%%glm_rumination -t 0\nResearch KV caches.", "--corpus"), ("%%glm -n 0\nHi", "max_new_tokens"),
     ("%%glm_z1 --top-p 2\nHi", "top_p")],
)  # fmt: skip
def test_a_cell_no_model_can_run_is_refused_before_a_model_is_loaded_for_it(kernel, cell, problem):
    outputs = kernel.run(cell)  # nothing loaded yet: the first cell would load nano-GLM (a real model: minutes)

    assert isinstance(kernel.errors[0], UsageError) and problem in str(kernel.errors[0])
    assert kernel.session.models == {} and outputs == []
