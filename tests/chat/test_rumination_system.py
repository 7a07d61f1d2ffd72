"""Rumination's own instruction can be replaced for a template that lacks the fixed prompt (e.g. a small model
trained with another wording)."""

from __future__ import annotations

from glm_nb.chat import ScriptedGenerator
from glm_nb.chat.research import Rumination


def test_a_given_system_prompt_replaces_the_default_instruction(tokenizer, glm_template, tmp_path):
    (tmp_path / "a.md").write_text("# A\n\nSomething.\n")
    generator = ScriptedGenerator(tokenizer, ["Done.</think>A report."])
    research = Rumination(
        generator.backend(chat_template=glm_template), corpus=tmp_path, system="Research with care, briefly."
    )

    research.run("Question?").finish()

    prompt = tokenizer.decode(generator.prompts[0])
    assert "Research with care, briefly." in prompt and "simple browser" not in prompt
