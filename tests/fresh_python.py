"""Run a piece of Python in a fresh interpreter: for what this test process can no longer show
(which modules an import pulls in, once the tests have imported them all)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code):
    """stdout of ``python -c code`` (dedented) with this checkout's nnlib first on the path; fails
    the test, showing both streams, when the code fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout
