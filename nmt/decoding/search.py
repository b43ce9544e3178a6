"""Decoding as plain functions of a model: symbolic loops, no per-step Python."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.decoding.repeats import repeat_mask, written
from nmt.model.loops import PLAIN, Loops

NEW_WORD = -1  # in Prefix.ids: the token here must start a word


def max_lengths(src_ids, a: float, b: int):
    """``(b, s)`` ids -> ``(b,)`` int32 output limits ``a * source_length + b`` (EOS included).

    Tying the limit to the source length is what keeps a confused model from
    emitting an unbounded run of repeats.
    """
    # float64: in float32, 1.1 * 10 floors to 10, not Python's 11.
    src_len = tf.reduce_sum(tf.cast(src_ids != PAD_ID, tf.float64), axis=1)
    return tf.cast(tf.floor(tf.constant(a, tf.float64) * src_len), tf.int32) + b


def greedy_search(
    model, src_ids, limits, loops: Loops = PLAIN, no_repeat: int = 0, prefix: Prefix | None = None
):
    """Pick the most likely token at every step until EOS or the limit.

    Args:
        model: A ``Seq2Seq`` or an ``Ensemble`` (``encode`` and ``step_function``).
        src_ids: ``(b, s)`` int32 source ids, 0-padded, EOS-terminated.
        limits: ``(b,)`` int32 maximum output lengths, EOS included (EOS is forced
            at the limit).
        loops: The ``Loops`` that run the encoder and the decoder step.
        no_repeat: With ``n`` >= 2, no n-gram is emitted twice (``nmt.decoding.repeats``).
        prefix: Optional start each output must have (``Prefix``); ``limits`` must
            leave room after it.

    Returns:
        ``(ids (b, t), weights (b, t, s), scores (b,))``: ids end with EOS then pad;
        ``weights[i, j]`` is the attention used to produce ``ids[i, j]`` (0 on padding);
        scores are summed log-probabilities.
    """
    memory, state = model.encode(src_ids, loops=loops)
    return greedy_from(model.step_function(loops), memory, state, limits, no_repeat, prefix)


def greedy_from(decode_step, memory, state, limits, no_repeat=0, prefix=None):
    """``greedy_search`` from an encoded source, with a ``Loops.decoder_step``."""
    batch = tf.shape(limits)[0]
    steps = tf.reduce_max(limits)

    def keep_going(t, prev, state, finished, scores, ids, weights, history):
        return (t < steps) & ~tf.reduce_all(finished)

    def one_step(t, prev, state, finished, scores, ids, weights, history):
        logits, state, attention = decode_step(prev, state, memory)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        allowed = guarded(emittable(log_probs), history, t, no_repeat)
        if prefix is not None:
            forced = forced_tokens(prefix.ids, t)
            allowed = word_start_only(allowed, forced, prefix.word_starts)
        token = tf.argmax(allowed, axis=-1)
        token = tf.cast(token, tf.int32)
        token = tf.where(t + 1 >= limits, EOS_ID, token)
        if prefix is not None:
            token = tf.where(forced > PAD_ID, forced, token)
        token = tf.where(finished, PAD_ID, token)
        gained = tf.gather(log_probs, token, axis=1, batch_dims=1)
        scores += tf.where(finished, 0.0, gained)
        attention = tf.where(finished[:, None], 0.0, attention)
        finished |= token == EOS_ID
        return (
            t + 1,
            token,
            state,
            finished,
            scores,
            ids.write(t, token),
            weights.write(t, attention),
            written(history, t, token),
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch], BOS_ID),
        state,
        tf.zeros([batch], tf.bool),
        tf.zeros([batch], tf.float32),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True),
        no_repeat_history(batch, steps, no_repeat),
    )
    *_, scores, ids, weights, _ = tf.while_loop(keep_going, one_step, loop_vars)
    return tf.transpose(ids.stack()), tf.transpose(weights.stack(), (1, 0, 2)), scores


class Prefix(NamedTuple):
    """The start each output must have.

    ``ids`` ``(b, p)`` int32, 0-padded: the tokens to force, then possibly ``NEW_WORD``,
    which lets the search choose the next token among ``word_starts`` (``(v,)`` bool)
    only: a prefix typed with a space at its end continues with a new word, while one
    that ends mid-word may go on with that word. A forced token is taken whatever the
    model thinks of it, and scores its log-probability under the model's full
    distribution, as teacher forcing does; neither the PAD/BOS ban nor the repetition
    guard applies to it. Ids that end with EOS force the whole output (forced decoding).
    """

    ids: tf.Tensor
    word_starts: tf.Tensor | None = None


def forced_tokens(prefix, t):
    """``(b,)`` the id each row of ``Prefix.ids`` holds at step ``t``, PAD past its end."""
    width = tf.shape(prefix)[1]
    padded = tf.pad(prefix, [[0, 0], [0, 1]])  # a column of PAD for every step past it
    return tf.gather(padded, tf.minimum(t, width), axis=1)


def word_start_only(log_probs, forced, word_starts):
    """``(r, v)`` log-probabilities at -inf for tokens that start no word, in the rows whose
    ``forced`` id is ``NEW_WORD``."""
    if word_starts is None:
        return log_probs
    banned = (forced == NEW_WORD)[:, None] & ~word_starts[None, :]
    return tf.where(banned, -np.inf, log_probs)


def emittable(log_probs):
    """``(..., v)`` log-probabilities with PAD and BOS at -inf, so a search never picks them.

    Neither is ever a training target, yet an untrained model can rank them first,
    and a PAD mid-output would cut the detokenized text short. The chosen token's
    score stays its log-probability under the full distribution.
    """
    ids = tf.range(tf.shape(log_probs)[-1])
    return tf.where((ids == PAD_ID) | (ids == BOS_ID), -np.inf, log_probs)


def no_repeat_history(rows, steps, no_repeat):
    """The tokens a row has emitted, for the repetition guard (one column when it is off)."""
    return tf.zeros([rows, steps if no_repeat else 1], tf.int32)


def guarded(log_probs, history, t, no_repeat):
    """``(r, v)`` log-probabilities with the tokens the guard bans at -inf (none when off)."""
    if not no_repeat:
        return log_probs
    banned = repeat_mask(history, t, no_repeat, tf.shape(log_probs)[-1])
    return tf.where(banned, -np.inf, log_probs)


def length_penalty(lengths, alpha):
    """GNMT's ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al., 2016); 1 when ``alpha`` is 0.

    A hypothesis is ranked by ``log P(Y) / lp(Y)``; ``|Y|`` counts its tokens, EOS
    included. Summed log-probabilities only fall as a hypothesis grows, so without
    the penalty a beam prefers short outputs; ``alpha`` in 0.6–1.0 offsets that.
    """
    return ((5.0 + tf.cast(lengths, tf.float32)) / 6.0) ** tf.cast(alpha, tf.float32)


def output_lengths(ids):
    """``(..., t)`` ids that each hold an EOS -> ``(...)`` int32 lengths, EOS included."""
    return tf.argmax(tf.cast(ids == EOS_ID, tf.int32), axis=-1, output_type=tf.int32) + 1
