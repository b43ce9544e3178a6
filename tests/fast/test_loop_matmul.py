"""The loops' matmul layout computes the plain product."""

import numpy as np
import tensorflow as tf

from nmt.fast import loop_matmul


def test_loop_matmul_is_the_plain_product():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 3)), tf.float32)
    w = tf.constant(rng.normal(size=(3, 7)), tf.float32)
    v = tf.constant(rng.normal(size=(4, 3)), tf.float32)
    expected = np.asarray(x) @ np.asarray(w)
    np.testing.assert_allclose(loop_matmul.matmul(x, loop_matmul.prepare(w)), expected, rtol=1e-5)
    # x·Vᵀ takes V as it is.
    np.testing.assert_allclose(loop_matmul.matmul(x, v), np.asarray(x) @ np.asarray(v).T, rtol=1e-5)


def test_stacked_weight_gradients_are_the_separate_products():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 2, 4)).astype(np.float32)  # (s, b, k1)
    b = rng.normal(size=(3, 2, 5)).astype(np.float32)  # (s, b, k2)
    d = rng.normal(size=(6, 7)).astype(np.float32)  # (s * b, n)
    got_a, got_b = loop_matmul.stacked_weight_gradients([tf.constant(a), tf.constant(b)], d)
    np.testing.assert_allclose(got_a, a.reshape(6, 4).T @ d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b.reshape(6, 5).T @ d, rtol=1e-5, atol=1e-6)
