"""The hidden cell at the end of a chapter checks the reference answers without touching the reader's.

It runs after the reader's own cells on "Run All": it must not rebind a name the reader
defined, must print nothing but the verdicts, and must fail loudly when a reference answer
is wrong (nbgen builds it: book/build_chapters/nbgen.py).
"""

import ast
import contextlib
import io
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "build_chapters"))
import nbgen  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _exercises():
    ex = nbgen.Exercises()
    ex.add("平方", "写 `square(x)`。", "def square(x):\n    raise NotImplementedError\n",
           "def test_square():\n    return square(3) == 9, '3 的平方是 9'\n\n\ncheck_answer('练习 1', test_square)\n",
           "def square(x):\n    return x * x\n")
    return ex


def _run(source, namespace):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<verification cell>", "exec"), namespace)
    return out.getvalue()


def test_reference_answers_run_without_replacing_the_readers():
    from nnlib.exercises import check_answer

    cell = _exercises().verification_cells()[-1]
    readers_square = lambda x: x + x  # noqa: E731  (the reader's own, wrong, answer)
    namespace = {"check_answer": check_answer, "square": readers_square}
    printed = _run(cell.source, namespace)
    assert namespace["square"] is readers_square and "test_square" not in namespace
    assert printed == "练习 1：正确！\n"  # the verdict only: no stray True


def test_a_wrong_reference_answer_fails_the_cell():
    from nnlib.exercises import check_answer

    ex = _exercises()
    number, title, _, check = ex.items[0]
    ex.items[0] = (number, title, "def square(x):\n    return x + x\n", check)
    with pytest.raises(AssertionError, match="reference solution fails"):
        _run(ex.verification_cells()[-1].source, {"check_answer": check_answer})


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_verification_cell_defines_only_its_own_functions(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "check_answer(" in c.source
             and "hide-cell" in c.metadata.get("tags", [])]
    if not cells:
        pytest.skip("no exercises in this chapter")
    tree = ast.parse(cells[-1].source)
    bound = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            bound.add(node.name)
        elif not isinstance(node, ast.For):
            raise AssertionError(f"top-level statement {ast.dump(node)[:80]} in the verification cell")
    assert all(name.startswith("reference_answer_") for name in bound), bound
