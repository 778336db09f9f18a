"""Shared pytest fixtures.

nnlib: every backend/device test is parametrised over all the device kinds nnlib supports;
kinds this machine lacks (CUDA, MPS) are skipped with a reason rather than silently dropped.
"""

import pytest

import nnlib

DEVICE_KINDS = ("numpy", "cpu", "cuda", "mps")
TORCH_DEVICE_KINDS = ("cpu", "cuda", "mps")
FLOAT_DTYPES = ("float64", "float32")


def _device_or_skip(kind):
    """The first nnlib device of this kind here (e.g. ``"cuda:0"``), or skip the test."""
    if kind != "numpy":
        pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    available = nnlib.available_devices()
    for dev in available:
        if dev.split(":")[0] == kind:
            return dev
    pytest.skip(f"no {kind} device on this machine (nnlib.available_devices() = {available})")


@pytest.fixture(params=DEVICE_KINDS)
def device(request):
    """Every nnlib device: "numpy", torch "cpu", "cuda:0", "mps:0" (absent ones skip)."""
    return _device_or_skip(request.param)


@pytest.fixture(params=TORCH_DEVICE_KINDS)
def torch_device(request):
    """Every torch device nnlib can use (absent ones skip)."""
    return _device_or_skip(request.param)


@pytest.fixture(params=FLOAT_DTYPES)
def float_dtype(request):
    return request.param


# --- sections after the test results ------------------------------------------------------------------
_SUMMARY_SECTIONS = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def terminal_summary(pytestconfig):
    """``terminal_summary(title, lines)`` shows ``lines`` under ``title`` after the test results,
    also with ``pytest -q`` (e.g. the tally of PyTorch's samples)."""
    sections = pytestconfig.stash.setdefault(_SUMMARY_SECTIONS, {})

    def add(title, lines):
        sections[title] = list(lines)
    return add


def pytest_terminal_summary(terminalreporter, config):
    for title, lines in config.stash.get(_SUMMARY_SECTIONS, {}).items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
