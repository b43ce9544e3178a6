"""The matmuls of recurrent loops: ``x·W`` with thin ``x`` and the same ``W`` every step.

A loop step multiplies only ``b`` rows (the batch, e.g. 64), and at such thin shapes
the operand layout decides the speed. Per step of a loop of 20 dependent steps on a
2-core AVX2 CPU, (64 x 512)·(512 x 2048) took 1.96 ms as ``x·W`` and 0.98 ms as
``(Wᵀ·xᵀ)ᵀ`` with oneDNN (1.84 and 1.30 ms with Eigen), while ``x·(Wᵀ)ᵀ``
(``transpose_b`` on the weight) was fast with oneDNN and 3-5x slower with Eigen. The
whole training step went from 565-582 to 489-523 ms (docs/speed.md). So a loop calls
``prepare`` once before it, and ``matmul`` each step.

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

    ``inputs`` are ``(s, b, k_i)``, ``d_rows`` ``(s * b, n)``. With oneDNN on a 2-core
    AVX2 CPU, (256 x 1280)·(1280 x 2048) alone took 17 ms (77 GFLOP/s) and
    (512 x 1280)·(1280 x 2048) 16-17 ms, while the two stacked as one
    (768 x 1280)·(1280 x 2048) took 24 ms (docs/speed.md).
    """
    stacked = tf.concat(inputs, axis=-1)
    stacked = tf.reshape(stacked, [-1, tf.shape(stacked)[-1]])
    product = tf.matmul(stacked, d_rows, transpose_a=True)
    sizes = tf.stack([tf.shape(x)[-1] for x in inputs])
    return tf.split(product, sizes, axis=0, num=len(inputs))
