"""`glm-nb chat`: a terminal conversation over the chat layer, fed here through a pipe (no terminal)."""

from __future__ import annotations

import io
import json
import re

import pytest

from glm_nb import cli_chat
from glm_nb.chat import Conversation, LocalBackend, ScriptedGenerator
from glm_nb.cli import main
from glm_nb.cli_chat import _command, _reply, run_chat
from glm_nb.engine import SamplingParams, Tokenizer

from tiny_checkpoint import TEMPLATE_PATH, write_tokenizer


class Pipe(io.StringIO):
    """Standard input from a pipe: lines, then the end of input."""

    def isatty(self) -> bool:
        return False


def chat(monkeypatch, capsys, argv: list[str], typed: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", Pipe(typed))
    code = main(["chat", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))


def test_nano_answers_turn_after_turn_and_the_history_saves(monkeypatch, capsys, tmp_path):
    saved = tmp_path / "chat.json"
    code, out, err = chat(monkeypatch, capsys, ["-t", "0"], f"Hi!\nWho are you?\n/save {saved}\n")

    assert code == 0
    assert out.splitlines() == [
        "Hello! How can I help you today?",
        "I am nano-GLM, a tiny demo model with the GLM-4 architecture, trained on a small synthetic corpus. "
        "I am not GLM-4.",
    ]
    assert "glm-nb chat · nano-GLM (demo, ~3.4M params, not GLM-4)" in err  # announced as the demo it is
    assert err.count(" tokens, ") == 2 and "tok/s]" in err
    history = json.loads(saved.read_text())
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[1]["content"] == "Hello! How can I help you today?"


def test_reset_multi_line_messages_and_commands(monkeypatch, capsys, tmp_path, tiny):
    saved = tmp_path / "chat.json"
    typed = f'First\n/reset\n"""\nline one\nline two\n"""\n/bogus\n/help\n/save {saved}\n/exit\nnever read\n'
    code, out, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "3", "-s", "Be brief."], typed)

    assert code == 0
    history = json.loads(saved.read_text())
    assert history[0] == {"role": "system", "content": "Be brief."}  # /reset keeps the system prompt
    assert history[1] == {"role": "user", "content": "line one\nline two"}  # one message of two lines
    assert len(history) == 3  # "First" and its reply went with /reset; "never read" came after /exit
    assert "(a new conversation)" in err and "Unknown command /bogus" in err
    assert "/save FILE" in out and "cut off by --max-new-tokens" in err


def test_a_message_that_only_looks_like_a_command_is_sent(monkeypatch, capsys, tmp_path, tiny):
    saved = tmp_path / "chat.json"
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "2"], f"/usr/bin is a path\n/save {saved}\n")
    assert code == 0 and "Unknown command" not in err
    assert json.loads(saved.read_text())[0]["content"] == "/usr/bin is a path"


def test_z1_thinking_streams_before_the_answer(monkeypatch, capsys):
    code, out, err = chat(monkeypatch, capsys, ["--z1", "-t", "0"], "Which is larger, 12 or 7?\n")
    assert code == 0
    thinking, _, answer = out.partition("\n\n")
    assert thinking and answer.strip()  # thinking first, a blank line, then the answer
    assert "<think>" not in out and "</think>" not in out


def test_a_prompt_too_long_is_reported_and_the_conversation_goes_on(monkeypatch, capsys, tmp_path, tiny):
    saved = tmp_path / "chat.json"
    typed = f"{'word ' * 400}\nShort\n/save {saved}\n"
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--context", "64", "-n", "2"], typed)
    assert code == 0 and "glm-nb: " in err and "64" in err
    assert [m["content"] for m in json.loads(saved.read_text()) if m["role"] == "user"] == ["Short"]


def test_ctrl_c_stops_a_reply_and_the_next_message_is_answered(monkeypatch, capsys, tmp_path, tiny):
    from glm_nb.chat import Response

    real_iter = Response.__iter__
    calls = []

    def interrupted_once(self):
        for index, event in enumerate(real_iter(self)):
            if not calls and index == 1:
                calls.append(1)
                raise KeyboardInterrupt
            yield event

    monkeypatch.setattr(Response, "__iter__", interrupted_once)
    saved = tmp_path / "chat.json"
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "4"], f"One\nTwo\n/save {saved}\n")

    assert code == 0 and "[stopped; the partial reply stays in the conversation]" in err
    history = json.loads(saved.read_text())
    assert [m["content"] for m in history if m["role"] == "user"] == ["One", "Two"]
    assert history[-1]["role"] == "assistant"  # the second message got its reply


def test_ctrl_c_or_the_end_of_input_at_the_prompt_leaves(tiny, capsys):
    class Interrupted(Pipe):
        def readline(self, *args):
            raise KeyboardInterrupt

    args = _args(tiny)
    assert run_chat(args, stdin=Interrupted(""), stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert run_chat(args, stdin=Pipe(""), stdout=io.StringIO(), stderr=io.StringIO()) == 0


def test_bad_settings_exit_with_the_reason(monkeypatch, capsys, tiny):
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--top-p", "2"], "Hi\n")
    assert code == 2 and "top_p must be in (0, 1]" in err
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "0"], "Hi\n")
    assert code == 2 and "--max-new-tokens (-n) must be at least 1, got 0" in err
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--context", "100000"], "Hi\n")
    assert code == 2 and "--context 100000 is more than this model's context, 256 tokens: give at most 256" in err


def _never_converted(*args, **kwargs):
    raise AssertionError("converted before refusing")


def test_more_context_than_the_checkpoint_has_is_refused_before_converting_in_the_options_words(
    monkeypatch, capsys, tiny
):
    monkeypatch.setattr("glm_nb.engine.loading.convert", _never_converted)

    code, _, err = chat(monkeypatch, capsys, [str(tiny.src), "--device", "cpu", "--context", "500"], "Hi\n")

    assert code == 2 and "--context 500 is more than this model's context, 256 tokens: give at most 256" in err
    assert "past the checkpoint's max_position_embeddings too" in err and "enable YaRN" in err
    assert "max_length" not in err and "--max-length 500" not in err, err


def test_context_caps_the_engine_and_keeps_its_conversion(monkeypatch, capsys, tiny):
    opened = []
    real_open = cli_chat.open_model
    monkeypatch.setattr(cli_chat, "open_model", lambda *a, **kw: opened.append(real_open(*a, **kw)) or opened[-1])

    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--context", "48", "-n", "1"], "Hi\n")

    [engine] = opened
    assert code == 0 and (engine.metadata.max_length, engine.graph_max_length) == (48, 256)
    assert "context 48" in err  # the banner


@pytest.mark.parametrize(("option", "reason"), [
    (["--top-p", "2"], "top_p must be in (0, 1]"),
    (["--seed", "-1"], "seed must be >= 0"),
    (["--context", "1"], "--context must be at least 2 (tokens the KV cache holds), got 1"),
])  # fmt: skip
def test_bad_settings_are_refused_before_the_model_loads(monkeypatch, capsys, tmp_path, option, reason):
    code, _, err = chat(monkeypatch, capsys, [str(tmp_path / "no-model"), *option], "Hi\n")  # no such model

    assert code == 2 and err.startswith("glm-nb: error: ") and reason in err, err


def _args(tiny):
    import argparse

    from glm_nb.cli_chat import add_chat_parser

    parser = argparse.ArgumentParser()
    add_chat_parser(parser.add_subparsers(), "model")
    return parser.parse_args(["chat", str(tiny.out), "-n", "2"])


def test_a_block_or_a_line_starting_with_a_space_is_a_message_never_a_command(monkeypatch, capsys, tmp_path, tiny):
    saved = tmp_path / "chat.json"
    typed = f'"""\n/reset the router first\nthen check\n"""\n /exit strategy\n/exit strategy?\n/save {saved}\n'
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "2"], typed)

    assert code == 0 and "(a new conversation)" not in err
    assert "/exit takes nothing after it" in err
    sent = [m["content"] for m in json.loads(saved.read_text()) if m["role"] == "user"]
    assert sent == ["/reset the router first\nthen check", " /exit strategy"]


def test_ctrl_c_in_a_block_drops_it_and_ctrl_d_in_a_block_leaves_without_sending(tiny, tmp_path):
    class Typed(Pipe):
        def __init__(self, lines):
            super().__init__()
            self.lines = list(lines)

        def readline(self, *args):
            line = self.lines.pop(0)
            if line is KeyboardInterrupt:
                raise KeyboardInterrupt
            return line

    saved = tmp_path / "chat.json"
    err = io.StringIO()
    typed = Typed(['"""\n', "half a thought\n", KeyboardInterrupt, "Next\n", f"/save {saved}\n",
                   '"""\n', "unsent\n", ""])  # fmt: skip
    assert run_chat(_args(tiny), stdin=typed, stdout=io.StringIO(), stderr=err) == 0
    assert "(message dropped)" in err.getvalue()
    assert [m["content"] for m in json.loads(saved.read_text()) if m["role"] == "user"] == ["Next"]
    assert err.getvalue().count(" tokens") == 1  # "unsent" was never answered


def test_a_message_over_the_context_says_what_to_do_at_the_prompt(monkeypatch, capsys, tiny):
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--context", "64", "-n", "2"], f"{'word ' * 400}\n")
    assert code == 0 and "this message does not fit" in err
    assert "/reset starts a new conversation; --context up to 256 gives it more room; --drop-old-turns drops" in err
    assert "Generator" not in err  # the engine's advice is for the Python API


def test_a_message_that_is_not_utf8_is_refused_and_the_conversation_goes_on(monkeypatch, capsys, tiny):
    not_utf8 = b"caf\xe9".decode("utf-8", "surrogateescape")  # a Latin-1 pipe read with surrogateescape
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "2"], f"{not_utf8}\nHi\n")
    assert code == 0 and "not valid UTF-8 (it holds byte 0xe9)" in err
    assert err.count(" tokens") == 1  # "Hi" was answered


def test_a_reply_cut_off_by_the_context_says_so_not_max_new_tokens(monkeypatch, capsys, tiny):
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--context", "40", "-n", "500", "-t", "0"], "Hi\n")
    assert code == 0 and "cut off: the context is full (/reset starts a new conversation; --context up to 256" in err
    assert "--max-new-tokens" not in err
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "--context", "40", "-n", "3", "-t", "0"], "Hi\n")
    assert "[3 tokens" in err and "cut off by --max-new-tokens" in err


def test_save_expands_a_tilde_to_the_home_folder(monkeypatch, capsys, tmp_path, tiny):
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "2"], "Hi\n/save ~/chat.json\n")
    assert code == 0 and (tmp_path / "chat.json").exists(), err


def test_a_strict_pipe_carrying_a_byte_that_is_not_utf8_does_not_end_the_chat(monkeypatch, capsys, tiny):
    raw = io.BytesIO(b"caf\xe9\nHi\n")
    strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    monkeypatch.setattr(strict, "isatty", lambda: False)
    monkeypatch.setattr("sys.stdin", strict)
    code = main(["chat", str(tiny.out), "-n", "2"])
    err = capsys.readouterr().err
    assert code == 0 and "0xe9" in err and "UnicodeDecodeError" not in err


_FACTS = "".join(f"Remember fact number {index}, please.\n" for index in range(6))


def test_drop_old_turns_keeps_a_full_conversation_going_and_says_how_many_went(monkeypatch, capsys, tmp_path, tiny):
    saved = tmp_path / "chat.json"
    options = [str(tiny.out), "--context", "96", "-n", "2", "-t", "0", "-s", "Be brief."]

    _, _, refused = chat(monkeypatch, capsys, options, _FACTS)
    code, _, err = chat(monkeypatch, capsys, [*options, "--drop-old-turns"], f"{_FACTS}/save {saved}\n")

    assert "this message does not fit" in refused and "--drop-old-turns drops the oldest turns" in refused
    assert code == 0 and "does not fit" not in err and err.count(" tokens") == 6  # every message was answered
    assert re.search(r"dropped the oldest (turn|\d+ turns) to fit the context", err)
    history = json.loads(saved.read_text())
    assert history[0] == {"role": "system", "content": "Be brief."}  # the system prompt stays
    asked = [m["content"] for m in history if m["role"] == "user"]
    assert asked[-1] == "Remember fact number 5, please." and len(asked) < 6
    assert [m["role"] for m in history[1:]] == ["user", "assistant"] * len(asked)  # whole turns went


def test_with_drop_old_turns_a_message_too_long_by_itself_says_to_shorten_it(monkeypatch, capsys, tiny):
    options = [str(tiny.out), "--context", "64", "-n", "2", "--drop-old-turns"]
    code, _, err = chat(monkeypatch, capsys, options, f"Hi\n{'word ' * 400}\n")
    assert code == 0 and "Even with every earlier turn dropped it is too long: shorten it" in err


def test_a_long_prompt_shows_how_far_it_is_read_on_a_terminal_then_clears_the_line(tiny):
    backend = LocalBackend.from_engine(tiny.engine)
    backend.generator.prefill_chunk = 8
    conversation = Conversation(backend, sampling=SamplingParams(max_new_tokens=3))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for tty, err in ((True, Terminal()), (False, io.StringIO()), (True, io.StringIO())):  # the last: 2>chat.log
        _reply(conversation, "word " * 30, io.StringIO(), err, tty, "start anew with /reset")
        said = err.getvalue()
        if isinstance(err, Terminal):  # cleared before the reply's own line
            assert "\r(reading the prompt: 8 of " in said and said.rindex("(reading") < said.index("\r\x1b[K")
        else:  # a pipe or a file: no progress lines in it
            assert "reading the prompt" not in said and "\x1b" not in said


@pytest.mark.parametrize(
    "reply, options, said",
    [
        (
            "Let me count<|user|>",
            {"force_thinking": True},
            "the model stopped while still thinking, so there is no answer",
        ),
        (
            'get_weather\n{"city": "Paris"}<|observation|>',
            {},
            "the model stopped to call a tool; glm-nb chat runs none",
        ),
    ],
)
def test_a_reply_with_no_real_answer_says_why_on_its_closing_line(tmp_path, reply, options, said):
    write_tokenizer(tmp_path)
    generator = ScriptedGenerator(Tokenizer(tmp_path / "tokenizer.json"), [reply, "\nNever asked for."])
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    conversation = Conversation(generator.backend(chat_template=template), **options)
    out, err = io.StringIO(), io.StringIO()

    _reply(conversation, "Hi", out, err, False, "start anew with /reset")

    assert said in err.getvalue() and "(ask again)]" in err.getvalue()
    assert len(generator.prompts) == 1


def test_a_z1_turn_with_no_answer_saved_with_save_reads_back_as_one(tmp_path):
    write_tokenizer(tmp_path)
    generator = ScriptedGenerator(Tokenizer(tmp_path / "tokenizer.json"), ["Two and two... or was it<|user|>"])
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    conversation = Conversation(generator.backend(chat_template=template), force_thinking=True)
    saved = tmp_path / "z1.json"
    _reply(conversation, "2+2?", io.StringIO(), io.StringIO(), False, "start anew with /reset")

    restored = Conversation(conversation.backend, force_thinking=True)

    _command(f"/save {saved}", conversation, io.StringIO(), io.StringIO())
    _command(f"/load {saved}", restored, io.StringIO(), io.StringIO())

    assert restored.messages == conversation.messages
    assert restored.messages[-1].stopped_in_thinking


def test_the_end_of_input_inside_a_block_says_the_message_was_not_sent(tiny):
    err = io.StringIO()

    code = run_chat(_args(tiny), stdin=Pipe('Hi\n"""\nhalf a\nthought\n'), stdout=io.StringIO(), stderr=err)

    assert code == 0 and err.getvalue().count(" tokens") == 1  # "Hi" was answered, the block was not sent
    assert 'the input ended before the closing """, so that message was not sent' in err.getvalue()


@pytest.mark.parametrize("typed", ['"my chat.json"', "'my chat.json'", "my chat.json"])
def test_save_takes_a_file_name_with_spaces_quoted_or_not(tmp_path, monkeypatch, typed):
    monkeypatch.chdir(tmp_path)
    write_tokenizer(tmp_path)
    generator = ScriptedGenerator(Tokenizer(tmp_path / "tokenizer.json"), [])
    conversation = Conversation(generator.backend(chat_template=TEMPLATE_PATH.read_text(encoding="utf-8")))
    conversation.add({"role": "user", "content": "Hi"})
    err = io.StringIO()

    _command(f"/save {typed}", conversation, io.StringIO(), err)

    assert json.loads((tmp_path / "my chat.json").read_text()) == [{"role": "user", "content": "Hi"}]
    assert "(saved 1 messages to my chat.json)" in err.getvalue()


def test_save_with_a_quote_left_open_writes_nothing_and_shows_how(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tokenizer(tmp_path)
    generator = ScriptedGenerator(Tokenizer(tmp_path / "tokenizer.json"), [])
    conversation = Conversation(generator.backend(chat_template=TEMPLATE_PATH.read_text(encoding="utf-8")))
    err = io.StringIO()

    _command('/save "my chat.json', conversation, io.StringIO(), err)

    assert not list(tmp_path.glob("*chat*")) and '/save "my chat.json")' in err.getvalue()


def test_load_goes_on_with_a_saved_conversation(monkeypatch, capsys, tmp_path, tiny):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    typed = f"Hi\n/save {first}\n/reset\nOther\n/load {first}\nAgain\n/save {second}\n"

    code, _, err = chat(monkeypatch, capsys, [str(tiny.out), "-n", "2", "-s", "Be brief."], typed)

    assert code == 0 and f"(loaded 3 messages from {first}; the next message goes on with them)" in err
    history = json.loads(second.read_text())
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["Hi", "Again"]  # "Other" went with /load


def test_load_of_a_chat_saved_without_a_system_prompt_keeps_this_chats(monkeypatch, capsys, tmp_path, tiny):
    saved, after = tmp_path / "plain.json", tmp_path / "after.json"
    chat(monkeypatch, capsys, [str(tiny.out), "-n", "2"], f"Hi\n/save {saved}\n")

    typed = f"/load {saved}\n/save {after}\n"
    code, _, _ = chat(monkeypatch, capsys, [str(tiny.out), "-n", "2", "-s", "Be brief."], typed)

    history = json.loads(after.read_text())
    assert code == 0 and [m["role"] for m in history] == ["system", "user", "assistant"]
    assert history[0]["content"] == "Be brief."  # -s still holds, as /reset would keep it


@pytest.mark.parametrize(
    "content, said",
    [
        (None, "Could not read"),
        ("{not json", "Could not load"),
        ('["Hi"]', "it is not a list of messages"),
        ('[{"role": "robot", "content": "Hi"}]', "Unknown message role 'robot'"),
    ],
)
def test_load_of_a_file_it_cannot_read_says_why_and_keeps_the_conversation(tmp_path, content, said):
    write_tokenizer(tmp_path)
    generator = ScriptedGenerator(Tokenizer(tmp_path / "tokenizer.json"), [])
    conversation = Conversation(generator.backend(chat_template=TEMPLATE_PATH.read_text(encoding="utf-8")))
    conversation.add({"role": "user", "content": "Kept"})
    path = tmp_path / "saved.json"
    if content is not None:
        path.write_text(content)
    err = io.StringIO()

    _command(f"/load {path}", conversation, io.StringIO(), err)

    assert said in err.getvalue() and "loaded" not in err.getvalue()
    assert [m.content for m in conversation.messages] == ["Kept"]


def test_load_reads_a_file_an_editor_saved_with_a_byte_order_mark(tmp_path):
    write_tokenizer(tmp_path)
    generator = ScriptedGenerator(Tokenizer(tmp_path / "tokenizer.json"), [])
    conversation = Conversation(generator.backend(chat_template=TEMPLATE_PATH.read_text(encoding="utf-8")))
    path = tmp_path / "saved.json"
    path.write_text('[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]', "utf-8-sig")
    err = io.StringIO()

    _command(f"/load {path}", conversation, io.StringIO(), err)

    assert "loaded 2 messages" in err.getvalue()
    assert [getattr(m, "content", None) or m.text for m in conversation.messages] == ["Hi", "Hello."]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ctrl_d_at_a_terminal_ends_the_prompts_line_as_ctrl_c_does(tiny, monkeypatch):
    def ctrl_d(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", ctrl_d)
    out = Terminal()

    assert run_chat(_args(tiny), stdin=Terminal(), stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == "\n"  # the shell's prompt does not follow ">>> " on its line
