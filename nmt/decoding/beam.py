"""Beam search over a model's decoder steps, with n-best output and a greedy finalist."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.decoding.repeats import written
from nmt.decoding.search import (
    Prefix,
    emittable,
    forced_tokens,
    greedy_from,
    guarded,
    length_penalty,
    no_repeat_history,
    output_lengths,
    word_start_only,
)
from nmt.model.loops import PLAIN, Loops


def beam_search(
    model,
    src_ids,
    limits,
    beam_size,
    n_best=1,
    alpha=0.0,
    loops: Loops = PLAIN,
    no_repeat=0,
    prefix: Prefix | None = None,
):
    """Keep the ``beam_size`` best hypotheses of every sentence at each step.

    Finished hypotheses stay in the beam: their only continuation is PAD, which
    costs nothing, so they keep their score and length and compete with the live
    ones until all of a sentence's beam has ended (as in GNMT and the
    ``tf.contrib.seq2seq`` beam decoder). Candidates are ranked by
    ``log P / length_penalty(length, alpha)``. Each step records, per beam entry,
    its token, its parent entry and the attention that produced it; the n best
    are then traced back through the parents, which costs O(t) instead of
    re-gathering a whole ``(b, k, t, s)`` attention history at every step.

    Plain beam search can end below greedy search: k rivals may outscore the
    greedy prefix mid-way, push it out, and then all fall behind it. So the
    greedy hypothesis (one more pass at 1/k of the beam's width) joins the
    finalists, and the best hypothesis never ranks below greedy's.

    Args:
        model: A ``Seq2Seq`` or an ``Ensemble`` (``encode`` and ``step_function``).
        src_ids: ``(b, s)`` int32 source ids, 0-padded, EOS-terminated.
        limits: ``(b,)`` int32 maximum output lengths, EOS included (EOS is forced
            at the limit).
        beam_size: ``k``, a Python int or scalar int32 tensor; at most the target
            vocabulary size.
        n_best: ``n`` hypotheses returned per sentence (clipped to ``k``).
        alpha: Length-penalty exponent; 0 ranks by summed log-probability.
        loops: The ``Loops`` that run the encoder and the decoder step.
        no_repeat: With ``n`` >= 2, no hypothesis holds an n-gram twice.
        prefix: Optional start every hypothesis must have (``Prefix``). While a
            sentence's prefix lasts its beam holds one live hypothesis; the search
            branches after it.

    Returns:
        ``(ids (b, n, t), weights (b, n, t, s), log_probs (b, n))``, best first by
        the penalized score: ids end with EOS then pad; ``weights[i, j, l]`` is the
        attention used to produce ``ids[i, j, l]`` (0 on padding); log_probs are
        summed log-probabilities (``scores`` of ``greedy_search``). A limit so short
        that it admits fewer than n outputs leaves the last entries all padding,
        with log-probability -inf.
    """
    k = tf.convert_to_tensor(beam_size, tf.int32)
    n = tf.minimum(tf.convert_to_tensor(n_best, tf.int32), k)
    memory, state = model.encode(src_ids, loops=loops)
    decode_step = model.step_function(loops)
    greedy = greedy_from(decode_step, memory, state, limits, no_repeat, prefix)
    batch = tf.shape(src_ids)[0]
    steps = tf.reduce_max(limits)
    # Beam entry j of sentence i lives in row i * k + j.
    memory, state = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), (memory, state))

    def keep_going(t, prev, state, finished, log_probs, lengths, tokens, parents, weights, hist):
        return (t < steps) & ~tf.reduce_all(finished)

    def one_step(
        t, prev, state_in, finished, log_probs_in, lengths_in, tokens, parents, weights, hist
    ):  # noqa: E501
        logits, state, attention = decode_step(prev, state_in, memory)
        vocab = tf.shape(logits)[-1]
        full = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        step = guarded(emittable(full), hist, t, no_repeat)
        if prefix is not None:
            forced = forced_tokens(prefix.ids, t)
            step = word_start_only(step, tf.repeat(forced, k), prefix.word_starts)
        step = tf.reshape(step, [batch, k, vocab])
        is_eos = tf.range(vocab) == EOS_ID
        step = tf.where((t + 1 >= limits)[:, None, None] & ~is_eos, -np.inf, step)
        if prefix is not None:
            forced = forced[:, None, None]
            only_forced = tf.where(
                tf.range(vocab) == forced, tf.reshape(full, tf.shape(step)), -np.inf
            )
            step = tf.where(forced > PAD_ID, only_forced, step)
        only_pad = tf.where(tf.range(vocab) == PAD_ID, 0.0, -np.inf)
        step = tf.where(finished[:, :, None], only_pad, step)
        total = tf.reshape(log_probs_in[:, :, None] + step, [batch, k * vocab])
        grown = lengths_in + tf.cast(~finished, tf.int32)
        penalty = tf.repeat(length_penalty(grown, alpha), vocab, axis=1)
        _, best = tf.math.top_k(total / penalty, k)  # (b, k), sorted
        parent, token = best // vocab, best % vocab
        log_probs = tf.gather(total, best, batch_dims=1)
        lengths = tf.gather(grown, parent, batch_dims=1)
        was_finished = tf.gather(finished, parent, batch_dims=1)
        attention = tf.gather(tf.reshape(attention, [batch, k, -1]), parent, batch_dims=1)
        attention = tf.where(was_finished[:, :, None], 0.0, attention)
        rows = tf.reshape(parent + k * tf.range(batch)[:, None], [-1])
        state = tf.nest.map_structure(lambda x: tf.gather(x, rows), state)
        grown = written(tf.gather(hist, rows), t, tf.reshape(token, [-1]))
        new = (tf.reshape(token, [-1]), state, was_finished | (token == EOS_ID), log_probs, lengths)
        # Reshapes to computed sizes lose the static shapes a caller may have fixed,
        # and a loop variable must keep its shape.
        old = (prev, state_in, finished, log_probs_in, lengths_in)
        grown.set_shape(hist.shape)
        tf.nest.map_structure(lambda x, y: x.set_shape(y.shape), new, old)
        return (
            t + 1,
            *new,
            tokens.write(t, token),
            parents.write(t, parent),
            weights.write(t, attention),
            grown,
        )

    # Only entry 0 is live at first, so step 0 expands one hypothesis, not k copies.
    first = tf.where(tf.range(k) == 0, 0.0, -np.inf)
    loop_vars = (
        tf.constant(0),
        tf.fill([batch * k], BOS_ID),
        state,
        tf.zeros([batch, k], tf.bool),
        tf.tile(first[None], [batch, 1]),
        tf.zeros([batch, k], tf.int32),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True),
        no_repeat_history(batch * k, steps, no_repeat),
    )
    *_, log_probs, _, tokens, parents, weights, _ = tf.while_loop(keep_going, one_step, loop_vars)

    def trace_back(carry, step):
        entry = carry[0]  # (b, k): where each hypothesis sits in the beam after this step
        token, parent, attention = step
        out = tuple(tf.gather(x, entry, batch_dims=1) for x in (parent, token, attention))
        tf.nest.map_structure(lambda x, y: x.set_shape(y.shape), out, carry)  # as in the loop
        return out

    entry = tf.tile(tf.range(k)[None], [batch, 1])
    initial = (entry, tf.zeros_like(entry), tf.zeros([batch, k, tf.shape(src_ids)[1]]))
    _, ids, weights = tf.scan(
        trace_back, (tokens.stack(), parents.stack(), weights.stack()), initial, reverse=True
    )
    ids, weights = tf.transpose(ids, (1, 2, 0)), tf.transpose(weights, (1, 2, 0, 3))
    return _add_finalist(ids, weights, log_probs, *greedy, n, alpha)


def _add_finalist(ids, weights, log_probs, extra_ids, extra_weights, extra_log_prob, n, alpha):
    """The n best of a beam ``(b, k, ...)`` and one more hypothesis per sentence ``(b, ...)``.

    The extra one is dropped where the beam already holds it, so the n stay distinct.
    """
    length = tf.maximum(tf.shape(ids)[2], tf.shape(extra_ids)[1])
    ids = tf.concat([_pad_to(ids, length, 2), _pad_to(extra_ids, length, 1)[:, None]], axis=1)
    weights = tf.concat(
        [_pad_to(weights, length, 2), _pad_to(extra_weights, length, 1)[:, None]], axis=1
    )
    log_probs = tf.concat([log_probs, extra_log_prob[:, None]], axis=1)
    held = tf.reduce_any(tf.reduce_all(ids[:, :-1] == ids[:, -1:], axis=2), axis=1)
    rank = log_probs / length_penalty(output_lengths(ids), alpha)
    rank = tf.concat([rank[:, :-1], tf.where(held, -np.inf, rank[:, -1])[:, None]], axis=1)
    _, best = tf.math.top_k(rank, n)
    log_probs = tf.gather(log_probs, best, batch_dims=1)
    # Where the limit admits fewer than n outputs, the rest are dead entries: blank them.
    real = log_probs > -np.inf
    ids = tf.where(real[:, :, None], tf.gather(ids, best, batch_dims=1), PAD_ID)
    weights = tf.where(real[:, :, None, None], tf.gather(weights, best, batch_dims=1), 0.0)
    # The beam ran until its last entry ended; the n best may all be shorter.
    length = tf.reduce_max(output_lengths(ids))
    return ids[:, :, :length], weights[:, :, :length], log_probs


def _pad_to(x, length, axis: int):
    """Zero-pad ``axis`` of ``x`` up to ``length``."""
    paddings = [[0, 0] for _ in x.shape]
    paddings[axis] = [0, length - tf.shape(x)[axis]]
    return tf.pad(x, paddings)
