"""nnlib's CPU thread policy (nnlib.set_cpu_threads): one thread for torch's CPU pool and for
NumPy's BLAS, set when nnlib first places work there, never at import; environment choices and
later changes are respected. The policy is process-wide, so each case runs in a fresh
interpreter. This checks the mechanism, not a timing (bench/threads.py measures the speed)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import nnlib

pytest.importorskip("torch")
pytest.importorskip("threadpoolctl")

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NNLIB_CPU_THREADS")

PRELUDE = """
import json, os
import numpy as np
import torch
from threadpoolctl import threadpool_info
torch.set_num_threads(3)                          # a count nnlib must not keep: 3 ≠ 1 on any machine

def counts():
    blas = sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
    return [torch.get_num_threads(), blas]

seen = {"start": counts()}
import nnlib
from nnlib import nn
seen["import"] = counts()
"""


def run(body, **env):
    """Run PRELUDE + body in a fresh interpreter; return its ``seen`` dict."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_ENV} | env
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(seen))\n"
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_one_thread_per_pool_when_nnlib_first_uses_it():
    seen = run("""
        layer = nn.Linear(4, 3)                       # built on "numpy": the BLAS pool
        seen["numpy layer"] = counts()
        layer.to("cpu")                               # torch's CPU pool
        seen["to cpu"] = counts()
        torch.set_num_threads(2)                      # a later choice of the reader's sticks
        layer.to("numpy"); layer.to("cpu"); nnlib.to_device(np.ones(2), "cpu")
        seen["later"] = counts()
    """)
    torch_start, blas_start = seen["start"]
    assert seen["import"] == seen["start"]            # importing nnlib changes nothing
    assert seen["numpy layer"] == [torch_start, [1]]
    assert seen["to cpu"] == [1, [1]]
    assert seen["later"][0] == 2


def test_set_cpu_threads_overrides_and_none_restores():
    seen = run("""
        nn.Linear(4, 3).to("cpu")
        seen["default"] = counts()
        seen["previous"] = nnlib.set_cpu_threads(2)
        seen["two"] = counts() + [nnlib.cpu_threads()]
        nnlib.set_cpu_threads(None)
        seen["none"] = counts() + [nnlib.cpu_threads()]
        nn.Linear(4, 3).to("cpu")                      # after None nnlib no longer touches the pools
        seen["after none"] = counts()
    """)
    assert seen["default"] == [1, [1]]
    assert seen["previous"] == 1
    assert seen["two"] == [2, [2], 2]
    assert seen["none"] == seen["start"] + [None]      # what it was before nnlib changed it
    assert seen["after none"] == seen["start"]


def test_environment_choices_are_respected():
    # NNLIB_CPU_THREADS=0: leave both pools alone.
    seen = run('nn.Linear(4, 3).to("cpu"); seen["used"] = counts()', NNLIB_CPU_THREADS="0")
    assert seen["used"] == seen["start"]
    # NNLIB_CPU_THREADS=2: nnlib's count is 2.
    seen = run('nn.Linear(4, 3).to("cpu"); seen["used"] = counts()', NNLIB_CPU_THREADS="2")
    assert seen["used"] == [2, [2]]
    # OPENBLAS_NUM_THREADS chosen by the user: the BLAS pool keeps it, torch's still gets one thread.
    seen = run('nn.Linear(4, 3).to("cpu"); seen["used"] = counts()', OPENBLAS_NUM_THREADS="2")
    assert seen["used"] == [1, seen["start"][1]]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_cpu_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="positive number of threads"):
        nnlib.set_cpu_threads(bad)


def test_bad_environment_value_is_a_clear_error():
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_ENV} | {"NNLIB_CPU_THREADS": "many"}
    out = subprocess.run([sys.executable, "-c", "import nnlib"], env=clean,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "NNLIB_CPU_THREADS must be a positive number of threads, or 0" in out.stderr
