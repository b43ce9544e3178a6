"""The repetition guard of the searches: no n-gram twice in one output.

A confused model falls into loops ("가장 가장 가장 …") that the output limit cuts
only at 1.5 times the source length. Blocking every token that would complete an
n-gram the hypothesis already holds (``decode.no_repeat_ngram``, as fairseq's
``--no-repeat-ngram-size``) ends such loops at their first repeat; outputs that repeat
no n-gram are left exactly as they were.
"""

from __future__ import annotations

import tensorflow as tf


def written(history, t, token):
    """``history`` ``(r, T)`` with column ``t`` set to ``token`` ``(r,)``."""
    return tf.where(tf.range(tf.shape(history)[1])[None] == t, token[:, None], history)


def repeat_mask(history, t, n: int, vocab):
    """The tokens each row may not emit at step ``t``.

    Args:
        history: ``(r, T)`` int32 tokens emitted so far; columns ``>= t`` are ignored.
        t: The step about to be taken (scalar int32).
        n: The n-gram size, at least 2.
        vocab: ``v``, the vocabulary size.

    Returns:
        ``(r, v)`` bool: True where the token after the last ``n - 1`` of the row
        would repeat an n-gram that lies wholly before ``t``.
    """
    rows, width = tf.shape(history)[0], tf.shape(history)[1]
    starts = tf.maximum(width - n + 1, 0)  # where an n-gram of the buffer can begin
    # The n - 1 tokens the next one would follow (clamped at 0 while t < n - 1,
    # where no whole n-gram exists yet and the position test below rules all out).
    match = tf.range(starts)[None] < t - n + 1
    for i in range(n - 1):
        last = tf.gather(history, tf.maximum(t - n + 1 + i, 0), axis=1)
        match &= history[:, i : i + starts] == last[:, None]
    following = history[:, n - 1 : n - 1 + starts]
    row = tf.broadcast_to(tf.range(rows)[:, None], tf.shape(following))
    indices = tf.reshape(tf.stack([row, following], axis=-1), [-1, 2])
    hits = tf.scatter_nd(indices, tf.reshape(tf.cast(match, tf.int32), [-1]), [rows, vocab])
    return hits > 0
