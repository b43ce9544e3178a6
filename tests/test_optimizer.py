"""nmt.fast.optimizer.FusedAdam: Keras's Adam, one fused kernel per weight."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.fast.optimizer import FusedAdam


def run(optimizer_class, steps, gradients_of, clipnorm=None, compiled=True):
    """Weights after ``steps`` updates from the same start with ``gradients_of(step, weights)``."""
    rng = np.random.default_rng(0)
    weights = [
        keras.Variable(rng.normal(size=shape).astype("float32"), name=f"w{i}")
        for i, shape in enumerate([(5, 3), (7,)])
    ]
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    optimizer = optimizer_class(learning_rate=schedule, global_clipnorm=clipnorm)
    optimizer.build(weights)

    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, weights))

    apply = tf.function(apply) if compiled else apply
    for step in range(steps):
        apply(gradients_of(step, weights))
    return [w.numpy() for w in weights], optimizer


def dense_gradients(step, weights):
    rng = np.random.default_rng(step + 1)
    return [tf.constant(rng.normal(size=w.shape) * (step + 1), tf.float32) for w in weights]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("clipnorm", [None, 0.5])
def test_fused_adam_is_keras_adam(clipnorm, compiled):
    # Steps of about 0.1 (the learning rate): a wrong term would show at 1e-2, while
    # float32 rounding of the two kernels' orders of operations stays near 1e-6.
    fused, fused_optimizer = run(FusedAdam, 5, dense_gradients, clipnorm, compiled)
    plain, plain_optimizer = run(keras.optimizers.Adam, 5, dense_gradients, clipnorm, compiled)
    for got, expected in zip(fused, plain, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # The weights moved, and the moments are the ones Keras keeps (checkpoints).
    assert not np.allclose(fused[0], run(FusedAdam, 0, dense_gradients)[0][0])
    assert int(fused_optimizer.iterations.numpy()) == 5
    assert fused_optimizer.name.startswith("adam")
    for got, expected in zip(fused_optimizer.variables, plain_optimizer.variables, strict=True):
        # Paths below the optimizer's own name, which Keras numbers per instance.
        assert got.path.split("/", 1)[1] == expected.path.split("/", 1)[1]
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_sparse_gradients_take_keras_path():
    def sparse(step, weights):
        dense = dense_gradients(step, weights)
        first = tf.IndexedSlices(dense[0][:2], tf.constant([1, 3]), tf.constant([5, 3]))
        return [first, dense[1]]

    fused, _ = run(FusedAdam, 3, sparse, compiled=False)
    plain, _ = run(keras.optimizers.Adam, 3, sparse, compiled=False)
    for got, expected in zip(fused, plain, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_clipping_a_non_finite_norm_gives_nan_as_keras_does():
    def infinite(step, weights):
        gradients = dense_gradients(step, weights)
        return [gradients[0], tf.tensor_scatter_nd_update(gradients[1], [[0]], [np.inf])]

    fused, _ = run(FusedAdam, 1, infinite, clipnorm=1.0)
    plain, _ = run(keras.optimizers.Adam, 1, infinite, clipnorm=1.0)
    for got, expected in zip(fused, plain, strict=True):
        assert np.isnan(expected).all()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
