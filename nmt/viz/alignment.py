"""Source→target alignment heat maps that render Hangul and other CJK text as glyphs.

Figures are built with the object-oriented API on a plain ``Figure`` (no pyplot), so
plotting works headless and never touches the backend or ``rcParams``; callers only save
them. The one global change is registering a packaged CJK font file with matplotlib's
font registry (``fontManager.addfont``), done lazily on the first figure.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from nmt.errors import NmtError

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

_WORD_START = "\u2581"  # SentencePiece's "▁", which marks a word-initial piece
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPECIAL_PIECE = re.compile(r"<[^<>\s]+>")

_INCHES_PER_CELL = 0.3
_INCHES_PER_CHAR = 0.12  # a 10 pt CJK glyph is ~0.14 in wide, a Latin one ~0.08 in
_MAX_INCHES = 24.0
_MIN_INCHES = 4.0

_SAVE_FORMATS = (".png", ".svg", ".pdf")


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


def _label_font() -> font_manager.FontProperties | None:
    """The CJK font by family name with DejaVu Sans behind it for anything it lacks."""
    font = cjk_font()
    if font is None:
        return None
    return font_manager.FontProperties(family=[font.get_name(), _LATIN_FALLBACK])


def _figure_size(src_tokens: list[str], tgt_tokens: list[str], title: str | None):
    """Inches that give every cell ~0.3 in plus room for the labels, capped at 24 in."""
    src_label = max(map(len, src_tokens)) * _INCHES_PER_CHAR  # rotated: costs height
    tgt_label = max(map(len, tgt_tokens)) * _INCHES_PER_CHAR
    title_lines = title.count("\n") + 1 if title else 0
    width = _INCHES_PER_CELL * len(src_tokens) + tgt_label + 2.0  # + colour bar
    height = _INCHES_PER_CELL * len(tgt_tokens) + src_label + 1.0 + 0.3 * title_lines
    return (
        float(np.clip(width, _MIN_INCHES, _MAX_INCHES)),
        float(np.clip(height, _MIN_INCHES, _MAX_INCHES)),
    )


def _check_shape(weights, src_tokens, tgt_tokens, what: str) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise NmtError(
            f"{what}: attention weights must be a 2-D (target, source) array, "
            f"got shape {weights.shape}"
        )
    if not src_tokens or not tgt_tokens:
        raise NmtError(f"{what}: source and target token lists must not be empty")
    if weights.shape != (len(tgt_tokens), len(src_tokens)):
        raise NmtError(
            f"{what}: attention weights have shape {weights.shape} (target, source) but "
            f"there are {len(tgt_tokens)} target and {len(src_tokens)} source tokens; "
            "pass the tokens the weights were computed for, including </s>"
        )
    return weights


def alignment_figure(
    weights, src_tokens: list[str], tgt_tokens: list[str], *, title: str | None = None
) -> Figure:
    """A heat map of how much each target token attended to each source token.

    Args:
        weights: ``(t, s)`` array; row i is target token i's attention over the
            source tokens (rows sum to 1).
        src_tokens: the ``s`` source tokens, shown along x.
        tgt_tokens: the ``t`` target tokens including the end token (e.g. ``</s>``),
            shown along y.
        title: optional text above the plot, e.g. ``f"{source}\\n→ {translation}"``.

    Returns:
        A ``Figure`` with an Agg canvas attached; save it with ``save_figures``.

    Raises:
        NmtError: if ``weights`` is not ``(len(tgt_tokens), len(src_tokens))``.
    """
    weights = _check_shape(weights, src_tokens, tgt_tokens, "alignment_figure")
    font = _label_font()
    figure = Figure(figsize=_figure_size(src_tokens, tgt_tokens, title), layout="tight")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(
        weights, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    figure.colorbar(image, ax=axes, label="attention weight")
    # Positions first: labels set without fixed positions may land on the wrong ticks.
    axes.set_xticks(range(len(src_tokens)))
    axes.set_xticklabels(src_tokens, rotation=90, fontproperties=font)
    axes.set_yticks(range(len(tgt_tokens)))
    axes.set_yticklabels(tgt_tokens, fontproperties=font)
    axes.set_xlabel("source")
    axes.set_ylabel("target")
    if title:
        axes.set_title(title, fontproperties=font, wrap=True)
    return figure


def _numbered(directory: Path, stem: str, suffix: str, count: int) -> list[Path]:
    return [directory / f"{stem}-{index:03d}{suffix}" for index in range(1, count + 1)]


def save_figures(figures: list[Figure], path) -> list[Path]:
    """Writes figures as PNG, SVG or PDF, chosen by the extension of ``path``.

    - one figure and ``x.png|svg|pdf`` → that file;
    - several figures and ``x.pdf`` → one PDF with a page per figure;
    - several figures and ``x.png|svg`` → ``x-001.png``, ``x-002.png``, …;
    - a path that is a directory or has no extension → ``alignment-001.png``, … in it.

    Missing parent directories are created.

    Returns:
        The paths written, in the order of ``figures``.

    Raises:
        NmtError: if there are no figures or the extension is not supported.
    """
    path = Path(path)
    if not figures:
        raise NmtError(f"no figures to save to {path}")
    suffix = path.suffix.lower()
    one_pdf = False
    if path.is_dir() or not suffix:
        targets = _numbered(path, "alignment", ".png", len(figures))
    elif suffix not in _SAVE_FORMATS:
        raise NmtError(
            f"cannot save plots to {path}: unsupported extension {path.suffix!r}; "
            f"use one of {', '.join(_SAVE_FORMATS)} or a directory"
        )
    elif len(figures) == 1:
        targets = [path]
    elif suffix == ".pdf":
        targets, one_pdf = [path], True
    else:
        targets = _numbered(path.parent, path.stem, path.suffix, len(figures))
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    if one_pdf:
        with PdfPages(path) as pdf:
            for figure in figures:
                pdf.savefig(figure)
        return targets
    for figure, target in zip(figures, targets, strict=True):
        figure.savefig(target, format=target.suffix.lower()[1:])
    return targets


def _words(pieces: list[str]) -> tuple[np.ndarray, list[str]]:
    """Word index of every piece, and each word's text (see ``merge_pieces``)."""
    index = []
    words: list[list[str]] = []  # each word's pieces
    special = []  # whether each word is a special token
    for piece in pieces:
        is_special = bool(_SPECIAL_PIECE.fullmatch(piece)) and not _BYTE_PIECE.fullmatch(piece)
        continues = words and not special[-1] and not is_special
        continues = continues and not piece.startswith(_WORD_START)
        if not continues:
            words.append([])
            special.append(is_special)
        words[-1].append(piece)
        index.append(len(words) - 1)
    return np.asarray(index), [_word_text(word) for word in words]


def _word_text(pieces: list[str]) -> str:
    """Joins pieces, drops "▁" and decodes runs of byte pieces as UTF-8 where valid."""
    parts: list[str] = []
    run: list[str] = []  # consecutive byte pieces
    for piece in [*pieces, ""]:
        byte = _BYTE_PIECE.fullmatch(piece)
        if byte:
            run.append(piece)
            continue
        if run:
            try:
                parts.append(bytes(int(p[3:5], 16) for p in run).decode("utf-8"))
            except UnicodeDecodeError:
                parts.extend(run)
            run = []
        parts.append(piece.replace(_WORD_START, ""))
    return "".join(parts) or _WORD_START  # a lone "▁" stays visible


def merge_pieces(
    weights, src_pieces: list[str], tgt_pieces: list[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Merges SentencePiece pieces into words on both axes of an alignment.

    Word boundaries: a piece starting with "▁" (U+2581) starts a word and any other
    piece continues the current one; byte pieces such as ``<0xE2>`` are continuations
    too (runs of them are decoded as UTF-8 when valid). Special tokens such as ``</s>``,
    ``<s>`` or ``<unk>`` are always a word of their own, and the piece after one starts
    a new word. Words are shown without the "▁".

    Weights: a source word's column is the SUM of its pieces' columns (the attention
    the target paid to the whole word) and a target word's row is the MEAN of its pieces'
    rows, so every row still sums to 1.

    Args:
        weights: ``(t, s)`` attention of target pieces over source pieces.
        src_pieces: the ``s`` source pieces.
        tgt_pieces: the ``t`` target pieces.

    Returns:
        ``(merged, src_words, tgt_words)`` with ``merged`` of shape
        ``(len(tgt_words), len(src_words))``.

    Raises:
        NmtError: if ``weights`` is not ``(len(tgt_pieces), len(src_pieces))``.
    """
    weights = _check_shape(weights, src_pieces, tgt_pieces, "merge_pieces")
    src_index, src_words = _words(src_pieces)
    tgt_index, tgt_words = _words(tgt_pieces)
    columns = np.zeros((weights.shape[0], len(src_words)))
    np.add.at(columns.T, src_index, weights.T)  # sum the columns of each source word
    rows = np.zeros((len(tgt_words), len(src_words)))
    np.add.at(rows, tgt_index, columns)
    rows /= np.bincount(tgt_index, minlength=len(tgt_words))[:, None]  # mean of the rows
    return rows, src_words, tgt_words


def translation_figure(translation, *, hypothesis: int = 0, words: bool = False) -> Figure:
    """The alignment figure of one translation, titled with its source and output.

    Args:
        translation: a ``nmt.decoding.translator.Translation`` (anything with ``source``,
            ``src_tokens`` and ``hypotheses`` whose items have ``text``, ``tgt_tokens``
            and ``attention``).
        hypothesis: which n-best hypothesis to show (0: the best).
        words: merge SentencePiece pieces into words first (see ``merge_pieces``).

    Raises:
        NmtError: if ``hypothesis`` is not one of the translation's hypotheses.
    """
    count = len(translation.hypotheses)
    if not 0 <= hypothesis < count:
        raise NmtError(
            f"hypothesis {hypothesis + 1} asked for, but the search returned {count}; "
            "raise --n-best (and --beam)"
        )
    chosen = translation.hypotheses[hypothesis]
    weights, src, tgt = chosen.attention, translation.src_tokens, chosen.tgt_tokens
    if words:
        weights, src, tgt = merge_pieces(weights, src, tgt)
    rank = f" (hypothesis {hypothesis + 1})" if hypothesis else ""
    title = f"{_printable(translation.source)}\n→ {_printable(chosen.text)}{rank}"
    return alignment_figure(weights, src, tgt, title=title)


def _printable(text: str) -> str:
    """Control characters (byte-fallback output of a young model, say) as ``\\xNN``:
    no font has glyphs for them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
