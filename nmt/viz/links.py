"""Word alignments (Pharaoh ``"src-tgt"`` links) and source coverage from attention.

An attention matrix answers "where did each target piece look?"; tools that consume
alignments (OpenNMT-py's ``-report_align``, fast_align, terminology checks) want links
between WORDS, and a reader checking a translation wants to know which source words it
skipped. Both are read here from the ``(t, s)`` weights over SentencePiece pieces, with
the words segmented exactly as ``nmt.viz.pieces.merge_pieces`` does for the plots.

Word indices count real words only: the end token ``</s>`` on either side gets no index
and is never linked, and coverage is reported for real source words only. The rules and
their defaults are explained in docs/alignments.md ("Word alignments and coverage").
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from nmt.errors import NmtError
from nmt.viz.pieces import checked_weights, merge_pieces, piece_words

END_TOKEN = "</s>"
MIN_WEIGHT = 0.2  # a link needs this much of its target word's attention
COVERAGE_RATIO = 1.0  # an unlinked source word below this fraction of the mean is flagged


def _real_words(pieces: list[str]) -> tuple[np.ndarray, list[int], list[str]]:
    """Word index of every piece, the ids of the words that are not the end token, and
    all words' texts. The end token is recognised by its piece, not by a word's text, so a
    source that spells out "</s>" in pieces stays a real word."""
    index, words = piece_words(pieces)
    end = {int(k) for piece, k in zip(pieces, index) if piece == END_TOKEN}
    return index, [k for k in range(len(words)) if k not in end], words


def _checked(weights, src_pieces, tgt_pieces, what: str) -> np.ndarray:
    weights = checked_weights(weights, src_pieces, tgt_pieces, what)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise NmtError(f"{what}: attention weights must be finite and non-negative")
    return weights


def _fraction(value, name: str, *, zero: bool) -> float:
    number = isinstance(value, Real) and not isinstance(value, bool)
    if not (number and (value >= 0 if zero else value > 0) and value <= 1):
        interval = "[0, 1]" if zero else "(0, 1]"
        raise NmtError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def word_links(
    weights,
    src_pieces: list[str],
    tgt_pieces: list[str],
    *,
    min_weight: float = MIN_WEIGHT,
    also_above: float | None = None,
) -> list[tuple[int, int]]:
    """Links between source and target words, as sorted ``(src_word, tgt_word)`` pairs.

    The pieces are merged into words first (``merge_pieces``: a source word's weight is
    the sum of its pieces' columns, a target word's the mean of its pieces' rows). Then
    each real target word links to the real source word it attended to most (OpenNMT-py's
    argmax rule, taken over real source words only: ``</s>`` is never a link's end),
    provided that weight is at least ``min_weight``. A target word that attended mostly
    to ``</s>`` (the encoder's summary of the whole sentence, where e.g. a suffix may
    look) would otherwise be linked to whichever word got the leftovers; with the
    threshold it stays unlinked, since the attention shows no link. ``min_weight=0``
    gives plain argmax, one link per target word.

    Args:
        weights: ``(t, s)`` attention of target pieces over source pieces.
        src_pieces: the ``s`` source pieces, ending with ``</s>``.
        tgt_pieces: the ``t`` target pieces, ending with ``</s>``.
        min_weight: the merged weight the best source word needs for a link, in [0, 1].
        also_above: if given, also link every other source word whose merged weight is
            at least this (one target word rendering several source words); in (0, 1].

    Raises:
        NmtError: on weights that do not fit the pieces, or thresholds outside [0, 1].
    """
    min_weight = _fraction(min_weight, "min_weight", zero=True)
    if also_above is not None:
        also_above = _fraction(also_above, "also_above", zero=False)
    _checked(weights, src_pieces, tgt_pieces, "word_links")
    merged, _, _ = merge_pieces(weights, src_pieces, tgt_pieces)
    _, src_real, _ = _real_words(src_pieces)
    _, tgt_real, _ = _real_words(tgt_pieces)
    links = []
    if not src_real:
        return links
    for tgt, row in enumerate(merged[np.ix_(tgt_real, src_real)]):
        best = int(np.argmax(row))
        if row[best] < min_weight:
            continue
        links.append((best, tgt))
        if also_above is not None:
            links += [(int(i), tgt) for i in np.flatnonzero(row >= also_above) if i != best]
    return sorted(links)


def format_pharaoh(links) -> str:
    """Links as ``"0-0 1-2 ..."``: source index first, sorted, as fast_align writes them."""
    return " ".join(f"{src}-{tgt}" for src, tgt in sorted(links))


def parse_pharaoh(text: str) -> list[tuple[int, int]]:
    """The links of a Pharaoh string (``""`` has none), sorted.

    Raises:
        NmtError: if an item is not ``<int>-<int>`` with non-negative indices.
    """
    links = []
    for item in text.split():
        src, dash, tgt = item.partition("-")
        if not (dash and src.isdecimal() and tgt.isdecimal()):
            raise NmtError(f"not a Pharaoh link: {item!r}; expected e.g. '0-1'")
        links.append((int(src), int(tgt)))
    return sorted(links)


def word_coverage(weights, src_pieces: list[str], tgt_pieces: list[str]) -> np.ndarray:
    """The attention each real source word received over the whole translation.

    The sum, over every target piece except the end token, of the word's pieces' columns:
    so coverage is measured in target pieces, and all real words' coverage plus what went
    to the source ``</s>`` equals the number of target pieces counted. The target
    ``</s>`` row is left out because once the translation is finished the model attends
    wherever it likes, and that says nothing about what was translated.

    Returns:
        A float array with one entry per real source word (``</s>`` excluded).

    Raises:
        NmtError: on weights that do not fit the pieces.
    """
    weights = _checked(weights, src_pieces, tgt_pieces, "word_coverage")
    index, real, words = _real_words(src_pieces)
    rows = [j for j, piece in enumerate(tgt_pieces) if piece != END_TOKEN]
    per_piece = weights[rows].sum(axis=0)
    return np.bincount(index, weights=per_piece, minlength=len(words))[real]


def uncovered_words(coverage, links, *, ratio: float = COVERAGE_RATIO) -> list[int]:
    """Source words that no link reaches and whose coverage is below ``ratio`` times the
    mean: the words the translation may have left out.

    Unlinked: no target word attended to the word more than to any other real word (with
    at least ``min_weight``). That is the sign that counts, since a word that was
    translated is what some target word looked at most while it was written; summed
    attention alone does not separate it (a model attends a little everywhere, and a
    word made of many pieces collects more). Below the mean as well: so that attention
    spread evenly, where nothing stands out, flags nothing, and a word that the others
    outshone but which still got its share is left alone. The mean over real source
    words is about target length / source length, so the rule does not depend on
    sentence length. A translation that stopped half-way flags the untranslated rest.

    Args:
        coverage: per real source word, from ``word_coverage``.
        links: the ``(src_word, tgt_word)`` links of ``word_links``.
        ratio: the fraction of the mean coverage below which an unlinked word is
            flagged, in (0, 1].

    Returns:
        The flagged word indices, ascending.
    """
    ratio = _fraction(ratio, "ratio", zero=False)
    coverage = np.asarray(coverage, dtype=float)
    if coverage.size == 0:
        return []
    linked = {src for src, _ in links}
    # Equal coverage is not below the mean, whatever the rounding of the mean says.
    below = coverage < ratio * coverage.mean() - 1e-9
    return [int(i) for i in np.flatnonzero(below) if int(i) not in linked]


@dataclass(frozen=True)
class WordAlignment:
    """One translation's word links and source coverage, over real words (no ``</s>``)."""

    links: list[tuple[int, int]]
    src_words: list[str]
    tgt_words: list[str]
    coverage: list[float]
    uncovered: list[int]

    def to_json(self) -> dict:
        """``{"alignment": "0-0 1-1", "src_words", "tgt_words", "coverage",
        "uncovered"}``: plain types, coverage rounded to 5 decimals like the API's
        attention weights."""
        return {
            "alignment": format_pharaoh(self.links),
            "src_words": list(self.src_words),
            "tgt_words": list(self.tgt_words),
            "coverage": [round(float(c), 5) for c in self.coverage],
            "uncovered": list(self.uncovered),
        }


def word_alignment(
    weights,
    src_pieces: list[str],
    tgt_pieces: list[str],
    *,
    min_weight: float = MIN_WEIGHT,
    also_above: float | None = None,
    ratio: float = COVERAGE_RATIO,
) -> WordAlignment:
    """Links (``word_links``) and coverage (``word_coverage``, ``uncovered_words``) of
    one translation; the keyword arguments are theirs.

    Raises:
        NmtError: on weights that do not fit the pieces, or thresholds outside [0, 1].
    """
    links = word_links(
        weights, src_pieces, tgt_pieces, min_weight=min_weight, also_above=also_above
    )
    coverage = word_coverage(weights, src_pieces, tgt_pieces)
    _, src_real, src_words = _real_words(src_pieces)
    _, tgt_real, tgt_words = _real_words(tgt_pieces)
    return WordAlignment(
        links=links,
        src_words=[src_words[k] for k in src_real],
        tgt_words=[tgt_words[k] for k in tgt_real],
        coverage=[float(c) for c in coverage],
        uncovered=uncovered_words(coverage, links, ratio=ratio),
    )


def hypothesis_fields(
    weights, src_pieces: list[str], tgt_pieces: list[str], alignments: bool
) -> tuple[list[str], dict]:
    """``(src_words, fields)`` of one hypothesis for JSON output (``nmt translate --json``,
    the API): ``coverage`` and ``uncovered``, plus ``alignment`` and ``tgt_words`` when
    ``alignments``; all empty for a blank translation (no pieces)."""
    keys = ("coverage", "uncovered") + (("alignment", "tgt_words") if alignments else ())
    if not (src_pieces and tgt_pieces):
        blank = {"coverage": [], "uncovered": [], "alignment": "", "tgt_words": []}
        return [], {key: blank[key] for key in keys}
    found = word_alignment(weights, src_pieces, tgt_pieces).to_json()
    return found["src_words"], {key: found[key] for key in keys}


def source_label_positions(src_pieces: list[str], word_indices, *, words: bool) -> list[int]:
    """Where real source words sit on a plot's source axis, for ``alignment_figure``'s
    ``flagged``: their positions among the merged words (``words=True``) or all their
    pieces' positions (``words=False``). ``</s>`` has a position there but no index here.
    """
    index, real, _ = _real_words(src_pieces)
    wrong = [i for i in word_indices if not 0 <= i < len(real)]
    if wrong:
        raise NmtError(f"source word indices {wrong} out of range: there are {len(real)}")
    chosen = [real[i] for i in word_indices]
    if words:
        return chosen
    return [int(p) for p in np.flatnonzero(np.isin(index, chosen))]
