"""Word dropout: whole input tokens left out in training, a regulariser for small data."""

from __future__ import annotations

import keras
from keras import ops

from nmt.constants import BOS_ID, EOS_ID, PAD_ID


class WordDropout(keras.layers.Layer):
    """Zeroes the embeddings of randomly chosen tokens, each with probability ``rate``.

    Dropout on embedding units still shows every token to the network; dropping whole
    tokens makes it guess words from their context, which is what helps when a
    few thousand sentence pairs are all there is (Sennrich and Zhang, 2019). The kept
    tokens are scaled by ``1 / (1 - rate)``, as in ordinary dropout, so nothing
    changes in expectation and inference needs no rescaling. BOS, EOS and padding
    are never dropped: they carry where a sentence starts and ends.

    Args:
        rate: Probability of dropping a token.

    Call arguments:
        embedded: ``(b, t, e)`` embeddings of ``ids``.
        ids: ``(b, t)`` int token ids.
        training: Only then are tokens dropped.

    Returns:
        ``(b, t, e)``.
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if rate else None

    def call(self, embedded, ids, training=False):
        if not (training and self.rate):
            return embedded
        draw = keras.random.uniform(ops.shape(ids), seed=self.seed_generator)
        special = (ids == PAD_ID) | (ids == BOS_ID) | (ids == EOS_ID)
        scale = ops.cast(draw >= self.rate, embedded.dtype) / (1.0 - self.rate)
        scale = ops.where(special, ops.ones_like(scale), scale)
        return embedded * scale[..., None]

    def compute_output_shape(self, embedded_shape, ids_shape=None):
        return embedded_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
