"""The font for token labels: one installed font that has Hangul (and Latin) glyphs.

Nothing here touches ``rcParams`` or the backend. The one global change is registering a
packaged CJK font file with matplotlib's font registry (``fontManager.addfont``), done
lazily on the first lookup so that importing the plotting modules changes nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path

from matplotlib import font_manager

# Fonts shipped inside PyPI packages, found by path so the packages' ``__init__`` (which
# rewrites rcParams["font.family"]) never runs. notojp-matplotlib is the project's
# dependency; koreanize-matplotlib is honoured when a user already has it.
_PACKAGED_FONTS = (
    ("notojp_matplotlib", "fonts/NotoSansCJKjp-Regular.otf"),
    ("koreanize_matplotlib", "fonts/NanumGothic.ttf"),
)
# System families known to cover Hangul, best first (Debian fonts-nanum, fonts-noto-cjk,
# Windows, macOS, older Linux distributions).
_SYSTEM_FAMILIES = (
    "NanumGothic",
    "NanumBarunGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Source Han Sans KR",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
    "AppleGothic",
    "UnDotum",
    "Baekmuk Gulim",
)
_HANGUL_PROBE = "한국어가힣"
_LATIN_FALLBACK = "DejaVu Sans"  # ships with matplotlib, so it is always there
_INSTALL_HINT = (
    "pip install notojp-matplotlib (or koreanize-matplotlib), "
    "or the Debian package fonts-nanum or fonts-noto-cjk"
)


def _covers(path: str, text: str) -> bool:
    """Whether the font file at ``path`` has a glyph for every character of ``text``."""
    try:
        charmap = font_manager.get_font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(char) in charmap for char in text)


def _packaged_font_files():
    for package, relative in _PACKAGED_FONTS:
        try:
            # find_spec on a top-level name locates the package without executing it.
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location, relative)
            if candidate.is_file():
                yield str(candidate)


def _system_font_files():
    entries = [
        entry
        for entry in font_manager.fontManager.ttflist
        if entry.style == "normal" and entry.weight in (400, "normal", "regular", "book")
    ]
    by_family = {}
    for entry in entries:
        by_family.setdefault(entry.name, entry.fname)
    for family in _SYSTEM_FAMILIES:
        if family in by_family:
            yield by_family[family]
    # Any other installed font that covers Hangul beats boxes.
    yield from sorted({entry.fname for entry in entries})


@functools.cache
def cjk_font() -> font_manager.FontProperties | None:
    """The font used for token labels: one with Hangul (and Latin) glyphs.

    Looks, in order, for a font file shipped by an installed PyPI package
    (notojp-matplotlib's Noto Sans CJK JP, then koreanize-matplotlib's NanumGothic),
    then for an installed system font that covers Hangul. A packaged file is registered
    with ``font_manager.fontManager.addfont`` so it can also be found by family name;
    ``rcParams`` are never changed. The lookup runs once per process.

    Returns:
        ``FontProperties(fname=...)`` for the font file, or None (after one warning
        that says what to install) when no installed font covers Hangul.
    """
    for path in _packaged_font_files():
        if _covers(path, _HANGUL_PROBE):
            if all(entry.fname != path for entry in font_manager.fontManager.ttflist):
                font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path)
    for path in _system_font_files():
        if _covers(path, _HANGUL_PROBE):
            return font_manager.FontProperties(fname=path)
    warnings.warn(
        "no installed font has Hangul/CJK glyphs, so such tokens in alignment plots will "
        f"show as boxes; install one: {_INSTALL_HINT}",
        stacklevel=2,
    )
    return None


def label_font() -> font_manager.FontProperties | None:
    """The CJK font by family name with DejaVu Sans behind it for anything it lacks.

    Returns:
        The properties to pass as ``fontproperties`` to tick labels and titles, or None
        (matplotlib's default font) when ``cjk_font`` found no Hangul font.
    """
    font = cjk_font()
    if font is None:
        return None
    return font_manager.FontProperties(family=[font.get_name(), _LATIN_FALLBACK])
