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


class TranslatesTexts:
    """``translate`` and ``force`` for a class with ``config`` and the ``translate_*``
    functions: the ``Translator`` and an exported model loaded back.

    Sentences go in batches of similar length; blank input gives blank output.
    ``progress``, if given, is called with the number of sentences each batch finished
    (blank ones first), e.g. a progress bar's ``update``.
    """

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

        Beam size 1 takes the greedy path, which finds the same hypothesis faster.
        ``prefixes``, one per text ("" for none), are the starts the translations must
        have: the model continues them (interactive translation).
        """
        config = self.config
        decode = config.decode
        beam_size = decode.beam_size if beam_size is None else beam_size
        n_best = decode.n_best if n_best is None else n_best
        alpha = decode.length_penalty if length_penalty is None else length_penalty
        check_decoding(beam_size, n_best, alpha, config.model.tgt_vocab_size)
        if prefixes is not None and len(prefixes) != len(texts):
            raise NmtError(f"{len(texts)} texts but {len(prefixes)} prefixes")
        with_prefixes = prefixes is not None and any(prefixes)
        name = "translate_greedy" if beam_size == 1 else "translate_beam"
        if with_prefixes:
            name += "_prefix"
        search = self._function(name, "prefix decoding")
        options = (alpha,) if beam_size == 1 else (beam_size, n_best, alpha)

        def run(chunk):
            given = (_strings(prefixes, chunk),) if with_prefixes else ()
            return search(_strings(texts, chunk), *given, *options)

        return in_batches(texts, run, max(1, config.data.batch_size), progress)

    def force(
        self,
        texts: list[str],
        targets: list[str],
        progress: Callable[[int], None] | None = None,
    ) -> list[Translation]:
        """Each target as the translation of its text: its log-probability under the
        model and the attention that produced it, as in training (teacher forcing)."""
        if len(targets) != len(texts):
            raise NmtError(f"{len(texts)} sources but {len(targets)} targets to force")
        forced = self._function("translate_forced", "forced decoding")

        def run(chunk):
            return forced(_strings(texts, chunk), _strings(targets, chunk))

        return in_batches(texts, run, max(1, self.config.data.batch_size), progress)

    def _function(self, name: str, feature: str):
        """The compiled function ``name``; exports made before ``feature`` lack it."""
        if not hasattr(self, name):
            raise NmtError(
                f"this export was made before {feature}: run nmt export again, "
                "or remove MODEL_DIR/export to decode with the trained model"
            )
        return getattr(self, name)


def _strings(values: list[str], chunk: list[int]):
    """The ``chunk`` entries of ``values``, as a string tensor."""
    return tf.constant([values[i] for i in chunk])


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
