"""SentencePiece pieces merged into words on both axes of an attention matrix.

A plot over words reads more easily than one over pieces; this module turns the
``(t, s)`` weights over pieces into weights over words without losing their meaning
(every row still sums to 1).
"""

from __future__ import annotations

import re

import numpy as np

from nmt.errors import NmtError

_WORD_START = "\u2581"  # SentencePiece's "▁", which marks a word-initial piece
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPECIAL_PIECE = re.compile(r"<[^<>\s]+>")


def checked_weights(weights, src_tokens: list[str], tgt_tokens: list[str], what: str) -> np.ndarray:
    """The weights as a float array, once they are known to fit the tokens.

    Args:
        weights: ``(t, s)`` attention of target tokens over source tokens.
        src_tokens: the ``s`` source tokens.
        tgt_tokens: the ``t`` target tokens.
        what: the caller's name, which starts the error message.

    Returns:
        ``weights`` as a ``(t, s)`` float ``np.ndarray``.

    Raises:
        NmtError: if ``weights`` is not 2-D, a token list is empty, or the shape is not
            ``(len(tgt_tokens), len(src_tokens))``.
    """
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


def piece_words(pieces: list[str]) -> tuple[np.ndarray, list[str]]:
    """Word index of every piece, and each word's text.

    The segmentation ``merge_pieces`` uses (its docstring gives the rules), public so that
    ``nmt.viz.links`` numbers words exactly as the plots do.
    """
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
    weights = checked_weights(weights, src_pieces, tgt_pieces, "merge_pieces")
    src_index, src_words = piece_words(src_pieces)
    tgt_index, tgt_words = piece_words(tgt_pieces)
    columns = np.zeros((weights.shape[0], len(src_words)))
    np.add.at(columns.T, src_index, weights.T)  # sum the columns of each source word
    rows = np.zeros((len(tgt_words), len(src_words)))
    np.add.at(rows, tgt_index, columns)
    rows /= np.bincount(tgt_index, minlength=len(tgt_words))[:, None]  # mean of the rows
    return rows, src_words, tgt_words
