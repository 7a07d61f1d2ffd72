"""`python -m glm_nb.nano.train` where glm-nb alone is installed: training needs torch and transformers."""

from __future__ import annotations

import subprocess
import sys


def test_training_without_torch_says_what_to_install():
    hide = (
        "import sys, runpy; sys.modules['torch'] = None; runpy.run_module('glm_nb.nano.train', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "needs PyTorch and transformers, which glm-nb does not install" in done.stderr
    assert "pip install torch transformers" in done.stderr
