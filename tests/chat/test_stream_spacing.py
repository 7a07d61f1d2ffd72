"""`stream_reply` spaces its snapshots by what they cost: a snapshot renders the whole reply so far, so with a
fixed interval a long reply spends most of its time redrawing itself instead of generating."""

from __future__ import annotations

from glm_nb.engine import SamplingParams
from glm_nb.magics.replies import UPDATE_SPACING, stream_reply
from glm_nb.render import Transcript, TranscriptBuilder
from glm_nb.tools import tool

WORDS = 150
TOKEN_S = 0.004  # what generating one token takes (a fast GPU)


class _Clock:
    def __init__(self):
        self.now = 0.0
        self.rendering = 0.0  # of which spent in snapshots

    def __call__(self) -> float:
        self.now += TOKEN_S / 2  # stream_reply reads the clock about twice a token
        return self.now


class _CostlySink:
    """A sink whose snapshot costs grow with the reply, as rendering its markdown and HTML does."""

    def __init__(self, clock: _Clock):
        self.clock = clock
        self.updates = 0
        self.last: Transcript | None = None
        self.final: Transcript | None = None

    def update(self, transcript: Transcript) -> None:
        cost = 0.0001 * len(transcript.text)  # grows with the reply, as rendering it does
        self.clock.now += cost
        self.clock.rendering += cost
        self.updates += 1
        self.last = transcript

    def finish(self, transcript: Transcript) -> None:
        self.final = transcript


def test_a_long_reply_spends_most_of_its_time_generating_not_redrawing(scripted):
    reply = "\n" + " ".join(f"word{i}" for i in range(WORDS))
    conversation, _ = scripted([reply], sampling=SamplingParams(max_new_tokens=2000))
    clock = _Clock()
    sink = _CostlySink(clock)

    response = conversation.send("Write a lot.")
    transcript = stream_reply(
        response, TranscriptBuilder(Transcript("chat", "m", "Write a lot.")), sink, refresh_s=0.01, clock=clock
    )

    assert transcript.text == reply.strip() and sink.final is transcript
    assert sink.updates >= 5  # still live
    # Each snapshot waits UPDATE_SPACING times its cost, so at most about 1 / UPDATE_SPACING of the time redraws.
    assert clock.rendering <= clock.now * 1.5 / UPDATE_SPACING


def test_refresh_zero_still_shows_every_event(scripted):
    conversation, _ = scripted(["\nOne two three four five."])
    clock = _Clock()
    sink = _CostlySink(clock)

    response = conversation.send("Count.")
    stream_reply(response, TranscriptBuilder(Transcript("chat", "m", "Count.")), sink, refresh_s=0, clock=clock)

    assert sink.updates == len(response.events())


def test_a_tool_call_is_shown_before_the_tool_runs_however_costly_the_snapshots(scripted):
    seen_while_running = []

    @tool
    def lookup(word: str) -> str:
        """Look a word up.

        Args:
            word: The word.
        """
        seen_while_running.append([card.name for card in sink.last.tool_cards] if sink.last else [])
        return "found"

    reply = "\n" + " ".join(f"word{i}" for i in range(60)) + '<|assistant|>lookup\n{"word": "x"}<|observation|>'
    conversation, _ = scripted([reply, "\nDone."], tools=[lookup])
    clock = _Clock()
    sink = _CostlySink(clock)

    response = conversation.send("Look it up.")
    stream_reply(
        response, TranscriptBuilder(Transcript("chat", "m", "Look it up.")), sink, refresh_s=0.01, clock=clock
    )

    assert seen_while_running == [["lookup"]]
