"""Citations and section references: the notebook transform (nbgen → links.py) and its inverse
in the book build (booktools.links_to_myst).

Colab and Jupyter do not render MyST, so a chapter's {cite}`key` and "3.2.5 节" are written into
the notebook as Markdown links to the published book; the book build turns them back into
{cite:p}/{ref} roles, which Sphinx checks. See book/build_chapters/links.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
sys.path.insert(0, str(ROOT / "book" / "build_chapters"))
import booktools  # noqa: E402
import links  # noqa: E402

BASE = booktools.book_url()
BIB = f"{BASE}/bibliography.html"


@pytest.fixture(scope="module")
def bib():
    return links.Bibliography()


@pytest.fixture(scope="module")
def index():
    """A small book: chapter 1 (one page), chapter 3 split over two pages, 4.1 on its own page."""
    sections = {
        "1": ("chapters/ch01_background", "第1章 背景介绍"),
        "1.2": ("chapters/ch01_background", "1.2 一个最小的例子"),
        "3.1": ("chapters/ch03_1_forward", "3.1 前向传播"),
        "3.1.5": ("chapters/ch03_1_forward", "3.1.5 从零实现"),
        "3.2": ("chapters/ch03_2_backprop", "3.2 反向传播"),
        "3.2.5": ("chapters/ch03_2_backprop", "3.2.5 梯度消失"),
    }
    return links.SectionIndex(sections, BASE)


def convert(text, index, bib):
    return links.colab_markdown(text, index, bib)


def url(page, label):
    return f"{BASE}/chapters/{page}.html#{label}"


# ----------------------------------------------------------------------------- the book's address
def test_book_url_is_derived_from_the_repository(tmp_path):
    assert BASE == "https://nnlib-book.github.io/nnlib-book"  # _config.yml: github.com/nnlib-book/nnlib-book
    for repo, expected in [
        ("https://github.com/Some-Org/my-book", "https://some-org.github.io/my-book"),
        ("https://github.com/some-org/some-org.github.io", "https://some-org.github.io"),
    ]:
        config = f"repository:\n  url: {repo}\n  branch: main\n"
        (tmp_path / "_config.yml").write_text(config, encoding="utf-8")
        assert booktools.book_url(tmp_path) == expected
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://gitlab.com/a/b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a GitHub repository"):
        booktools.book_url(tmp_path)


# ----------------------------------------------------------------------------- citations
def test_citation_becomes_an_author_year_link(index, bib):
    out = convert("导数恰为 1，配合 He 初始化 {cite}`he2015delving`，梯度就能传到第一层。", index, bib)
    assert out == (f"导数恰为 1，配合 He 初始化（[He 等，2015]({BIB}#cite-he2015delving)），"
                   "梯度就能传到第一层。")


def test_every_bibliography_entry_has_an_author_and_a_year(bib):
    """A citation reads "（作者，年份）": an entry without a year shows "n.d." on the page."""
    no_year = sorted(key for key, entry in bib.entries.items() if not entry.fields.get("year"))
    assert not no_year, f"references.bib: give these entries a year: {no_year}"
    for key in bib.entries:
        bib.authors(key)  # raises LinkError naming an entry without author or editor


def test_citation_author_forms(bib):
    assert bib.authors("rosenblatt1958perceptron") == "Rosenblatt"  # one author
    assert bib.authors("mcculloch1943logical") == "McCulloch 与 Pitts"  # two
    assert bib.authors("rumelhart1986learning") == "Rumelhart 等"  # three or more
    assert bib.authors("cho2014learning") == "Cho 等"


def test_several_keys_and_textual_citations(index, bib):
    out = convert("逼近连续函数 {cite}`hornik1989multilayer, cybenko1989approximation`。", index, bib)
    assert out == (f"逼近连续函数（[Hornik 等，1989]({BIB}#cite-hornik1989multilayer)；"
                   f"[Cybenko，1989]({BIB}#cite-cybenko1989approximation)）。")
    assert (convert("{cite:p}`kingma2015adam` 和", index, bib)
            == f"（[Kingma 与 Ba，2015]({BIB}#cite-kingma2015adam)）和")
    out = convert("{cite:t}`kingma2015adam` 提出了 Adam。", index, bib)
    assert out == f"[Kingma 与 Ba（2015）]({BIB}#cite-kingma2015adam) 提出了 Adam。"


def test_unknown_citation_key_raises(index, bib):
    with pytest.raises(links.LinkError, match="not in references.bib: nosuch2020key"):
        convert("见 {cite}`nosuch2020key`。", index, bib)


# ----------------------------------------------------------------------------- sections
def test_section_mentions_become_links(index, bib):
    assert convert("与 3.2.5 节的深层网络相比", index, bib) == (
        f"与 [3.2.5 节]({url('ch03_2_backprop', 'sec-3-2-5')})的深层网络相比")
    assert convert("为了第 3.2 节推导反向传播", index, bib) == (
        f"为了[第 3.2 节]({url('ch03_2_backprop', 'sec-3-2')})推导反向传播")
    assert convert("第 1 章的网络；本章第 1.2 节", index, bib) == (
        f"[第 1 章]({url('ch01_background', 'sec-1')})的网络；"
        f"本章[第 1.2 节]({url('ch01_background', 'sec-1-2')})")
    assert convert("见3.1.5节。", index, bib) == f"见[3.1.5节]({url('ch03_1_forward', 'sec-3-1-5')})。"


def test_a_chapter_over_several_pages_links_to_its_first_section(index, bib):
    assert convert("第 3 章会推导", index, bib) == f"[第 3 章]({url('ch03_1_forward', 'sec-3-1')})会推导"


def test_missing_section_raises(index, bib):
    with pytest.raises(links.LinkError, match="the book has no section 3.2.6"):
        convert("3.2.6 节会用梯度流仪表盘看到另一面。", index, bib)
    with pytest.raises(links.LinkError, match="the book has no section 2"):
        convert("第 2 章介绍神经元", index, bib)


def test_future_chapters_stay_plain_text(index, bib, monkeypatch):
    # The mechanism, whichever chapters the book has written by now.
    monkeypatch.setattr(links, "FUTURE_SECTIONS", frozenset(["8", "9"]))
    text = "框架见第 8 章（8.2 节）；第 8–9 章介绍工具与展望；第 9 章。"
    assert convert(text, index, bib) == text
    # chapter 7 is written: a mention is a link, and one the book lacks is an error
    with pytest.raises(links.LinkError, match="the book has no section 7.6"):
        convert("见 7.6 节。", index, bib)


def test_lists_and_ranges_are_checked_but_not_linked(index, bib):
    text = "原理在第 1、3 章逐一推导；3.1 与 3.2 节。"
    assert convert(text, index, bib) == text
    with pytest.raises(links.LinkError, match="no section 2"):
        convert("原理在第 2、3 章逐一推导", index, bib)


def test_source_document_mentions_are_not_book_links(index, bib):
    for text in [
        "这就是源文档 2.1 节的公式",
        "源文档的 3.1 节写的是",
        "源文档在第 5 节提到的 Penn Treebank",
        # the rest of a sentence that began with the source document
        "源文档在 2.1 节写 $h = \\sigma(W^\\top x + b)$，到 3.1 节却写 $h = \\sigma(Wh + b)$，没有转置。",
        "| | 源文档 2.1 节 | 源文档 3.1 节 / 本书 |",
    ]:
        assert convert(text, index, bib) == text
    # a new sentence, or 本书, ends it; X.Y.Z is never the source document's (it has none)
    out = convert("源文档 2.1 节写 …。3.1 节的写法", index, bib)
    assert out == f"源文档 2.1 节写 …。[3.1 节]({url('ch03_1_forward', 'sec-3-1')})的写法"
    out = convert("源文档 2.1 节写作 …；本书写作 …，与 3.1 节一致", index, bib)
    assert out.endswith(f"与 [3.1 节]({url('ch03_1_forward', 'sec-3-1')})一致")
    out = convert("它与源文档 2.1 节写法的关系，下面 3.1.5 节再对照一次", index, bib)
    assert out.endswith(f"下面 [3.1.5 节]({url('ch03_1_forward', 'sec-3-1-5')})再对照一次")
    with pytest.raises(links.LinkError, match="source document has no section 3.4"):
        convert("源文档 3.4 节", index, bib)


def test_code_math_html_headings_and_links_are_untouched(index, bib):
    text = "\n".join([
        "## 3.1.2 与 2.1 节 $W^\\top x$ 写法的对照",
        "行内代码 `3.2 节` 与 ``{cite}`he2015delving` ``，公式 $W_{\\text{2.1 节}}$。",
        "$$",
        "W_{\\text{3.2 节}}",
        "$$",
        "```python",
        "# 反向传播的方向（3.2 节） {cite}`he2015delving`",
        "```",
        '<span title="3.2 节">x</span> [已有的链接 3.2 节](https://example.org/3.2)',
    ])
    assert convert(text, index, bib) == text


def test_raw_myst_that_colab_would_show_raises(index, bib):
    for text, what in [
        ("见 {ref}`sec-3-2`。", "MyST role {ref}"),
        ("```{note}\n注意\n```", "MyST directive"),
        (":::{tip}\n提示\n:::", "colon-fence"),
        ("(my-label)=\n## 标题", "MyST label"),
        ("版本 {{ nnlib_version }}", "substitution"),
    ]:
        with pytest.raises(links.LinkError, match=re.escape(what)):
            convert(text, index, bib)


def test_all_problems_of_a_chapter_are_reported_together(index, bib):
    problems = []
    links.colab_markdown("3.9 节与 {cite}`nokey`，还有第 9 章。", index, bib, problems, where="ch, cell 3, ")
    assert len(problems) == 3 and all(p.startswith("ch, cell 3, line 1: ") for p in problems)


def test_glossary_terms_link_to_their_entry(index, bib):
    entries = booktools.glossary_entries()
    term = next(e for e in entries if "saturation" in e)[0]  # 饱和
    assert convert(f"{{term}}`{term}`", index, bib) == f"[{term}]({BASE}/glossary.html#term-saturation)"
    assert (convert(f"{{term}}`饱和区 <{term}>`", index, bib)
            == f"[饱和区]({BASE}/glossary.html#term-saturation)")
    with pytest.raises(links.LinkError, match="not a term of glossary.md"):
        convert("{term}`没有这个术语`", index, bib)


# ----------------------------------------------------------------------------- the book side
def test_book_build_turns_the_links_back_into_checked_references(index, bib):
    source = "\n".join([
        "## 3.2.5 梯度消失",
        "配合 He 初始化 {cite}`he2015delving`，又见 {cite}`hornik1989multilayer,cybenko1989approximation`；"
        "{cite:t}`kingma2015adam` 提出；与 3.2.5 节和第 3.2 节。{term}`饱和`",
        "```",
        "## 3.9 代码里的标题",
        "```",
    ])
    back, refs, problems = booktools.links_to_myst(convert(source, index, bib), BASE)
    assert problems == []
    assert back.split("\n") == [
        "(sec-3-2-5)=",
        "## 3.2.5 梯度消失",
        "配合 He 初始化{cite:p}`he2015delving`，又见{cite:p}`hornik1989multilayer,cybenko1989approximation`；"
        "{cite:t}`kingma2015adam` 提出；与 {ref}`3.2.5 节 <sec-3-2-5>`和{ref}`第 3.2 节 <sec-3-2>`。"
        "{term}`饱和 <saturation>`",
        "```",
        "## 3.9 代码里的标题",
        "```",
    ]
    assert refs == [("sec-3-2-5", "chapters/ch03_2_backprop"), ("sec-3-2", "chapters/ch03_2_backprop")]


def test_book_build_reports_other_links_to_the_published_book():
    _back, _refs, problems = booktools.links_to_myst(f"见[接口]({BASE}/api.html#nnlib.nn.Linear)。", BASE)
    assert len(problems) == 1 and "api.html" in problems[0]


def test_heading_numbers():
    assert booktools.heading_number("3.2.5 梯度消失：看梯度怎样流过深层网络") == "3.2.5"
    assert booktools.heading_number("第1章 背景介绍") == "1"
    assert booktools.heading_number("第 2 章 核心概念") == "2"
    assert booktools.heading_number("4.2 自然语言处理：循环神经网络") == "4.2"
    for title in ["小结", "练习 1：参数个数", "2022 年的突破", "3.2节"]:
        assert booktools.heading_number(title) is None, title
    assert booktools.section_label("3.2.5") == "sec-3-2-5"


# ----------------------------------------------------------------------------- the real book
def test_every_book_section_has_one_heading_and_future_sections_none():
    """Section numbers are unique across the chapters (each is a label), and FUTURE_SECTIONS
    lists only chapters that are not written: remove a number there once its chapter exists."""
    index = links.SectionIndex.for_chapter("__none__", [])  # raises on a duplicate number
    assert {"1", "2", "3.1", "3.2", "3.3", "4.1", "4.2"} <= set(index.sections)
    written = sorted(n for n in index.sections if links._is_future(n))
    assert not written, f"{written} have headings now: remove them from FUTURE_SECTIONS in links.py"


@pytest.mark.parametrize("page", links.toc_chapters(), ids=lambda p: p.split("/")[-1])
def test_committed_chapter_links_resolve(page):
    """Every book link in a committed notebook names a page and a section that the book has
    (what a Colab reader clicks), and the book build understands it."""
    path = ROOT / f"{page}.ipynb"
    nb = booktools.read_notebook(path)
    sections = {}
    for other in links.toc_chapters():
        for cell in booktools.read_notebook(ROOT / f"{other}.ipynb")["cells"]:
            if cell["cell_type"] == "markdown":
                for number, _title in booktools.numbered_sections(links._text(cell["source"])):
                    sections[booktools.section_label(number)] = other
    keys = set(links.Bibliography().entries)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = links._text(cell["source"])
        _back, refs, problems = booktools.links_to_myst(text, BASE)
        assert not problems, f"{path.name} cell {i}: {problems}"
        for label, target in refs:
            assert sections.get(label) == target, f"{path.name} cell {i}: {label} is not on {target}"
        for key in re.findall(re.escape(BIB) + r"#cite-([^)\s]+)\)", text):
            assert key in keys, f"{path.name} cell {i}: {key} is not in references.bib"


def test_label_before_a_heading_inside_a_paragraph_starts_its_own_block():
    back, _refs, _problems = booktools.links_to_myst("正文一行\n## 3.2.5 梯度消失\n正文", BASE)
    assert back == "正文一行\n\n(sec-3-2-5)=\n## 3.2.5 梯度消失\n正文"
