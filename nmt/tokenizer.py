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
import os
from pathlib import Path

import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text

from nmt.config import atomic_write
from nmt.errors import NmtError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
# Byte fallback needs the 256 byte pieces plus the four specials.
MIN_VOCAB_SIZE = 256 + 4 + 8


def train_sentencepiece(sentences: list[str], vocab_size: int) -> bytes:
    """Train a SentencePiece unigram model on ``sentences`` and return its serialized proto.

    ``vocab_size`` is an upper bound: a small corpus yields fewer pieces rather than
    failing, and the caller reads the real size back from the model.
    """
    if vocab_size < MIN_VOCAB_SIZE:
        raise NmtError(f"vocabulary size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}")
    if not sentences:
        raise NmtError("cannot train a tokenizer on an empty corpus")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        byte_fallback=True,
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
        digest = hashlib.sha1(model_proto).hexdigest()[:16]
        self._sp = tf_text.SentencepieceTokenizer(
            model=model_proto, out_type=tf.int32, name=f"sentencepiece_{digest}"
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
        if add_eos:
            eos = tf.fill([ids.nrows(), 1], tf.constant(EOS_ID, tf.int32))
            ids = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return ids

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
