"""Additive (Bahdanau) attention with keys projected once per source batch."""

from __future__ import annotations

import keras
from keras import ops


class AdditiveAttention(keras.layers.Layer):
    """Scores ``v · tanh(W_c·c + W_y·y_i)`` and averages ``y`` with their softmax.

    ``W_y·y`` does not depend on the query, so ``project_keys`` computes it once per
    source batch and every decoding step reuses it: a step costs one ``(b, u)``
    query projection instead of a ``(b, s, u)`` key projection. There are no bias
    terms, exactly as in the formula (a bias would shift every score equally).

    Args:
        units: Size ``a`` of the hidden layer ``m_i`` of the scorer.

    Call arguments:
        query: ``(b, q)`` — the query vector ``c`` (the decoder's previous state).
        values: ``(b, s, u)`` — the encoder outputs ``y_1..y_s``.
        mask: ``(b, s)`` bool — True at real source positions. Padding gets weight
            exactly 0 and the weights over the real positions sum to 1.
        keys: optional ``(b, s, a)`` result of ``project_keys(values)``.

    Returns:
        ``(context, weights)``: ``(b, u)`` and ``(b, s)``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        # The mask is an explicit argument; this only tells Keras not to warn about it.
        self.supports_masking = True
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query")  # W_c
        self.key_dense = keras.layers.Dense(units, use_bias=False, name="key")  # W_y
        self.score_dense = keras.layers.Dense(1, use_bias=False, name="score")  # v

    def build(self, query_shape, values_shape=None):
        self.query_dense.build(query_shape)
        if values_shape is not None:
            self.key_dense.build(values_shape)
        self.score_dense.build((None, self.units))

    def build_for(self, query_dim: int, value_dim: int) -> None:
        """Build from sizes alone, for owners that call ``attend`` directly."""
        self.build((None, query_dim), (None, None, value_dim))

    def project_keys(self, values):
        """``(b, s, u)`` -> ``(b, s, a)``: the query-independent half of the scores."""
        return self.key_dense(values)

    def attend(self, projected_query, keys, values, mask):
        """Attention for an already projected query ``W_c·c`` of shape ``(b, a)``.

        Split out so a decoder can fuse ``W_c`` with its own recurrent matmul.
        """
        hidden = ops.tanh(keys + ops.expand_dims(projected_query, 1))  # (b, s, a)
        scores = ops.squeeze(self.score_dense(hidden), -1)  # (b, s)
        weights = masked_softmax(scores, mask)
        context = ops.einsum("bs,bsu->bu", weights, ops.cast(values, weights.dtype))
        return ops.cast(context, values.dtype), weights

    def call(self, query, values, mask=None, keys=None):
        if keys is None:
            keys = self.project_keys(values)
        if mask is None:
            mask = ops.ones(ops.shape(values)[:2], dtype="bool")
        return self.attend(self.query_dense(query), keys, values, mask)

    def compute_output_spec(self, query, values, mask=None, keys=None):
        b, s, u = values.shape
        return (
            keras.KerasTensor((b, u), dtype=self.compute_dtype),
            keras.KerasTensor((b, s), dtype="float32"),
        )

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def masked_softmax(scores, mask):
    """Softmax over positions where ``mask`` is True, in float32 even under mixed precision.

    Masked positions get exactly 0: their scores are replaced by the dtype's lowest
    value, whose exponent underflows to 0 after the max is subtracted.
    """
    scores = ops.cast(scores, "float32")
    lowest = ops.full_like(scores, -3.0e38)
    return ops.softmax(ops.where(mask, scores, lowest), axis=-1)
