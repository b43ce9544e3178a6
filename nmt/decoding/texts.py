"""Texts through a translator's compiled functions, in batches, as ``Translation`` objects.

One path for the ``Translator`` and for an exported SavedModel loaded back: anything
with ``config`` and the ``translate_*`` functions of ``Translator``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from nmt.decoding.translation import Hypothesis, Translation, unpack
from nmt.errors import NmtError


def translate_texts(
    functions,
    texts: list[str],
    beam_size: int | None = None,
    n_best: int | None = None,
    length_penalty: float | None = None,
    progress: Callable[[int], None] | None = None,
    prefixes: list[str] | None = None,
) -> list[Translation]:
    """Translate with anything that has ``config``, ``translate_greedy`` and ``translate_beam``
    (and, for ``prefixes``, ``translate_greedy_prefix`` and ``translate_beam_prefix``).

    Sentences go in batches of similar length; blank input gives blank output.
    Beam size 1 takes the greedy path, which finds the same hypothesis faster.
    ``progress``, if given, is called with the number of sentences each batch
    finished (blank ones first), e.g. a progress bar's ``update``. ``prefixes``, one
    per text ("" for none), are the starts each translation must have.
    """
    config = functions.config
    decode = config.decode
    beam_size = decode.beam_size if beam_size is None else beam_size
    n_best = decode.n_best if n_best is None else n_best
    alpha = decode.length_penalty if length_penalty is None else length_penalty
    check_decoding(beam_size, n_best, alpha, config.model.tgt_vocab_size)
    if prefixes is not None and len(prefixes) != len(texts):
        raise NmtError(f"{len(texts)} texts but {len(prefixes)} prefixes")
    if prefixes is not None and any(prefixes):
        if not hasattr(functions, "translate_greedy_prefix"):
            raise NmtError(
                "this export was made before prefix decoding: run nmt export again, "
                "or remove MODEL_DIR/export to decode with the trained model"
            )
        with_prefix = lambda chunk: tf.constant([prefixes[i] for i in chunk])  # noqa: E731
        if beam_size == 1:
            greedy = functions.translate_greedy_prefix
            run = lambda text, chunk: greedy(text, with_prefix(chunk), alpha)  # noqa: E731
        else:
            beam = functions.translate_beam_prefix
            run = lambda text, chunk: beam(text, with_prefix(chunk), beam_size, n_best, alpha)  # noqa: E731
    elif beam_size == 1:
        run = lambda text, chunk: functions.translate_greedy(text, alpha)  # noqa: E731
    else:
        run = lambda text, chunk: functions.translate_beam(text, beam_size, n_best, alpha)  # noqa: E731
    batches = lambda chunk: run(tf.constant([texts[i] for i in chunk]), chunk)  # noqa: E731
    return in_batches(texts, batches, max(1, config.data.batch_size), progress)


def force_texts(
    functions,
    texts: list[str],
    targets: list[str],
    progress: Callable[[int], None] | None = None,
) -> list[Translation]:
    """Forced decoding with anything that has ``config`` and ``translate_forced``: each
    target scored as the translation of its text, with the attention that produced it."""
    if len(targets) != len(texts):
        raise NmtError(f"{len(texts)} sources but {len(targets)} targets to force")
    if not hasattr(functions, "translate_forced"):
        raise NmtError(
            "this export was made before forced decoding: run nmt export again, "
            "or remove MODEL_DIR/export to decode with the trained model"
        )

    def run(chunk):
        text = tf.constant([texts[i] for i in chunk])
        return functions.translate_forced(text, tf.constant([targets[i] for i in chunk]))

    return in_batches(texts, run, max(1, functions.config.data.batch_size), progress)


class TranslatesTexts:
    """``translate`` and ``force`` for a class with ``config`` and the ``translate_*``
    functions: the ``Translator`` and an exported model loaded back."""

    def translate(
        self,
        texts: list[str],
        beam_size: int | None = None,
        n_best: int | None = None,
        length_penalty: float | None = None,
        progress: Callable[[int], None] | None = None,
        prefixes: list[str] | None = None,
    ) -> list[Translation]:
        """Translate sentences; options default to the model's ``decode`` config.

        ``progress`` is called with the number of sentences done after each batch.
        ``prefixes``, one per text ("" for none), are the starts the translations
        must have: the model continues them (interactive translation).
        """
        return translate_texts(self, texts, beam_size, n_best, length_penalty, progress, prefixes)

    def force(
        self,
        texts: list[str],
        targets: list[str],
        progress: Callable[[int], None] | None = None,
    ) -> list[Translation]:
        """Each target as the translation of its text: its log-probability under the
        model and the attention that produced it, as in training (teacher forcing)."""
        return force_texts(self, texts, targets, progress)


def check_decoding(beam_size: int, n_best: int, length_penalty: float, vocab_size: int) -> None:
    """Raise ``NmtError`` for decoding options the search cannot honour."""
    if beam_size < 1 or n_best < 1:
        raise NmtError(f"beam size and n-best must be positive, got {beam_size} and {n_best}")
    if n_best > beam_size:
        raise NmtError(f"n-best ({n_best}) cannot exceed the beam size ({beam_size})")
    if beam_size > vocab_size:
        raise NmtError(f"beam size {beam_size} exceeds the target vocabulary ({vocab_size})")
    if length_penalty < 0:
        raise NmtError(f"length penalty must be >= 0, got {length_penalty}")


def _ignore(done: int) -> None:
    pass


def in_batches(
    texts: list[str],
    run: Callable[[list[int]], dict],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> list[Translation]:
    """``run`` on the indices of each batch of non-blank texts, similar lengths together."""
    results: list[Translation | None] = [None] * len(texts)
    progress = progress or _ignore
    todo = [i for i, t in enumerate(texts) if t.strip()]
    blank = Hypothesis("", [], np.zeros((0, 0), np.float32), 0.0, 0.0)
    for i in set(range(len(texts))) - set(todo):
        results[i] = Translation(texts[i], [], [blank])
    if len(todo) < len(texts):
        progress(len(texts) - len(todo))
    todo.sort(key=lambda i: len(texts[i]))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        out = {key: value.numpy() for key, value in run(chunk).items()}
        for row, i in enumerate(chunk):
            results[i] = unpack(texts[i], out, row)
        progress(len(chunk))
    return results
