"""nano-GLM's tokenizer: a byte-level BPE of a few thousand tokens with the GLM-4 special tokens.

The pre-tokenizer splits text into single digits, single CJK characters, ASCII letter runs, space runs,
newline runs and punctuation runs before BPE, so a value is the same tokens wherever it appears (in the prompt,
in a JSON argument, in the answer); issue 5 found this is what lets a tiny model learn to copy values.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from .corpus import corpus_text

__all__ = ["SPECIAL_TOKENS", "STOP_TOKENS", "PRE_TOKEN_PATTERN", "build_tokenizer", "write_tokenizer_files"]

SPECIAL_TOKENS = (
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>",
    "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>",
)  # fmt: skip
STOP_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")  # FORMAT.md "Tokenizer"
PRE_TOKEN_PATTERN = r"\d|\p{Han}|[A-Za-z]+|[^\s\p{Han}\p{N}\p{P}\p{S}]+|[^\S\n]+|\n+|[\p{P}\p{S}]+|."


def build_tokenizer(vocab_size: int = 3072, seed: int = 0, examples: int = 6000) -> Tokenizer:
    """Train the BPE on `examples` corpus examples (deterministic for a seed)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRE_TOKEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_text(seed, examples), trainer=trainer)
    return tok


def write_tokenizer_files(tok: Tokenizer, folder: Path, chat_template: str) -> list[int]:
    """Write tokenizer.json and tokenizer_config.json (with the chat template); return the stop ids."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(tok.to_str(), encoding="utf-8")
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "additional_special_tokens": list(SPECIAL_TOKENS[1:]),
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1024,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    return [tok.token_to_id(t) for t in STOP_TOKENS]
