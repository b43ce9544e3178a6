"""An exponential moving average of the weights, kept beside them during training."""

from __future__ import annotations

import contextlib

import tensorflow as tf


class MovingAverage(tf.Module):
    """``average ← d·average + (1 - d)·weight`` after every training step (Polyak averaging).

    The decay ramps up as ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates
    (TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so the first
    epochs' average follows the weights instead of holding on to their random start.
    With little data and a constant learning rate the weights keep circling the
    minimum; their average over the last thousand or so steps sits nearer to it.

    The averages are a checkpointed module of their own: the trainer saves them with the
    training state, swaps them in to score them on dev (``swapped_in``), and keeps
    whichever of the two scores better as ``best/``.

    Args:
        variables: The weights to follow (the model's trainable variables).
        decay: ``d``'s ceiling, in (0, 1).
    """

    def __init__(self, variables, decay: float):
        super().__init__(name="moving_average")
        self.decay = decay
        self._weights = list(variables)
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")
        self.averages = [
            tf.Variable(tf.convert_to_tensor(w), trainable=False, name="average")
            for w in self._weights
        ]

    def update(self) -> None:
        """One step's update; runs inside the compiled train step."""
        n = tf.cast(self.updates, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        for average, weight in zip(self.averages, self._weights):
            weight = tf.convert_to_tensor(weight)
            average.assign_sub((1.0 - tf.cast(decay, average.dtype)) * (average - weight))
        self.updates.assign_add(1)

    def reset(self) -> None:
        """Start over from the current weights (a checkpoint saved without averages)."""
        for average, weight in zip(self.averages, self._weights):
            average.assign(tf.convert_to_tensor(weight))
        self.updates.assign(0)

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averages inside the block and its own weights again after."""
        kept = [tf.identity(tf.convert_to_tensor(w)) for w in self._weights]
        for weight, average in zip(self._weights, self.averages):
            weight.assign(average)
        try:
            yield
        finally:
            for weight, value in zip(self._weights, kept):
                weight.assign(value)
