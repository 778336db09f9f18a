"""Citations and section references in a chapter's Markdown, made to work in Colab as well as in the book.

Chapter sources (``chapters/*.md``) write

- citations as MyST roles: ``{cite}`key``` or ``{cite:p}`a,b``` (parenthetical) and
  ``{cite:t}`key``` (textual), keys from ``references.bib``;
- glossary terms as ``{term}`反向传播``` or ``{term}`文字 <反向传播>``` (terms of ``glossary.md``);
- references to the book's sections as plain text: "3.2 节", "3.2.5 节", "第 3.2 节", "第 1 章".

Colab and Jupyter do not render MyST, so :func:`colab_markdown` (called by ``nbgen`` on
every Markdown cell) writes them as ordinary Markdown links to the published book
(``booktools.book_url()``, derived from ``repository.url`` in ``_config.yml``)::

    {cite}`he2015delving`      →  （[He 等，2015](https://…/bibliography.html#cite-he2015delving)）
    {cite:t}`kingma2015adam`   →  [Kingma 与 Ba（2015）](https://…/bibliography.html#cite-kingma2015adam)
    3.2.5 节                   →  [3.2.5 节](https://…/chapters/ch03_2_backprop.html#sec-3-2-5)
    {term}`饱和`               →  [饱和](https://…/glossary.html#term-saturation)

The author–year text is built from ``references.bib`` with the same separators as the book's
citation style (``booktools.CITE_STYLE``). In the book build, ``booktools`` turns these links back
into ``{cite:p}``/``{cite:t}``/``{ref}``/``{term}`` roles, so Sphinx resolves and checks them.

Section references. A number "X.Y" or "X.Y.Z" followed by 节 (optionally after 第), or
"第 N 章", is a mention of a book section. It becomes a link to the heading that starts with that
number ("## 3.2.5 …", "# 第1章 …"); the headings are those of the notebook being built and of
the other chapters' notebooks in ``_toc.yml`` (so regenerate a chapter whose headings others
mention first). A chapter that spans several pages ("第 3 章": 3.1, 3.2, 3.3) links to where it
begins, its first section. Not links:

- mentions of the source document (``SOURCE_SECTIONS``): directly after 源文档 ("源文档 2.1 节",
  "源文档的 3.1 节", "源文档在第 5 节"), and the one- or two-level numbers that follow such a
  mention in the same sentence ("源文档 2.1 节写 …，3.1 节写 …") unless 本书 comes in between;
- sections the book has not written yet (``FUTURE_SECTIONS``), e.g. "第 8 章" if it were listed;
- lists and ranges ("第 2、3 章", "第 5–7 章"), which are only checked;
- anything inside code, math, HTML tags, existing links and headings.

Any other mention of a section that has no heading raises :class:`LinkError` (with every problem
of the chapter listed), as do an unknown citation key or glossary term and MyST syntax that
Colab would show raw (other roles, directives, labels, substitutions).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book"))
import booktools  # noqa: E402

#: Numbered sections of the source document (the book follows its structure; it has no X.Y.Z).
SOURCE_SECTIONS = frozenset(
    ["1", "2", "2.1", "2.2", "3", "3.1", "3.2", "3.3", "4", "4.1", "4.2", "4.3", "5", "6", "7"]
)
#: Parts of the source document the book has not written yet (none now: every chapter exists).
#: A mention of one of them (or of a subsection) stays plain text.
#: Remove a number here when its chapter is written: its mentions then become links.
FUTURE_SECTIONS = frozenset()


class LinkError(ValueError):
    """A chapter's Markdown mentions a section, citation or term the book does not have."""


# ----------------------------------------------------------------------------- tokenizing
# Segments of Markdown that are never rewritten. Citation and term roles come first: the
# backticks of a role are not a code span.
_PROTECTED = re.compile(
    r"""
      (?P<role>\{(?P<name>[A-Za-z][\w:+-]*)\}(?P<ticks>`+)(?P<content>.+?)(?P=ticks)(?!`))
    | (?P<fence>^[ ]{0,3}(?P<fc>`{3,}|~{3,})[^\n]*(?:\n.*?)??(?:\n[ ]{0,3}(?P=fc)[`~]*[ \t]*(?=\n|\Z)|\Z))
    | (?P<heading>^[ ]{0,3}\#{1,6}[ \t][^\n]*)
    | (?P<dmath>\$\$.*?\$\$)
    | (?P<code>(?P<bt>`+).*?(?<!`)(?P=bt)(?!`))
    | (?P<imath>\$[^$]+\$)
    | (?P<link>!?\[[^\[\]]*\]\([^()\s]*(?:\([^()\s]*\)[^()\s]*)*\))
    | (?P<html><!--.*?-->|</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>|<https?://[^>\s]+>)
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
_KINDS = ("role", "fence", "heading", "dmath", "code", "imath", "link", "html")

# MyST syntax that Colab/Jupyter would show raw, in the prose parts.
_RAW_MYST = [
    (re.compile(r"^[ ]{0,3}:{3,}", re.M), "a colon-fence directive (:::)"),
    (re.compile(r"^[ ]{0,3}\([\w.:-]+\)=[ \t]*$", re.M), "a MyST label (name)="),
    (re.compile(r"\{\{[^{}]*\}\}"), "a MyST substitution {{ … }}"),
    (re.compile(r"^[ ]{0,3}%", re.M), "a MyST comment line (%)"),
    (re.compile(r"^[ ]{0,3}\+\+\+", re.M), "a MyST block break (+++)"),
]

_NUM = r"\d+(?:\.\d+)*"
_SEP = r"\s*(?:、|和|与|及|至|到|–|—|~|～|-)\s*"
# Mentions of sections and chapters, in prose. Group "list": several numbers (only checked).
_MENTION = re.compile(
    rf"""
      (?P<list>(?P<l_di>第\s*)?(?<![\d.]){_NUM}(?:{_SEP}{_NUM})+\s*(?P<l_unit>节|章))
    | (?P<di>第\s*)(?<![\d.])(?P<n1>{_NUM})\s*(?P<unit>节|章)
    | (?<![\d.A-Za-z_])(?P<n2>\d+(?:\.\d+)+)\s*节
    """,
    re.VERBOSE,
)
_SOURCE_DIRECT = re.compile(r"源文档(?:的|在|中|里)?\s*$")
_SENTENCE_END = re.compile(r"[。！？!?；;|\n]|本书")


# ----------------------------------------------------------------------------- the book's sections
class SectionIndex:
    """Numbered headings of the book: number → (page, title).

    E.g. "3.2.5" → ("chapters/ch03_2_backprop", …).
    """

    def __init__(self, sections: dict[str, tuple[str, str]], base: str):
        self.sections = sections
        self.base = base.rstrip("/")

    @classmethod
    def for_chapter(cls, name: str, cells, root: Path = ROOT) -> "SectionIndex":
        """Headings of ``cells`` (chapter ``chapters/<name>``) and of the other chapters in _toc.yml."""
        page = f"chapters/{name}"
        sections: dict[str, tuple[str, str]] = {}
        problems = []

        def add(number, where, title):
            if number in sections and sections[number] != (where, title):
                problems.append(f"section {number} has two headings: {sections[number]} and {(where, title)}")
            sections[number] = (where, title)

        for cell in cells:
            if cell["cell_type"] == "markdown":
                for number, title in booktools.numbered_sections(_text(cell["source"])):
                    add(number, page, title)
        for other in toc_chapters(root):
            path = root / f"{other}.ipynb"
            if other == page or not path.exists():
                continue
            for cell in booktools.read_notebook(path)["cells"]:
                if cell["cell_type"] == "markdown":
                    for number, title in booktools.numbered_sections(_text(cell["source"])):
                        add(number, other, title)
        if problems:
            raise LinkError("; ".join(problems))
        return cls(sections, booktools.book_url(root))

    def url(self, number: str) -> str | None:
        """Address of the section on the published book, or None if the book has no such section."""
        if number in self.sections:
            page = self.sections[number][0]
        elif "." not in number:  # a chapter split over several pages: where it begins
            firsts = sorted((s for s in self.sections if s.startswith(number + ".")),
                            key=lambda s: [int(x) for x in s.split(".")])
            if not firsts:
                return None
            number = firsts[0]
            page = self.sections[number][0]
        else:
            return None
        return f"{self.base}/{page}.html#{booktools.section_label(number)}"

    def exists(self, number: str) -> bool:
        return self.url(number) is not None


def toc_chapters(root: Path = ROOT) -> list[str]:
    """Pages under chapters/ listed in _toc.yml, in order."""
    return [p for p in booktools.toc_files(root) if p.startswith("chapters/")]


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _is_future(number: str) -> bool:
    return any(number == f or number.startswith(f + ".") for f in FUTURE_SECTIONS)


# ----------------------------------------------------------------------------- citations
class Bibliography:
    """Author–year text of the entries of references.bib, formatted like the book's citations."""

    def __init__(self, path: Path = ROOT / "references.bib"):
        import pybtex.plugin
        from pybtex.database import parse_file

        self.entries = parse_file(str(path)).entries
        self._names = pybtex.plugin.find_plugin("pybtex.style.names", "last")()
        self.base = booktools.book_url(path.parent)

    def authors(self, key: str) -> str:
        entry = self.entries[key]
        persons = entry.persons.get("author") or entry.persons.get("editor")
        if not persons:
            raise LinkError(f"references.bib: {key} has no author or editor")
        names = [self._names.format(p, True).format().render_as("text") for p in persons]
        style = booktools.CITE_STYLE
        if len(names) == 1:
            return names[0]
        if len(names) == 2:
            return names[0] + style["and"] + names[1]
        return names[0] + style["et_al"]

    def year(self, key: str) -> str:
        return self.entries[key].fields.get("year", "")

    def url(self, key: str) -> str:
        return f"{self.base}/{booktools.BIBLIOGRAPHY_PAGE}.html#{booktools.CITE_ID.format(key=key)}"

    def cite(self, keys: list[str], textual: bool) -> str:
        style = booktools.CITE_STYLE
        unknown = [k for k in keys if k not in self.entries]
        if unknown:
            raise LinkError(f"citation key(s) not in references.bib: {', '.join(unknown)}")
        if textual:
            return style["textual_between"].join(
                f"[{self.authors(k)}{style['open']}{self.year(k)}{style['close']}]({self.url(k)})"
                for k in keys)
        inner = style["between"].join(
            f"[{self.authors(k)}{style['author_year']}{self.year(k)}]({self.url(k)})" for k in keys)
        return style["open"] + inner + style["close"]


# ----------------------------------------------------------------------------- the transform
def colab_markdown(text: str, index: SectionIndex, bib: Bibliography, problems: list[str] | None = None,
                   where: str = "") -> str:
    """``text`` with citations, glossary terms and section mentions as Markdown links (see module doc).

    Problems are appended to ``problems`` when it is given (so a chapter can report them all),
    otherwise they raise :class:`LinkError` together.
    """
    raise_now = problems is None
    problems = [] if problems is None else problems
    out = []
    pos = 0
    state = {"source": False}  # inside a sentence that began with a source-document mention

    def problem(msg, at):
        line = text.count("\n", 0, at) + 1
        snippet = text[max(0, at - 20): at + 30].replace("\n", " ")
        problems.append(f"{where}line {line}: {msg} (…{snippet}…)")

    strip_next = False
    for m in _PROTECTED.finditer(text):
        out.append(_prose(text, pos, m.start(), index, problem, state))
        if strip_next:
            out[-1], strip_next = out[-1].lstrip(" \t"), False
        kind = next(k for k in _KINDS if m.group(k) is not None)
        segment = m.group(0)
        if kind == "role":
            segment, parenthetical = _role(m, bib, problem)
            if parenthetical:  # （…） needs no space on either side
                out[-1] = out[-1].rstrip(" \t")
                strip_next = True
        elif kind == "fence":
            info = m.group("fence").lstrip(" `~").split("\n", 1)[0].strip()
            if info.startswith("{"):
                problem(f"MyST directive ```{info.split()[0]} is shown raw in Colab; "
                        "write plain Markdown", m.start())
        out.append(segment)
        pos = m.end()
    out.append(_prose(text, pos, len(text), index, problem, state))
    if strip_next:
        out[-1] = out[-1].lstrip(" \t")
    if raise_now and problems:
        raise LinkError("\n".join(problems))
    return "".join(out)


def _role(m, bib, problem) -> tuple[str, bool]:
    """The Markdown for one MyST role, and whether it is a parenthetical citation."""
    name, content = m.group("name"), m.group("content").strip()
    if name in ("cite", "cite:p", "cite:t"):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        try:
            return bib.cite(keys, textual=name == "cite:t"), name != "cite:t"
        except LinkError as error:
            problem(str(error), m.start())
            return m.group(0), False
    if name == "term":
        explicit = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content, re.S)
        shown, target = (explicit.group(1), explicit.group(2)) if explicit else (content, content)
        try:
            _term, anchor = booktools.glossary_anchor(target)
        except ValueError as error:
            problem(f"{{term}}: {error}", m.start())
            return m.group(0), False
        return f"[{shown}]({bib.base}/{booktools.GLOSSARY_PAGE}.html#{anchor})", False
    problem(f"MyST role {{{name}}} is shown raw in Colab (supported: cite, cite:p, cite:t, term; "
            'write sections as plain "X.Y 节")', m.start())
    return m.group(0), False


def _prose(text, start, end, index, problem, state) -> str:
    """Section mentions in the prose ``text[start:end]`` → links; also flags raw MyST syntax."""
    chunk = text[start:end]
    for pattern, what in _RAW_MYST:
        for m in pattern.finditer(chunk):
            problem(f"{what} is shown raw in Colab; write plain Markdown", start + m.start())
    result, pos = [], 0
    for m in _MENTION.finditer(chunk):
        before = chunk[pos:m.start()]
        if _SENTENCE_END.search(before):
            state["source"] = False
        at = start + m.start()
        direct = bool(_SOURCE_DIRECT.search(text[max(0, at - 8):at]))
        result += [before, _mention(m, index, problem, at, direct, state)]
        pos = m.end()
    rest = chunk[pos:]
    if _SENTENCE_END.search(rest):
        state["source"] = False
    result.append(rest)
    return "".join(result)


def _mention(m, index, problem, at, direct, state) -> str:
    """The link (or the unchanged text) for one mention; ``state["source"]``: the sentence
    began with a mention of the source document."""
    whole = m.group(0)
    if m.group("list"):
        numbers = re.findall(_NUM, whole)
        source = direct or (state["source"] and all(n.count(".") <= 1 for n in numbers))
        state["source"] = source
        for n in numbers:
            if source:
                if n not in SOURCE_SECTIONS:
                    problem(f"the source document has no section {n}", at)
            elif not (index.exists(n) or _is_future(n)):
                problem(f"the book has no section {n} (in {whole!r})", at)
        return whole
    number = m.group("n1") or m.group("n2")
    if m.group("unit") == "章" and "." in number:
        problem(f"{whole!r}: a chapter number has no dots (write X.Y 节)", at)
        return whole
    if direct or (state["source"] and number.count(".") <= 1):
        state["source"] = True
        if number not in SOURCE_SECTIONS:
            problem(f"the source document has no section {number}", at)
        return whole
    url = index.url(number)
    if url is None:
        if not _is_future(number):
            problem(f"the book has no section {number} (no heading starts with it; "
                    "a chapter not written yet belongs in FUTURE_SECTIONS, links.py)", at)
        return whole
    return f"[{whole}]({url})"


def raw_myst(text: str) -> list[str]:
    """MyST constructs in ``text`` that Colab and Jupyter would show raw (code and math ignored)."""
    found, pos = [], 0

    def prose(chunk):
        for pattern, what in _RAW_MYST:
            found.extend(f"{what}: {m.group(0).strip()!r}" for m in pattern.finditer(chunk))

    for m in _PROTECTED.finditer(text):
        prose(text[pos:m.start()])
        if m.group("role") is not None:
            found.append(f"MyST role: {m.group(0)!r}")
        elif m.group("fence") is not None and m.group("fence").lstrip(" `~").startswith("{"):
            found.append(f"MyST directive: {m.group('fence').splitlines()[0].strip()!r}")
        pos = m.end()
    prose(text[pos:])
    return found


def chapter_cells(name: str, cells, root: Path = ROOT) -> None:
    """Rewrite the Markdown cells of chapter ``name`` in place; raise LinkError listing every problem."""
    index = SectionIndex.for_chapter(name, cells, root)
    bib = Bibliography(root / "references.bib")
    problems: list[str] = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            cell["source"] = colab_markdown(_text(cell["source"]), index, bib, problems,
                                            where=f"{name}, cell {i}, ")
    if problems:
        raise LinkError(f"{name}: {len(problems)} problem(s) with citations and section references:\n  "
                        + "\n  ".join(problems))
