"""Tiny random GLM-4-0414 checkpoints for tests: real `Glm4ForCausalLM` folders written by transformers.

Norm weights and biases are perturbed away from 1 and 0 (defaults hide bugs: a swapped norm or a dropped bias
changes nothing when every norm is 1 and every bias 0). The tokenizer is a small byte-level BPE with the GLM
special tokens under their real strings, and the published chat template.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SHARED = Path(__file__).resolve().parents[2] / "shared"
TEMPLATE_PATH = SHARED / "glm4" / "glm4-0414.chat_template.jinja"
SPECIAL_TOKENS = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>",
    "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>",
]  # fmt: skip
_CORPUS = [
    "Hello! How can I help you today? The weather in Paris is sunny, 21 degrees.",
    "GLM-4 is a language model. Jupyter notebooks run Python code in cells.",
    "ONNX Runtime executes the graph; the KV cache lives on the device.",
    '{"name": "get_weather", "arguments": {"city": "Beijing"}} <think>Let me think.</think>',
    "你好！今天天气很好。北京的温度是二十一度。我们来写一个函数。",
    "def add(a, b):\n    return a + b\n# 0123456789 <svg width=\"10\"></svg>",
]


@lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok.to_str()


def write_tokenizer(folder: Path, template: str | None = None) -> Tokenizer:
    """Write tokenizer.json, tokenizer_config.json (with the chat template) and generation_config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(_tokenizer_json())
    tok = Tokenizer.from_str(_tokenizer_json())
    if template is None:
        template = TEMPLATE_PATH.read_text(encoding="utf-8")
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "chat_template": template,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2))
    stops = [tok.token_to_id(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")]
    generation = {"eos_token_id": stops, "pad_token_id": stops[0], "do_sample": False}
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return tok


def tiny_config(**overrides):
    from transformers import Glm4Config

    tok = Tokenizer.from_str(_tokenizer_json())
    settings = dict(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=256,
        initializer_range=0.08,
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=[tok.token_to_id(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")],
        partial_rotary_factor=0.5,
        attention_bias=True,
        tie_word_embeddings=False,
    )
    settings.update(overrides)
    config = Glm4Config(**settings)
    config._attn_implementation = "eager"
    return config


def make_tiny_checkpoint(
    folder: str | Path, *, seed: int = 0, dtype: str = "fp32", max_shard_size: str | None = None, **overrides
) -> Path:
    """Write a random Glm4ForCausalLM checkpoint (perturbed norms and biases) + tokenizer to `folder`."""
    from transformers import Glm4ForCausalLM

    folder = Path(folder)
    torch.manual_seed(seed)
    model = Glm4ForCausalLM(tiny_config(**overrides)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(1.0 + 0.3 * torch.randn_like(param))
            elif name.endswith(".bias"):
                param.copy_(0.5 * torch.randn_like(param))
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    elif dtype == "fp16":
        model = model.to(torch.float16)
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(folder, **kwargs)
    write_tokenizer(folder)
    return folder


def load_reference(folder: str | Path):
    """The transformers model for a checkpoint folder, fp32, eager attention (the ground truth)."""
    from transformers import Glm4ForCausalLM

    model = Glm4ForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager")
    return model.eval()
