"""The matmuls of recurrent loops: ``x·W`` with thin ``x`` and the same ``W`` every step.

A loop step multiplies only ``b`` rows (the batch, e.g. 64), and at such thin shapes
the operand layout decides the speed. In a loop of dependent steps on an AVX2 CPU,
``(Wᵀ·xᵀ)ᵀ`` was faster than ``x·W`` with both oneDNN and Eigen, while ``x·(Wᵀ)ᵀ``
(``transpose_b`` on the weight) was fast with oneDNN and much slower with Eigen; the
whole training step got faster with it (docs/speed-training-step.md, "The loops' matmul layout").
So a loop calls ``prepare`` once before it, and ``matmul`` each step.

After the loop, the weight gradients sum over all steps at once; where two weights
share the gradient they multiply, ``stacked_weight_gradients`` does both in one matmul.
"""

from __future__ import annotations

import tensorflow as tf


def prepare(w):
    """``(k, n)`` -> ``Wᵀ`` ``(n, k)``, once per loop, for ``matmul``."""
    return tf.transpose(w)


def matmul(x, w_t):
    """``x (b, k) · W`` given ``w_t = prepare(W)``.

    For ``x·Vᵀ`` pass ``V`` itself: ``prepare(Vᵀ)`` is ``V``.
    """
    return tf.transpose(tf.matmul(w_t, x, transpose_b=True))


def stacked_weight_gradients(inputs, d_rows):
    """``[xᵀ·d_rows for x in inputs]`` as one matmul over the inputs side by side.

    ``inputs`` are ``(s, b, k_i)``, ``d_rows`` ``(s * b, n)``. With oneDNN on an AVX2
    CPU, ``xᵀ·d`` ran slowly at the encoder's shapes and one with twice the rows took
    about as long, so the inputs stacked take much less time than their products
    apart (docs/speed-training-step.md, "Weight gradients stacked into one matmul").
    """
    stacked = tf.concat(inputs, axis=-1)
    stacked = tf.reshape(stacked, [-1, tf.shape(stacked)[-1]])
    product = tf.matmul(stacked, d_rows, transpose_a=True)
    sizes = tf.stack([tf.shape(x)[-1] for x in inputs])
    return tf.split(product, sizes, axis=0, num=len(inputs))
