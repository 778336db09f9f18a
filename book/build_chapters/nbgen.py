"""Tiny helpers that turn a chapter script (``chXX.py`` next to this file) into a committed notebook.

A chapter script lists cells with :func:`md`, :func:`code` and :func:`exercise`, then calls
:func:`build`. ``build`` puts the book's setup cell first (``book/booktools.py``), executes the
notebook in ``chapters/`` (so the stored outputs of ``nbval-check-output`` cells are real),
strips every other output with ``booktools.sync_notebook`` and writes ``chapters/<name>.ipynb``.

Exercises: the solution source is written ONCE in the script and lands in two places — the
collapsible ``<details>`` block the reader sees, and the hidden verification cell at the end of
the chapter that runs the same self-check on it (so CI proves every reference answer passes).

    .venv/bin/python book/build_chapters/ch01.py          # rebuild chapters/ch01_background.ipynb

Citations and cross-references: write ``{cite}`key``` (``{cite:t}`key``` for "He 等（2015）"),
``{term}`术语``` and plain "3.2.5 节" / "第 3.2 节" / "第 1 章" in the Markdown. ``build`` turns
them into ordinary Markdown links to the published book (``links.py``), so Colab and Jupyter show
"（He 等，2015）" and a clickable "3.2.5 节" instead of raw MyST; the book build turns the links
back into checked references (``booktools.links_to_myst``). A mention of a section that has no
heading, an unknown key or term, and other MyST syntax stop the build with the list of problems.

The ``.ipynb`` files are what CI runs and what readers open; these scripts only produce them.
"""

import re
import sys
import time
from pathlib import Path
from textwrap import dedent, indent

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book"))
import booktools  # noqa: E402
import links  # noqa: E402  (book/build_chapters/links.py)

CHECK = booktools.CHECK_OUTPUT_TAG  # "nbval-check-output": nbval compares the stored output


_PROTECTED = re.compile(r"(```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|<[^>]*>)", re.DOTALL)


def chinese_quotes(text):
    """ASCII "…" → “…” outside code, math and HTML tags (Sphinx's smartquotes get CJK text wrong)."""
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


def md(text):
    return nbformat.v4.new_markdown_cell(chinese_quotes(dedent(text).strip("\n")))


def code(src, tags=()):
    cell = nbformat.v4.new_code_cell(dedent(src).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


class Exercises:
    """Collects exercises so the chapter can end with one verification cell for all answers."""

    def __init__(self):
        self.items = []

    def add(self, title, statement, stub, check, solution, explanation=""):
        """Cells for one exercise: statement, the reader's stub, the self-check, the solution.

        ``check`` is a code cell source that ends by calling ``check_answer(...)``; it runs on
        the stub as committed (and must then print the "not answered yet" hint, not fail).
        """
        number = len(self.items) + 1
        self.items.append((number, title, solution, check))
        details = (
            f"<details><summary>参考答案（练习 {number}）</summary>\n\n"
            f"```python\n{dedent(solution).strip()}\n```\n\n"
            + (dedent(explanation).strip() + "\n\n" if explanation else "")
            + "</details>"
        )
        return [
            md(f"### 练习 {number}：{title}\n\n" + dedent(statement).strip("\n")),
            code(stub),
            code(check, tags=[CHECK]),
            md(details),
        ]

    def verification_cells(self):
        """One hidden cell that runs every reference solution through its own self-check.

        Each solution runs inside its own function, so "Run All" never replaces the reader's
        answers (the names the reader defined stay theirs), and a failing reference answer
        raises instead of printing a hint.
        """
        functions, names = [], []
        for number, title, solution, check in self.items:
            check_lines = dedent(check).strip().splitlines()
            call = check_lines[-1]  # the check_answer(...) line
            if not call.startswith("check_answer("):
                raise ValueError(f"exercise {number}: the check must end with check_answer(...), got {call!r}")
            test = "\n".join(check_lines[:-1]).strip()
            body = f"{dedent(solution).strip()}\n\n{test}\n\nreturn {call}"
            name = f"reference_answer_{number}"
            functions.append(f'def {name}():\n    """练习 {number}：{title}"""\n' + indent(body, "    "))
            names.append(name)
        run = (f"for answer in ({', '.join(names)},):\n"
               '    assert answer() is True, f"reference solution fails its own check: {answer.__doc__}"')
        return [
            md(
                """
                ## 附：参考答案的自动校验

                下面这个（默认折叠的）代码格把每道练习的参考答案代入同一个自检函数。
                每个参考答案在自己的函数里运行，不会覆盖你在上面写的答案。
                本书的持续集成每次都会运行它，保证参考答案本身是对的。
                """
            ),
            code("\n\n\n".join(functions) + "\n\n\n" + run, tags=["hide-cell", CHECK]),
        ]


# The self-check helper lives in nnlib (one copy for every chapter).
CHECK_HELPER = "from nnlib.exercises import check_answer"


def build(name, cells, execute=True):
    """Write ``chapters/<name>.ipynb``: setup cell + ``cells``, executed, then stripped."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(booktools.KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.from_dict(booktools.setup_cell())] + list(cells)
    prefix = name.split("_")[0]
    for i, cell in enumerate(nb.cells[1:], start=1):
        cell["id"] = f"{prefix}-{i:03d}"  # stable ids: regenerating does not churn the diff
    # Citations, terms and section mentions → Markdown links that work in Colab and in the book.
    links.chapter_cells(name, nb.cells)
    path = ROOT / "chapters" / f"{name}.ipynb"
    if execute:
        from nbclient import NotebookClient

        start = time.perf_counter()
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
        print(f"{name}: executed in {time.perf_counter() - start:.1f} s")
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    print(f"  WARNING stderr in cell {i}: {out['text'][:300]!r}")
                if "image/png" in out.get("data", {}):  # figures, to look at: /tmp/figs/
                    import base64, os
                    os.makedirs("/tmp/figs", exist_ok=True)
                    with open(f"/tmp/figs/{prefix}_cell{i:02d}.png", "wb") as f:
                        f.write(base64.b64decode(out["data"]["image/png"]))
    clean = booktools.sync_notebook(nb)
    booktools.write_notebook(clean, path)
    problems = booktools.notebook_problems(booktools.read_notebook(path))
    for p in problems:
        print("  PROBLEM:", p)
    print(f"wrote {path.relative_to(ROOT)}")
    return nb  # the executed notebook (with all outputs), for inspection
