"""Chapters are committed in their canonical form, and their shared setup cell does its job.

- every notebook in chapters/ is listed in _toc.yml and vice versa, and each is built from its
  source chapters/<name>.md (``make notebooks`` rebuilds them; a stale notebook fails here);
- every notebook is valid nbformat, without outputs or widget state, its first cell is the
  setup cell generated from book/booktools.py's template;
- the setup cell only imports locally, and in (simulated) Colab installs exactly this
  repository's nnlib at the book's version with ``--no-deps``, only when needed, and the CJK
  font with apt, quietly and only when it is missing.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import booktools  # noqa: E402

sys.path.insert(0, str(ROOT / "book" / "build_chapters"))
import links  # noqa: E402
import nbgen  # noqa: E402

NOTEBOOKS = booktools.chapter_notebooks()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _toc_files() -> list[str]:
    return booktools.toc_files()


def test_toc_lists_exactly_the_chapter_notebooks():
    listed = {f for f in _toc_files() if f.startswith("chapters/")}
    present = {f"chapters/{p.stem}" for p in NOTEBOOKS}
    assert listed == present, f"only in _toc.yml: {listed - present}; not in _toc.yml: {present - listed}"
    for f in _toc_files():
        assert list(ROOT.glob(f + ".*")), f"_toc.yml lists {f}, which does not exist"


def test_every_chapter_has_one_source_and_its_notebook():
    names = nbgen.chapter_names()
    sources = {p.stem for p in (ROOT / "chapters").glob("*.md")}
    assert sources == set(names), (f"sources not in _toc.yml: {sources - set(names)}; "
                                   f"chapters without a source: {set(names) - sources}")
    assert {p.stem for p in NOTEBOOKS} == set(names)


@pytest.mark.parametrize("name", nbgen.chapter_names())
def test_notebook_is_built_from_its_source(name):
    problems = nbgen.drift(name)
    assert not problems, (
        f"chapters/{name}.ipynb does not match its source chapters/{name}.md: " + "; ".join(problems[:5])
        + f" -> edit the .md (never the .ipynb) and run `make notebooks CHAPTERS={name}`")


def test_drift_is_detected(tmp_path, monkeypatch):
    name = nbgen.chapter_names()[0]
    text = nbgen.source_path(name).read_text(encoding="utf-8")
    edited = tmp_path / f"{name}.md"
    edited.write_text(text.replace("学完本章", "读完本章", 1), encoding="utf-8")
    monkeypatch.setattr(nbgen, "source_path", lambda n, root=ROOT: edited)
    assert nbgen.drift(name) == [f"cell 1 ({name.split('_')[0]}-001): differs"]


def test_stored_prints_do_not_depend_on_how_the_kernel_split_them():
    split = [{"output_type": "stream", "name": "stdout", "text": "a\n"},
             {"output_type": "stream", "name": "stdout", "text": ["b\n", "c\n"]},
             {"output_type": "stream", "name": "stderr", "text": "warn\n"},
             {"output_type": "stream", "name": "stdout", "text": "d\n"}]
    cell = {"cell_type": "code", "source": "", "metadata": {"tags": [booktools.CHECK_OUTPUT_TAG]},
            "outputs": split, "execution_count": 3}
    stored = booktools.strip_notebook({"cells": [cell], "metadata": {}})["cells"][0]["outputs"]
    assert [(o["name"], o["text"]) for o in stored] == [("stdout", "a\nb\nc\n"), ("stderr", "warn\n"),
                                                        ("stdout", "d\n")]


def test_version_and_repository_have_one_source():
    import nnlib

    assert booktools.read_version() == nnlib.__version__
    url, branch = booktools.read_repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    assert branch == CONFIG["repository"]["branch"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = booktools.read_notebook(path)
    nbformat.validate(nbformat.from_dict(nb))
    problems = booktools.notebook_problems(nb)
    assert not problems, f"{path.name}: " + "; ".join(problems) + " -> run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_widget_metadata_anywhere(path):
    text = path.read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-state+json" not in text
    assert "application/vnd.jupyter.widget-view+json" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_markdown_has_no_raw_myst(path):
    """Colab and Jupyter do not render MyST: a role such as {cite}`key` would show as typed.
    nbgen writes citations, terms and section references as Markdown links (links.py); the
    book build turns them back into checked references."""
    nb = booktools.read_notebook(path)
    raw = [f"cell {i}: {what}" for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "markdown"
           for what in links.raw_myst(booktools._source(cell))]
    assert not raw, (f"{path.name} shows raw MyST in Colab (rebuild it from its source: "
                     "make notebooks): " + "; ".join(raw))


def test_setup_cell_template():
    src = booktools.setup_cell_source()
    version = booktools.read_version()
    url, _ = booktools.read_repository()
    assert f'NNLIB_VERSION = "{version}"' in src
    assert f'NNLIB_REPO = "{url}"' in src
    assert 'f"nnlib-book @ git+{NNLIB_REPO}@v{NNLIB_VERSION}"' in src
    assert '"--no-deps"' in src
    assert "pip install nnlib" not in src  # the unrelated PyPI package
    assert len(src.splitlines()) <= 35, "keep the setup cell short"
    for line in src.splitlines():  # what Colab shows without scrolling (chapters/ruff.toml)
        width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)
        assert width <= 77, f"line too long for a notebook: {line!r}"
    compile(src, "<setup cell>", "exec")


# ----------------------------------------------------------------------------- running the cell
# The cell is executed in a fresh interpreter; `google.colab` and pip are simulated.
HARNESS = textwrap.dedent(
    """
    import json, subprocess, sys, types
    scenario = sys.argv[1]
    calls = []  # pip (check_call)
    runs = []   # other commands (run): the font check and install; fc-list finds no font in "colab-no-font"
    subprocess.check_call = lambda cmd, *a, **k: calls.append(list(cmd)) or 0
    found = b"" if scenario == "colab-no-font" else b"NotoSansCJK-Regular.ttc: Noto Sans CJK SC"
    real_run = subprocess.run
    def run(cmd, *a, **k):
        # Only the cell's own commands are recorded and faked. matplotlib runs fc-list itself when
        # nnlib.fonts scans the disk for a font its cached list lacks (a font installed after the
        # cache was built): that is matplotlib's business and runs for real.
        if sys._getframe(1).f_code.co_filename != "<setup cell>":
            return real_run(cmd, *a, **k)
        runs.append([cmd, k])
        return subprocess.CompletedProcess(cmd, 0, found, b"")
    subprocess.run = run
    if scenario != "local":
        sys.modules["google"] = types.ModuleType("google")
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    if scenario == "colab-missing":
        sys.modules["nnlib"] = None          # `import nnlib` raises ImportError
    elif scenario == "colab-other-version":
        fake = types.ModuleType("nnlib"); fake.__version__ = "0.0.0-other"
        sys.modules["nnlib"] = fake
    import matplotlib
    matplotlib.use("Agg")
    exec(compile(open(sys.argv[2], encoding="utf-8").read(), "<setup cell>", "exec"), {})
    import nnlib
    print(json.dumps({"calls": calls, "runs": runs, "version": nnlib.__version__,
                      "font": matplotlib.rcParams["font.sans-serif"][0],
                      "unicode_minus": matplotlib.rcParams["axes.unicode_minus"]}))
    """
)


def _run_setup_cell(tmp_path, scenario):
    cell = tmp_path / "cell.py"
    cell.write_text(booktools.setup_cell_source(), encoding="utf-8")
    harness = tmp_path / "harness.py"
    harness.write_text(HARNESS, encoding="utf-8")
    env = dict(os.environ, PYTHONWARNINGS="error::UserWarning")
    proc = subprocess.run(
        [sys.executable, str(harness), scenario, str(cell)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def test_setup_cell_locally_only_imports(tmp_path):
    printed, result = _run_setup_cell(tmp_path, "local")
    assert result["calls"] == [] and result["runs"] == []
    assert printed == [f"nnlib {booktools.read_version()}"]
    assert "CJK" in result["font"] or "Hei" in result["font"] or "Han" in result["font"]
    assert result["unicode_minus"] is False


@pytest.mark.parametrize("scenario", ["colab-missing", "colab-other-version"])
def test_setup_cell_in_colab_installs_this_repository(tmp_path, scenario):
    _printed, result = _run_setup_cell(tmp_path, scenario)
    assert len(result["calls"]) == 1, result["calls"]
    cmd = result["calls"][0]
    assert cmd[1:4] == ["-m", "pip", "install"]
    assert "--no-deps" in cmd
    url, _ = booktools.read_repository()
    assert f"nnlib-book @ git+{url}@v{booktools.read_version()}" in cmd
    requested = [a for a in cmd[4:] if not a.startswith("-")]
    for pkg in ("torch", "numpy", "matplotlib", "ipywidgets", "nnlib"):
        assert not any(re.match(rf"{pkg}\b(?!-book)", a) for a in requested), (pkg, requested)
    assert result["version"] == booktools.read_version()  # the freshly "installed" one is imported


def test_setup_cell_in_colab_is_idempotent(tmp_path):
    _printed, result = _run_setup_cell(tmp_path, "colab-installed")
    assert result["calls"] == [], "nnlib of the right version is present: nothing to install"
    assert [cmd for cmd, _ in result["runs"]] == ["fc-list 'Noto Sans CJK SC'"], "the font is there: no apt"


def test_setup_cell_in_colab_installs_a_missing_font_quietly(tmp_path):
    printed, result = _run_setup_cell(tmp_path, "colab-no-font")
    (check, check_kwargs), (install, install_kwargs) = result["runs"]
    assert check == "fc-list 'Noto Sans CJK SC'"
    assert install == "apt-get -qq update && apt-get -qq install -y fonts-noto-cjk"
    assert check_kwargs["capture_output"] and install_kwargs["capture_output"]  # nothing printed
    assert printed == [f"nnlib {booktools.read_version()}"]


# ----------------------------------------------------------------------------- tooling
def _dirty_notebook() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["colab"] = {"provenance": []}
    nb.metadata["kernelspec"] = {"name": "conda-env-x", "display_name": "x", "language": "python"}
    run = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                    metadata={"colab": {"base_uri": "x"}, "scrolled": True})
    run.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    widget = nbformat.v4.new_code_cell("w", execution_count=4)
    widget.outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "a"},
                              "text/plain": "IntSlider()"})]
    checked = nbformat.v4.new_code_cell("print(2)", execution_count=5,
                                        metadata={"tags": ["nbval-check-output"]})
    checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# 标题"), run, widget, checked]
    return json.loads(nbformat.writes(nb))


def test_sync_makes_a_dirty_notebook_clean():
    dirty = _dirty_notebook()
    assert booktools.notebook_problems(dirty)
    clean = booktools.sync_notebook(dirty)
    assert booktools.notebook_problems(clean) == []
    nbformat.validate(nbformat.from_dict(clean))
    assert clean["cells"][0]["id"] == booktools.SETUP_CELL_ID
    assert "widgets" not in clean["metadata"] and "colab" not in clean["metadata"]
    assert clean["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in clean["cells"][1:] if c["cell_type"] == "code"]
    assert [c["outputs"] for c in code[:2]] == [[], []]
    assert "".join(code[2]["outputs"][0]["text"]) == "2\n"  # compared by nbval: kept
    assert [c["execution_count"] for c in code] == [None, None, 4]  # nbval needs a count (setup cell is 1)
    # Idempotent, and an outdated setup cell is replaced rather than duplicated.
    assert booktools.sync_notebook(clean) == clean
    stale = json.loads(json.dumps(clean))
    stale["cells"][0]["source"] = stale["cells"][0]["source"].replace(booktools.read_version(), "0.0.1")
    assert booktools.notebook_problems(stale)
    assert booktools.sync_notebook(stale) == clean


def test_nbval_sanitize_file():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "book" / "nbval_sanitize.cfg", encoding="utf-8")
    assert parser.sections()

    def sanitize(text):
        for section in parser.sections():
            text = re.sub(parser[section]["regex"], parser[section]["replace"], text)
        return text

    assert sanitize("用时 0.0123 s") == sanitize("用时 1.5 s")
    assert sanitize("耗时 12 毫秒") == sanitize("耗时 3 毫秒")
    assert sanitize("<object at 0x7f3a2b>") == sanitize("<object at 0x55aa11>")
    fast, slow = "100%|██| 50/50 [00:01<00:00, 41.2it/s]", "100%|██| 50/50 [00:02<00:00, 24.9it/s]"
    assert sanitize(fast) == sanitize(slow)
    # Numbers a reader is told to expect are not hidden.
    assert sanitize("准确率 0.953，10 steps") == "准确率 0.953，10 steps"
