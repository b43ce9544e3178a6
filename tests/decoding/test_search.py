"""Greedy search checked against teacher forcing on its own output."""

import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import with_eos_bias

from nmt.decoding.search import greedy_search, max_lengths

PAD, BOS, EOS = 0, 2, 3
SRC_LENGTHS = [6, 3, 5, 2, 7, 4]
LIMITS = np.array([9, 7, 5, 8, 4, 1], np.int32)


@pytest.fixture
def src(make_sources):
    return make_sources(SRC_LENGTHS)


@pytest.fixture
def model(make_model):
    # This seed and tilt give rows that stop by themselves and rows stopped at their limit
    # (test_fixture_covers_both_endings checks that they still do).
    return with_eos_bias(make_model(seed=3), 2.5)


@pytest.fixture
def result(model, src):
    return tuple(x.numpy() for x in greedy_search(model, src, LIMITS))


def output_lengths(ids):
    return (ids != PAD).sum(axis=1)


def teacher_forced(model, src, ids):
    """Logits and weights of ``model((src, BOS + ids[:-1]))``, with PAD after the end."""
    tgt_in = np.concatenate([np.full((len(ids), 1), BOS, ids.dtype), ids[:, :-1]], axis=1)
    tgt_in[ids == PAD] = PAD
    logits, weights = model((src, tgt_in))
    return logits.numpy(), weights.numpy()


def test_max_lengths():
    src = np.array([[5, 6, 3, 0], [5, 6, 7, 3], [3, 0, 0, 0]], np.int32)
    real = np.array([3, 4, 1])
    np.testing.assert_array_equal(max_lengths(src, 1.5, 2), np.floor(1.5 * real) + 2)
    np.testing.assert_array_equal(max_lengths(src, 0.0, 5), [5, 5, 5])
    np.testing.assert_array_equal(max_lengths(src, 2.0, 1), 2 * real + 1)
    assert max_lengths(src, 1.5, 2).dtype == tf.int32


def test_max_lengths_floor_like_python():
    # In float32, 2.3 * 50 is 114.99999: the limit must be Python's floor, 115.
    lengths = np.arange(1, 80)
    src = (np.arange(79)[None, :] < lengths[:, None]).astype(np.int32)
    for a in (0.7, 1.1, 1.2, 1.3, 2.3):
        expected = [math.floor(a * n) + 3 for n in lengths]
        np.testing.assert_array_equal(max_lengths(src, a, 3), expected, err_msg=str(a))


def test_fixture_covers_both_endings(model, src, result):
    ids = result[0]
    lengths = output_lengths(ids)
    logits, _ = teacher_forced(model, src, ids)
    last_argmax = logits[np.arange(len(ids)), lengths - 1].argmax(-1)
    assert np.any(last_argmax == EOS), "no row ends by itself: retune the fixture"
    assert np.any(last_argmax != EOS), "no row is stopped at its limit: retune the fixture"
    assert lengths.max() > 2


def test_ids_end_with_eos_then_padding(result):
    ids, weights, scores = result
    lengths = output_lengths(ids)
    assert ids.shape == (len(SRC_LENGTHS), lengths.max())
    assert weights.shape == (*ids.shape, max(SRC_LENGTHS))
    assert scores.shape == (len(SRC_LENGTHS),)
    assert np.all(lengths <= LIMITS)
    for row, length in zip(ids, lengths, strict=True):
        assert row[length - 1] == EOS
        assert np.all(row[: length - 1] != EOS)
        assert np.all(row[length:] == PAD)


@pytest.mark.parametrize("eos_bias", [-1000.0, 1000.0])
def test_limits_force_eos(make_model, src, eos_bias):
    """A model that never picks EOS is stopped at each limit; one that always does, at once."""
    model = with_eos_bias(make_model(), eos_bias)
    ids, _, scores = (x.numpy() for x in greedy_search(model, src, LIMITS))
    lengths = output_lengths(ids)
    if eos_bias < 0:
        np.testing.assert_array_equal(lengths, LIMITS)
        assert np.all(scores < -500.0)  # the forced EOS is scored like any chosen token
    else:
        np.testing.assert_array_equal(lengths, 1)
        np.testing.assert_allclose(scores, 0.0, atol=1e-5)
    np.testing.assert_array_equal(ids[np.arange(len(ids)), lengths - 1], EOS)


def test_never_emits_pad_or_bos(make_model, src):
    """An untrained model can rank PAD or BOS first; the output must still be EOS then PAD.

    Keras-initialised tiny models emit PAD or BOS before EOS in about a quarter of rows;
    a PAD mid-sentence makes the detokenizer cut the translation there and breaks every
    length computed as ``ids != PAD``.
    """
    model = make_model()
    bias = model.decoder.projection.bias
    value = bias.numpy()
    value[[PAD, BOS]] += 100.0
    bias.assign(value)
    ids, weights, _ = (x.numpy() for x in greedy_search(model, src, LIMITS))
    for row, limit in zip(ids, LIMITS, strict=True):
        length = int(np.argmax(row == EOS)) + 1
        assert row[length - 1] == EOS and length <= limit
        assert not np.isin(row[: length - 1], [PAD, BOS]).any(), row


def test_weights_are_those_of_teacher_forcing(model, src, result):
    ids, weights, _ = result
    _, forced_weights = teacher_forced(model, src, ids)
    real = ids != PAD
    np.testing.assert_allclose(weights[real], forced_weights[real], atol=1e-6)
    np.testing.assert_allclose(weights.sum(-1), real.astype(np.float32), atol=1e-6)
    assert np.all(weights[~real] == 0.0)
    source_padding = np.broadcast_to((src == PAD)[:, None, :], weights.shape)
    assert np.all(weights[source_padding] == 0.0)


def test_ids_are_the_argmax_of_teacher_forcing(model, src, result):
    ids, _, _ = result
    logits, _ = teacher_forced(model, src, ids)
    argmax = logits.argmax(-1)
    for row, length in enumerate(output_lengths(ids)):
        np.testing.assert_array_equal(ids[row, : length - 1], argmax[row, : length - 1])
        # The last token is EOS because it won, or because the limit was reached.
        assert argmax[row, length - 1] == EOS or length == LIMITS[row]


def test_scores_are_summed_log_probabilities(model, src, result):
    ids, _, scores = result
    logits, _ = teacher_forced(model, src, ids)
    log_probs = logits - np.logaddexp.reduce(logits.astype(np.float64), axis=-1, keepdims=True)
    chosen = np.take_along_axis(log_probs, ids[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(scores, np.where(ids != PAD, chosen, 0.0).sum(-1), atol=1e-4)


def test_batching_does_not_change_results(model, src, result):
    ids, weights, scores = result
    for row, (s, limit) in enumerate(zip(SRC_LENGTHS, LIMITS, strict=True)):
        one_ids, one_weights, one_scores = (
            x.numpy() for x in greedy_search(model, src[row : row + 1, :s], LIMITS[row : row + 1])
        )
        length = one_ids.shape[1]
        assert length <= limit
        np.testing.assert_array_equal(ids[row, :length], one_ids[0])
        assert np.all(ids[row, length:] == PAD)
        np.testing.assert_allclose(weights[row, :length, :s], one_weights[0], atol=1e-6)
        np.testing.assert_allclose(scores[row], one_scores[0], atol=1e-5)


def test_graph_search_matches_eager(model, src, result):
    """Translation runs the search inside a tf.function with unknown batch and length."""
    search = tf.function(
        lambda s, limits: greedy_search(model, s, limits),
        input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)],
    )
    ids, weights, scores = (x.numpy() for x in search(src, LIMITS))
    np.testing.assert_array_equal(ids, result[0])
    np.testing.assert_allclose(weights, result[1], atol=1e-6)
    np.testing.assert_allclose(scores, result[2], atol=1e-5)
