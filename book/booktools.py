"""Book tooling: the chapters' setup cell, notebook stripping, and a small Sphinx extension.

Command line (run from anywhere; paths are relative to the repository root)::

    python book/booktools.py check           # exit 1 and list problems if a notebook is not clean
    python book/booktools.py setup-cell      # print the setup cell's source

The setup cell is generated from one template (``SETUP_CELL_TEMPLATE``) with the
repository URL from ``_config.yml`` (``repository.url``) and the version from
``nnlib/_version.py``, so the book and the library it installs in Colab never drift.

As a Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``) it sets the
Sphinx ``version``/``release`` and the MyST substitution ``{{ nnlib_version }}`` from
``nnlib/_version.py``, builds the jieba user dictionary for Chinese search from the
glossary, and warns (an error under ``-W``) when a chapter's setup cell is stale.

It also turns the notebooks' links to the published book (written by nbgen, see
``book/build_chapters/links.py``) back into references Sphinx checks, before MyST parses a
page (``source-read``, which receives a notebook as its JSON text): a citation link becomes
``{cite:p}``/``{cite:t}`` (sphinxcontrib-bibtex, in the book's Chinese author–year style), a
section link ``{ref}`` to the label ``sec-3-2-5`` that is put before the heading
"3.2.5 …" — the label is also the heading's HTML id, so the notebook's link lands on it — and
a glossary link ``{term}``. An unknown key, section or term fails ``jupyter-book build -W -n``.
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
# 环境准备（每章第一格都相同，可重复运行）。本地只导入 nnlib、设置中文字体。
# Colab：装与本书同版本的 nnlib-book（不是 PyPI 上无关的 nnlib），
# --no-deps：不升级 Colab 自带的 torch、numpy、matplotlib、ipywidgets。
import gc
import sys

gc.set_threshold(50_000, 20, 20)  # 导入 torch 等大库时少做几百次垃圾回收
NNLIB_VERSION = "{version}"
NNLIB_REPO = "{repo_url}"
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    import subprocess
    try:
        import nnlib
        _ok = getattr(nnlib, "__version__", None) == NNLIB_VERSION
    except ImportError:
        _ok = False
    if not _ok:
        subprocess.check_call([
            sys.executable, "-m", "pip", "install", "-q", "--no-deps",{extra_deps}
            f"nnlib-book @ git+{{NNLIB_REPO}}@v{{NNLIB_VERSION}}"])
        for _m in [m for m in sys.modules if m.split(".")[0] == "nnlib"]:
            del sys.modules[_m]
    # Colab 没有中文字体：缺少时安静地装上（装好即可用，无需重启）
    _fc = "fc-list 'Noto Sans CJK SC'"
    if not subprocess.run(_fc, shell=True, capture_output=True).stdout:
        _apt = "apt-get -qq update && apt-get -qq install -y fonts-noto-cjk"
        subprocess.run(_apt, shell=True, capture_output=True)
import nnlib
from nnlib.fonts import use_chinese_font

use_chinese_font()
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


def book_url(root: Path = ROOT) -> str:
    """The published book's address, derived from ``repository.url`` (GitHub Pages of that repository).

    ``https://github.com/OWNER/REPO`` is published at ``https://owner.github.io/REPO``
    (``.github/workflows/book.yml`` uploads ``_build/html`` as the Pages site); a repository
    named ``OWNER.github.io`` is published at the domain's root.
    """
    url, _branch = read_repository(root)
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?", url)
    if not match:
        raise ValueError(f"repository.url in _config.yml is not a GitHub repository URL: {url!r}")
    owner, repo = match.group(1).lower(), match.group(2)
    if repo.lower() == f"{owner}.github.io":
        return f"https://{owner}.github.io"
    return f"https://{owner}.github.io/{repo}"


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
    indent = " " * 12  # the arguments of check_call([...
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
            for out in _merged_streams(cell.get("outputs", [])):
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


def _merged_streams(outputs: list) -> list:
    """Consecutive prints to the same stream as one output. How the kernel splits a cell's text
    into messages depends on timing; nbval joins them before comparing, so the stored form does too."""
    merged = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            merged[-1] = dict(prev, text=_source({"source": prev["text"]}) + _source({"source": out["text"]}))
        else:
            merged.append(out)
    return merged


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
        problems.append("first cell is not the current setup cell (run: make notebooks)")
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
                problems.append(f"cell {i} is tagged {CHECK_OUTPUT_TAG!r} "
                                "but has no stored output to compare")
    if not problems and strip_notebook(nb) != _normalised(nb):
        problems.append("notebook carries metadata that strip_notebook removes (run: make notebooks)")
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


def toc_files(root: Path = ROOT) -> list[str]:
    """Every page listed in _toc.yml, in reading order, without its suffix."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


# ----------------------------------------------------------------------------- glossary -> search
def glossary_terms(root: Path = ROOT) -> list[str]:
    """Terms defined in glossary.md's ``{glossary}`` block (every term of every entry)."""
    return [term for entry in glossary_entries(root) for term in entry]


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


# ----------------------------------------------------------------------------- book links
# Chapter scripts write citations as {cite}`key` and section references as plain text ("3.2.5 节").
# nbgen (book/build_chapters/links.py) turns both into ordinary Markdown links to the published
# book, which read well and work in Colab and Jupyter; in the book build, the source-read handler
# below turns those links back into a citation role and a reference to a label, which Sphinx
# resolves and checks (an unknown key or section fails `jupyter-book build -W -n`).
# Both directions use the names defined here.
BIBLIOGRAPHY_PAGE = "bibliography"
GLOSSARY_PAGE = "glossary"
#: ``bibtex_cite_id``: the id of each entry on the bibliography page (set in ``_config_inited``).
CITE_ID = "cite-{key}"
#: Label (and HTML id) of the numbered section "3.2.5" is "sec-3-2-5"; chapter "1" is "sec-1".
SECTION_LABEL_PREFIX = "sec-"

#: How a citation reads, in the book (``ZhAuthorYearStyle``) and in the notebooks (links.py):
#: （He 等，2015）, （McCulloch 与 Pitts，1943；Rosenblatt，1958）, textual He 等（2015）.
CITE_STYLE = {
    "and": " 与 ",  # two authors
    "et_al": " 等",  # three or more: the first author only
    "author_year": "，",
    "open": "（",
    "close": "）",
    "between": "；",  # several works in one parenthetical citation
    "textual_between": "、",  # several works in one textual citation
}

_HEADING_LINE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING_NUMBER = re.compile(r"^(?:第\s*(\d+)\s*章|(\d+(?:\.\d+)+))(?=\s|$)")


def heading_number(title: str) -> str | None:
    """Section number a heading starts with: "3.2.5 梯度…" → "3.2.5", "第1章 背景介绍" → "1"."""
    match = _HEADING_NUMBER.match(title.strip())
    if not match:
        return None
    return match.group(1) or match.group(2)


def section_label(number: str) -> str:
    """Label and HTML id of a numbered section: "3.2.5" → "sec-3-2-5"."""
    if not re.fullmatch(r"\d+(\.\d+)*", number):
        raise ValueError(f"not a section number: {number!r}")
    return SECTION_LABEL_PREFIX + number.replace(".", "-")


def markdown_lines_outside_fences(text: str):
    """``(index, line)`` of the lines of ``text`` that are not inside a fenced code block."""
    fence = None
    for i, line in enumerate(text.split("\n")):
        if fence is None:
            match = _FENCE_OPEN.match(line)
            if match:
                fence = match.group(1)
                continue
            yield i, line
        elif re.match(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$", line):
            fence = None


def markdown_headings(text: str) -> list[tuple[int, int, str]]:
    """``(line index, level, title)`` of the ATX headings of a Markdown text (not in code blocks)."""
    found = []
    for i, line in markdown_lines_outside_fences(text):
        match = _HEADING_LINE.match(line)
        if match:
            found.append((i, len(match.group(1)), match.group(2)))
    return found


def numbered_sections(text: str) -> list[tuple[str, str]]:
    """``(number, title)`` of the headings of ``text`` that start with a section number."""
    return [(n, title) for _i, _level, title in markdown_headings(text) if (n := heading_number(title))]


def _link_patterns(base: str) -> dict:
    b = re.escape(base.rstrip("/"))
    text = r"\[(?P<text>[^\[\]\n]+)\]"
    key = r"(?P<key>[^)#\s]+)"
    cite = text + rf"\({b}/{BIBLIOGRAPHY_PAGE}\.html#" + CITE_ID.format(key=key) + r"\)"
    plain_cite = cite.replace("?P<text>", "?:").replace("?P<key>", "?:")
    return {
        "cite_group": re.compile(
            re.escape(CITE_STYLE["open"])
            + f"(?P<links>{plain_cite}(?:{re.escape(CITE_STYLE['between'])}{plain_cite})*)"
            + re.escape(CITE_STYLE["close"])
        ),
        "cite": re.compile(cite),
        "section": re.compile(
            text + rf"\({b}/(?P<page>[\w/-]+)\.html#(?P<label>{SECTION_LABEL_PREFIX}\d+(?:-\d+)*)\)"
        ),
        "term": re.compile(text + rf"\({b}/{GLOSSARY_PAGE}\.html#(?P<anchor>[^)\s]+)\)"),
        "any": re.compile(rf"{b}/[^)\s]*"),
    }


def glossary_entries(root: Path = ROOT) -> list[list[str]]:
    """The glossary's entries, each a list of its terms (Chinese first, then English and aliases)."""
    entries, inside, current = [], False, None
    path = root / "glossary.md"
    if not path.exists():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^(```|:::)\{glossary\}", line):
            inside = True
            continue
        if inside and re.match(r"^(```|:::)\s*$", line):
            inside = False
            continue
        if not inside or not line.strip() or line.startswith(":"):
            continue
        if line[0].isspace():
            current = None  # the definition ends the entry's list of terms
        else:
            if current is None:
                current = []
                entries.append(current)
            current.append(line.strip())
    return entries


def term_anchor(term: str) -> str | None:
    """The HTML id Sphinx gives a glossary term (``term-backpropagation``); None for a term that
    has no ASCII letters (Sphinx numbers those ids, so they are not stable)."""
    from sphinx.util.nodes import _make_id

    node_id = _make_id(f"term-{term}")
    return None if node_id == "term" else node_id


def glossary_anchor(term: str, root: Path = ROOT) -> tuple[str, str]:
    """``(term, anchor)`` for a term of the glossary (Chinese or English, any case): the anchor is
    that of the entry's first term with a stable id (its English name)."""
    for entry in glossary_entries(root):
        if any(t.lower() == term.lower() for t in entry):
            for t in entry:
                anchor = term_anchor(t)
                if anchor:
                    return t, anchor
            raise ValueError(f"glossary entry {entry} has no English term, so no stable anchor")
    raise ValueError(f"{term!r} is not a term of glossary.md")


def links_to_myst(markdown: str, base: str, root: Path = ROOT) -> tuple[str, list, list]:
    """Turn the notebook links nbgen wrote back into MyST for the book build.

    Returns ``(markdown, section_refs, problems)``: citation links become ``{cite:p}``/``{cite:t}``
    roles, section links ``{ref}`` roles (``section_refs`` lists ``(label, page)`` so the page
    the link names can be checked), glossary links ``{term}`` roles, and a label ``(sec-…)=`` is
    put before every numbered heading. ``problems`` lists links to the book that are none of these.
    """
    pats = _link_patterns(base)
    lines = markdown.split("\n")
    outside = dict(markdown_lines_outside_fences(markdown))
    section_refs, problems = [], []
    terms = {}

    def cite_group(m):
        keys = [k.group("key") for k in pats["cite"].finditer(m.group("links"))]
        return "{cite:p}`" + ",".join(keys) + "`"

    def section(m):
        section_refs.append((m.group("label"), m.group("page")))
        return "{ref}`" + m.group("text") + " <" + m.group("label") + ">`"

    def term(m):
        if not terms:
            for entry in glossary_entries(root):
                for t in entry:
                    if term_anchor(t):
                        terms.setdefault(term_anchor(t), t)
        target = terms.get(m.group("anchor"))
        if target is None:
            problems.append(f"glossary link to an anchor no term has: {m.group(0)}")
            return m.group(0)
        return "{term}`" + m.group("text") + " <" + target + ">`"

    out = []
    for i, line in enumerate(lines):
        if i in outside:
            heading = _HEADING_LINE.match(line)
            number = heading and heading_number(heading.group(2))
            if number:
                if out and out[-1].strip():
                    out.append("")  # a label starts a block; it must not continue a paragraph
                out.append(f"({section_label(number)})=")
            line = pats["cite_group"].sub(cite_group, line)
            line = pats["cite"].sub(lambda m: "{cite:t}`" + m.group("key") + "`", line)
            line = pats["section"].sub(section, line)
            line = pats["term"].sub(term, line)
            problems += [f"link to the published book that is not a citation, section or glossary term: {u}"
                         for u in pats["any"].findall(line)]
        out.append(line)
    return "\n".join(out), section_refs, problems


def _is_notebook_json(text: str) -> bool:
    return text.lstrip().startswith("{") and '"cells"' in text


def _source_read(app, docname, source) -> None:
    """Book links of the notebooks (and Markdown pages) → MyST roles, before MyST parses them."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    root = Path(app.confdir)
    base = book_url(root)
    text = source[0]
    notebook = _is_notebook_json(text)
    if not notebook and base not in text:
        return
    refs, problems = [], []
    if notebook:
        nb = json.loads(text)
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                new, r, p = links_to_myst(_source(cell), base, root)
                cell["source"] = new
                refs += r
                problems += p
        source[0] = json.dumps(nb, ensure_ascii=False)
    else:
        source[0], refs, problems = links_to_myst(text, base, root)
    for problem in problems:
        logger.warning(problem, location=docname, type="nnlib_book", subtype="link")
    if refs:
        if not hasattr(app.env, "nnlib_section_refs"):
            app.env.nnlib_section_refs = {}
        app.env.nnlib_section_refs[docname] = refs


def _purge_section_refs(app, env, docname) -> None:
    getattr(env, "nnlib_section_refs", {}).pop(docname, None)


def _merge_section_refs(app, env, docnames, other) -> None:
    if not hasattr(env, "nnlib_section_refs"):
        env.nnlib_section_refs = {}
    env.nnlib_section_refs.update(getattr(other, "nnlib_section_refs", {}))


def _check_section_refs(app, env) -> None:
    """A section link names the page it points to (the notebook reader follows that URL):
    warn when the label lives on another page. A label that does not exist at all is
    reported by Sphinx itself (undefined label)."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    labels = env.get_domain("std").labels
    for docname, refs in sorted(getattr(env, "nnlib_section_refs", {}).items()):
        for label, page in refs:
            if label in labels and labels[label][0] != page:
                logger.warning("link to %s names page %s, but that section is on %s",
                               label, page, labels[label][0], location=docname,
                               type="nnlib_book", subtype="link")


def _register_citation_style() -> str:
    """Register the book's author–year citation style (Chinese separators) with sphinxcontrib-bibtex."""
    from dataclasses import dataclass, field

    import sphinxcontrib.bibtex.plugin
    from sphinxcontrib.bibtex.style.referencing import BracketStyle, PersonStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    s = CITE_STYLE

    def parenthetical():
        return BracketStyle(left=s["open"], right=s["close"], sep=s["between"])

    def textual():
        return BracketStyle(left=s["open"], right=s["close"], sep=s["textual_between"])

    def persons():
        return PersonStyle(sep="、", sep2=s["and"], last_sep=s["and"], other=s["et_al"])

    @dataclass
    class ZhAuthorYearStyle(AuthorYearReferenceStyle):
        bracket_parenthetical: BracketStyle = field(default_factory=parenthetical)
        bracket_textual: BracketStyle = field(default_factory=textual)
        person: PersonStyle = field(default_factory=persons)
        author_year_sep: str = s["author_year"]
        text_reference_sep: str = ""

    name = "author_year_zh"
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", name, ZhAuthorYearStyle, force=True)
    return name


# ----------------------------------------------------------------------------- Sphinx extension
def _config_inited(app, config) -> None:
    root = Path(app.confdir)
    version = read_version(root)
    config.version = config.release = version
    subs = dict(config.myst_substitutions or {})
    subs.setdefault("nnlib_version", version)
    subs.setdefault("repo_url", read_repository(root)[0])
    config.myst_substitutions = subs
    # Book links (see links_to_myst): bibliography entries get the ids the notebooks link to;
    # pages name their canonical address on the published book.
    config.bibtex_cite_id = CITE_ID
    if not config.html_baseurl:
        config.html_baseurl = book_url(root) + "/"
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


class _LatinTerms(set):
    """A set that takes ``list.extend``: what Sphinx's Chinese search appends its Latin words to."""

    extend = set.update


def _chinese_search_language():
    """Sphinx's Chinese search (jieba) with its memory of Latin words kept in a set.

    Upstream (sphinx/search/zh.py) appends every page's Latin words to one list and tests each
    word it stems for membership in that list: quadratic in the size of the book. Here that was
    2½ of the build's 5½ minutes; with a set the index written is the same."""
    from sphinx.search.zh import SearchChinese

    class SearchChineseLatinSet(SearchChinese):
        def init(self, options):
            super().init(options)
            self.latin_terms = _LatinTerms()

    return SearchChineseLatinSet


def setup(app):
    _register_citation_style()  # before sphinxcontrib-bibtex looks the style up (builder-inited)
    app.add_search_language(_chinese_search_language())
    app.connect("source-read", _source_read)
    app.connect("env-purge-doc", _purge_section_refs)
    app.connect("env-merge-info", _merge_section_refs)
    app.connect("env-check-consistency", _check_section_refs)
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
        for problem in notebook_problems(read_notebook(path)):
            print(f"{path}: {problem}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
