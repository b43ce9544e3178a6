"""Keras's Adam with each weight's update as one fused TensorFlow kernel."""

from __future__ import annotations

import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose per-weight update is one ``ResourceApplyAdam`` op.

    Keras's ``update_step`` is about ten ops per weight, each a pass over it; TensorFlow's
    ``ResourceApplyAdam`` does the same arithmetic (``m += (g - m)(1 - β1)``,
    ``v += (g² - v)(1 - β2)``, ``w -= α·m / (√v + ε)`` with
    ``α = lr·√(1 - β2ᵗ) / (1 - β1ᵗ)``) in one multi-threaded pass. For the 11.7 M weights
    of the reference model on a 2-core AVX2 CPU the whole update took 16.3 ms, against
    17.2–20.6 ms for Keras's under XLA and 28 ms without, and compiled in 0.27 s against
    1.7 s under XLA (docs/speed.md).

    Everything else is the base class's: its variables (so checkpoints are unchanged),
    the learning rate and its schedule, and gradient clipping, which the base class
    applies before ``update_step``. AMSGrad and sparse gradients take Keras's own path.
    """

    def __init__(self, *args, name="adam", **kwargs):
        # Keras's name, so the optimizer's variables keep their paths.
        super().__init__(*args, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


def _handle(variable):
    """The resource handle of a Keras variable or of the ``tf.Variable`` inside one."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle
