"""The checkpoint's tokenizer (`tokenizer.json`, through the `tokenizers` library) and an incremental detokenizer.

GLM-4-0414 uses a byte-level BPE: one Chinese character is often two or three tokens, so decoding tokens one at
a time would print broken characters. `IncrementalDetokenizer` decodes a sliding window and emits text only
once it no longer ends in an incomplete UTF-8 sequence (U+FFFD), the technique of HF's TextStreamer and vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer as _HFTokenizer

from ..errors import GenerationError, ModelLoadError

__all__ = ["Tokenizer", "IncrementalDetokenizer", "load_chat_template"]


class Tokenizer:
    """encode/decode with special tokens kept visible: the chat layer parses `<|assistant|>` etc. itself."""

    def __init__(self, path: Path):
        try:
            self._tok = _HFTokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception for malformed files
            raise ModelLoadError(
                f"Cannot read tokenizer {path}: {e}. Copy tokenizer.json from the checkpoint."
            ) from e

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, adding no special tokens (GLM's template writes `[gMASK]<sop>` itself).

        Text with a lone surrogate (bytes that were not UTF-8, smuggled in by Python's surrogateescape from a
        terminal, a pipe or argv) is refused with a GenerationError rather than guessed at."""
        if not text.isascii():
            _check_encodable(text)
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._tok.id_to_token(token_id)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)


def _check_encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        char = ord(text[e.start])
        # surrogateescape keeps an undecodable byte b as U+DC00 + b; other lone surrogates are shown as they are
        what = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"lone surrogate U+{char:04X}"
        raise GenerationError(
            f"The text is not valid UTF-8 (it holds {what}), so it cannot be tokenized. Save or type "
            "it as UTF-8 (a terminal or locale set to UTF-8, e.g. LANG=C.UTF-8), or decode it with "
            "errors='replace' first."
        ) from None


class IncrementalDetokenizer:
    """Feed token ids one by one; get back only complete new text."""

    def __init__(self, tokenizer: Tokenizer, skip_special_tokens: bool = False):
        self._tok = tokenizer
        self._skip = skip_special_tokens
        self._ids: list[int] = []
        self._prefix = 0  # ids before this index are fully emitted and only give context
        self._read = 0  # ids before this index have had their text emitted

    def add(self, token_id: int) -> str:
        self._ids.append(int(token_id))
        prefix_text = self._tok.decode(self._ids[self._prefix : self._read], self._skip)
        full_text = self._tok.decode(self._ids[self._prefix :], self._skip)
        if full_text.endswith("\ufffd") or len(full_text) <= len(prefix_text):
            return ""  # an incomplete multi-byte character: wait for the next token
        self._prefix, self._read = self._read, len(self._ids)
        return full_text[len(prefix_text) :]

    def flush(self, drop_partial: bool = False) -> str:
        """Whatever is left: a dangling partial character becomes U+FFFD, as a final decode would, or with
        `drop_partial` is left out (text cut by a token limit or a stop token inside a character ends before it,
        instead of with a broken character a reader sees and a chat history keeps)."""
        prefix_text = self._tok.decode(self._ids[self._prefix : self._read], self._skip)
        full_text = self._tok.decode(self._ids[self._prefix :], self._skip)
        self._prefix = self._read = len(self._ids)
        tail = full_text[len(prefix_text) :]
        return tail.rstrip("\ufffd") if drop_partial else tail


def load_chat_template(folder: Path) -> str | None:
    """The checkpoint's chat template: `chat_template.jinja`, else tokenizer_config.json's `chat_template`."""
    jinja = folder / "chat_template.jinja"
    config = folder / "tokenizer_config.json"
    try:
        if jinja.exists():
            return jinja.read_text(encoding="utf-8")
        if not config.exists():
            return None
        settings = json.loads(config.read_text(encoding="utf-8"))
        template = settings.get("chat_template") if isinstance(settings, dict) else None
        if isinstance(template, list):  # several named templates: take the default one
            named = [t for t in template if isinstance(t, dict) and t.get("name") == "default"]
            template = named[0].get("template") if named else None
        return template if isinstance(template, str) else None
    except (OSError, ValueError) as e:  # not UTF-8, not JSON, a folder
        raise ModelLoadError(
            f"The chat template in {folder} cannot be read ({e}); copy chat_template.jinja and tokenizer_config.json "
            "from the original checkpoint."
        ) from e
