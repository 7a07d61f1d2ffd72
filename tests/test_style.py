"""The README's style check (Development): ruff's lint over the repository and its formatter over the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_lint_passes():
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_is_formatted():
    result = _ruff("format", "--check", "glm_nb")
    assert result.returncode == 0, result.stdout + result.stderr
