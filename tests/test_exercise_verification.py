"""The hidden cell at the end of a chapter checks the reference answers without touching the reader's.

It runs after the reader's own cells on "Run All": it must not rebind a name the reader
defined, must print nothing but the verdicts, and must fail loudly when a reference answer
is wrong (book/build_chapters/nbgen.py builds it from the exercises in chapters/*.md).
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


SOURCE = """\
### 练习 1：平方

写 `square(x)`。

```{code-cell} ipython3
def square(x):
    raise NotImplementedError
```

```{code-cell} ipython3
:tags: [nbval-check-output]

def test_square():
    return square(3) == 9, "3 的平方是 9"


check_answer("练习 1", test_square)
```

```{code-cell} ipython3
:tags: [solution]

def square(x):
    return x * x
```

+++ {"tags": ["solution"]}

因为 $x^2 = x \\cdot x$。
"""


def _cells(source=SOURCE):
    return nbgen.source_cells("test", source)


def _verification_source(solution="def square(x):\n    return x * x"):
    return _cells(SOURCE.replace("def square(x):\n    return x * x", solution))[-1].source


def _run(source, namespace):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<verification cell>", "exec"), namespace)
    return out.getvalue()


def test_reference_answers_run_without_replacing_the_readers():
    from nnlib.exercises import check_answer

    cell_source = _verification_source()
    readers_square = lambda x: x + x  # noqa: E731  (the reader's own, wrong, answer)
    namespace = {"check_answer": check_answer, "square": readers_square}
    printed = _run(cell_source, namespace)
    assert namespace["square"] is readers_square and "test_square" not in namespace
    assert printed == "练习 1：正确！\n"  # the verdict only: no stray True


def test_a_wrong_reference_answer_fails_the_cell():
    from nnlib.exercises import check_answer

    with pytest.raises(AssertionError, match="reference solution fails"):
        _run(_verification_source("def square(x):\n    return x + x"), {"check_answer": check_answer})


def test_the_solution_is_written_once_and_shown_collapsed():
    cells = _cells()
    kinds = [(c.cell_type, c.metadata.get("tags", [])) for c in cells]
    assert kinds == [("markdown", []), ("code", []), ("code", ["nbval-check-output"]),
                     ("markdown", []), ("markdown", []), ("code", ["hide-cell", "nbval-check-output"])]
    details = cells[3].source
    assert details.startswith("<details><summary>参考答案（练习 1）</summary>")
    assert "```python\ndef square(x):\n    return x * x\n```" in details
    assert "因为 $x^2" in details and details.endswith("</details>")
    assert "def reference_answer_1():\n    \"\"\"练习 1：平方\"\"\"" in cells[-1].source


@pytest.mark.parametrize("broken, message", [
    (SOURCE.replace("### 练习 1：平方", "### 练习 2：平方"), "without a preceding '### 练习 1"),
    (SOURCE.replace("### 练习 1：平方", "### 平方"), "without a preceding '### 练习 1"),
    (SOURCE.replace(":tags: [nbval-check-output]\n", ""), "needs a self-check cell"),
    (SOURCE.replace(":tags: [solution]\n", ""), "a Markdown 'solution' cell must follow"),
])
def test_a_source_that_breaks_the_exercise_convention_is_refused(broken, message):
    with pytest.raises(nbgen.SourceError, match=message):
        _cells(broken)


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
