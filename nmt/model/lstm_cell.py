"""The LSTM update, and the layer-normalised LSTM cell the encoder uses with ``layer_norm``."""

from __future__ import annotations

import keras
from keras import ops


def lstm_update(z, cell, norm_cell=None):
    """``(h, cell)`` from the gates' pre-activations ``z`` (order i, f, g, o, as Keras).

    ``norm_cell``, when given, normalises the cell state before its ``tanh`` (the
    layer-normalised LSTM of Ba et al., 2016); the carried cell state is not normalised.
    """
    i, f, g, o = ops.split(z, 4, axis=-1)
    cell = ops.sigmoid(f) * cell + ops.sigmoid(i) * ops.tanh(g)
    shown = cell if norm_cell is None else norm_cell(cell)
    return ops.sigmoid(o) * ops.tanh(shown), cell


def lstm_bias(units: int):
    """Zeros with the forget gate at 1, as Keras's ``unit_forget_bias`` does."""

    def initializer(shape, dtype=None):
        return ops.concatenate([ops.zeros((units,)), ops.ones((units,)), ops.zeros((2 * units,))])

    return initializer


# Registered: keras.layers.Bidirectional copies its layer through get_config.
@keras.saving.register_keras_serializable(package="nmt")
class LayerNormLSTMCell(keras.layers.Layer):
    """An LSTM step whose input and recurrent products are layer-normalised apart::

        z = LN_x(x·W) + LN_h(h·U) + b,   h' = o * tanh(LN_c(cell'))

    Normalising each product keeps the gates' inputs at one scale whatever the
    embeddings and the state grow to, which steadies training on small data. For
    ``keras.layers.RNN``; not eligible for cuDNN (nor for ``nmt.fast``'s loops), so
    the plain loops run it.

    Args:
        units: State size ``u``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units
        self.norm_input = keras.layers.LayerNormalization(name="norm_input")
        self.norm_recurrent = keras.layers.LayerNormalization(name="norm_recurrent")
        self.norm_cell = keras.layers.LayerNormalization(name="norm_cell")

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], 4 * u), initializer="glorot_uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(u, 4 * u), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(4 * u,), initializer=lstm_bias(u), name="bias")
        for norm in (self.norm_input, self.norm_recurrent):
            norm.build((None, 4 * u))
        self.norm_cell.build((None, u))

    def call(self, inputs, states, training=False):
        h, cell = states
        z = (
            self.norm_input(ops.matmul(inputs, self.kernel))
            + self.norm_recurrent(ops.matmul(h, self.recurrent_kernel))
            + self.bias
        )
        h, cell = lstm_update(z, cell, self.norm_cell)
        return h, [h, cell]

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
