"""The attention decoder: one LSTM step queried with the *previous* hidden state."""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf
from keras import ops

from nmt.fast import loop_matmul
from nmt.fast.decoder_backward import unroll_backward
from nmt.model.attention import AdditiveAttention
from nmt.model.encoder import embedding_init


class Memory(NamedTuple):
    """What every decoding step reads from the encoder, computed once per source batch."""

    values: tf.Tensor  # (b, s, u) encoder outputs y
    keys: tf.Tensor  # (b, s, a) W_y·y
    mask: tf.Tensor  # (b, s) bool, True at real source tokens


class State(NamedTuple):
    h: tf.Tensor  # (b, u)
    c: tf.Tensor  # (b, u)


class LoopKernels(NamedTuple):
    """The step's two matmul kernels, ``nmt.fast.loop_matmul.prepare``-d once per loop."""

    fused: tf.Tensor  # (a + 4u, u): [W_c | W_h]ᵀ
    context: tf.Tensor  # (4u, u_ctx): W_ctxᵀ


class Trace(NamedTuple):
    """What a step keeps for the hand-written backward pass (``Decoder.unroll``)."""

    query: tf.Tensor  # (b, a) W_c·h_{t-1}
    gates: tf.Tensor  # (b, 4u) the LSTM's gates i, f, g, o before their activations


class Decoder(keras.layers.Layer):
    """LSTM decoder with additive attention queried by ``h_{t-1}``.

    Step t, given the previous token ``y_{t-1}`` and state ``(h_{t-1}, c_{t-1})``::

        context_t, s_t = attention(query=h_{t-1}, values=y)
        h_t, c_t       = LSTM([embed(y_{t-1}); context_t], (h_{t-1}, c_{t-1}))
        logits_t       = W_v · tanh(W_r · [h_t; context_t])

    The LSTM is written out rather than taken from ``keras.layers.LSTMCell`` so the
    step can be split where the work is: the embedding half of the input gates is
    computed for all steps at once before the loop (teacher forcing knows every
    input token), ``h_{t-1}`` is multiplied by the attention query matrix and the
    recurrent matrix in one fused matmul, and the readout and vocabulary
    projection run once on all steps after the loop. ``step`` is the only place
    the recurrence is written; training and inference both go through it. Training
    differentiates it with a hand-written backward pass (``unroll``), which
    ``tests/test_speed.py`` checks against TensorFlow's own gradient of ``step``.

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

    Call arguments:
        ids: ``(b, t)`` int — teacher-forced inputs ``BOS y_1 .. y_{t-1}``.
        state: initial ``State`` (from the encoder bridge).
        memory: ``Memory`` of the source batch.
        training: Whether dropout is active.

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
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, embeddings_initializer=embedding_init(), name="embedding"
        )
        self.attention = AdditiveAttention(attention_units, name="attention")
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.readout = keras.layers.Dense(readout_dim, activation="tanh", name="readout")
        self.projection = keras.layers.Dense(vocab_size, name="projection")

    def build(self, ids_shape=None, *args, **kwargs):
        u = self.units
        self.embedding.build((None, None))
        self.attention.build_for(query_dim=u, value_dim=self.context_dim)
        self.readout.build((None, None, u + self.context_dim))
        self.projection.build((None, None, self.readout_dim))
        # Gate order i, f, g, o as in Keras's LSTM.
        self.input_kernel = self.add_weight(
            shape=(self.embedding_dim, 4 * u), initializer="glorot_uniform", name="input_kernel"
        )
        self.context_kernel = self.add_weight(
            shape=(self.context_dim, 4 * u), initializer="glorot_uniform", name="context_kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(u, 4 * u), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(4 * u,), initializer=_lstm_bias(u), name="bias")

    def memory(self, values, mask) -> Memory:
        """Project the attention keys once per source batch."""
        return Memory(values, self.attention.project_keys(values), mask)

    def embed(self, ids, training=False):
        """``(b, t)`` ids -> ``(b, t, e)``: the input tokens' embeddings, after dropout."""
        return self.dropout_layer(self.embedding(ids), training=training)

    def input_gates(self, ids, training=False):
        """``(b, t)`` ids -> ``(b, t, 4u)``: the input-token half of the LSTM gates."""
        return self._input_gates(self.embed(ids, training=training))

    def _input_gates(self, inputs, kernel=None, bias=None):
        """``(..., e)`` -> ``(..., 4u)``: ``x·W_in + b`` as one 2-D matmul over all rows.

        ``_fast_unroll`` passes the kernel and bias, which its custom gradient takes as
        arguments rather than reading the variables.
        """
        kernel = self._cast(self.input_kernel) if kernel is None else kernel
        bias = self._cast(self.bias) if bias is None else bias
        shape = ops.shape(inputs)
        gates = ops.matmul(ops.reshape(inputs, (-1, shape[-1])), kernel) + bias
        return ops.reshape(gates, (*shape[:-1], 4 * self.units))

    def fused_kernel(self):
        """``(u, a + 4u)``: [W_c | W_h], both applied to ``h_{t-1}``."""
        query_kernel = self.attention.query_dense.kernel
        return ops.concatenate(
            [self._cast(query_kernel), self._cast(self.recurrent_kernel)], axis=1
        )

    def loop_kernels(self, fused_kernel=None) -> LoopKernels:
        """The kernels of ``step`` laid out for a loop of steps (``nmt.fast.loop_matmul``)."""
        if fused_kernel is None:
            fused_kernel = self.fused_kernel()
        return LoopKernels(
            loop_matmul.prepare(fused_kernel), loop_matmul.prepare(self._cast(self.context_kernel))
        )

    def step(self, input_gates, state: State, memory: Memory, kernels=None, trace=False):
        """One decoding step.

        Args:
            input_gates: ``(b, 4u)`` from ``input_gates`` for the previous token.
            state: ``State`` holding ``h_{t-1}``, ``c_{t-1}``.
            memory: ``Memory`` of the source.
            kernels: ``loop_kernels()``, prepared once by loops over many steps
                (training, search); without them the step multiplies by the
                weights as they are.
            trace: Also return the ``Trace`` the hand-written backward pass needs.

        Returns:
            ``(state_t, context_t, weights_t)``: new ``State``, ``(b, u_ctx)``, ``(b, s)``;
            then the step's ``Trace`` if ``trace``.
        """
        a = self.attention_units
        if kernels is None:
            times = ops.matmul
            fused, context_kernel = self.fused_kernel(), self._cast(self.context_kernel)
        else:
            times, (fused, context_kernel) = loop_matmul.matmul, kernels
        projected = times(state.h, fused)
        # The query is h_{t-1}: attention runs before the LSTM update below.
        query = projected[:, :a]
        context, weights = self.attention.attend(query, memory.keys, memory.values, memory.mask)
        z = input_gates + projected[:, a:] + times(context, context_kernel)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * state.c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        if trace:
            return State(h, c), context, weights, Trace(query, z)
        return State(h, c), context, weights

    def unroll(self, inputs, state: State, memory: Memory, fast=True):
        """Run ``step`` over ``(b, t, e)`` inputs in a symbolic loop (no retrace per length).

        The input half of every step's gates is one matmul before the loop.

        Args:
            inputs: ``(b, t, e)`` from ``embed``.
            state: The initial ``State``.
            memory: ``Memory`` of the source.
            fast: Differentiate the loop with the hand-written backward pass of
                ``nmt.fast.decoder_backward`` (float32 only) instead of TensorFlow's
                gradient of ``tf.scan``. Both give the same gradients
                (``tests/test_speed.py``); the hand-written one does each weight
                gradient as one matmul over all steps after the loop instead of
                one small matmul per step, and keeps nothing per step it can
                recompute cheaply.

        Returns:
            ``(hs, contexts, weights)``: ``(b, t, u)``, ``(b, t, u_ctx)``, ``(b, t, s)``.
        """
        if fast and self.compute_dtype == "float32":
            return self._fast_unroll(inputs, state, memory)
        input_gates = self._input_gates(inputs)
        kernels = self.loop_kernels()
        batch = ops.shape(memory.values)[0]
        initial = (
            state.h,
            state.c,
            ops.zeros((batch, self.context_dim), dtype=memory.values.dtype),
            ops.zeros(ops.shape(memory.mask), dtype="float32"),
        )

        def one_step(carry, gates):
            new_state, context, weights = self.step(gates, State(*carry[:2]), memory, kernels)
            return (new_state.h, new_state.c, context, weights)

        time_major = ops.transpose(input_gates, (1, 0, 2))
        hs, _, contexts, weights = tf.scan(one_step, time_major, initializer=initial)
        return tuple(ops.transpose(x, (1, 0, 2)) for x in (hs, contexts, weights))

    def _fast_unroll(self, inputs, state: State, memory: Memory):
        """``unroll`` with ``step`` in the forward loop and ``unroll_backward`` as its gradient."""
        score_kernel = self.attention.score_dense.kernel
        mask = memory.mask

        @tf.custom_gradient
        def loop(inputs, h0, c0, keys, values, fused, input_kernel, bias):
            # tf.custom_gradient runs this without recording it on the tape.
            batch = tf.shape(values)[0]
            memory = Memory(values, keys, mask)
            kernels = self.loop_kernels(fused)
            inputs = tf.transpose(inputs, (1, 0, 2))  # (t, b, e)
            gates = self._input_gates(inputs, input_kernel, bias)

            def one_step(carry, gates_t):
                h, c = carry[:2]
                new_state, context, weights, trace = self.step(
                    gates_t, State(h, c), memory, kernels, trace=True
                )
                return (*new_state, context, weights, *trace)

            initial = (
                h0,
                c0,
                tf.zeros([batch, self.context_dim]),
                tf.zeros(tf.shape(mask)),
                tf.zeros([batch, self.attention_units]),
                tf.zeros([batch, 4 * self.units]),
            )
            saved = tf.scan(one_step, gates, initializer=initial)
            hs, _, contexts, weights = saved[:4]

            def grad(d_hs, d_contexts, d_weights, variables=()):
                d_args, d_context_kernel, d_score = unroll_backward(
                    saved, d_hs, d_contexts, d_weights, inputs, h0, c0, keys, values, fused,
                    input_kernel, self.context_kernel, score_kernel,
                )  # fmt: skip
                # The variables ``step`` reads itself rather than taking as arguments.
                known = {self.context_kernel.value.ref(): d_context_kernel,
                         score_kernel.value.ref(): d_score}  # fmt: skip
                unknown = [v.name for v in variables if v.ref() not in known]
                if unknown:
                    raise ValueError(f"no hand-written gradient for {unknown}")
                return d_args, [known[v.ref()] for v in variables]

            return tuple(tf.transpose(x, (1, 0, 2)) for x in (hs, contexts, weights)), grad

        return loop(
            inputs, state.h, state.c, memory.keys, memory.values, self.fused_kernel(),
            self._cast(self.input_kernel), self._cast(self.bias),
        )  # fmt: skip

    def output_logits(self, hs, contexts, training=False):
        """``(b, t, u)``, ``(b, t, u_ctx)`` -> ``(b, t, v)``; also works without the t axis."""
        features = ops.concatenate([hs, ops.cast(contexts, hs.dtype)], axis=-1)
        features = self.dropout_layer(features, training=training)
        return self.projection(self.readout(features))

    def call(self, ids, state, memory, training=False):
        hs, contexts, weights = self.unroll(self.embed(ids, training=training), state, memory)
        return self.output_logits(hs, contexts, training=training), weights

    def decode_step(self, ids, state: State, memory: Memory, kernels=None):
        """Inference: ``(b,)`` previous tokens -> ``(logits (b, v), State, weights (b, s))``.

        A search loop passes ``loop_kernels()``, prepared once before it.
        """
        gates = self.input_gates(ops.expand_dims(ids, 1))[:, 0]
        new_state, context, weights = self.step(gates, state, memory, kernels)
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
            }
        )
        return config


def _lstm_bias(units: int):
    """Zeros with the forget gate at 1, as Keras's ``unit_forget_bias`` does."""

    def initializer(shape, dtype=None):
        return ops.concatenate([ops.zeros((units,)), ops.ones((units,)), ops.zeros((2 * units,))])

    return initializer
