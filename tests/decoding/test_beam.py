"""Beam search checked against greedy search, exhaustive search and teacher forcing."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from nmt.decoding.beam import beam_search
from nmt.decoding.search import greedy_search, length_penalty

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SRC_LENGTHS = [6, 3, 5, 2, 7, 4]
LIMITS = np.array([9, 7, 5, 8, 4, 1], np.int32)


def with_eos_bias(model, eos_bias):
    """Tilts the output layer so that EOS wins by ``eos_bias`` more than untilted."""
    bias = model.decoder.projection.bias
    value = bias.numpy()
    value[EOS] += eos_bias
    bias.assign(value)
    return model


@pytest.fixture
def src(make_sources):
    return make_sources(SRC_LENGTHS)


def beam(model, src, limits, k, n=1, alpha=0.0):
    return tuple(x.numpy() for x in beam_search(model, src, limits, k, n, alpha))


def lengths_of(ids):
    """Lengths up to the first EOS, which every hypothesis must hold."""
    assert np.all((ids == EOS).any(axis=-1))
    return np.argmax(ids == EOS, axis=-1) + 1


def check_dead(ids, weights, log_probs):
    """Entries past the outputs a limit admits: all padding, -inf, last. Returns the real mask."""
    real = np.isfinite(log_probs)
    assert np.all(np.diff(real.astype(int), axis=1) <= 0)
    assert np.all(ids[~real] == PAD) and np.all(weights[~real] == 0.0)
    return real


def teacher_forced(model, src, ids):
    """``(b, n, t)`` hypotheses -> token log-probabilities ``(b, n, t)``, weights ``(b, n, t, s)``.

    Each hypothesis is re-scored by the model on its own, BOS + ids[:-1] as input.
    """
    b, n, t = ids.shape
    flat = ids.reshape(b * n, t)
    tgt_in = np.concatenate([np.full((b * n, 1), BOS, flat.dtype), flat[:, :-1]], axis=1)
    tgt_in[flat == PAD] = PAD
    logits, weights = model((np.repeat(src, n, axis=0), tgt_in))
    logits = logits.numpy().astype(np.float64)
    log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    chosen = np.take_along_axis(log_probs, flat[..., None], axis=-1)[..., 0]
    return chosen.reshape(b, n, t), weights.numpy().reshape(b, n, t, -1)


@pytest.mark.parametrize("seed", [0, 3])
def test_beam_of_one_is_greedy(make_model, src, seed):
    model = with_eos_bias(make_model(seed=seed), 2.5)
    ids, weights, scores = (x.numpy() for x in greedy_search(model, src, LIMITS))
    for alpha in (0.0, 1.0):  # one live hypothesis: the penalty never changes the choice
        b_ids, b_weights, b_scores = beam(model, src, LIMITS, 1, 1, alpha)
        np.testing.assert_array_equal(b_ids[:, 0], ids)
        np.testing.assert_allclose(b_weights[:, 0], weights, atol=1e-6)
        np.testing.assert_allclose(b_scores[:, 0], scores, atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_beam_never_scores_below_greedy(make_model, src, seed):
    """Seed 2 with k=2 is a case where plain beam search, without greedy's finalist, does."""
    model = with_eos_bias(make_model(seed=seed), 2.5)
    ids, _, scores = (x.numpy() for x in greedy_search(model, src, LIMITS))
    greedy_rank = scores / length_penalty(lengths_of(ids), 0.6).numpy()
    for k in (2, 3, 5):
        _, _, log_probs = beam(model, src, LIMITS, k)
        assert np.all(log_probs[:, 0] >= scores - 1e-4), (k, log_probs[:, 0] - scores)
        b_ids, _, log_probs = beam(model, src, LIMITS, k, 1, 0.6)
        rank = log_probs[:, 0] / length_penalty(lengths_of(b_ids[:, 0]), 0.6).numpy()
        assert np.all(rank >= greedy_rank - 1e-4), (k, rank - greedy_rank)


def test_wide_beam_is_exhaustive_search(make_model, make_ids):
    """A beam wider than the number of hypotheses finds the most probable output exactly."""
    model = make_model(seed=4, tgt_vocab_size=8)
    src = make_ids([5, 3], 30, seed=2)
    src[[0, 1], [4, 2]] = EOS
    limit = 4
    emittable = [t for t in range(8) if t not in (PAD, BOS, EOS)]
    outputs = [
        [*body, EOS] for n in range(limit) for body in itertools.product(emittable, repeat=n)
    ]
    ids = np.zeros((1, len(outputs), limit), np.int32)
    for j, output in enumerate(outputs):
        ids[0, j, : len(output)] = output
    for row in range(len(src)):
        log_probs, _ = teacher_forced(model, src[row : row + 1], ids)
        exact = np.where(ids != PAD, log_probs, 0.0).sum(-1)[0]
        b_ids, _, b_scores = beam(model, src[row : row + 1], np.array([limit], np.int32), 256)
        assert len(outputs) < 256
        np.testing.assert_allclose(b_scores[0, 0], exact.max(), atol=1e-4)
        np.testing.assert_array_equal(b_ids[0, 0], ids[0, exact.argmax(), : b_ids.shape[2]])


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
def test_n_best_are_sorted_and_distinct(make_model, src, alpha):
    model = with_eos_bias(make_model(seed=1), 2.0)
    ids, weights, log_probs = beam(model, src, LIMITS, 5, 4, alpha)
    assert ids.shape[:2] == log_probs.shape == (len(src), 4)
    real = check_dead(ids, weights, log_probs)
    # A one-token limit admits one output, EOS; every other limit here admits more than 4.
    np.testing.assert_array_equal(real.sum(1), np.where(LIMITS == 1, 1, 4))
    for row, hypotheses in enumerate(ids):
        hypotheses = hypotheses[real[row]]
        rank = log_probs[row, real[row]] / length_penalty(lengths_of(hypotheses), alpha).numpy()
        assert np.all(np.diff(rank) <= 1e-5)
        assert len({tuple(h) for h in hypotheses}) == len(hypotheses)


def test_eos_ends_every_hypothesis_then_padding(make_model, src):
    """Sentences of different lengths and limits: each hypothesis stops at its own EOS."""
    model = with_eos_bias(make_model(seed=3), 2.5)
    ids, weights, log_probs = beam(model, src, LIMITS, 4, 4)
    real = check_dead(ids, weights, log_probs)
    lengths = lengths_of(ids[real])
    assert ids.shape[2] == lengths.max()
    assert weights.shape == (*ids.shape, max(SRC_LENGTHS))
    assert lengths.min() < lengths.max()
    assert np.all(lengths <= np.broadcast_to(LIMITS[:, None], real.shape)[real])
    for hypothesis, hypothesis_weights, end in zip(ids[real], weights[real], lengths):
        assert not np.isin(hypothesis[: end - 1], [PAD, BOS, EOS]).any()
        assert np.all(hypothesis[end:] == PAD)
        assert np.all(hypothesis_weights[end:] == 0.0)
    never_eos = with_eos_bias(make_model(seed=3), -1000.0)
    ids, _, log_probs = beam(never_eos, src, LIMITS, 3, 3)
    real = np.isfinite(log_probs)
    np.testing.assert_array_equal(lengths_of(ids[real]), np.repeat(LIMITS, real.sum(1)))


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_scores_and_attention_are_those_of_teacher_forcing(make_model, src, alpha):
    model = with_eos_bias(make_model(seed=2), 2.5)
    ids, weights, log_probs = beam(model, src, LIMITS, 4, 3, alpha)
    alive = check_dead(ids, weights, log_probs)
    forced_log_probs, forced_weights = teacher_forced(model, src, ids)
    real = ids != PAD
    forced = np.where(real, forced_log_probs, 0.0).sum(-1)
    np.testing.assert_allclose(log_probs[alive], forced[alive], atol=1e-4)
    np.testing.assert_allclose(weights[real], forced_weights[real], atol=1e-5)
    np.testing.assert_allclose(weights.sum(-1), real.astype(np.float32), atol=1e-5)
    source_padding = np.broadcast_to((src == PAD)[:, None, None, :], weights.shape)
    assert np.all(weights[source_padding] == 0.0)


def test_batching_does_not_change_results(make_model, src):
    model = with_eos_bias(make_model(seed=5), 2.5)
    ids, weights, log_probs = beam(model, src, LIMITS, 3, 2, 0.6)
    for row, s in enumerate(SRC_LENGTHS):
        one = beam(model, src[row : row + 1, :s], LIMITS[row : row + 1], 3, 2, 0.6)
        t = one[0].shape[2]
        np.testing.assert_array_equal(ids[row, :, :t], one[0][0])
        assert np.all(ids[row, :, t:] == PAD)
        np.testing.assert_allclose(weights[row, :, :t, :s], one[1][0], atol=1e-5)
        np.testing.assert_allclose(log_probs[row], one[2][0], atol=1e-4)


def test_graph_beam_matches_eager(make_model, src):
    """Translation runs the search in a tf.function with the widths as tensors."""
    model = with_eos_bias(make_model(seed=3), 2.5)
    search = tf.function(
        lambda s, limits, k, n, alpha: beam_search(model, s, limits, k, n, alpha),
        input_signature=[
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
        ],
    )
    for k, n in ((4, 2), (2, 2)):
        got = [x.numpy() for x in search(src, LIMITS, k, n, 0.6)]
        expected = beam(model, src, LIMITS, k, n, 0.6)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_allclose(got[1], expected[1], atol=1e-5)
        np.testing.assert_allclose(got[2], expected[2], atol=1e-4)


def test_beam_traces_with_static_shapes(make_model, src):
    """Callers that fix the batch and beam sizes get the same search (loop shapes stay put)."""
    model = with_eos_bias(make_model(seed=3), 2.5)
    got = tf.function(lambda: beam_search(model, tf.constant(src), tf.constant(LIMITS), 3, 2))()
    for a, b in zip(got, beam(model, src, LIMITS, 3, 2), strict=True):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-5)
