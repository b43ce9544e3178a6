"""SentencePiece subwords: trained with ``sentencepiece``, applied in-graph with tensorflow-text.

One model per language rather than a joint one: English and Korean share no script,
so a joint vocabulary would only split its budget between two disjoint halves, and
separate models keep the target softmax as small as the target side needs.

Byte fallback is on, so a character never seen in training becomes its UTF-8 bytes
instead of ``<unk>``: nothing crashes and nothing silently disappears.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text

from nmt.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from nmt.errors import NmtError
from nmt.files import atomic_write

# The four specials plus, for byte fallback, the 256 byte pieces: in every vocabulary.
META_PIECES = 4 + 256
# The corpus-size rule stops growing here: 32k pieces is where large-corpus systems
# settle, and a bigger softmax costs more than it gives a model of this size.
MAX_AUTO_VOCAB = 32_000
# SentencePiece skips longer training sentences (its max_sentence_length default).
_MAX_SENTENCE_BYTES = 4192


def required_characters(sentences: list[str], character_coverage: float) -> int:
    """How many characters SentencePiece must give pieces of their own at this coverage.

    It counts characters after its own normalization (whitespace becomes ``▁``, one
    before every sentence), then keeps the most frequent ones until they cover
    ``character_coverage`` of the text; the rest are spelled as bytes. Doing the same
    count here, with its float32 arithmetic, lets the vocabulary be sized before
    training instead of SentencePiece failing mid-way.
    """
    normalizer = spm.SentencePieceNormalizer(
        rule_name="identity", add_dummy_prefix=True, remove_extra_whitespaces=True
    )
    counts = Counter()
    for sentence in sentences:
        if len(sentence.encode("utf-8")) <= _MAX_SENTENCE_BYTES:
            counts.update(normalizer.normalize(sentence))
    total = sum(counts.values())
    target, covered, required = np.float32(character_coverage), 0, 0
    for _, count in counts.most_common():
        if np.float32(covered / total) >= target:
            break
        covered += count
        required += 1
    return required


def minimum_vocab_size(sentences: list[str], character_coverage: float) -> int:
    """The smallest vocabulary SentencePiece accepts for ``sentences``."""
    return required_characters(sentences, character_coverage) + META_PIECES


def default_vocab_size(
    sentences: list[str],
    character_coverage: float,
    minimum: int | None = None,
    *,
    scale: float = 1.0,
) -> int:
    """The vocabulary chosen when the config leaves the size at 0.

    ``10·√words``, at most 32k, grows with the corpus at the pace small-data studies
    found best (about 2k pieces for a few thousand sentence pairs, Sennrich and Zhang
    2019; 30k for millions). It is held to twice the number of distinct words seen
    at least twice: pieces beyond those only memorise strings seen once, which on the
    template-made dates corpus cost 10 points of exact match (docs/tokenization.md).
    Then it is raised to 1.25 × the minimum so that, after every required character,
    a fifth of the pieces are longer units, and rounded up to a multiple of 8, which
    matrix kernels handle best. ``minimum``, if already known, spares counting it again.

    When ``sentences`` are a uniform sample of the corpus, each standing for ``scale``
    sentences of it, the word count is scaled up to the corpus's; the words seen twice
    in the sample are a lower bound on the corpus's, which matters only for corpora
    small enough to be sampled whole.
    """
    counts = Counter(word for sentence in sentences for word in sentence.split())
    words = sum(counts.values()) * scale
    recurring = sum(1 for count in counts.values() if count >= 2)
    by_size = min(MAX_AUTO_VOCAB, math.ceil(10 * math.sqrt(words)), 2 * recurring)
    if minimum is None:
        minimum = minimum_vocab_size(sentences, character_coverage)
    floor = math.ceil(1.25 * minimum)
    return -(-max(by_size, floor) // 8) * 8


def train_sentencepiece(
    sentences: list[str],
    vocab_size: int = 0,
    character_coverage: float = 0.9995,
    *,
    split_digits: bool = False,
    field: str = "vocab_size",
    scale: float = 1.0,
) -> bytes:
    """Train a SentencePiece unigram model on ``sentences`` and return its serialized proto.

    Args:
        sentences: The training side of one language.
        vocab_size: An upper bound (a small corpus yields fewer pieces rather than
            failing; the caller reads the real size back), or 0 to use
            `default_vocab_size`.
        character_coverage: The share of the text's characters that get pieces of
            their own; the rarest rest become UTF-8 bytes (byte fallback).
        split_digits: Every digit is a piece of its own, so numbers are read and
            written digit by digit instead of as pieces learnt from their frequency.
        field: The config field ``vocab_size`` came from, named in errors.
        scale: Corpus sentences per sentence given, when they are a sample of it
            (see `default_vocab_size`).

    Raises:
        NmtError: ``sentences`` is empty, ``vocab_size`` is below
            `minimum_vocab_size`, or SentencePiece fails.
    """
    if not sentences:
        raise NmtError("cannot train a tokenizer on an empty corpus")
    minimum = minimum_vocab_size(sentences, character_coverage)
    if not vocab_size:
        vocab_size = default_vocab_size(sentences, character_coverage, minimum, scale=scale)
    if vocab_size < minimum:
        raise NmtError(
            f"{field}={vocab_size} is too small for this corpus: it needs at least {minimum} "
            f"({minimum - META_PIECES} characters at data.character_coverage="
            f"{character_coverage} plus {META_PIECES} special and byte pieces); raise it, "
            "lower data.character_coverage, or set 0 to size it from the corpus"
        )
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            model_type="unigram",
            character_coverage=character_coverage,
            byte_fallback=True,
            split_digits=split_digits,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            # NFC is applied before SentencePiece (see Tokenizer.normalize), and
            # identity keeps detokenized output equal to what the model learned.
            normalization_rule_name="identity",
            remove_extra_whitespaces=True,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except (RuntimeError, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise NmtError(f"SentencePiece could not train a tokenizer ({field}): {reason}") from None
    return model.getvalue()


class Tokenizer(tf.Module):
    """One language's SentencePiece model, usable in tf.data and in a SavedModel.

    Args:
        model_proto: The serialized SentencePiece model.
    """

    def __init__(self, model_proto: bytes, name: str | None = None):
        super().__init__(name=name)
        self.model_proto = model_proto
        # tensorflow-text names the model's resource after this name, and a loaded
        # SavedModel shares resources of equal names: two tokenizers left with the
        # default name would both come back as the same one. A name per model keeps
        # them apart (and lets equal models share, which is harmless).
        self._name = f"sentencepiece_{hashlib.sha1(model_proto).hexdigest()[:16]}"
        self._sp = tf_text.SentencepieceTokenizer(
            model=model_proto, out_type=tf.int32, name=self._name
        )
        self._processor = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self._processor.get_piece_size()

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        path = Path(path)
        try:
            proto = path.read_bytes()
        except FileNotFoundError:
            raise NmtError(f"tokenizer model is missing: {path}") from None
        try:
            return cls(proto)
        except (RuntimeError, OSError, tf.errors.OpError) as exc:
            raise NmtError(f"{path} is not a valid SentencePiece model: {exc}") from None

    def save(self, path: str | os.PathLike) -> None:
        atomic_write(path, self.model_proto)

    @staticmethod
    def normalize(text):
        """NFC, the one normalization applied at training and translation time alike."""
        return tf_text.normalize_utf8(text, "NFC")

    def tokenize(self, text, add_eos: bool = True):
        """``(b,)`` strings -> ragged ``(b, None)`` int32 ids, EOS appended."""
        ids = self._sp.tokenize(self.normalize(text))
        return _append_eos(ids) if add_eos else ids

    def sampler(self, nbest_size: int, alpha: float):
        """A ``tokenize`` that samples a segmentation per call (subword regularization).

        ``nbest_size`` and ``alpha`` are SentencePiece's: sample from the ``nbest_size``
        best segmentations (below 0: from the whole lattice), with probabilities
        sharpened by ``alpha``. For training batches only: it lives outside this module's
        tracked state, so exports and translation never sample.
        """
        sp = tf_text.SentencepieceTokenizer(
            model=self.model_proto,
            out_type=tf.int32,
            nbest_size=nbest_size,
            alpha=alpha,
            name=f"{self._name}_sampling",
        )

        def tokenize(text):
            return _append_eos(sp.tokenize(self.normalize(text)))

        return tokenize

    def detokenize(self, ids):
        """``(b, t)`` ids (dense, padded or cut at EOS) -> ``(b,)`` strings.

        Everything from the first EOS or PAD on is dropped first.
        """
        ids = tf.convert_to_tensor(ids, tf.int32)
        keep = tf.cumsum(tf.cast((ids == EOS_ID) | (ids == PAD_ID), tf.int32), axis=1) == 0
        ragged = tf.ragged.boolean_mask(ids, keep)
        return self._sp.detokenize(ragged)

    def id_to_piece(self, ids):
        """Ids (any shape) -> their pieces as strings, for plots and JSON output."""
        return self._sp.id_to_string(ids)


def _append_eos(ids):
    eos = tf.fill([ids.nrows(), 1], tf.constant(EOS_ID, tf.int32))
    return tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
