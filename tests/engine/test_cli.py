"""The `glm-nb` command line: convert and generate, in-process and as `python -m glm_nb`."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

import pytest

from glm_nb import cli
from glm_nb.cli import _parser, main
from glm_nb.engine import Engine, Generator, SamplingParams
from glm_nb.engine import engine as engine_module
from glm_nb.nano import checkpoint_path


def test_convert_then_generate_json_equals_the_python_api(tiny, tmp_path, capsys):
    assert main(["convert", str(tiny.src), "-o", str(tmp_path / "m"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "m"), "--prompt-ids", "7,30,111,42", "--max-new-tokens", "6",
                 "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"token_ids", "text", "prompt_tokens", "ttft_ms", "decode_tok_s", "provider",
                           "finish_reason"}  # fmt: skip
    assert result["prompt_tokens"] == 4 and result["provider"] == "CPUExecutionProvider"
    gen = Generator(Engine.load(tmp_path / "m", device="cpu"), SamplingParams(max_new_tokens=6))
    gen.set_prompt([7, 30, 111, 42])
    expected = []
    while not gen.is_done():
        gen.generate_next_token()
        expected.append(gen.last_token)
    assert result["token_ids"] == expected


def test_chat_renders_the_checkpoints_template(tiny, capsys):
    assert main(["generate", str(tiny.out), "--chat", "你好", "--max-new-tokens", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    tok = tiny.engine.tokenizer
    assert result["prompt_tokens"] == len(tok.encode("[gMASK]<sop><|user|>\n你好<|assistant|>"))


def test_a_checkpoint_folder_is_converted_once_into_the_cache(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    for _ in range(2):
        assert main(["generate", str(tiny.src), "--prompt", "Hello", "--max-new-tokens", "2", "--json"]) == 0
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 1
    capsys.readouterr()


def test_errors_exit_2_with_a_message_that_says_what_to_do(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")]) == 2
    assert "There is no folder" in capsys.readouterr().err  # and what to pass instead


def test_bad_generate_arguments_exit_2_with_the_reason_not_a_traceback(tiny, capsys):
    cases = {
        ("--prompt-ids", "3,99999"): "token id 99999 is outside this model's vocabulary",
        ("--prompt", ""): "The prompt is empty",
        ("--prompt", "Hi", "--top-p", "2"): r"top_p must be in (0, 1]",
        ("--prompt", "Hi", "--max-new-tokens", "0"): "--max-new-tokens must be at least 1, got 0",
        ("--prompt", "Hi", "--max-length", "-1"): "--max-length must be at least 2",
        ("--prompt", "Hi", "--max-length", "1"): "--max-length must be at least 2 (tokens the context holds: a",
        ("--prompt-ids", "1,2,3", "--max-length", "3"): "shorten the prompt, or raise --max-length (up to 256)",
        ("--prompt", "Hi", "--max-length", "500"): "--max-length 500 is more than this model's context, 256 tokens",
    }
    for args, reason in cases.items():
        assert main(["generate", str(tiny.out), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("glm-nb: error: ") and reason in err, (args, err)
        assert "Generator" not in err and "max_length" not in err and "max_new_tokens" not in err, err
        assert "engine.tokenizer" not in err, err  # Python's way out, not the command line's
    assert main(["generate", str(tiny.out), "--prompt-ids", "3,99999"]) == 2
    assert "pass the text with --prompt or --chat" in capsys.readouterr().err


def test_a_hub_id_is_downloaded_once_then_used_by_every_command(tiny, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    fetched = []

    def fake_snapshot(repo_id, allow_patterns):
        fetched.append(repo_id)
        return str(tiny.src)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    assert main(["generate", "THUDM/GLM-4-9B-0414", "--prompt", "Hi", "--max-new-tokens", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["token_ids"]) == 2
    assert main(["convert", "THUDM/GLM-4-9B-0414", "-o", str(tmp_path / "m"), "--quiet"]) == 0
    assert (tmp_path / "m" / "glm_nb.json").exists() and fetched == ["THUDM/GLM-4-9B-0414"] * 2
    assert main(["generate", str(tmp_path / "no" / "folder"), "--prompt", "Hi"]) == 2
    assert "not a hub id" in capsys.readouterr().err


def test_the_summary_line_gives_the_generators_context(tiny, capsys):
    assert main(["generate", str(tiny.out), "--prompt", "Hi", "--max-new-tokens", "2", "--max-length", "64"]) == 0
    assert "· context 64]" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli(tiny):
    done = subprocess.run([sys.executable, "-m", "glm_nb", "generate", str(tiny.out), "--prompt", "Hi",
                           "--max-new-tokens", "3", "--json"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["token_ids"]) == 3


def test_prompt_ids_split_on_commas_and_or_spaces(tiny, capsys):
    for ids in ("7 30 111", "7,30,111", " 7, 30 ,111 "):
        assert main(["generate", str(tiny.out), "--prompt-ids", ids, "--max-new-tokens", "1", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["prompt_tokens"] == 3, ids


def test_a_prompt_that_is_not_utf8_exits_2_with_the_reason(tiny, capsys):
    not_utf8 = b"caf\xe9".decode("utf-8", "surrogateescape")  # argv as Python gives it for Latin-1 bytes
    assert main(["generate", str(tiny.out), "--prompt", not_utf8, "--max-new-tokens", "1"]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err


class _ClosedPipe:
    """stdout after its reader left (`| head -c 5`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_leaves_early_ends_generate_quietly(tiny, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["generate", str(tiny.out), "--prompt", "Hi", "--max-new-tokens", "20"]) == 141
    assert capsys.readouterr().err == ""


def _legacy_stdout(monkeypatch, encoding: str) -> io.BytesIO:
    """stdout in a legacy encoding (a file or pipe on Chinese Windows is cp936 / GBK, an old locale latin-1)."""
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, encoding=encoding, write_through=True))
    return raw


def test_chinese_json_stays_exact_on_a_stdout_that_cannot_encode_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    raw = _legacy_stdout(monkeypatch, "latin-1")

    code = main(["generate", str(checkpoint_path()), "--chat", "你好", "--max-new-tokens", "14", "--json"])

    assert code == 0  # the JSON is escaped, so ASCII, and its text still exact
    assert json.loads(raw.getvalue().decode("ascii"))["text"] == "\n你好！有什么可以帮你的吗？"


def test_streamed_chinese_on_a_stdout_that_cannot_encode_it_is_replaced_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    raw = _legacy_stdout(monkeypatch, "latin-1")

    code = main(["generate", str(checkpoint_path()), "--chat", "你好", "--max-new-tokens", "14"])

    assert code == 0 and raw.getvalue().decode("latin-1") == "\n" + "?" * len("你好！有什么可以帮你的吗？") + "\n"


class _FullDisk:
    """stdout on a full disk (`> /dev/full`): every write fails with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("args", [
    ["generate", "MODEL", "--prompt", "Hi", "--max-new-tokens", "3"],
    ["generate", "MODEL", "--prompt", "Hi", "--max-new-tokens", "3", "--json"],
    ["cache", "list"],
])  # fmt: skip
def test_a_stdout_that_cannot_be_written_ends_with_the_reason_not_a_traceback(tiny, args, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout", _FullDisk())

    code = main([str(tiny.out) if a == "MODEL" else a for a in args])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "glm-nb: error: cannot write to standard output (No space left on device); redirect it to a disk with room "
        "(`> FILE`), or to /dev/null."
    )


def test_a_closed_stdout_takes_the_streamed_text_as_print_does(tiny, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout", None)  # what Python makes of a stdout the shell closed (`>&-`)

    code = main(["generate", str(tiny.out), "--prompt", "Hi", "--max-new-tokens", "3"])

    assert code == 0 and "3 new" in capsys.readouterr().err


def test_json_says_why_generation_ended(tiny, capsys):
    reasons = {}
    for limit in ("6", "300"):  # the tiny model never says a stop token for this prompt: 300 fills its context
        assert main(["generate", str(tiny.out), "--prompt-ids", "7,30,111,42", "--max-new-tokens", limit,
                     "--json", "--max-length", "32"]) == 0  # fmt: skip
        result = json.loads(capsys.readouterr().out)
        reasons[limit] = (result["finish_reason"], len(result["token_ids"]))

    assert reasons == {"6": ("length", 6), "300": ("context", 28)}


def test_a_context_that_fills_before_max_new_tokens_is_said_with_what_to_do(tiny, capsys):
    assert main(["generate", str(tiny.out), "--prompt-ids", "7,30,111,42", "--max-new-tokens", "300",
                 "--max-length", "32"]) == 0  # fmt: skip

    assert capsys.readouterr().err.splitlines()[-1] == (
        "glm-nb: stopped after 28 of --max-new-tokens 300: the context (32 tokens) is full; shorten the prompt, or "
        "raise --max-length (up to 256)."
    )


@pytest.mark.parametrize("command", ["generate", "serve"])
def test_more_context_than_the_checkpoint_has_is_refused_before_converting_with_the_yarn_advice(
    command, tiny, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GLM_NB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("glm_nb.cli.serve", _never_served)
    monkeypatch.setattr("glm_nb.engine.loading.convert", _never_converted)
    options = ["--prompt", "Hi"] if command == "generate" else []

    code = main([command, str(tiny.src), "--device", "cpu", "--max-length", "500", *options])

    err = capsys.readouterr().err
    assert code == 2 and "--max-length 500 is more than this model's context, 256 tokens" in err
    assert "past the checkpoint's max_position_embeddings too" in err and "enable YaRN" in err
    assert "larger --max-length" not in err and "max_length" not in err, err


def test_more_context_than_a_shorter_conversion_holds_says_to_convert_with_that_length(tiny, tmp_path, capsys):
    assert main(["convert", str(tiny.src), "-o", str(tmp_path / "m"), "--quiet", "--max-length", "64"]) == 0

    code = main(["generate", str(tmp_path / "m"), "--prompt", "Hi", "--max-length", "100"])

    err = capsys.readouterr().err
    assert code == 2 and "--max-length 100 is more than this model's context, 64 tokens" in err
    assert "convert the checkpoint with `glm-nb convert --max-length 100`" in err and "YaRN" not in err


@pytest.mark.parametrize(
    ("converted_for", "says"),
    [
        (None, "or for more than the checkpoint's max_position_embeddings (256), enable YaRN in its config.json"),
        (64, "or convert the model again with a larger --max-length."),
    ],
)
def test_a_prompt_longer_than_the_conversion_says_what_gives_more(tiny, tmp_path, capsys, converted_for, says):
    length = ["--max-length", str(converted_for)] if converted_for else []
    assert main(["convert", str(tiny.src), "-o", str(tmp_path / "m"), "--quiet", *length]) == 0
    prompt = ",".join(["7"] * 300)

    code = main(["generate", str(tmp_path / "m"), "--prompt-ids", prompt])

    err = capsys.readouterr().err
    assert code == 2 and f"The prompt is 300 tokens but the context holds {converted_for or 256}" in err
    assert says in err and "if the checkpoint supports it" not in err, err


def test_generate_caps_the_engine_to_max_length_and_keeps_its_conversion(tiny, monkeypatch, capsys):
    opened = []
    real_open = cli.open_model
    monkeypatch.setattr(cli, "open_model", lambda *a, **kw: opened.append(real_open(*a, **kw)) or opened[-1])

    assert (
        main(["generate", str(tiny.out), "--prompt-ids", "7,30", "--max-new-tokens", "1", "--max-length", "32"]) == 0
    )

    [engine] = opened
    assert (engine.metadata.max_length, engine.graph_max_length) == (32, 256)


@pytest.mark.parametrize("option", [["--int4-compute", "fp16"], ["--int4-block-size", "128"], ["--int4-symmetric"],
                                    ["--int4-accuracy-level", "0"], ["--no-int4-lm-head"]])  # fmt: skip
def test_an_int4_option_without_precision_int4_is_refused_not_dropped(tiny, tmp_path, option, capsys):
    code = main(["convert", str(tiny.src), "-o", str(tmp_path / "m"), "--quiet", *option])

    assert code == 2 and not (tmp_path / "m").exists()  # it made an fp32 model before
    assert capsys.readouterr().err == (
        f"glm-nb: error: {option[0]} shapes an int4 model, and this conversion is fp32: add --precision int4, or "
        f"leave {option[0]} out.\n"
    )


def test_int4_options_reach_the_conversion(tiny, tmp_path):
    assert main(["convert", str(tiny.src), "-o", str(tmp_path / "m"), "--quiet", "--precision", "int4",
                 "--int4-block-size", "64", "--int4-symmetric", "--int4-accuracy-level", "0"]) == 0  # fmt: skip

    source = json.loads((tmp_path / "m" / "glm_nb.json").read_text())["source"]
    assert (source["int4_block_size"], source["int4_symmetric"], source["int4_accuracy_level"]) == (64, True, 0)
    assert source["int4_lm_head"] is True


def test_json_text_is_the_streamed_text(tiny, capsys):
    for n in ("1", "3", "9"):  # the tiny model's tokens are mostly pieces of characters: cut in two at the end
        args = ["generate", str(tiny.out), "--prompt-ids", "7,30,111,42", "--max-new-tokens", n]
        assert main(args) == 0
        streamed = capsys.readouterr().out
        assert main([*args, "--json"]) == 0

        assert json.loads(capsys.readouterr().out)["text"] + "\n" == streamed, n


def _interrupted_after(text: str):
    """`generate` as Ctrl-C leaves it: the tokens of `text` streamed, then KeyboardInterrupt."""

    def interrupted(gen, prompt_ids, on_token=None):
        for token in gen.engine.tokenizer.encode(text):
            on_token(token)
        raise KeyboardInterrupt

    return interrupted


@pytest.mark.parametrize("streamed", ["Hi", "Hi\n", ""])
def test_an_interrupt_is_said_on_a_line_of_its_own_after_the_streamed_text(tiny, streamed, monkeypatch, capsys):
    monkeypatch.setattr("glm_nb.cli.generate", _interrupted_after(streamed))

    code = main(["generate", str(tiny.out), "--prompt", "Hi", "--max-new-tokens", "5"])

    captured = capsys.readouterr()
    assert code == 130 and captured.err == "glm-nb: interrupted\n"
    assert captured.out == ("Hi\n" if streamed else "")  # a line break ends "Hi", but no blank line after "Hi\n"


def test_an_interrupt_of_json_output_prints_no_partial_line(tiny, monkeypatch, capsys):
    monkeypatch.setattr("glm_nb.cli.generate", _interrupted_after("Hi"))

    code = main(["generate", str(tiny.out), "--prompt", "Hi", "--max-new-tokens", "5", "--json"])

    assert code == 130 and capsys.readouterr().out == ""


def _never_served(*args, **kwargs):
    raise AssertionError("serve() was reached")


def _never_converted(*args, **kwargs):
    raise AssertionError("converted before refusing")


def test_serve_refuses_a_max_length_of_no_tokens_before_loading_the_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("glm_nb.cli.serve", _never_served)

    code = main(["serve", str(tmp_path / "no-model"), "--max-length", "0"])  # checked before the missing model

    assert code == 2
    assert capsys.readouterr().err.startswith("glm-nb: error: --max-length must be at least 2 (tokens the context")


def test_serve_refuses_more_context_than_the_model_has_in_the_options_words(tiny, monkeypatch, capsys):
    monkeypatch.setattr("glm_nb.cli.serve", _never_served)

    code = main(["serve", str(tiny.out), "--device", "cpu", "--max-length", "500"])

    err = capsys.readouterr().err
    assert code == 2 and "--max-length 500 is more than this model's context, 256 tokens" in err
    assert "max_length" not in err, err  # the Generator's Python argument


@pytest.mark.parametrize(("option", "reason"), [
    (["--top-p", "2"], "top_p must be in (0, 1]"),
    (["--temperature", "-1"], "temperature must be >= 0"),
    (["--seed", "-1"], "seed must be >= 0"),
])  # fmt: skip
def test_bad_sampling_options_are_refused_before_the_model_loads(tmp_path, option, reason, capsys):
    code = main(["generate", str(tmp_path / "no-model"), "--prompt", "Hi", *option])  # a download or conversion

    err = capsys.readouterr().err
    assert code == 2 and err.startswith("glm-nb: error: ") and reason in err, err


def test_cuda_graph_on_the_cpu_is_refused_not_ignored(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("glm_nb.cli.serve", _never_served)
    monkeypatch.setattr(engine_module, "_CUDA_USABLE", False)  # --device auto finds no GPU, even where there is one
    says = "glm-nb: error: --cuda-graph captures decode steps on a CUDA GPU, and this model runs on the CPU"

    refused_at_once = main(["generate", str(tmp_path / "no-model"), "--prompt", "Hi", "--device", "cpu",
                            "--cuda-graph"])  # fmt: skip
    assert refused_at_once == 2 and capsys.readouterr().err.startswith(says)
    for command in (["generate", str(tiny.out), "--prompt", "Hi"], ["serve", str(tiny.out)]):
        assert main([*command, "--cuda-graph"]) == 2, command
        assert capsys.readouterr().err.startswith(says), command
    assert main(["generate", str(tiny.out), "--prompt", "Hi", "--max-new-tokens", "1", "--no-cuda-graph"]) == 0


def test_serve_shows_the_progress_of_converting_a_checkpoint(ckpt, cache, monkeypatch, capsys):
    monkeypatch.setattr("glm_nb.cli.serve", lambda backend, **options: None)

    assert main(["serve", str(ckpt), "--device", "cpu"]) == 0

    assert "convert ckpt (fp32)" in capsys.readouterr().err  # minutes for a real model, not a silent wait


def _options_without_help(parser: argparse.ArgumentParser, command: str = "glm-nb"):
    for action in parser._actions:  # argparse has no public way to list a parser's options
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options_without_help(sub, f"{command} {name}")
        elif action.option_strings and not action.help:
            yield f"{command} {action.option_strings[-1]}"


def test_every_option_of_every_command_says_what_it_does_in_its_help():
    assert list(_options_without_help(_parser())) == []


@pytest.mark.parametrize(("options", "reason"), [
    (["--max-length", "1"], "--max-length must be at least 2 (tokens the longest sequence holds), got 1"),
    (["--top-k-output", "-1"], "--top-k-output must be 0 (off) or a number of logits, such as 64; got -1"),
    (["--precision", "int4", "--int4-block-size", "24"], "--int4-block-size must be a power of two, 16 or more"),
])  # fmt: skip
def test_convert_refuses_sizes_no_checkpoint_allows_before_downloading_it(tmp_path, monkeypatch, options, reason,
                                                                          capsys):  # fmt: skip
    import huggingface_hub

    def no_download(repo_id, allow_patterns):  # gigabytes for a real model
        raise AssertionError(f"{repo_id} was downloaded")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)

    code = main(["convert", "THUDM/GLM-4-9B-0414", "-o", str(tmp_path / "m"), *options])

    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"glm-nb: error: {reason}"), err
