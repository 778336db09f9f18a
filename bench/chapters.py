"""Benchmark: how long every chapter takes to execute — idle, and with one busy process beside it.

Each chapter notebook in ``_toc.yml`` runs from top to bottom in a fresh Jupyter kernel (the way
nbval and the book build run it, in ``chapters/``), once on its own and once with
``python -c "while True: pass"`` beside it in its own session (``harness.busy_process``). The
table gives the wall-clock seconds of each run — from starting the kernel to the last cell — and
the three cells that took longest in the idle run, against the book's budget: 30 s per chapter
and 3 minutes for the whole book on 2 CPU cores. Nothing is asserted; the figures depend on the
machine and on what else runs on it.

    python bench/chapters.py [--rounds 1] [--chapters ch04_3_applications ...]
"""

import argparse
import datetime
import statistics
import time
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_BUDGET, BOOK_BUDGET = 30.0, 180.0


def toc_chapters():
    """The chapter notebooks listed in _toc.yml, in the book's order."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    return [Path(f).name for f in files if f.startswith("chapters/")]


def cell_seconds(cell):
    """Seconds between a cell's start and its reply, from the timing nbclient records."""
    times = cell.metadata.get("execution", {})
    start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def execute(name):
    """Run chapters/<name>.ipynb; return (wall seconds, [(seconds, first line) of each code cell])."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    wall = time.perf_counter() - start
    cells = [(cell_seconds(c), c.source.strip().split("\n")[0][:40])
             for c in nb.cells if c.cell_type == "code"]
    return wall, cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=harness.positive_int, default=1,
                        help="runs per chapter and condition")
    parser.add_argument("--chapters", nargs="+", metavar="NAME", help="default: every chapter in _toc.yml")
    args = parser.parse_args(argv)
    names = args.chapters or toc_chapters()
    unknown = sorted(set(names) - set(toc_chapters()))
    if unknown:
        parser.error(f"not a chapter in _toc.yml: {', '.join(unknown)}")

    rows = []
    for name in names:
        idle, busy, slowest = [], [], []
        for _ in range(args.rounds):  # the two conditions alternate, so other load hits both alike
            wall, cells = execute(name)
            idle.append(wall)
            slowest = sorted(cells, reverse=True)[:3]
            with harness.busy_process():
                busy.append(execute(name)[0])
        rows.append((name, statistics.median(idle), statistics.median(busy), slowest))
        print(f"  ran {name}", flush=True)

    print(f"\nChapter execution, wall-clock seconds (median of {args.rounds}; "
          f"budget {CHAPTER_BUDGET:.0f} s each)")
    print(f"{'chapter':<24} {'idle':>7} {'busy':>7}  longest cells (idle run)")
    for name, idle, busy, slowest in rows:
        flag = "  over budget" if max(idle, busy) > CHAPTER_BUDGET else ""
        cells = "; ".join(f"{s:.1f} s {line!r}" for s, line in slowest)
        print(f"{name:<24} {idle:7.1f} {busy:7.1f}  {cells}{flag}")
    idle_total, busy_total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'all':<24} {idle_total:7.1f} {busy_total:7.1f}  (budget for the book {BOOK_BUDGET:.0f} s)")


if __name__ == "__main__":
    main()
