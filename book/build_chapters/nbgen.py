"""Build each chapter's notebook from its one source: ``chapters/<name>.md`` → ``chapters/<name>.ipynb``.

The source is a MyST Markdown notebook (Jupytext): prose as Markdown, code as real
```` ```{code-cell} ```` cells, so it diffs, highlights and lints like the text and code it is, and
Jupyter opens it as a notebook (with Jupytext installed: "Open With → Notebook"). The ``.ipynb`` is
what Colab opens, what nbval runs and what the book renders; this script writes it, nobody edits it.
Building a notebook:

1. ASCII "…" in prose becomes “…” (Sphinx's smartquotes get CJK text wrong);
2. each exercise's solution, written once as a code cell tagged ``solution`` (optionally followed
   by a Markdown cell tagged ``solution`` with the explanation), becomes the collapsed
   ``<details>`` block the reader sees *and* a function in the hidden verification cell at the end
   of the chapter, which runs it through the exercise's own self-check (so CI proves every
   reference answer passes);
3. the book's setup cell (one template, ``book/booktools.py``) goes first; cells get stable ids;
4. ``{cite}`key```, ``{term}`术语``` and "3.2.5 节" become Markdown links to the published book
   (``links.py``), which Colab renders; the book build turns them back into checked references;
5. the notebook is executed in ``chapters/`` and every output is stripped except those of cells
   tagged ``nbval-check-output``, which nbval compares.

    .venv/bin/python book/build_chapters/nbgen.py                    # every chapter (make notebooks)
    .venv/bin/python book/build_chapters/nbgen.py ch01_background    # one chapter
    .venv/bin/python book/build_chapters/nbgen.py --no-execute ...   # prose edits: reuse stored outputs
    .venv/bin/python book/build_chapters/nbgen.py --check            # exit 1 if a notebook is stale

An exercise in the source (the heading's number counts up from 1 in each chapter):

    ### 练习 1：title            ← Markdown cell: heading and statement
    <code cell: the reader's stub>
    <code cell tagged nbval-check-output: the self-check, ending with check_answer(...)>
    <code cell tagged solution: the reference answer>
    <Markdown cell tagged solution: explanation (optional)>

Figures of an executed build are written to ``_build/chapter-figures/<name>/`` to look at.
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import sys
import time
from pathlib import Path
from textwrap import indent

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book"))
import booktools  # noqa: E402
import links  # noqa: E402  (book/build_chapters/links.py)

CHECK = booktools.CHECK_OUTPUT_TAG  # "nbval-check-output": nbval compares the stored output
SOLUTION = "solution"
FIGURES = ROOT / "_build" / "chapter-figures"


def chapter_names(root: Path = ROOT) -> list[str]:
    """The chapters in _toc.yml order, e.g. ``["ch01_background", ...]``."""
    return [Path(f).name for f in booktools.toc_files(root) if f.startswith("chapters/")]


def source_path(name: str, root: Path = ROOT) -> Path:
    return root / "chapters" / f"{name}.md"


def notebook_path(name: str, root: Path = ROOT) -> Path:
    return root / "chapters" / f"{name}.ipynb"


# ----------------------------------------------------------------------------- prose
_PROTECTED = re.compile(r"(```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|<[^>]*>)", re.DOTALL)


def chinese_quotes(text: str) -> str:
    """ASCII "…" → “…” outside code, math and HTML tags."""
    parts = _PROTECTED.split(text)
    opening = True
    for i in range(0, len(parts), 2):  # even indices: plain prose
        chars = list(parts[i])
        for j, ch in enumerate(chars):
            if ch == '"':
                chars[j] = "“" if opening else "”"
                opening = not opening
        parts[i] = "".join(chars)
    if not opening:
        raise ValueError(f"unbalanced ASCII quotes in markdown: {text[:80]!r}")
    return "".join(parts)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _markdown(text: str):
    return nbformat.v4.new_markdown_cell(text)


# ----------------------------------------------------------------------------- exercises
_EXERCISE_HEADING = re.compile(r"^### 练习 (\d+)：(.+)$", re.MULTILINE)


class SourceError(ValueError):
    """The chapter source breaks one of the conventions above; the message says where."""


def _exercises(name: str, cells: list) -> tuple[list, list]:
    """Replace solution cells by ``<details>`` blocks; return (cells, [(number, title, solution, check)])."""
    out, items = [], []
    heading = check = None  # the current exercise's heading (number, title) and check cell
    i = 0
    while i < len(cells):
        cell = cells[i]
        if cell.cell_type == "markdown" and SOLUTION not in _tags(cell):
            found = _EXERCISE_HEADING.search(cell.source)
            if found:
                heading, check = (int(found[1]), found[2].strip()), None
        if cell.cell_type == "code" and CHECK in _tags(cell) and "check_answer(" in cell.source:
            check = cell.source
        if cell.cell_type == "markdown" and SOLUTION in _tags(cell):
            raise SourceError(f"{name}: cell {i}: a Markdown 'solution' cell must follow "
                              "a solution code cell")
        if cell.cell_type != "code" or SOLUTION not in _tags(cell):
            out.append(cell)
            i += 1
            continue
        number = len(items) + 1
        if heading is None or heading[0] != number:
            raise SourceError(f"{name}: cell {i}: solution of exercise {number} without a preceding "
                              f"'### 练习 {number}：…' heading (found {heading})")
        if check is None or not check.strip().splitlines()[-1].startswith("check_answer("):
            raise SourceError(f"{name}: cell {i}: exercise {number} needs a self-check cell tagged {CHECK!r} "
                              "between its heading and its solution, ending with check_answer(...)")
        explanation = ""
        if i + 1 < len(cells) and cells[i + 1].cell_type == "markdown" and SOLUTION in _tags(cells[i + 1]):
            explanation = cells[i + 1].source.strip() + "\n\n"
            i += 1
        out.append(_markdown(
            f"<details><summary>参考答案（练习 {number}）</summary>\n\n"
            f"```python\n{cell.source.strip()}\n```\n\n{explanation}</details>"
        ))
        items.append((number, heading[1], cell.source.strip(), check))
        heading = check = None
        i += 1
    return out, items


def verification_cells(items: list) -> list:
    """One hidden cell that runs every reference solution through its own self-check.

    Each solution runs inside its own function, so "Run All" never replaces the reader's
    answers (the names the reader defined stay theirs), and a failing reference answer
    raises instead of printing a hint.
    """
    functions, names = [], []
    for number, title, solution, check in items:
        check_lines = check.strip().splitlines()
        test = "\n".join(check_lines[:-1]).strip()
        body = f"{solution}\n\n{test}\n\nreturn {check_lines[-1]}"
        name = f"reference_answer_{number}"
        functions.append(f'def {name}():\n    """练习 {number}：{title}"""\n' + indent(body, "    "))
        names.append(name)
    run = ("for answer in (\n" + "".join(f"    {name},\n" for name in names) + "):\n"
           "    assert answer() is True, (\n"
           '        f"reference solution fails its own check: {answer.__doc__}")')
    heading = _markdown(
        "## 附：参考答案的自动校验\n\n"
        "下面这个（默认折叠的）代码格把每道练习的参考答案代入同一个自检函数。\n"
        "每个参考答案在自己的函数里运行，不会覆盖你在上面写的答案。\n"
        "本书的持续集成每次都会运行它，保证参考答案本身是对的。"
    )
    code = nbformat.v4.new_code_cell("\n\n\n".join(functions) + "\n\n\n" + run)
    code.metadata["tags"] = ["hide-cell", CHECK]
    return [heading, code]


# ----------------------------------------------------------------------------- building
def source_cells(name: str, text: str) -> list:
    """The cells of a MyST Markdown source with the conventions above applied (no setup cell yet)."""
    cells = []
    for i, cell in enumerate(jupytext.reads(text, fmt="md:myst").cells):
        if cell.cell_type == "code" and cell.source.startswith(booktools.SETUP_CELL_TEMPLATE[:12]):
            raise SourceError(f"{name}: cell {i}: the setup cell is added by the build; "
                              "remove it from the source")
        cell = nbformat.from_dict({k: v for k, v in cell.items() if k != "id"})
        cell.metadata = nbformat.from_dict({"tags": _tags(cell)} if _tags(cell) else {})
        if cell.cell_type == "markdown":
            cell.source = chinese_quotes(cell.source)
        cells.append(cell)
    cells, items = _exercises(name, cells)
    return cells + verification_cells(items) if items else cells


def notebook_from_source(name: str, root: Path = ROOT):
    """The chapter's notebook as the source defines it, not executed (checked cells have no outputs)."""
    cells = source_cells(name, source_path(name, root).read_text(encoding="utf-8"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(booktools.KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.from_dict(booktools.setup_cell(root))] + cells
    prefix = name.split("_")[0]
    for i, cell in enumerate(nb.cells[1:], start=1):
        cell["id"] = f"{prefix}-{i:03d}"  # stable ids: regenerating does not churn the diff
    links.chapter_cells(name, nb.cells)
    return nb


def _execute(name: str, nb) -> None:
    from nbclient import NotebookClient

    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    print(f"{name}: executed in {time.perf_counter() - start:.1f} s")
    figures = FIGURES / name
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("*.png"):
        old.unlink()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                print(f"  WARNING stderr in cell {i}: {out['text'][:300]!r}")
            if "image/png" in out.get("data", {}):
                (figures / f"cell{i:03d}.png").write_bytes(base64.b64decode(out["data"]["image/png"]))


def _reuse_outputs(nb, committed) -> list[str]:
    """Copy stored outputs of checked cells whose code is unchanged; return the ids of the others."""
    old = {c["id"]: c for c in committed["cells"]} if committed else {}
    missing = []
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK in _tags(cell):
            before = old.get(cell["id"])
            if before is not None and booktools._source(before) == cell.source:
                cell.outputs = copy.deepcopy(before.get("outputs", []))
            else:
                missing.append(cell["id"])
    return missing


def build(name: str, execute: bool = True, root: Path = ROOT) -> Path:
    """Write ``chapters/<name>.ipynb`` from ``chapters/<name>.md``."""
    nb = notebook_from_source(name, root)
    path = notebook_path(name, root)
    if execute:
        _execute(name, nb)
    else:
        missing = _reuse_outputs(nb, booktools.read_notebook(path) if path.exists() else None)
        if missing:
            raise SourceError(f"{name}: checked cells {missing} changed or are new: build with execution")
    booktools.write_notebook(booktools.sync_notebook(nb, root), path)
    for problem in booktools.notebook_problems(booktools.read_notebook(path), root):
        print("  PROBLEM:", problem)
    print(f"wrote {path.relative_to(root)}")
    return path


def _comparable(nb) -> list[tuple]:
    return [(c["cell_type"], c.get("id"), booktools._source(c), tuple(_tags(c))) for c in nb["cells"]]


def drift(name: str, root: Path = ROOT) -> list[str]:
    """How the committed notebook differs from what its source builds (cells, ids, sources, tags)."""
    path = notebook_path(name, root)
    if not source_path(name, root).exists():
        return [f"chapters/{name}.md (the source) is missing"]
    if not path.exists():
        return [f"chapters/{name}.ipynb is missing"]
    want = _comparable(booktools.sync_notebook(notebook_from_source(name, root), root))
    have = _comparable(booktools.read_notebook(path))
    problems = []
    for i in range(max(len(want), len(have))):
        w = want[i] if i < len(want) else None
        h = have[i] if i < len(have) else None
        if w != h:
            what = "missing" if h is None else "extra" if w is None else "differs"
            problems.append(f"cell {i} ({(w or h)[1]}): {what}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter names (default: every chapter in _toc.yml)")
    parser.add_argument("--no-execute", action="store_true",
                        help="do not run the notebook; keep the stored outputs of unchanged checked cells")
    parser.add_argument("--check", action="store_true",
                        help="only report notebooks that differ from their source")
    args = parser.parse_args(argv)
    names = args.chapters or chapter_names()
    unknown = sorted(set(names) - set(chapter_names()))
    if unknown:
        parser.error(f"not chapters in _toc.yml: {unknown}")
    if args.check:
        stale = {name: drift(name) for name in names}
        for name, problems in stale.items():
            for p in problems:
                print(f"chapters/{name}.ipynb: {p}")
        return 1 if any(stale.values()) else 0
    for name in names:
        build(name, execute=not args.no_execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
