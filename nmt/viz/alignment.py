"""Source→target alignment heat maps that render Hangul and other CJK text as glyphs.

Figures are built with the object-oriented API on a plain ``Figure`` (no pyplot), so
plotting works headless and never touches the backend or ``rcParams``; callers only save
them. Token labels use the font ``nmt.viz.fonts`` finds, and ``nmt.viz.pieces`` merges
pieces into words when asked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from nmt.errors import NmtError
from nmt.viz.fonts import label_font
from nmt.viz.links import source_label_positions, word_alignment
from nmt.viz.pieces import checked_weights, merge_pieces

_INCHES_PER_CELL = 0.3
_INCHES_PER_CHAR = 0.12  # between a CJK glyph's width and a Latin one's
_MAX_INCHES = 24.0
_MIN_INCHES = 4.0

_SAVE_FORMATS = (".png", ".svg", ".pdf")
_FLAG_COLOUR = "tab:red"


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


def alignment_figure(
    weights,
    src_tokens: list[str],
    tgt_tokens: list[str],
    *,
    title: str | None = None,
    flagged=(),
) -> Figure:
    """A heat map of how much each target token attended to each source token.

    Args:
        weights: ``(t, s)`` array; row i is target token i's attention over the
            source tokens (rows sum to 1).
        src_tokens: the ``s`` source tokens, shown along x.
        tgt_tokens: the ``t`` target tokens including the end token (e.g. ``</s>``),
            shown along y.
        title: optional text above the plot, e.g. ``f"{source}\\n→ {translation}"``.
        flagged: positions in ``src_tokens`` to mark in red with a note under the axis,
            e.g. the ``uncovered`` words of ``nmt.viz.links.word_alignment`` (map them with
            ``source_label_positions``); nothing is marked when empty.

    Returns:
        A ``Figure`` with an Agg canvas attached; save it with ``save_figures``.

    Raises:
        NmtError: if ``weights`` is not ``(len(tgt_tokens), len(src_tokens))`` or a
            flagged position is not one of the source tokens'.
    """
    weights = checked_weights(weights, src_tokens, tgt_tokens, "alignment_figure")
    flagged = sorted(set(flagged))
    if any(not 0 <= i < len(src_tokens) for i in flagged):
        raise NmtError(
            f"alignment_figure: flagged positions {flagged} must lie in 0..{len(src_tokens) - 1}"
        )
    font = label_font()
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
    if flagged:  # a possible omission: red, bold, and said in words for colour-blind readers
        for i in flagged:
            label = axes.get_xticklabels()[i]
            label.set_color(_FLAG_COLOUR)
            label.set_fontweight("bold")
        axes.set_xlabel("source (red: little attention, possibly left untranslated)")
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


def translation_figure(
    translation, *, hypothesis: int = 0, words: bool = False, flag_uncovered: bool = False
) -> Figure:
    """The alignment figure of one translation, titled with its source and output.

    Args:
        translation: a ``nmt.decoding.translator.Translation`` (anything with ``source``,
            ``src_tokens`` and ``hypotheses`` whose items have ``text``, ``tgt_tokens``
            and ``attention``).
        hypothesis: which n-best hypothesis to show (0: the best).
        words: merge SentencePiece pieces into words first (see ``merge_pieces``).
        flag_uncovered: mark the ``uncovered`` source words of ``nmt.viz.links.word_alignment``
            (all their pieces when ``words`` is false).

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
    flagged = []
    if flag_uncovered:
        uncovered = word_alignment(weights, src, tgt).uncovered
        flagged = source_label_positions(src, uncovered, words=words)
    if words:
        weights, src, tgt = merge_pieces(weights, src, tgt)
    rank = f" (hypothesis {hypothesis + 1})" if hypothesis else ""
    title = f"{_printable(translation.source)}\n→ {_printable(chosen.text)}{rank}"
    return alignment_figure(weights, src, tgt, title=title, flagged=flagged)


def _printable(text: str) -> str:
    """Control characters (byte-fallback output of a young model, say) as ``\\xNN``:
    no font has glyphs for them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
