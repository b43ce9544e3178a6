"""Text in, translations out: the one inference path of the CLI, evaluation, plots and export.

``Translator`` holds the model and both tokenizers and decodes raw strings in one
compiled graph per search: ``translate_greedy`` and ``translate_beam``. Both return
the same dict of tensors, with an ``n`` axis of hypotheses (1 for greedy), so one
class (``nmt.decoding.texts.TranslatesTexts``) turns either, or the same functions
loaded back from an exported SavedModel (``nmt.decoding.export``), into ``Translation``
objects. ``translate_*_prefix`` continue given starts; ``translate_forced`` scores given
targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from nmt import modeldir
from nmt.config import Config
from nmt.constants import EOS_ID, PAD_ID
from nmt.data.tokenizer import Tokenizer
from nmt.decoding.beam import beam_search
from nmt.decoding.ensemble import Ensemble, load_members
from nmt.decoding.search import (
    NEW_WORD,
    Prefix,
    greedy_search,
    length_penalty,
    max_lengths,
    output_lengths,
)
from nmt.decoding.texts import TranslatesTexts
from nmt.fast.loops import CpuLoops
from nmt.model.loops import Loops
from nmt.model.seq2seq import Seq2Seq

TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
BEAM_SPECS = (
    tf.TensorSpec([], tf.int32, name="beam_size"),
    tf.TensorSpec([], tf.int32, name="n_best"),
)
ALPHA_SPEC = tf.TensorSpec([], tf.float32, name="length_penalty")
PREFIX_SPEC = tf.TensorSpec([None], tf.string, name="prefix")
TARGET_SPEC = tf.TensorSpec([None], tf.string, name="target")


class Translator(tf.Module, TranslatesTexts):
    """A trained model (or an ``Ensemble``) with its tokenizers, decoding raw strings in
    compiled graphs.

    Sources longer than ``data.max_src_len`` tokens are cut to that length (the
    result says so in ``truncated``): the model never saw longer inputs. The search
    runs the model through ``loops``: by default the CPU loops, which fall back to the
    plain ones wherever they are not exact (a GPU, mixed precision).
    """

    def __init__(
        self,
        model: Seq2Seq,
        src_tok: Tokenizer,
        tgt_tok: Tokenizer,
        config: Config,
        loops: Loops | None = None,
    ):
        super().__init__()
        self.model = model
        self.src_tok = src_tok
        self.tgt_tok = tgt_tok
        self.config = config
        self.loops = CpuLoops() if loops is None else loops

    @classmethod
    def load(
        cls, model_dirs: str | Path | Sequence[str | Path], no_repeat_ngram: int | None = None
    ) -> Translator:
        """A model directory, or several that share tokenizers, decoded as an ``Ensemble``;
        ``no_repeat_ngram``, if given, replaces the model's ``decode.no_repeat_ngram``."""
        if isinstance(model_dirs, str | Path):
            config, model, src, tgt = modeldir.load(model_dirs)
        else:
            config, members, src, tgt = load_members(model_dirs)
            model = Ensemble(members) if len(members) > 1 else members[0]
        if no_repeat_ngram is not None:
            config.decode.no_repeat_ngram = no_repeat_ngram
            config.validate()
        return cls(model, src, tgt, config)

    @property
    def members(self) -> list[Seq2Seq]:
        """The models that decode: the ensemble's members, or the one model."""
        return self.model.members if isinstance(self.model, Ensemble) else [self.model]

    @tf.function(input_signature=[TEXT_SPEC, ALPHA_SPEC])
    def translate_greedy(self, text, length_penalty):
        """``(b,)`` strings -> the dict of ``outputs``, with ``n = 1``."""
        src_ids, truncated = self._source_ids(text)
        ids, weights, log_probs = greedy_search(
            self.model, src_ids, self._limits(src_ids), self.loops, self._no_repeat
        )
        return self._outputs(
            src_ids, truncated, ids[:, None], weights[:, None], log_probs[:, None], length_penalty
        )

    @tf.function(input_signature=[TEXT_SPEC, *BEAM_SPECS, ALPHA_SPEC])
    def translate_beam(self, text, beam_size, n_best, length_penalty):
        """``(b,)`` strings -> the dict of ``outputs``, with ``n = min(n_best, beam_size)``."""
        self._check_beam(beam_size, n_best)
        src_ids, truncated = self._source_ids(text)
        ids, weights, log_probs = beam_search(
            self.model, src_ids, self._limits(src_ids), beam_size, n_best, length_penalty,
            self.loops, self._no_repeat,
        )  # fmt: skip
        return self._outputs(src_ids, truncated, ids, weights, log_probs, length_penalty)

    @tf.function(input_signature=[TEXT_SPEC, PREFIX_SPEC, ALPHA_SPEC])
    def translate_greedy_prefix(self, text, prefix, length_penalty):
        """``translate_greedy`` whose outputs start with ``prefix`` (``(b,)`` strings);
        ``prefix_length`` (b,) says how many of the output tokens it forced."""
        src_ids, truncated = self._source_ids(text)
        forced = self._prefix(prefix)
        ids, weights, log_probs = greedy_search(
            self.model, src_ids, self._limits(src_ids, forced.ids), self.loops,
            self._no_repeat, forced,
        )  # fmt: skip
        out = self._outputs(
            src_ids, truncated, ids[:, None], weights[:, None], log_probs[:, None], length_penalty
        )
        return {**out, "prefix_length": _lengths(forced.ids)}

    @tf.function(input_signature=[TEXT_SPEC, PREFIX_SPEC, *BEAM_SPECS, ALPHA_SPEC])
    def translate_beam_prefix(self, text, prefix, beam_size, n_best, length_penalty):
        """``translate_beam`` whose hypotheses all start with ``prefix`` (``(b,)`` strings)."""
        self._check_beam(beam_size, n_best)
        src_ids, truncated = self._source_ids(text)
        forced = self._prefix(prefix)
        ids, weights, log_probs = beam_search(
            self.model, src_ids, self._limits(src_ids, forced.ids), beam_size, n_best,
            length_penalty, self.loops, self._no_repeat, forced,
        )  # fmt: skip
        out = self._outputs(src_ids, truncated, ids, weights, log_probs, length_penalty)
        return {**out, "prefix_length": _lengths(forced.ids)}

    @tf.function(input_signature=[TEXT_SPEC, TARGET_SPEC])
    def translate_forced(self, text, target):
        """Forced decoding: ``(b,)`` sources and the ``(b,)`` targets to score, as
        ``outputs`` with ``n = 1`` whose translation is the target, scored (length
        penalty 0) and with the attention that produced it."""
        src_ids, truncated = self._source_ids(text)
        target_ids = self.tgt_tok.tokenize(target).to_tensor(default_value=PAD_ID)
        ids, weights, log_probs = greedy_search(
            self.model, src_ids, self._limits(src_ids, target_ids), self.loops, 0,
            Prefix(target_ids),
        )  # fmt: skip
        alpha = tf.constant(0.0)
        return self._outputs(
            src_ids, truncated, ids[:, None], weights[:, None], log_probs[:, None], alpha
        )

    def _check_beam(self, beam_size, n_best):
        tf.debugging.assert_positive(beam_size, "beam_size must be positive")
        tf.debugging.assert_positive(n_best, "n_best must be positive")
        tf.debugging.assert_less_equal(
            beam_size, self.config.model.tgt_vocab_size, "beam_size exceeds the vocabulary"
        )

    def _prefix(self, text) -> Prefix:
        """``(b,)`` prefix strings as the search's ``Prefix``: their target ids, then
        ``NEW_WORD`` where the text ends with a space (tokenizing drops it)."""
        ids = self.tgt_tok.tokenize(text, add_eos=False)
        spaced = tf.strings.regex_full_match(text, r"(?s).*\S.*\s")
        marker = tf.RaggedTensor.from_tensor(tf.where(spaced, NEW_WORD, PAD_ID)[:, None])
        ids = tf.concat([ids, marker], axis=1).to_tensor(default_value=PAD_ID)
        pieces = self.tgt_tok.id_to_piece(tf.range(self.config.model.tgt_vocab_size))
        word_starts = tf.strings.substr(pieces, 0, 1, unit="UTF8_CHAR") == "\u2581"
        is_eos = tf.range(self.config.model.tgt_vocab_size) == EOS_ID
        return Prefix(ids, word_starts | is_eos)

    def _source_ids(self, text):
        ids = self.src_tok.tokenize(text)
        limit = self.config.data.max_src_len
        truncated = ids.row_lengths() > limit
        ids = tf.concat([ids[:, :-1][:, : limit - 1], ids[:, -1:]], axis=1)
        return ids.to_tensor(default_value=PAD_ID), truncated

    @property
    def _no_repeat(self) -> int:
        # A Python int read when the search is traced: exports keep the model's setting.
        return self.config.decode.no_repeat_ngram

    def _limits(self, src_ids, forced=None):
        decode = self.config.decode
        limits = max_lengths(src_ids, decode.max_len_a, decode.max_len_b)
        if forced is None:
            return limits
        # A forced start longer than the source's limit still gets max_len_b more tokens.
        return tf.maximum(limits, _lengths(forced) + decode.max_len_b)

    def _outputs(self, src_ids, truncated, ids, weights, log_probs, alpha):
        """What both searches return, ``n`` hypotheses per sentence, best first:

        ``translation`` (b, n) string; ``score`` (b, n) ``log_prob / length_penalty``;
        ``log_prob`` (b, n); ``length`` (b, n) output tokens, EOS included; ``ids``
        (b, n, t) and ``tgt_tokens`` (b, n, t) string, "" after the end; ``attention``
        (b, n, t, s); ``src_ids`` (b, s), ``src_length`` (b,) and ``src_tokens``
        (b, s); ``truncated`` (b,) bool.
        """
        lengths = output_lengths(ids)
        src_lengths = _lengths(src_ids)
        shape = tf.shape(ids)
        text = self.tgt_tok.detokenize(tf.reshape(ids, [-1, shape[2]]))
        return {
            "translation": tf.reshape(text, shape[:2]),
            "score": log_probs / length_penalty(lengths, alpha),
            "log_prob": log_probs,
            "length": lengths,
            "ids": ids,
            "tgt_tokens": _pieces(self.tgt_tok, ids, lengths),
            "attention": weights,
            "src_ids": src_ids,
            "src_length": src_lengths,
            "src_tokens": _pieces(self.src_tok, src_ids, src_lengths),
            "truncated": truncated,
        }


def _pieces(tokenizer: Tokenizer, ids, lengths):
    """Ids -> their pieces, "" from ``lengths`` on."""
    real = tf.sequence_mask(lengths, tf.shape(ids)[-1])
    return tf.where(real, tokenizer.id_to_piece(ids), "")


def _lengths(ids):
    """``(b, t)`` 0-padded ids -> ``(b,)`` int32 lengths (a ``NEW_WORD`` is no token)."""
    return tf.reduce_sum(tf.cast(ids > PAD_ID, tf.int32), axis=1)
