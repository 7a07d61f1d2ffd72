# Sourced by scripts/test and scripts/demo: make .venv and install glm-nb (editable) with the test extra.
# Re-installs only when pyproject.toml or the JupyterLab extension's sources changed since the last install (the
# install builds the extension: npm install, tsc, jupyter-builder).
set -euo pipefail
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
stamp=.venv/.glm-nb-installed
changed=""
if [ -f "$stamp" ]; then
  changed=$(find pyproject.toml labextension/package.json labextension/src labextension/style -newer "$stamp" 2>/dev/null | head -1)
fi
if [ ! -f "$stamp" ] || [ -n "$changed" ]; then
  python -m pip install --quiet --upgrade pip
  # torch first, pinned to the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
  python -m pip install --quiet "torch==2.13.0"
  python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi
