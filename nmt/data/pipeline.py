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
    """A tokenized split: ragged ids with EOS, and what the length limits did to it."""

    src: tf.RaggedTensor  # (n, None)
    tgt: tf.RaggedTensor  # (n, None)
    dropped: int = 0
    truncated: int = 0

    def __len__(self) -> int:
        return int(self.src.nrows())

    @property
    def tgt_tokens(self) -> int:
        return int(tf.size(self.tgt.flat_values))


def encode(
    src: list[str], tgt: list[str], src_tok: Tokenizer, tgt_tok: Tokenizer, config: DataConfig
) -> Encoded:
    """Tokenize a split in tf.data (batched, parallel) and apply the length limits."""
    texts = untuned(tf.data.Dataset.from_tensor_slices((src, tgt)).batch(1024))
    tokenized = texts.map(
        lambda s, t: (src_tok.tokenize(s), tgt_tok.tokenize(t)),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    src_parts, tgt_parts = zip(*tokenized) if len(src) else ((), ())
    if not src_parts:
        empty = tf.ragged.constant([], dtype=tf.int32, ragged_rank=1)
        return Encoded(empty, empty)
    return limit_lengths(tf.concat(src_parts, axis=0), tf.concat(tgt_parts, axis=0), config)


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
            tf.ragged.boolean_mask(src, keep), tf.ragged.boolean_mask(tgt, keep), dropped=count
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
    ds = untuned(tf.data.Dataset.from_tensor_slices((data.src, data.tgt)))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=False)
    ds = ds.map(_teacher_forcing, num_parallel_calls=AUTOTUNE, deterministic=True)
    width = config.bucket_width
    boundaries = _bucket_boundaries(config)
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda s, ti, to: tf.maximum(tf.size(s), tf.size(to)),
        bucket_boundaries=boundaries,
        bucket_batch_sizes=bucket_batch_sizes(config),
        pad_to_bucket_boundary=False,
    )
    ds = ds.map(lambda *x: _pad_to_multiple(x, width), num_parallel_calls=AUTOTUNE)
    # Two batches: one being padded while the step runs on the other.
    return ds.prefetch(2)


def _teacher_forcing(src, tgt):
    tgt_in = tf.concat([[BOS_ID], tgt[:-1]], axis=0)
    return src, tgt_in, tgt


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
    lengths = np.maximum(data.src.row_lengths().numpy(), data.tgt.row_lengths().numpy())
    buckets = np.searchsorted(_bucket_boundaries(config), lengths, side="right")
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
