"""nnlib.fonts.use_chinese_font: Chinese text in matplotlib figures without missing glyphs, found
without installing anything (in Colab the book's setup cell installs the font)."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
import warnings

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402

from nnlib import fonts  # noqa: E402


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
    return fonts.find_chinese_font() is not None


def test_importing_nnlib_fonts_does_not_import_matplotlib():
    code = "import sys, nnlib.fonts; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not _has_cjk_font(), reason="no CJK font here: apt-get install fonts-noto-cjk")
def test_chinese_figure_has_no_missing_glyphs():
    name = fonts.use_chinese_font()
    assert name in fonts.CJK_FONT_FAMILIES
    assert matplotlib.rcParams["font.sans-serif"][0] == name
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _draw_chinese_figure()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing
    assert fonts.use_chinese_font() == name  # idempotent
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
    without_cjk = [f for f in manager.ttflist if f.name not in fonts.CJK_FONT_FAMILIES]
    monkeypatch.setattr(manager, "ttflist", without_cjk)
    assert fonts._first_known(fonts._known_families()) is None
    name = fonts.find_chinese_font()
    assert name in fonts.CJK_FONT_FAMILIES


def test_no_font_anywhere_warns_with_expected_found_and_how_to_install(monkeypatch):
    monkeypatch.setattr(fonts, "CJK_FONT_FAMILIES", ("No Such Font Family",))
    before = list(matplotlib.rcParams["font.sans-serif"])
    with pytest.warns(UserWarning) as caught:
        assert fonts.use_chinese_font() is None
    message = str(caught[0].message)
    assert "Expected: a font family such as 'No Such Font Family'" in message
    families = {f.name for f in font_manager.fontManager.ttflist}
    assert f"Found: {len(families)} font families" in message and "DejaVu Sans" in message  # matplotlib's own
    assert "sudo apt-get install fonts-noto-cjk" in message and "pip install mplfonts" in message
    assert list(matplotlib.rcParams["font.sans-serif"]) == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fonts.use_chinese_font(warn=False) is None


def test_finding_a_font_runs_no_program(monkeypatch):
    """Installing fonts is the setup cell's job, not the library's: nnlib.fonts starts no process
    (matplotlib may ask fontconfig's fc-list for the font files; that is all that may run)."""
    runs = []  # (file that asked, command)

    def refuse(args, *rest, **kwargs):
        caller = next(f for f in reversed(traceback.extract_stack()[:-1])
                      if f.filename not in (subprocess.__file__, os.__file__, __file__))
        runs.append((caller.filename, args))
        raise OSError(f"this test starts no programs: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)  # under run, call, check_output and os.popen
    monkeypatch.setattr(os, "system", refuse)
    if hasattr(os, "posix_spawn"):
        monkeypatch.setattr(os, "posix_spawn", refuse)
    fonts.find_chinese_font()
    without_cjk = [f for f in font_manager.fontManager.ttflist if f.name not in fonts.CJK_FONT_FAMILIES]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", without_cjk)  # no CJK font known: search disk
    fonts.find_chinese_font()
    monkeypatch.setattr(fonts, "CJK_FONT_FAMILIES", ("No Such Font Family",))  # none anywhere
    assert fonts.use_chinese_font(warn=False) is None
    assert [cmd for caller, cmd in runs if caller == fonts.__file__] == []
    assert [cmd for _, cmd in runs if "fc-list" not in str(cmd)] == []
