"""The attention decoder: one LSTM step queried with the *previous* hidden state."""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf
from keras import ops

from nmt.model.attention import AdditiveAttention
from nmt.model.encoder import embedding_init
from nmt.model.loops import PLAIN, Loops
from nmt.model.lstm_cell import lstm_bias, lstm_update
from nmt.model.word_dropout import WordDropout


class Memory(NamedTuple):
    """What every decoding step reads from the encoder, computed once per source batch."""

    values: tf.Tensor  # (b, s, u) encoder outputs y
    keys: tf.Tensor  # (b, s, a) W_y·y
    mask: tf.Tensor  # (b, s) bool, True at real source tokens


class State(NamedTuple):
    """The decoder LSTM's state between steps."""

    h: tf.Tensor  # (b, u) hidden state, the attention query of the next step
    cell: tf.Tensor  # (b, u) cell state


class Decoder(keras.layers.Layer):
    """LSTM decoder with additive attention queried by ``h_{t-1}``.

    Step t, given the previous token ``y_{t-1}`` and state ``(h_{t-1}, cell_{t-1})``::

        context_t, s_t = attention(query=h_{t-1}, values=y)
        h_t, cell_t    = LSTM([embed(y_{t-1}); context_t], (h_{t-1}, cell_{t-1}))
        logits_t       = W_v · tanh(W_r · [h_t; context_t]) + b_v

    (with ``tie_embeddings``, ``W_v`` is the target embedding matrix; with ``layer_norm``,
    the LSTM is the layer-normalised one of ``nmt.model.lstm_cell``).

    ``step`` is the one definition of this recurrence: teacher-forced training
    (``unroll``) and step-by-step decoding (``decode_step``) both run it. The LSTM is
    written out rather than taken from ``keras.layers.LSTMCell`` so its input matrix is
    visibly split into the token's part ``W_in``, the context's part ``W_ctx`` and the
    recurrent part ``W_h``. ``nmt.fast.decoder_loop`` runs the same function of the same
    variables faster on CPUs (and ``tests/fast/`` checks that it does).

    The readout layer (Bahdanau et al.'s "deep output") maps ``[h_t; context_t]``
    to ``readout_dim`` before the vocabulary projection, which keeps the largest
    matmul of the model at ``readout_dim x v`` instead of ``2u x v``.

    Args:
        vocab_size: Target vocabulary size ``v``.
        embedding_dim: Target embedding size ``e``.
        units: LSTM size ``u``.
        attention_units: Hidden size ``a`` of the attention scorer.
        context_dim: Size of the encoder outputs (the context vector).
        readout_dim: Size of the readout layer.
        dropout: Dropout on embeddings and on ``[h_t; context_t]``.
        word_dropout: Probability of dropping a whole input token in training.
        tie_embeddings: Project onto the vocabulary with the embedding matrix
            (``readout_dim`` must equal ``embedding_dim``).
        layer_norm: Layer-normalise the LSTM's input and recurrent products and cell.

    Call arguments:
        ids: ``(b, t)`` int — teacher-forced inputs ``BOS y_1 .. y_{t-1}``.
        state: initial ``State`` (from the encoder bridge).
        memory: ``Memory`` of the source batch.
        training: Whether dropout is active.
        loops: The ``Loops`` that run the steps (``nmt.model.loops``); plain by default.

    Returns:
        ``(logits, weights)``: ``(b, t, v)`` and attention ``(b, t, s)``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        attention_units: int,
        context_dim: int,
        readout_dim: int,
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        tie_embeddings: bool = False,
        layer_norm: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.context_dim = context_dim
        self.readout_dim = readout_dim
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.tie_embeddings = tie_embeddings
        self.layer_norm = layer_norm
        # Tied, the table is also the output projection: entries of size e^-1/2 keep the
        # first logits near uniform, and inputs are scaled back up to unit variance.
        init = keras.initializers.RandomNormal(stddev=embedding_dim**-0.5)
        self.embedding = keras.layers.Embedding(
            vocab_size,
            embedding_dim,
            embeddings_initializer=init if tie_embeddings else embedding_init(),
            name="embedding",
        )
        self.input_scale = embedding_dim**0.5 if tie_embeddings else 1.0
        self.attention = AdditiveAttention(attention_units, name="attention")
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.word_dropout_layer = WordDropout(word_dropout)
        self.readout = keras.layers.Dense(readout_dim, activation="tanh", name="readout")
        if not tie_embeddings:
            self.projection = keras.layers.Dense(vocab_size, name="projection")
        if layer_norm:
            self.norm_input = keras.layers.LayerNormalization(name="norm_input")
            self.norm_recurrent = keras.layers.LayerNormalization(name="norm_recurrent")
            self.norm_cell = keras.layers.LayerNormalization(name="norm_cell")

    def build(self, ids_shape=None, *args, **kwargs):
        u = self.units
        self.embedding.build((None, None))
        self.attention.build_for(query_dim=u, value_dim=self.context_dim)
        self.readout.build((None, None, u + self.context_dim))
        if self.tie_embeddings:
            self.output_bias = self.add_weight(
                shape=(self.vocab_size,), initializer="zeros", name="output_bias"
            )
        else:
            self.projection.build((None, None, self.readout_dim))
        if self.layer_norm:
            for norm in (self.norm_input, self.norm_recurrent):
                norm.build((None, 4 * u))
            self.norm_cell.build((None, u))
        # The LSTM's input matrix in three parts; gate order i, f, g, o as in Keras.
        self.input_kernel = self.add_weight(
            shape=(self.embedding_dim, 4 * u), initializer="glorot_uniform", name="input_kernel"
        )  # W_in
        self.context_kernel = self.add_weight(
            shape=(self.context_dim, 4 * u), initializer="glorot_uniform", name="context_kernel"
        )  # W_ctx
        self.recurrent_kernel = self.add_weight(
            shape=(u, 4 * u), initializer="orthogonal", name="recurrent_kernel"
        )  # W_h
        self.bias = self.add_weight(shape=(4 * u,), initializer=lstm_bias(u), name="bias")

    def memory(self, values, mask) -> Memory:
        """Project the attention keys once per source batch."""
        return Memory(values, self.attention.project_keys(values), mask)

    def embed(self, ids, training=False):
        """``(b, ...)`` ids -> ``(b, ..., e)``: the input tokens' embeddings, after dropout."""
        embedded = self.embedding(ids)
        if self.tie_embeddings:
            embedded = embedded * ops.cast(self.input_scale, embedded.dtype)
        embedded = self.word_dropout_layer(embedded, ids, training=training)
        return self.dropout_layer(embedded, training=training)

    def step(self, x, state: State, memory: Memory):
        """One decoding step.

        Args:
            x: ``(b, e)`` embedding of the previous token ``y_{t-1}``.
            state: ``State`` holding ``h_{t-1}`` and ``cell_{t-1}``.
            memory: ``Memory`` of the source.

        Returns:
            ``(state_t, context_t, weights_t)``: new ``State``, ``(b, u_ctx)``, ``(b, s)``.
        """
        # The query is h_{t-1}: attention comes before the LSTM update below.
        context, weights = self.attention(
            state.h, memory.values, mask=memory.mask, keys=memory.keys
        )
        w_in, w_ctx, w_h, b = (
            self._cast(v)
            for v in (self.input_kernel, self.context_kernel, self.recurrent_kernel, self.bias)
        )
        x_part = ops.matmul(x, w_in) + ops.matmul(context, w_ctx)
        h_part = ops.matmul(state.h, w_h)
        if not self.layer_norm:
            h, cell = lstm_update(x_part + h_part + b, state.cell)
        else:
            z = self.norm_input(x_part) + self.norm_recurrent(h_part) + b
            h, cell = lstm_update(z, state.cell, self.norm_cell)
        return State(h, cell), context, weights

    def unroll(self, embedded, state: State, memory: Memory):
        """``step`` over ``(b, t, e)`` inputs, in a symbolic loop (no retrace per length).

        Returns:
            ``(hs, contexts, weights)``: ``(b, t, u)``, ``(b, t, u_ctx)``, ``(b, t, s)``.
        """
        batch = ops.shape(memory.values)[0]
        initial = (
            state.h,
            state.cell,
            ops.zeros((batch, self.context_dim), dtype=self.compute_dtype),
            ops.zeros(ops.shape(memory.mask), dtype="float32"),
        )

        def one_step(carry, x):
            new_state, context, weights = self.step(x, State(*carry[:2]), memory)
            return (*new_state, context, weights)

        time_major = ops.transpose(embedded, (1, 0, 2))
        hs, _, contexts, weights = tf.scan(one_step, time_major, initializer=initial)
        return tuple(ops.transpose(x, (1, 0, 2)) for x in (hs, contexts, weights))

    def output_logits(self, hs, contexts, training=False):
        """``(b, t, u)``, ``(b, t, u_ctx)`` -> ``(b, t, v)``; also works without the t axis."""
        features = ops.concatenate([hs, ops.cast(contexts, hs.dtype)], axis=-1)
        features = self.dropout_layer(features, training=training)
        readout = self.readout(features)
        if not self.tie_embeddings:
            return self.projection(readout)
        table = ops.cast(self.embedding.embeddings, readout.dtype)
        return ops.matmul(readout, ops.transpose(table)) + self._cast(self.output_bias)

    def call(self, ids, state, memory, training=False, loops: Loops = PLAIN):
        embedded = self.embed(ids, training=training)
        hs, contexts, weights = loops.decoder_unroll(self, embedded, state, memory)
        return self.output_logits(hs, contexts, training=training), weights

    def decode_step(self, ids, state: State, memory: Memory):
        """Inference: ``(b,)`` previous tokens -> ``(logits (b, v), State, weights (b, s))``."""
        new_state, context, weights = self.step(self.embed(ids), state, memory)
        return self.output_logits(new_state.h, context), new_state, weights

    def _cast(self, variable):
        return ops.cast(variable, self.compute_dtype)

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "attention_units": self.attention_units,
                "context_dim": self.context_dim,
                "readout_dim": self.readout_dim,
                "dropout": self.dropout,
                "word_dropout": self.word_dropout,
                "tie_embeddings": self.tie_embeddings,
                "layer_norm": self.layer_norm,
            }
        )
        return config
