"""The book's Chinese search index: Sphinx's jieba-based language, with its Latin-word memory in a set.

Upstream keeps every Latin word of every page in one list and tests each word it stems for
membership in it, which made writing the search index quadratic in the size of the book
(``book/booktools.py``: ``_chinese_search_language``). The replacement must index exactly as
upstream does, and must be the language Sphinx uses for ``html_search_language: zh``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("jieba")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))

import booktools  # noqa: E402
from sphinx.search.zh import SearchChinese  # noqa: E402

TEXT = "反向传播 backward 用 Adam 和 SGD 训练 ConvNet；梯度 grad 与 GRU、LSTM、MLP。" * 3


def _index(language):
    return [language.stem(word) for word in language.split(TEXT)]


def test_words_and_stems_are_upstream_ones():
    ours = booktools._chinese_search_language()({})
    upstream = SearchChinese({})
    upstream.latin_terms = []  # its class attribute is one list shared by every instance
    assert _index(ours) == _index(upstream)
    assert "传播" in ours.split(TEXT) and ours.stem("GRU") == upstream.stem("GRU") == "gru"


def test_latin_words_are_remembered_in_a_set_of_this_instance():
    before = list(SearchChinese.latin_terms)
    language = booktools._chinese_search_language()({})
    language.split(TEXT)
    assert isinstance(language.latin_terms, set)
    assert {"backward", "Adam", "ConvNet", "LSTM"} <= language.latin_terms
    assert SearchChinese.latin_terms == before, "the upstream class list must stay untouched"


def test_the_extension_registers_it():
    calls = []

    class App:  # records what booktools.setup asks of Sphinx
        def __getattr__(self, name):
            return lambda *args, **kwargs: calls.append((name, args))

    booktools.setup(App())
    registered = [args[0] for name, args in calls if name == "add_search_language"]
    assert len(registered) == 1 and issubclass(registered[0], SearchChinese)
    assert registered[0].lang == "zh" and registered[0] is not SearchChinese
