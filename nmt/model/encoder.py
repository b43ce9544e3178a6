"""The source encoder: embeddings and a (bi)directional LSTM stack."""

from __future__ import annotations

import keras
from keras import ops

from nmt.constants import PAD_ID
from nmt.model.loops import PLAIN, Loops
from nmt.model.lstm_cell import LayerNormLSTMCell
from nmt.model.word_dropout import WordDropout


# Unit-variance embeddings (PyTorch's default) instead of Keras's uniform(+-0.05):
# the tiny default starves the LSTMs of input signal and stalls early training
# on a unigram plateau.
def embedding_init():
    return keras.initializers.RandomNormal(stddev=1.0)


class Encoder(keras.layers.Layer):
    """Reads source ids into vectors ``y_1..y_s`` and a state for the decoder.

    The LSTMs keep Keras's default activations, no recurrent dropout and no
    unrolling, and sources are right-padded, which is what makes them eligible
    for the fused cuDNN kernel on a GPU. Dropout is applied between layers
    instead of inside them for the same reason. The layers run through ``loops``
    (``nmt.model.loops``): the trainer's CPU loops run the same weights with a faster
    hand-written backward pass (``nmt.fast.lstm``).

    Args:
        vocab_size: Source vocabulary size ``v``.
        embedding_dim: Embedding size ``e``.
        units: Output size ``u`` of each position (each direction has ``u / 2``
            when bidirectional, so the decoder sees the same size either way).
        layers: Number of stacked LSTM layers.
        bidirectional: Read the source in both directions.
        dropout: Dropout rate on embeddings and between layers.
        word_dropout: Probability of dropping a whole source token in training.
        layer_norm: Layer-normalised LSTMs (``nmt.model.lstm_cell``), which cuDNN
            does not run.

    Call arguments:
        ids: ``(b, s)`` int — source ids, 0 for padding.
        training: Whether dropout is active.
        loops: The ``Loops`` that run the LSTMs; plain Keras by default.

    Returns:
        ``(values, mask, (h, c))``: ``(b, s, u)`` outputs, ``(b, s)`` bool mask
        (True at real tokens) and the last layer's final state, ``(b, u)`` each.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        layer_norm: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.layers = layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.layer_norm = layer_norm
        self.word_dropout_layer = WordDropout(word_dropout)
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, embeddings_initializer=embedding_init(), name="embedding"
        )
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.rnns = []
        for i in range(layers):
            size = units // 2 if bidirectional else units
            if layer_norm:
                rnn = keras.layers.RNN(
                    LayerNormLSTMCell(size, name="cell"),
                    return_sequences=True,
                    return_state=True,
                    name=f"lstm_{i}",
                )
            else:
                rnn = keras.layers.LSTM(
                    size, return_sequences=True, return_state=True, name=f"lstm_{i}"
                )
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, name=f"bilstm_{i}")
            self.rnns.append(rnn)

    def build(self, ids_shape):
        self.embedding.build(ids_shape)
        shape = (ids_shape[0], ids_shape[1], self.embedding_dim)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = (ids_shape[0], ids_shape[1], self.units)

    def call(self, ids, training=False, loops: Loops = PLAIN):
        mask = ops.not_equal(ids, PAD_ID)
        x = self.word_dropout_layer(self.embedding(ids), ids, training=training)
        x = self.dropout_layer(x, training=training)
        for i, rnn in enumerate(self.rnns):
            if i:
                x = self.dropout_layer(x, training=training)
            x, *states = loops.encoder_lstm(rnn, x, mask, training=training)
        if self.bidirectional:
            # Bidirectional returns (h_fw, c_fw, h_bw, c_bw).
            h = ops.concatenate([states[0], states[2]], axis=-1)
            c = ops.concatenate([states[1], states[3]], axis=-1)
        else:
            h, c = states
        return x, mask, (h, c)

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "layers": self.layers,
                "bidirectional": self.bidirectional,
                "dropout": self.dropout,
                "word_dropout": self.word_dropout,
                "layer_norm": self.layer_norm,
            }
        )
        return config
