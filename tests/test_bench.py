"""The benchmarks start, and their shared harness (bench/harness.py) builds, times and reports
the contenders as it says. No timing is asserted: a fake clock stands in for the real one."""

import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SCRIPTS = ("mlp.py", "convnet.py", "rnn.py", "attention.py", "threads.py", "widgets.py", "chapters.py")


def load_harness():
    """bench/harness.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("harness", BENCH / "harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = load_harness()


def run_in_bench(args):
    """Run Python in bench/, as ``python bench/x.py`` runs there, with this checkout's nnlib."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *args], cwd=BENCH, env=env, capture_output=True, text=True,
                          timeout=120)


def test_every_benchmark_imports_and_parses_its_options():
    # One process for all: each script runs as ``python bench/x.py --help`` would run it.
    out = run_in_bench(["-c", "import runpy, sys\n"
                              f"for script in {SCRIPTS!r}:\n"
                              "    sys.argv = [script, '--help']\n"
                              "    try:\n"
                              "        runpy.run_path(script, run_name='__main__')\n"
                              "    except SystemExit as exit:\n"
                              "        assert exit.code == 0, script\n"
                              "    print('started', script)"])
    assert out.returncode == 0, out.stderr
    assert [line for line in out.stdout.splitlines() if line.startswith("started")] == [
        f"started {script}" for script in SCRIPTS]


@pytest.mark.parametrize("option", ["--steps", "--repeats", "--threads"])
def test_counts_must_be_positive(option, capsys):
    parser = harness.argument_parser("a benchmark", steps=3, repeats=2)
    with pytest.raises(SystemExit):
        parser.parse_args([option, "0"])
    assert f"argument {option}: expected a positive integer, got 0" in capsys.readouterr().err


def test_threads_option_sets_nnlibs_and_torchs_count():
    # In a fresh process: the thread count is process-wide.
    out = run_in_bench(["-c", "import harness, nnlib, torch\n"
                              "parser = harness.argument_parser('x', steps=1, repeats=1)\n"
                              "harness.parse_args(parser, ['--threads', '2'])\n"
                              "print(nnlib.cpu_threads(), torch.get_num_threads())"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "2"]


def fake_step_fn(now, seconds):
    """A ``*_step_fn`` whose steps take ``seconds`` on the clock ``lambda: now[0]``."""
    def build(device):
        def step():
            now[0] += seconds
        return step
    return build


def test_contenders_are_timed_and_compared_with_pytorch_on_their_device(capsys):
    now = [0.0]
    contenders = harness.build_contenders(fake_step_fn(now, 0.004), fake_step_fn(now, 0.002), "PyTorch")
    devices = harness.torch_devices()
    assert [c.name for c in contenders] == ["nnlib (NumPy)"] + [
        name for d in devices for name in (f"nnlib (torch {d})", f"PyTorch ({d})")]
    assert [c.is_reference for c in contenders] == [False] + [False, True] * len(devices)
    assert contenders[0].reference == "cpu"

    samples = harness.measure(contenders, steps=5, repeats=3, warmup=1, clock=lambda: now[0], pause=0)
    for c in contenders:
        assert samples[c.name] == pytest.approx([0.002 if c.is_reference else 0.004] * 3), c.name

    args = harness.argument_parser("x", steps=5, repeats=3).parse_args([])
    harness.report("A step", contenders, samples, args, "≤ 3×",
                   [("double", lambda c, t: f"{2 * t * 1e3:.0f}")], ["a note"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("A step; torch ") and lines[0].endswith("; wall clock")
    assert lines[1] == "a note"
    rows = {line[:28].strip(): line.split() for line in lines[5:5 + len(contenders)]}
    assert rows["nnlib (NumPy)"][-2:] == ["2.00×", "8"]             # against PyTorch on the CPU
    assert rows["PyTorch (cpu)"][-2:] == ["1.00×", "4"]
    assert lines[-1] == ("median of 3 repeats × 5 steps; ratio = median / median of PyTorch on the same "
                         "device (NumPy vs torch CPU); targets: ≤ 3×")


def test_each_nnlib_row_says_whether_it_meets_the_target_ratio(capsys):
    now = [0.0]
    # nnlib at 1.25× PyTorch
    contenders = harness.build_contenders(fake_step_fn(now, 0.0025), fake_step_fn(now, 0.002), "PyTorch")
    samples = harness.measure(contenders, steps=2, repeats=1, warmup=1, clock=lambda: now[0], pause=0)
    args = harness.argument_parser("x", steps=2, repeats=1).parse_args(["--busy"])
    for target, verdict in [(1.3, "met"), (1.2, "not met")]:
        harness.report("A step", contenders, samples, args, "≤ target", ratio_target=target)
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].endswith("; wall clock; one busy process beside it")
        assert lines[2].split()[-1] == f"{target:.2f}×?"
        rows = {line[:28].strip(): line[28:] for line in lines[4:4 + len(contenders)]}
        assert rows["nnlib (NumPy)"].endswith(f"1.25×{verdict:>16}")
        assert rows["PyTorch (cpu)"].endswith("1.00×" + " " * 16)  # the reference is not judged


def test_busy_option_times_with_a_busy_process_beside_the_steps(monkeypatch):
    seen = []
    monkeypatch.setattr(harness, "busy_process", lambda: contextlib.nullcontext(seen.append("busy")))
    contenders = harness.build_contenders(lambda d: lambda: None, lambda d: lambda: None, "PyTorch")
    harness.measure(contenders, steps=1, repeats=1, warmup=1, pause=0)
    assert seen == []
    harness.measure(contenders, steps=1, repeats=1, warmup=1, pause=0, busy=True)
    assert seen == ["busy"]


def test_busy_process_runs_in_its_own_session_until_the_block_ends():
    with harness.busy_process() as hog:
        assert hog.poll() is None
        assert os.getsid(hog.pid) == hog.pid != os.getsid(0)
    assert hog.poll() is not None


def load_bench_script(name):
    """bench/<name>.py as a module, importable beside its harness (as ``python bench/x.py`` runs)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_chapter_table_covers_every_chapter_in_book_order():
    chapters = load_bench_script("chapters")
    names = chapters.toc_chapters()
    assert sorted(names) == sorted(p.stem for p in (ROOT / "chapters").glob("*.md"))
    assert names.index("ch01_background") < names.index("ch04_3_applications")


def test_chapter_table_reads_cell_timing_that_nbclient_records():
    import nbformat

    chapters = load_bench_script("chapters")
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:01.250Z",
                                  "shell.execute_reply": "2026-01-01T00:00:03.000Z"}
    assert chapters.cell_seconds(cell) == pytest.approx(1.75)
    assert chapters.cell_seconds(nbformat.v4.new_code_cell("y = 2")) == 0.0  # not executed
