"""The context length on the command line: `--max-length` (generate, serve) and `--context` (chat) refused and
advised in the options' own words.

The engine's errors advise its Python arguments (`max_length=`, `Generator(...)`); a command's user has options
instead. Both follow the same steps (generator_options.py): up to what the model's conversion holds, the option
gives more; past it, a new conversion (`glm-nb convert --max-length`); past the checkpoint's
max_position_embeddings, only YaRN.
"""

from __future__ import annotations

from .engine import Engine, Generator
from .errors import GlmError, MaxLengthError

__all__ = ["check_max_length", "check_prompt_fits", "more_context", "too_much_context"]

_YARN = (
    "enable YaRN in its config.json and raise max_position_embeddings with it (the model card's recipe), then "
    "convert again"
)


def check_max_length(max_length: int | None) -> None:
    """--max-length, checked before the model loads (which can take minutes)."""
    if max_length is not None and max_length < 2:
        raise GlmError(
            f"--max-length must be at least 2 (tokens the context holds: a prompt token and a new one), got "
            f"{max_length}; leave it out for the model's default."
        )


def too_much_context(e: MaxLengthError, option: str) -> str:
    """open_model's refusal of a max_length (its advice names the Python argument), in the words of `option`, the
    command's context length option (--max-length, --context)."""
    said = (
        f"{option} {e.asked} is more than this model's context, {e.most} tokens: give at most {e.most} (or leave "
        "it out)"
    )
    if e.needs_yarn:
        return (
            f"{said}. {e.asked} is past the checkpoint's max_position_embeddings too, where converting again cannot "
            f"help: for a longer context, {_YARN}."
        )
    if e.needs_yarn is None:
        return f"{said}, or convert the checkpoint with a larger `glm-nb convert --max-length` if its config allows."
    return f"{said}, or convert the checkpoint with `glm-nb convert --max-length {e.asked}`."


def check_prompt_fits(prompt: list[int], gen: Generator, engine: Engine) -> None:
    """The Generator's PromptTooLongError advises its Python arguments; here the advice is the options."""
    if len(prompt) < gen.max_length:
        return
    raise GlmError(
        f"The prompt is {len(prompt)} tokens but the context holds {gen.max_length} (including room for one new "
        f"token): shorten the prompt, or {more_context(gen, engine)}."
    )


def more_context(gen: Generator, engine: Engine) -> str:
    """Up to what the model's conversion holds, --max-length (which caps the engine) gives more; past it, a new
    conversion, and past the checkpoint's max_position_embeddings, only YaRN."""
    limit, most = engine.graph_max_length, engine.checkpoint_max_length
    if gen.max_length < limit:
        return f"raise --max-length (up to {limit})"
    if most is not None and limit >= most:
        return f"for more than the checkpoint's max_position_embeddings ({most}), {_YARN}"
    return "convert the model again with a larger --max-length" + (" if the checkpoint supports it" * (most is None))
