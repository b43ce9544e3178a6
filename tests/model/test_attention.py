"""AdditiveAttention against a NumPy transcription of v·tanh(W_c·c + W_y·y_i)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.model.attention import AdditiveAttention

B, S, Q, U, A = 3, 6, 12, 8, 10  # batch, source length, query size, value size, scorer size
LENGTHS = [6, 4, 1]  # real source positions per row; row 1 and 2 are padded


def reference(query, values, mask, w_c, w_y, v):
    """The formula in float64, one row and one position at a time, from the weights alone.

    m_i = tanh(W_c·c + W_y·y_i), e_i = v·m_i, s = softmax of e over the real positions
    (padding gets exactly 0), context = sum_i s_i·y_i.
    """
    weights = np.zeros(mask.shape)
    context = np.zeros((len(query), values.shape[-1]))
    for row in range(len(query)):
        real = np.flatnonzero(mask[row])
        scores = np.array(
            [v[:, 0] @ np.tanh(query[row] @ w_c + values[row, i] @ w_y) for i in real]
        )
        exp = np.exp(scores - scores.max())  # the max cancels; it only avoids overflow
        weights[row, real] = exp / exp.sum()
        context[row] = sum(weights[row, i] * values[row, i] for i in real)
    return context, weights


def kernels(layer):
    return [
        d.kernel.numpy().astype(np.float64)
        for d in (layer.query_dense, layer.key_dense, layer.score_dense)
    ]


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(B, Q)).astype(np.float32)
    values = rng.normal(size=(B, S, U)).astype(np.float32)
    mask = np.arange(S)[None, :] < np.array(LENGTHS)[:, None]
    return query, values, mask


@pytest.fixture
def layer(inputs):
    """A built layer whose weights are large enough for clearly non-uniform attention."""
    keras.utils.set_random_seed(0)
    layer = AdditiveAttention(A)
    layer.build_for(Q, U)
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    return layer


def test_weights_are_three_kernels_without_bias(layer):
    shapes = sorted(tuple(w.shape) for w in layer.weights)
    assert shapes == sorted([(Q, A), (U, A), (A, 1)])


def test_matches_numpy_reference(layer, inputs):
    query, values, mask = inputs
    context, weights = layer(query, values, mask=mask)
    expected_context, expected_weights = reference(query, values, mask, *kernels(layer))
    assert context.shape == (B, U) and weights.shape == (B, S)
    np.testing.assert_allclose(weights.numpy(), expected_weights, atol=1e-5)
    np.testing.assert_allclose(context.numpy(), expected_context, atol=1e-5)
    # Guard against a vacuous comparison: in every row with more than one real
    # position the weights are far from uniform over those positions.
    for row, length in enumerate(LENGTHS):
        if length > 1:
            assert np.abs(expected_weights[row, :length] - 1 / length).max() > 0.05


def test_weights_sum_to_one_and_are_exactly_zero_on_padding(layer, inputs):
    query, values, mask = inputs
    context, weights = layer(query, values, mask=mask)
    weights = weights.numpy()
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(weights[~mask] == 0.0)
    assert np.all(weights[mask] > 0.0)
    # One real position: all the weight, and the context is that position's value.
    np.testing.assert_array_equal(weights[2], np.eye(S)[0])
    np.testing.assert_allclose(context.numpy()[2], values[2, 0], atol=1e-6)


def test_context_is_the_weighted_sum_of_values(layer, inputs):
    # Independent of the scorer: when every real position of a row holds the same
    # vector, any weights summing to 1 over them give exactly that vector, whatever
    # the padding holds.
    query, values, mask = inputs
    rng = np.random.default_rng(3)
    same = rng.normal(size=(B, 1, U)).astype(np.float32)
    padded = rng.normal(scale=100.0, size=(B, S, U)).astype(np.float32)
    constant = np.where(mask[..., None], same, padded)
    context, _ = layer(query, constant, mask=mask)
    np.testing.assert_allclose(context.numpy(), same[:, 0], atol=1e-5)
    # And in general the context is the reference weights' average of the values.
    context, _ = layer(query, values, mask=mask)
    _, expected_weights = reference(query, values, mask, *kernels(layer))
    expected = np.einsum("bs,bsu->bu", expected_weights, values.astype(np.float64))
    np.testing.assert_allclose(context.numpy(), expected, atol=1e-5)


def test_without_mask_every_position_counts(layer, inputs):
    query, values, _ = inputs
    _, weights = layer(query, values)
    full = np.ones((B, S), bool)
    _, expected = reference(query, values, full, *kernels(layer))
    np.testing.assert_allclose(weights.numpy(), expected, atol=1e-5)


def test_projected_keys_give_the_same_result(layer, inputs):
    query, values, mask = inputs
    keys = layer.project_keys(values)
    assert keys.shape == (B, S, A)
    with_keys = layer(query, values, mask=mask, keys=keys)
    without = layer(query, values, mask=mask)
    for got, expected in zip(with_keys, without, strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-7)


def test_padding_values_do_not_matter(layer, inputs):
    query, values, mask = inputs
    noisy = values.copy()
    noisy[~mask] = np.random.default_rng(2).normal(scale=100.0, size=noisy[~mask].shape)
    context, weights = layer(query, values, mask=mask)
    noisy_context, noisy_weights = layer(query, noisy, mask=mask)
    np.testing.assert_array_equal(noisy_weights.numpy(), weights.numpy())
    np.testing.assert_allclose(noisy_context.numpy(), context.numpy(), atol=1e-6)


def test_config_round_trip(layer, inputs):
    query, values, mask = inputs
    config = layer.get_config()
    assert config["units"] == A
    clone = AdditiveAttention.from_config(config)
    assert clone.get_config() == config
    clone.build_for(Q, U)
    clone.set_weights(layer.get_weights())
    for got, expected in zip(
        clone(query, values, mask=mask), layer(query, values, mask=mask), strict=True
    ):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_matches_eager(layer, inputs, jit_compile):
    query, values, mask = inputs
    compiled = tf.function(
        lambda q, y, m: layer(q, y, mask=m, keys=layer.project_keys(y)), jit_compile=jit_compile
    )
    for got, expected in zip(
        compiled(query, values, mask), layer(query, values, mask=mask), strict=True
    ):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-6)
    # Padding stays exactly 0 when compiled too.
    assert np.all(compiled(query, values, mask)[1].numpy()[~mask] == 0.0)
