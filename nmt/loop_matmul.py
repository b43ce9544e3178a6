"""The matmul inside recurrent loops: ``x·W`` with thin ``x`` and the same ``W`` every step.

A loop step multiplies only ``b`` rows (the batch, e.g. 64), and at such thin shapes
the operand layout decides the speed. Per step of a loop of 20 dependent steps on a
2-core AVX2 CPU, (64 x 512)·(512 x 2048) took 1.96 ms as ``x·W`` and 0.98 ms as
``(Wᵀ·xᵀ)ᵀ`` with oneDNN (1.84 and 1.30 ms with Eigen), while ``x·(Wᵀ)ᵀ``
(``transpose_b`` on the weight) was fast with oneDNN and 3-5x slower with Eigen. The
whole training step went from 565-582 to 489-523 ms (docs/speed.md). So a loop calls
``prepare`` once before it, and ``matmul`` each step.
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
