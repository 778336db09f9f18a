"""nnlib.plotting.use_chinese_font: Chinese text in matplotlib figures without missing glyphs."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402

from nnlib import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_rcparams():
    with matplotlib.rc_context():
        yield


def _draw_chinese_figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([-2, -1, 0, 1], [1, -1, 0, 2], label="训练损失")
    ax.set_title("损失曲线：反向传播与梯度下降")
    ax.set_xlabel("迭代次数")
    ax.set_ylabel("损失 J(θ)")
    ax.legend()
    fig.canvas.draw()  # glyph lookup happens here
    plt.close(fig)


def _has_cjk_font() -> bool:
    return plotting.find_chinese_font() is not None


def test_importing_nnlib_plotting_does_not_import_matplotlib():
    code = "import sys, nnlib.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not _has_cjk_font(), reason="no CJK font here: apt-get install fonts-noto-cjk")
def test_chinese_figure_has_no_missing_glyphs():
    name = plotting.use_chinese_font()
    assert name in plotting.CJK_FONT_FAMILIES
    assert matplotlib.rcParams["font.sans-serif"][0] == name
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _draw_chinese_figure()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing
    assert plotting.use_chinese_font() == name  # idempotent
    assert matplotlib.rcParams["font.sans-serif"].count(name) == 1


def test_without_chinese_font_figures_show_missing_glyph_warning():
    """The failure use_chinese_font prevents (and the -W book build catches) is real."""
    with matplotlib.rc_context({"font.family": ["sans-serif"], "font.sans-serif": ["DejaVu Sans"]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _draw_chinese_figure()
    assert any("missing from font" in str(w.message) for w in caught)


@pytest.mark.skipif(not _has_cjk_font(), reason="no CJK font here: apt-get install fonts-noto-cjk")
def test_font_installed_after_matplotlib_cache_is_found(monkeypatch):
    """A font on disk that matplotlib's cached list lacks (e.g. apt-installed in Colab) is added."""
    manager = font_manager.fontManager
    without_cjk = [f for f in manager.ttflist if f.name not in plotting.CJK_FONT_FAMILIES]
    monkeypatch.setattr(manager, "ttflist", without_cjk)
    assert plotting._first_known(plotting._known_families()) is None
    name = plotting.find_chinese_font()
    assert name in plotting.CJK_FONT_FAMILIES


def test_no_font_anywhere_warns_with_instructions(monkeypatch):
    monkeypatch.setattr(plotting, "CJK_FONT_FAMILIES", ("No Such Font Family",))
    monkeypatch.setattr(plotting, "_apt_install", lambda: pytest.fail("must not install unasked"))
    before = list(matplotlib.rcParams["font.sans-serif"])
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        assert plotting.use_chinese_font() is None
    assert list(matplotlib.rcParams["font.sans-serif"]) == before
    assert plotting.use_chinese_font(warn=False) is None
