"""Book tooling: the chapters' setup cell, notebook stripping, and a small Sphinx extension.

Command line (run from anywhere; paths are relative to the repository root)::

    python book/booktools.py sync            # rewrite every chapter's first cell + strip outputs
    python book/booktools.py check           # exit 1 and list problems if a notebook is not clean
    python book/booktools.py setup-cell      # print the setup cell's source

The setup cell is generated from one template (``SETUP_CELL_TEMPLATE``) with the
repository URL from ``_config.yml`` (``repository.url``) and the version from
``nnlib/_version.py``, so the book and the library it installs in Colab never drift.

As a Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``) it sets the
Sphinx ``version``/``release`` and the MyST substitution ``{{ nnlib_version }}`` from
``nnlib/_version.py``, builds the jieba user dictionary for Chinese search from the
glossary, and warns (an error under ``-W``) when a chapter's setup cell is stale.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
SETUP_CELL_ID = "nnlib-setup"
# remove-cell: the web page starts with the chapter title; the cell still runs when the book
# is built (fonts for the figures) and is the first thing a reader sees in Colab/Jupyter.
SETUP_CELL_TAGS = ["remove-cell"]
#: Tag of cells whose stored outputs nbval compares (kept when stripping).
CHECK_OUTPUT_TAG = "nbval-check-output"

# Packages Colab ships and the setup cell must never reinstall or upgrade there.
COLAB_PROVIDED = {"numpy", "torch", "matplotlib", "ipywidgets", "scipy", "scikit-learn", "pandas"}

SETUP_CELL_TEMPLATE = '''\
# 环境准备（每章第一格都相同，可重复运行）。本地：只导入 nnlib 并设置图中的中文字体。
# Colab：先安装与本书同版本的 nnlib（本仓库的 nnlib-book，而不是 PyPI 上无关的同名包 nnlib），
# 用 --no-deps 安装，绝不升级 Colab 自带的 torch、numpy、matplotlib、ipywidgets。
import sys

NNLIB_VERSION = "{version}"
NNLIB_REPO = "{repo_url}"
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    try:
        import nnlib
        _ok = getattr(nnlib, "__version__", None) == NNLIB_VERSION
    except ImportError:
        _ok = False
    if not _ok:
        import subprocess
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--no-deps",{extra_deps}
                               f"nnlib-book @ git+{{NNLIB_REPO}}@v{{NNLIB_VERSION}}"])
        for _m in [m for m in sys.modules if m == "nnlib" or m.startswith("nnlib.")]:
            del sys.modules[_m]
import nnlib
from nnlib.plotting import use_chinese_font

use_chinese_font(install=IN_COLAB)  # Colab 没有中文字体：自动 apt 安装 fonts-noto-cjk
print("nnlib", nnlib.__version__)'''


# ----------------------------------------------------------------------------- sources of truth
def read_version(root: Path = ROOT) -> str:
    """The one version string of book and library, read from ``nnlib/_version.py``."""
    text = (root / "nnlib" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", text, re.MULTILINE)
    if not match:
        raise RuntimeError("no __version__ = '...' line in nnlib/_version.py")
    return match.group(1)


def read_config(root: Path = ROOT) -> dict:
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def read_repository(root: Path = ROOT) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository:`` section (the one place they live)."""
    repo = read_config(root)["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def _runtime_dependencies(root: Path = ROOT) -> list[str]:
    """nnlib's install requirements from pyproject.toml, minus what Colab already ships."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    deps = []
    for req in data["project"].get("dependencies", []):
        name = re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0].strip().lower()
        if name not in COLAB_PROVIDED:
            deps.append(req)
    return deps


def setup_cell_source(root: Path = ROOT) -> str:
    """The exact source of every notebook's first cell."""
    repo_url, _branch = read_repository(root)
    indent = " " * 31  # aligns with the first argument of check_call([...
    extra = "".join(f'\n{indent}"{d}",' for d in _runtime_dependencies(root))
    return SETUP_CELL_TEMPLATE.format(version=read_version(root), repo_url=repo_url, extra_deps=extra)


def setup_cell(root: Path = ROOT) -> dict:
    """The setup cell as an nbformat v4 cell dict (no outputs)."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": SETUP_CELL_ID,
        "metadata": {"tags": list(SETUP_CELL_TAGS)},
        "outputs": [],
        "source": setup_cell_source(root),
    }


# ----------------------------------------------------------------------------- stripping
NOTEBOOK_METADATA_KEYS = {"kernelspec", "language_info", "mystnb"}
CELL_METADATA_KEYS = {"tags", "mystnb"}
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_notebook(nb: dict) -> dict:
    """Return a copy of ``nb`` as it must be committed.

    Outputs and execution counts are removed, except the outputs of cells tagged
    ``nbval-check-output`` (nbval compares them); notebook metadata is reduced to
    the kernelspec (python3), ``language_info.name`` and ``mystnb``; cell metadata
    keeps only ``tags`` and ``mystnb`` (no widget state, no Colab/VS Code/Jupyter UI state).
    """
    nb = copy.deepcopy(nb)
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k in NOTEBOOK_METADATA_KEYS}
    meta["kernelspec"] = dict(KERNELSPEC)
    meta["language_info"] = {"name": "python"}
    nb["metadata"] = meta
    code_index = 0
    for cell in nb.get("cells", []):
        cell["metadata"] = {
            k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA_KEYS and v
        }
        cell["source"] = _source(cell)
        if not cell.get("attachments"):
            cell.pop("attachments", None)
        if cell["cell_type"] != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        code_index += 1
        cell["execution_count"] = None
        if CHECK_OUTPUT_TAG in cell["metadata"].get("tags", []):
            # nbval skips (and with outputs, fails) a reference cell whose execution_count is
            # null, so checked cells get a count: their position among code cells, which is
            # deterministic and what a top-to-bottom run shows.
            kept = []
            for out in cell.get("outputs", []):
                out = dict(out)
                if "execution_count" in out:
                    out["execution_count"] = code_index
                if "data" in out:
                    out["data"] = {k: v for k, v in out["data"].items() if k != WIDGET_MIME}
                    if not out["data"]:
                        continue
                kept.append(out)
            cell["outputs"] = kept
            cell["execution_count"] = code_index if kept else None
        else:
            cell["outputs"] = []
    return nb


def sync_notebook(nb: dict, root: Path = ROOT) -> dict:
    """Strip ``nb`` and make its first cell the current setup cell (replace or insert)."""
    nb = copy.deepcopy(nb)
    cells = nb.setdefault("cells", [])
    first = cells[0] if cells else None
    if first is not None and (
        first.get("id") == SETUP_CELL_ID or _source(first).startswith(SETUP_CELL_TEMPLATE[:12])
    ):
        cells[0] = setup_cell(root)
    else:
        cells.insert(0, setup_cell(root))
    # Cell ids must stay unique (nbformat >= 4.5).
    seen = {SETUP_CELL_ID}
    for i, cell in enumerate(cells[1:], start=1):
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = f"cell-{i}"
        seen.add(cell["id"])
    nb["nbformat"], nb["nbformat_minor"] = 4, max(5, nb.get("nbformat_minor", 5))
    return strip_notebook(nb)  # last: execution counts depend on the cells' final positions


def notebook_problems(nb: dict, root: Path = ROOT) -> list[str]:
    """Human-readable reasons why ``nb`` is not in its committed form (empty if clean)."""
    problems = []
    cells = nb.get("cells", [])
    if not cells or _source(cells[0]) != setup_cell_source(root):
        problems.append("first cell is not the current setup cell (run: python book/booktools.py sync)")
    elif cells[0].get("id") != SETUP_CELL_ID or cells[0].get("metadata", {}).get("tags") != SETUP_CELL_TAGS:
        problems.append(f"setup cell must have id {SETUP_CELL_ID!r} and tags {SETUP_CELL_TAGS}")
    if "widgets" in nb.get("metadata", {}):
        problems.append("notebook metadata holds widget state ('widgets')")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec name must be 'python3'")
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code":
            if cell.get("outputs") and CHECK_OUTPUT_TAG not in tags:
                problems.append(f"cell {i} has outputs but is not tagged {CHECK_OUTPUT_TAG!r}")
            if cell.get("execution_count") is not None and CHECK_OUTPUT_TAG not in tags:
                problems.append(f"cell {i} has an execution count")
            if CHECK_OUTPUT_TAG in tags and cell.get("outputs") and cell.get("execution_count") is None:
                problems.append(f"cell {i} is checked by nbval but has no execution count")
            for out in cell.get("outputs", []):
                if WIDGET_MIME in out.get("data", {}):
                    problems.append(f"cell {i} stores a widget view output")
            if CHECK_OUTPUT_TAG in tags and not cell.get("outputs"):
                problems.append(f"cell {i} is tagged {CHECK_OUTPUT_TAG!r} but has no stored output to compare")
    if not problems and strip_notebook(nb) != _normalised(nb):
        problems.append("notebook carries metadata that strip_notebook removes (run: python book/booktools.py sync)")
    return problems


def _normalised(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        cell["source"] = _source(cell)
    return nb


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_notebook(nb: dict, path: Path) -> None:
    """Write like Jupyter does (1-space indent, sorted keys, UTF-8 kept, final newline)."""
    import nbformat

    node = nbformat.from_dict(nb)
    nbformat.validate(node)
    Path(path).write_text(nbformat.writes(node) + "\n", encoding="utf-8")


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "chapters").glob("*.ipynb"))


# ----------------------------------------------------------------------------- glossary -> search
def glossary_terms(root: Path = ROOT) -> list[str]:
    """Terms defined in glossary.md's ``{glossary}`` block (lines with no indentation)."""
    terms, inside = [], False
    path = root / "glossary.md"
    if not path.exists():
        return terms
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^(```|:::)\{glossary\}", line):
            inside = True
            continue
        if inside and re.match(r"^(```|:::)\s*$", line):
            inside = False
            continue
        if inside and line.strip() and not line[0].isspace() and not line.startswith(":"):
            terms.append(line.strip())
    return terms


def search_dictionary_words(root: Path = ROOT) -> list[str]:
    """Words jieba must keep whole when indexing and searching (glossary + book/search_terms.txt)."""
    words = [t for t in glossary_terms(root) if re.search(r"[\u4e00-\u9fff]", t)]
    extra = root / "book" / "search_terms.txt"
    if extra.exists():
        for line in extra.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                words.append(line)
    return sorted(set(w for w in words if " " not in w))


# ----------------------------------------------------------------------------- Sphinx extension
def _config_inited(app, config) -> None:
    root = Path(app.confdir)
    version = read_version(root)
    config.version = config.release = version
    subs = dict(config.myst_substitutions or {})
    subs.setdefault("nnlib_version", version)
    subs.setdefault("repo_url", read_repository(root)[0])
    config.myst_substitutions = subs
    # jieba user dictionary: book terms are indexed whole, so a query such as 反向传播 matches.
    words = search_dictionary_words(root)
    if words:
        dict_path = Path(app.doctreedir).parent / "jieba_userdict.txt"
        dict_path.parent.mkdir(parents=True, exist_ok=True)
        dict_path.write_text("".join(f"{w} 1000 n\n" for w in words), encoding="utf-8")
        options = dict(config.html_search_options or {})
        options["dict"] = str(dict_path)
        config.html_search_options = options


def _check_setup_cells(app, env, docnames) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    root = Path(app.confdir)
    for path in chapter_notebooks(root):
        for problem in notebook_problems(read_notebook(path), root):
            logger.warning("%s: %s", path.relative_to(root), problem, type="nnlib_book")


def documented_modules(root: Path = ROOT) -> list[str]:
    """Modules api.md renders with automodule."""
    text = (root / "api.md").read_text(encoding="utf-8")
    return re.findall(r"^\.\. automodule::\s*(\S+)", text, re.MULTILINE)


def _public_classes(modules: list[str]) -> set:
    import importlib

    public = set()
    for name in modules:
        mod = importlib.import_module(name)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, o in vars(mod).items() if getattr(o, "__module__", None) == name]
        public.update(o for o in (getattr(mod, n, None) for n in names) if isinstance(o, type))
    return public


def _process_bases(app, name, obj, options, bases) -> None:
    """Show only documented bases: an undocumented nnlib base (e.g. a shared ``RNNBase``) is
    replaced by its own bases, so "Bases:" always links somewhere (and -n stays quiet)."""
    if not hasattr(app, "_nnlib_public_classes"):
        app._nnlib_public_classes = _public_classes(documented_modules(Path(app.confdir)))
    public = app._nnlib_public_classes

    def expand(base):
        if base.__module__.split(".")[0] != "nnlib" or base in public:
            return [base]
        return [b for parent in base.__bases__ for b in expand(parent)]

    new = []
    for base in bases:
        for b in expand(base):
            if b not in new:
                new.append(b)
    bases[:] = new


def setup(app):
    app.connect("autodoc-process-bases", _process_bases)
    # After MathJax 3 (priority 500, defer): lets ipywidgets' HTML manager typeset widget labels.
    app.add_js_file("nnlib-book/mathjax2-widget-shim.js", priority=510, defer="defer")
    app.connect("config-inited", _config_inited)
    app.connect("env-before-read-docs", _check_setup_cells)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_sync = sub.add_parser("sync", help="rewrite setup cells and strip outputs/metadata in place")
    p_sync.add_argument("paths", nargs="*", type=Path, help="notebooks (default: chapters/*.ipynb)")
    p_check = sub.add_parser("check", help="report notebooks that are not in committed form")
    p_check.add_argument("paths", nargs="*", type=Path)
    sub.add_parser("setup-cell", help="print the setup cell's source")
    args = parser.parse_args(argv)

    if args.cmd == "setup-cell":
        print(setup_cell_source())
        return 0
    paths = args.paths or chapter_notebooks()
    status = 0
    for path in paths:
        nb = read_notebook(path)
        if args.cmd == "sync":
            new = sync_notebook(nb)
            if new != nb:
                write_notebook(new, path)
                print(f"updated {path}")
        else:
            for problem in notebook_problems(nb):
                print(f"{path}: {problem}")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
