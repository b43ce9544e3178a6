"""The matmul inside recurrent loops: ``x·W`` with thin ``x`` and the same ``W`` every step.

A loop step multiplies only ``b`` rows (the batch, e.g. 64), and at such thin shapes
the operand layout decides the speed. Measured in a loop of 20 dependent steps on a
2-core AVX2 CPU: ``x·W`` at (64 x 512)·(512 x 2048) ran at about 80 GFLOP/s with
oneDNN and 90 with Eigen, ``(Wᵀ·xᵀ)ᵀ`` at about 150 with either, ``x·(Wᵀ)ᵀ``
(``transpose_b``) at 145 with oneDNN but 30 with Eigen (docs/speed.md). So a loop
calls ``prepare`` once before it, and ``matmul`` each step.
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
