"""Chinese (CJK) fonts for matplotlib figures.

matplotlib's default font (DejaVu Sans) has no Chinese glyphs: a title such as
``"损失曲线"`` renders as empty boxes and matplotlib prints
``Glyph ... missing from font(s)``. :func:`use_chinese_font` finds a CJK font,
registers it with matplotlib and makes it the first sans-serif font, so every
later figure can use Chinese labels.

Where the font comes from, in order:

1. a font matplotlib already knows (e.g. "Noto Sans CJK SC" on Debian/Ubuntu with
   ``fonts-noto-cjk``, "Microsoft YaHei" on Windows, "PingFang SC" on macOS);
2. a CJK font file on disk that matplotlib's cached font list does not know yet
   (e.g. installed after matplotlib built its cache, as in Colab) -- it is added with
   :meth:`matplotlib.font_manager.FontManager.addfont`, so no restart is needed;
3. the PyPI package ``mplfonts`` if it is installed (it ships Noto Sans CJK SC).

This module only looks for fonts; it never installs one (installing system packages is
not a library's job). In Colab the book's setup cell installs ``fonts-noto-cjk`` before
calling :func:`use_chinese_font`. Elsewhere, if no font is found, a :class:`UserWarning`
says which fonts were expected, what was found instead and how to install one:
``sudo apt-get install fonts-noto-cjk`` (Debian/Ubuntu), ``pip install mplfonts``
(any system), or "Noto Sans CJK SC" / "Source Han Sans SC" by hand.

matplotlib is imported inside the functions, so ``import nnlib`` stays fast.
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings

__all__ = ["CJK_FONT_FAMILIES", "find_chinese_font", "use_chinese_font"]

#: Font family names tried in order. The Simplified-Chinese faces come first; the
#: other Noto/Source Han faces contain the same Han glyphs (older matplotlib
#: versions only list the first face of a ``.ttc`` collection, which is "JP").
CJK_FONT_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "SimHei",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Noto Sans CJK HK",
    "Source Han Sans",
    "Arial Unicode MS",
)

# File names of CJK fonts, used to spot fonts that matplotlib's cache does not list yet.
_CJK_FILE_PATTERN = re.compile(
    r"(NotoSansCJK|NotoSansSC|NotoSerifCJK|SourceHanSans|wqy-?(zenhei|microhei)|"
    r"msyh|simhei|PingFang|DroidSansFallback)",
    re.IGNORECASE,
)


def _no_font_message(known: set[str]) -> str:
    """Why no font was found: what was expected, what is there instead, and how to get one."""
    expected = ", ".join(f"'{name}'" for name in CJK_FONT_FAMILIES[:4])
    examples = sorted(known)[:4] + (["..."] if len(known) > 4 else [])
    has_mplfonts = importlib.util.find_spec("mplfonts") is not None
    mplfonts = "is installed but has no CJK font" if has_mplfonts else "is not installed"
    return (
        "No Chinese (CJK) font found for matplotlib, so Chinese text in figures will show as empty boxes.\n"
        f"Expected: a font family such as {expected} (all {len(CJK_FONT_FAMILIES)} are listed in "
        "nnlib.fonts.CJK_FONT_FAMILIES), or a CJK font file on disk such as NotoSansCJK-Regular.ttc.\n"
        f"Found: {len(known)} font families, none of them in that list "
        f"({', '.join(examples) or 'no fonts'}); "
        f"no usable CJK font file in the system font folders; the package mplfonts {mplfonts}.\n"
        "To install one: `sudo apt-get install fonts-noto-cjk` (Debian/Ubuntu), `pip install mplfonts` "
        "(any system), or the font 'Noto Sans CJK SC' / 'Source Han Sans SC' from your OS; "
        "then call nnlib.fonts.use_chinese_font() again (no restart needed)."
    )


def _known_families() -> set[str]:
    from matplotlib import font_manager

    return {entry.name for entry in font_manager.fontManager.ttflist}


def _first_known(families: set[str]) -> str | None:
    for name in CJK_FONT_FAMILIES:
        if name in families:
            return name
    return None


def _add_font_files(paths) -> int:
    """Register font files with matplotlib; return how many were added.

    Only called when none of :data:`CJK_FONT_FAMILIES` is known, so a file is never added
    twice for nothing (a file already listed may hold only other faces, e.g. "Mono CJK").
    """
    from matplotlib import font_manager

    added = 0
    for path in paths:
        try:
            font_manager.fontManager.addfont(path)
            added += 1
        except (OSError, RuntimeError, ValueError):
            continue  # unreadable or unsupported file: skip it
    return added


def _scan_disk() -> bool:
    """Add CJK font files that exist on disk but are missing from matplotlib's list."""
    from matplotlib import font_manager

    candidates = [
        path
        for path in font_manager.findSystemFonts(fontext="ttf")
        + font_manager.findSystemFonts(fontext="otf")
        if _CJK_FILE_PATTERN.search(os.path.basename(path))
    ]
    return _add_font_files(sorted(set(candidates))) > 0


def _scan_mplfonts() -> bool:
    """Add the fonts shipped by the optional PyPI package ``mplfonts``."""
    try:
        import mplfonts  # noqa: F401  (only its data folder is used)
    except ImportError:
        return False
    folder = os.path.join(os.path.dirname(mplfonts.__file__), "fonts")
    paths = []
    for root, _dirs, files in os.walk(folder):
        paths += [
            os.path.join(root, f)
            for f in files
            if f.lower().endswith((".ttf", ".otf", ".ttc")) and _CJK_FILE_PATTERN.search(f)
        ]
    return _add_font_files(sorted(paths)) > 0


def find_chinese_font() -> str | None:
    """Return the family name of a CJK font matplotlib can use, registering it if needed.

    Returns
    -------
    str or None
        A family name from :data:`CJK_FONT_FAMILIES`, or ``None`` if there is none.
    """
    name = _first_known(_known_families())
    if name is not None:
        return name
    for scan in (_scan_disk, _scan_mplfonts):
        if scan():
            name = _first_known(_known_families())
            if name is not None:
                return name
    return None


def use_chinese_font(warn: bool = True) -> str | None:
    """Make matplotlib draw Chinese text: pick a CJK font and set ``rcParams``.

    Sets ``font.family`` to sans-serif with the CJK font first in
    ``font.sans-serif`` (Latin letters and digits then come from that font too),
    and ``axes.unicode_minus = False`` (CJK fonts often lack U+2212, the minus
    sign matplotlib uses by default, so ASCII ``-`` is drawn instead).
    Calling it again is harmless.

    Parameters
    ----------
    warn : bool, default True
        If no font is found, emit a :class:`UserWarning` that names the fonts expected,
        those found instead, and how to install one.

    Returns
    -------
    str or None
        The family name now used, or ``None`` if no CJK font could be found
        (figures then still work, but Chinese characters show as boxes).

    Examples
    --------
    >>> from nnlib.fonts import use_chinese_font
    >>> use_chinese_font()  # doctest: +SKIP
    'Noto Sans CJK SC'
    """
    import matplotlib

    name = find_chinese_font()
    if name is None:
        if warn:
            warnings.warn(_no_font_message(_known_families()), UserWarning, stacklevel=2)
        return None
    rc = matplotlib.rcParams
    rc["font.family"] = ["sans-serif"]
    rc["font.sans-serif"] = [name] + [f for f in rc["font.sans-serif"] if f != name]
    rc["axes.unicode_minus"] = False
    return name
