"""Run `glm-nb serve`'s server over a `ScriptedGenerator` in its own process, for the serve tests.

A scripted model is the honest tool where a test needs exact model output (a tool call, Z1 thinking) or a slow
stream (to stop or kill it midway): the HTTP, SSE and queue code under test is the real server's.

    python scripted_server.py --tokenizer DIR --replies replies.json [--token-delay S] [--prompts-log FILE]
                              [--api-key-env NAME] [--port 0] [--template FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from glm_nb.chat import ScriptedGenerator
from glm_nb.engine import Tokenizer
from glm_nb.engine.tokenizer import load_chat_template
from glm_nb.serve import serve


class _SlowScript(ScriptedGenerator):
    """Sleeps before each token, and logs each prompt it is given (decoded, one JSON string per line)."""

    def __init__(self, *args, delay: float, prompts_log: Path | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.prompts_log = prompts_log

    def set_prompt(self, ids):
        if self.prompts_log is not None:
            with self.prompts_log.open("a", encoding="utf-8") as f:
                f.write(json.dumps(self.tokenizer.decode(ids)) + "\n")
        return super().set_prompt(ids)

    def generate_next_token(self) -> None:
        time.sleep(self.delay)
        super().generate_next_token()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--replies", type=Path, required=True)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--prompts-log", type=Path, default=None)
    parser.add_argument("--api-key-env", default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="scripted")
    parser.add_argument("--template", type=Path, default=None, help="chat template file (default: the tokenizer's)")
    args = parser.parse_args()
    tokenizer = Tokenizer(args.tokenizer / "tokenizer.json")
    replies = json.loads(args.replies.read_text(encoding="utf-8"))
    generator = _SlowScript(tokenizer, replies, delay=args.token_delay, prompts_log=args.prompts_log)
    template = args.template.read_text(encoding="utf-8") if args.template else load_chat_template(args.tokenizer)
    backend = generator.backend(chat_template=template, name=args.name)
    api_key = os.environ[args.api_key_env] if args.api_key_env else None
    serve(backend, port=args.port, api_key=api_key, quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
