"""Text pairs -> padded, length-bucketed id batches, with tokenization inside tf.data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from nmt.config import DataConfig
from nmt.constants import BOS_ID
from nmt.data.tfdata import untuned
from nmt.data.tokenizer import Tokenizer

# One call per core (at most 16): what AUTOTUNE means untuned.
AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class Encoded:
    """A tokenized split: ragged ids with EOS, and what the length limits did to it.

    ``kept`` marks the input pairs left after dropping long ones (None: all);
    ``lengths``, if set, are what ``batches`` buckets by instead of the ids' own.
    """

    src: tf.RaggedTensor  # (n, None)
    tgt: tf.RaggedTensor  # (n, None)
    dropped: int = 0
    truncated: int = 0
    kept: np.ndarray | None = None
    lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.src.nrows())

    def bucket_lengths(self) -> np.ndarray:
        """``(n,)`` the length each pair is bucketed by: its longer side, or ``lengths``."""
        if self.lengths is not None:
            return self.lengths
        return np.maximum(self.src.row_lengths().numpy(), self.tgt.row_lengths().numpy())

    @property
    def tgt_tokens(self) -> int:
        return int(tf.size(self.tgt.flat_values))


def encode(
    src: list[str],
    tgt: list[str],
    src_tok: Tokenizer,
    tgt_tok: Tokenizer,
    config: DataConfig,
) -> Encoded:
    """Tokenize a split in tf.data (batched, parallel) and apply the length limits."""
    if not len(src):
        empty = tf.ragged.constant([], dtype=tf.int32, ragged_rank=1)
        return Encoded(empty, empty)
    return limit_lengths(*_tokenize(src, tgt, src_tok, tgt_tok, config, sample=False), config)


def resample(
    src: list[str],
    tgt: list[str],
    src_tok: Tokenizer,
    tgt_tok: Tokenizer,
    config: DataConfig,
    like: Encoded,
) -> Encoded:
    """New sampled segmentations of the pairs that ``like``, the split's ``encode``, holds:
    subword regularization with ``config.subword_nbest`` and ``config.subword_alpha``
    (none when ``samples_subwords`` is false).

    The result keeps ``like``'s pairs and buckets by ``like``'s lengths, so a seeded
    epoch puts the same pairs in the same batches whatever the draw (a resumed epoch
    skips exactly the pairs it trained on); a draw longer than the limits is cut to
    them, keeping its EOS.
    """
    src_ids, tgt_ids = _tokenize(src, tgt, src_tok, tgt_tok, config, sample=True)
    if like.kept is not None:
        src_ids = tf.ragged.boolean_mask(src_ids, like.kept)
        tgt_ids = tf.ragged.boolean_mask(tgt_ids, like.kept)
    src_ids, tgt_ids = (
        _truncate(src_ids, config.max_src_len),
        _truncate(tgt_ids, config.max_tgt_len),
    )
    return Encoded(src_ids, tgt_ids, lengths=like.bucket_lengths())


def _tokenize(src, tgt, src_tok, tgt_tok, config, sample):
    src_fn, tgt_fn = src_tok.tokenize, tgt_tok.tokenize
    if sample and samples_subwords(config):
        nbest, alpha = config.subword_nbest, config.subword_alpha
        src_fn, tgt_fn = src_tok.sampler(nbest, alpha), tgt_tok.sampler(nbest, alpha)
    texts = untuned(tf.data.Dataset.from_tensor_slices((src, tgt)).batch(1024))
    tokenized = texts.map(
        lambda s, t: (src_fn(s), tgt_fn(t)), num_parallel_calls=AUTOTUNE, deterministic=True
    )
    src_parts, tgt_parts = zip(*tokenized)
    return tf.concat(src_parts, axis=0), tf.concat(tgt_parts, axis=0)


def samples_subwords(config: DataConfig) -> bool:
    """Whether training segmentations are sampled (``subword_nbest`` not 0 or 1, ``alpha`` > 0)."""
    return config.subword_nbest not in (0, 1) and config.subword_alpha > 0


def limit_lengths(src: tf.RaggedTensor, tgt: tf.RaggedTensor, config: DataConfig) -> Encoded:
    """Drop pairs over ``max_*_len``, or truncate them keeping the final EOS."""
    src_len = src.row_lengths().numpy()
    tgt_len = tgt.row_lengths().numpy()
    too_long = (src_len > config.max_src_len) | (tgt_len > config.max_tgt_len)
    count = int(too_long.sum())
    if not count:
        return Encoded(src, tgt)
    if config.long_pairs == "drop":
        keep = ~too_long
        return Encoded(
            tf.ragged.boolean_mask(src, keep),
            tf.ragged.boolean_mask(tgt, keep),
            dropped=count,
            kept=keep,
        )
    return Encoded(
        _truncate(src, config.max_src_len), _truncate(tgt, config.max_tgt_len), truncated=count
    )


def _truncate(ids: tf.RaggedTensor, max_len: int) -> tf.RaggedTensor:
    eos = ids[:, -1:]
    body = ids[:, :-1][:, : max_len - 1]
    return tf.concat([body, eos], axis=1)


def batches(
    data: Encoded, config: DataConfig, *, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """Batches of ``(src (b, s), tgt_in (b, t), tgt_out (b, t))`` int32, 0-padded.

    Sentences of similar length share a batch (less padding), and every length is
    padded up to a multiple of ``bucket_width`` so a compiled step sees a handful of
    shapes instead of one per batch. With ``shuffle`` the order depends only on
    ``seed``: the same seed gives the same batches, which is what lets an
    interrupted epoch resume at the batch where it stopped.
    """
    src, tgt, lengths = data.src, data.tgt, data.bucket_lengths().astype(np.int32)
    if shuffle:
        order = permutation(len(data), seed)
        src, tgt, lengths = tf.gather(src, order), tf.gather(tgt, order), lengths[order]
    ds = untuned(tf.data.Dataset.from_tensor_slices((src, tgt, lengths)))
    ds = ds.map(_teacher_forcing, num_parallel_calls=AUTOTUNE, deterministic=True)
    width = config.bucket_width
    boundaries = _bucket_boundaries(config)
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda s, ti, to, length: length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=bucket_batch_sizes(config),
        pad_to_bucket_boundary=False,
    )
    ds = ds.map(lambda *x: _pad_to_multiple(x[:3], width), num_parallel_calls=AUTOTUNE)
    # Two batches: one being padded while the step runs on the other.
    return ds.prefetch(2)


def permutation(n: int, seed: int) -> np.ndarray:
    """The order in which ``Dataset.shuffle(n, seed)`` would yield ``n`` elements.

    That order depends on the count and the seed only, so it is drawn on indices and the
    split gathered in it once: the same batches as shuffling the split itself, without
    a shuffle buffer holding every pair as tensors of its own (several times the ids'
    own memory).
    """
    indices = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=False)
    return next(iter(indices.batch(n))).numpy()


def _teacher_forcing(src, tgt, length):
    tgt_in = tf.concat([[BOS_ID], tgt[:-1]], axis=0)
    return src, tgt_in, tgt, length


def _pad_to_multiple(tensors, width):
    out = []
    for x in tensors:
        length = tf.shape(x)[1]
        target = (length + width - 1) // width * width
        out.append(tf.pad(x, [[0, 0], [0, target - length]]))
    return tuple(out)


def batch_count(data: Encoded, config: DataConfig) -> int:
    """How many batches ``batches`` yields (buckets make it more than n / batch_size).

    Each bucket emits a batch whenever one fills and its partial one at the end, so
    whatever the order a bucket of ``k`` pairs gives ``ceil(k / batch_size)``: counted
    from the lengths alone, without running the pipeline.
    """
    buckets = np.searchsorted(_bucket_boundaries(config), data.bucket_lengths(), side="right")
    sizes = np.bincount(buckets)
    per_batch = np.asarray(bucket_batch_sizes(config))[: len(sizes)]
    return int(np.sum(-(-sizes // per_batch)))


def bucket_batch_sizes(config: DataConfig) -> list[int]:
    """Sentences per batch in each bucket: ``batch_size``, or with ``batch_tokens`` as
    many as fit that many tokens at the bucket's longest length (at least one)."""
    buckets = len(_bucket_boundaries(config)) + 1
    if not config.batch_tokens:
        return [config.batch_size] * buckets
    longest = [config.bucket_width * (i + 1) for i in range(buckets)]
    return [max(1, config.batch_tokens // length) for length in longest]


def _bucket_boundaries(config: DataConfig) -> list[int]:
    """Lengths where a new bucket starts: one bucket per ``bucket_width`` tokens."""
    width = config.bucket_width
    longest = max(config.max_src_len, config.max_tgt_len)
    return list(range(width + 1, longest + width + 1, width))
