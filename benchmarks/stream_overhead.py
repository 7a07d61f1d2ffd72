"""What the live display of a `%%glm` cell costs the generation: a long markdown answer streamed through the
magics' `stream_reply` into a sink that renders each snapshot as the notebook display does (the record's JSON,
HTML, markdown and plain text), from a stand-in model that takes a fixed time per token (default 4 ms, a 9B model
on a fast GPU). Rows: no display at all; snapshots every 0.1 s whatever they cost (before); snapshots spaced by
their cost (`UPDATE_SPACING`, now). Interleaved rounds, medians: effective tokens/s, its ratio to no display, and
the share of the time spent rendering.

    python benchmarks/stream_overhead.py [--words 1500 4000] [--token-ms 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from glm_nb.chat import Conversation
from glm_nb.chat.scripted import ScriptedGenerator
from glm_nb.engine import SamplingParams, Tokenizer
from glm_nb.magics import replies
from glm_nb.nano import chat_template, checkpoint_path
from glm_nb.render import Transcript, TranscriptBuilder

_PIECES = ("the", "model", "**writes**", "`code`", "and", "lists", "北京", "天气", "$x^2$", "<b>tags</b>", "a", "b")


class _TimedGenerator(ScriptedGenerator):
    """A scripted model that takes `token_s` per token, as a real one would."""

    def __init__(self, *args, token_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.token_s = token_s

    def generate_next_token(self) -> None:
        time.sleep(self.token_s)
        super().generate_next_token()


class _RenderingSink:
    def __init__(self):
        self.rendering = 0.0

    def update(self, transcript: Transcript) -> None:
        start = time.perf_counter()
        transcript._repr_mimebundle_()  # what IPython's display sends, every representation
        self.rendering += time.perf_counter() - start

    def finish(self, transcript: Transcript) -> None:
        pass


def _reply(words: int) -> str:
    rng = random.Random(words)
    lines = []
    for i in range(words):
        lines.append(rng.choice(_PIECES) + ("\n\n" if i % 40 == 39 else "\n- " if i % 97 == 96 else " "))
    return "\n" + "".join(lines)


def run(tokenizer: Tokenizer, text: str, token_s: float, mode: str) -> tuple[float, float, int]:
    """(tokens/s, rendering share, tokens) of one streamed reply."""
    generator = _TimedGenerator(tokenizer, [text], max_length=1 << 20, token_s=token_s)
    conversation = Conversation(generator.backend(chat_template=chat_template()))
    sink = _RenderingSink()
    spacing = replies.UPDATE_SPACING
    replies.UPDATE_SPACING = 0.0 if mode == "every 0.1 s" else spacing
    try:
        start = time.perf_counter()
        response = conversation.send("Write.", sampling=SamplingParams(max_new_tokens=1 << 19))
        if mode == "no display":
            response.finish()
        else:
            replies.stream_reply(response, TranscriptBuilder(Transcript("chat", "m", "Write.")), sink, refresh_s=0.1)
        elapsed = time.perf_counter() - start
    finally:
        replies.UPDATE_SPACING = spacing
    tokens = response.usage().new_tokens
    return tokens / elapsed, sink.rendering / elapsed, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, nargs="+", default=[1500, 4000])
    parser.add_argument("--token-ms", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tokenizer = Tokenizer(checkpoint_path() / "tokenizer.json")
    modes = ("no display", "every 0.1 s", "spaced by cost")
    print("| words | tokens | display | tok/s | vs no display | time rendering |")
    print("|---|---|---|---|---|---|")
    for words in args.words:
        text = _reply(words)
        rates = {m: [] for m in modes}
        shares = {m: [] for m in modes}
        tokens = 0
        for r in range(args.rounds):
            for mode in modes[r % 3 :] + modes[: r % 3]:  # each round starts at the next mode
                rate, share, tokens = run(tokenizer, text, args.token_ms / 1e3, mode)
                rates[mode].append(rate)
                shares[mode].append(share)
        base = statistics.median(rates["no display"])
        for mode in modes:
            rate = statistics.median(rates[mode])
            share = statistics.median(shares[mode])
            print(f"| {words} | {tokens} | {mode} | {rate:.0f} | {rate / base:.2f}x | {share:.0%} |")


if __name__ == "__main__":
    main()
