"""nmt.fast.optimizer.FusedAdam: Keras's Adam, one fused kernel per weight; both against
the textbook update written out in NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.fast.optimizer import FusedAdam

SHAPES = [(5, 3), (7,)]


def run(optimizer_class, steps, gradients_of, clipnorm=None, compiled=True):
    """Weights after ``steps`` updates from the same start with ``gradients_of(step, weights)``."""
    rng = np.random.default_rng(0)
    weights = [
        keras.Variable(rng.normal(size=shape).astype("float32"), name=f"w{i}")
        for i, shape in enumerate(SHAPES)
    ]
    schedule = keras.optimizers.schedules.ExponentialDecay(
        LEARNING_RATE, decay_steps=DECAY_STEPS, decay_rate=DECAY_RATE
    )
    optimizer = optimizer_class(learning_rate=schedule, global_clipnorm=clipnorm)
    optimizer.build(weights)

    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, weights))

    apply = tf.function(apply) if compiled else apply
    for step in range(steps):
        apply(gradients_of(step, weights))
    return [w.numpy() for w in weights], optimizer


LEARNING_RATE, DECAY_STEPS, DECAY_RATE = 0.1, 2, 0.5  # the schedule ``run`` builds
# Adam's constants as Kingma & Ba give them, which Keras's defaults are.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def textbook(steps, gradients_of, clipnorm=None):
    """``run``'s weights after ``steps`` updates, computed in float64 NumPy.

    Step k (from 0) uses the schedule's rate lr_k = 0.1·0.5^(k / 2); the gradients are
    clipped by their global norm, g <- g·min(1, clip / ||g||); then Adam (Kingma & Ba,
    in the form of their section 2 that Keras and TensorFlow implement):
    m <- β1·m + (1 - β1)·g, v <- β2·v + (1 - β2)·g², w <- w - α·m / (√v + ε) with the
    bias correction α = lr_k·√(1 - β2ᵗ) / (1 - β1ᵗ), t = k + 1.
    """
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=shape).astype("float32").astype(np.float64) for shape in SHAPES]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for k in range(steps):
        gradients = [np.asarray(g, np.float64) for g in gradients_of(k, weights)]
        if clipnorm:
            norm = np.sqrt(sum(np.sum(g**2) for g in gradients))
            gradients = [g * min(1.0, clipnorm / norm) for g in gradients]
        t = k + 1
        rate = LEARNING_RATE * DECAY_RATE ** (k / DECAY_STEPS)
        alpha = rate * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
        for i, g in enumerate(gradients):
            m[i] = BETA_1 * m[i] + (1 - BETA_1) * g
            v[i] = BETA_2 * v[i] + (1 - BETA_2) * g * g
            weights[i] = weights[i] - alpha * m[i] / (np.sqrt(v[i]) + EPSILON)
    return weights, m, v


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


@pytest.mark.parametrize("optimizer_class", [FusedAdam, keras.optimizers.Adam])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("clipnorm", [None, 0.5])
def test_adam_is_the_textbook_update(optimizer_class, clipnorm, compiled):
    # Gradients that grow with the step (and, under the 0.5 limit, are clipped by a
    # different factor each step) make every move depend on the ratios of successive
    # gradients, not only on their signs as Adam's first step does.
    # Moves of about 0.1 (the learning rate): a wrong term shows at 1e-3 or more. The
    # float32 β2 is 1.3e-5 off 0.999 in 1 - β2, so v and the bias correction are off by
    # about that much relatively: 1e-6 per step of 0.1, a few 1e-6 after five.
    got, optimizer = run(optimizer_class, 5, dense_gradients, clipnorm, compiled)
    expected, m, v = textbook(5, dense_gradients, clipnorm)
    for w, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(w, e, rtol=0, atol=1e-5)
    assert optimizer.epsilon == EPSILON
    assert (optimizer.beta_1, optimizer.beta_2) == (BETA_1, BETA_2)
    # The moments are kept where Keras keeps them: checkpoints restore them.
    for moment, e in zip(optimizer._momentums + optimizer._velocities, m + v, strict=True):
        np.testing.assert_allclose(np.asarray(moment), e, rtol=1e-4, atol=1e-7)


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
