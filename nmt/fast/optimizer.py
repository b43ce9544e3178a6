"""Keras's Adam with each weight's update as one fused TensorFlow kernel."""

from __future__ import annotations

import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose per-weight update is one ``ResourceApplyAdam`` op.

    Keras's ``update_step`` is about ten ops per weight, each a pass over it; TensorFlow's
    ``ResourceApplyAdam`` does the same arithmetic (``m += (g - m)(1 - β1)``,
    ``v += (g² - v)(1 - β2)``, ``w -= α·m / (√v + ε)`` with
    ``α = lr·√(1 - β2ᵗ) / (1 - β1ᵗ)``) in one multi-threaded pass. For the reference
    model on an AVX2 CPU the whole update was faster than Keras's under XLA and much
    faster than Keras's without it, and it compiles far sooner than under XLA
    (docs/speed-training-step.md, "Adam as one kernel per weight").

    Everything else is the base class's: its variables (so checkpoints are unchanged),
    the learning rate and its schedule, and gradient clipping, which the base class
    applies before ``update_step`` (by the global norm computed in one pass per
    gradient here). AMSGrad and sparse gradients take Keras's own path.
    """

    def __init__(self, *args, name="adam", **kwargs):
        # Keras's name, so the optimizer's variables keep their paths.
        super().__init__(*args, name=name, **kwargs)

    def _clip_gradients(self, grads):
        """Keras's clipping, with the global norm from ``tf.nn.l2_loss``.

        Keras squares every gradient into a new tensor before summing it;
        ``l2_loss`` reduces in the same pass, which made the reference model's step a
        little faster (docs/speed-training-step.md, "Adam as one kernel per weight").
        """
        if not self.global_clipnorm or self.global_clipnorm <= 0 or self.clipnorm:
            return super()._clip_gradients(grads)
        present = [g for g in grads if g is not None]
        norm = tf.sqrt(2.0 * tf.add_n([tf.nn.l2_loss(g) for g in present]))
        scale = self.global_clipnorm * tf.minimum(1.0 / norm, 1.0 / self.global_clipnorm)
        # As in Keras: a norm of inf or NaN makes every gradient NaN, not zero.
        scale = scale + (norm - norm)
        return [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]

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
