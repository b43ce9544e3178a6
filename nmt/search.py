"""Decoding as plain functions of a model: symbolic loops, no per-step Python."""

from __future__ import annotations

import tensorflow as tf

from nmt.tokenizer import BOS_ID, EOS_ID, PAD_ID


def max_lengths(src_ids, a: float, b: int):
    """``(b, s)`` ids -> ``(b,)`` int32 output limits ``a * source_length + b`` (EOS included).

    Tying the limit to the source length is what keeps a confused model from
    emitting an unbounded run of repeats.
    """
    src_len = tf.reduce_sum(tf.cast(src_ids != PAD_ID, tf.float32), axis=1)
    return tf.cast(tf.floor(a * src_len), tf.int32) + b


def greedy_search(model, src_ids, limits):
    """Pick the most likely token at every step until EOS or the limit.

    Args:
        model: A ``Seq2Seq``.
        src_ids: ``(b, s)`` int32 source ids, 0-padded, EOS-terminated.
        limits: ``(b,)`` int32 maximum output lengths, EOS included (EOS is forced
            at the limit).

    Returns:
        ``(ids (b, t), weights (b, t, s), scores (b,))``: ids end with EOS then pad;
        ``weights[i, j]`` is the attention used to produce ``ids[i, j]`` (0 on padding);
        scores are summed log-probabilities.
    """
    memory, state = model.encode(src_ids)
    batch = tf.shape(src_ids)[0]
    steps = tf.reduce_max(limits)

    def keep_going(t, prev, state, finished, scores, ids, weights):
        return (t < steps) & ~tf.reduce_all(finished)

    def one_step(t, prev, state, finished, scores, ids, weights):
        logits, state, attention = model.decode_step(prev, state, memory)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        token = tf.where(t + 1 >= limits, EOS_ID, token)
        token = tf.where(finished, PAD_ID, token)
        gained = tf.gather(log_probs, token, axis=1, batch_dims=1)
        scores += tf.where(finished, 0.0, gained)
        attention = tf.where(finished[:, None], 0.0, attention)
        finished |= token == EOS_ID
        return t + 1, token, state, finished, scores, ids.write(t, token), weights.write(t, attention)

    loop_vars = (
        tf.constant(0),
        tf.fill([batch], BOS_ID),
        state,
        tf.zeros([batch], tf.bool),
        tf.zeros([batch], tf.float32),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True),
    )
    *_, scores, ids, weights = tf.while_loop(keep_going, one_step, loop_vars)
    return tf.transpose(ids.stack()), tf.transpose(weights.stack(), (1, 0, 2)), scores
