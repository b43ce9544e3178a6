"""The training loss: masked cross-entropy over the target tokens."""

from __future__ import annotations

import tensorflow as tf

from nmt.constants import PAD_ID


def masked_loss(logits, targets, label_smoothing: float = 0.0):
    """Summed cross-entropy over real (non-pad) target tokens, and their count.

    Returning the sum and the count, not the mean, lets callers average over any
    number of batches (or replicas) without weighting short batches wrongly.
    """
    mask = target_mask(targets)
    logits = tf.cast(logits, tf.float32)
    losses = (
        tf.nn.softmax_cross_entropy_with_logits(
            smoothed_labels(targets, tf.shape(logits)[-1], label_smoothing), logits
        )
        if label_smoothing
        else tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    )
    return tf.reduce_sum(losses * mask), tf.reduce_sum(mask)


def token_count(targets):
    """The number of real (non-pad) target tokens, as ``masked_loss`` counts them."""
    return tf.reduce_sum(target_mask(targets))


def target_mask(targets):
    """``(b, t)`` float32: 1 at real target tokens, 0 at padding."""
    return tf.cast(targets != PAD_ID, tf.float32)


def smoothed_labels(targets, vocab, label_smoothing):
    """One-hot targets, smoothed: ``1 - ε`` on the target and ``ε / v`` everywhere."""
    return tf.one_hot(targets, vocab) * (1.0 - label_smoothing) + label_smoothing / tf.cast(
        vocab, tf.float32
    )
