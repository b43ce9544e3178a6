"""``Decoder.step`` in loops laid out for CPUs, with a hand-written backward pass.

The same function of the same variables as ``nmt.model.decoder``, rearranged where the
work is (docs/speed-training-step.md has the measurements):

- the token half of every step's gates, ``x·W_in + b``, is one matmul before the loop
  (teacher forcing knows every input token);
- ``h_{t-1}`` is multiplied by the attention's ``W_c`` and the LSTM's ``W_h`` in one
  fused matmul, ``h_{t-1}·[W_c | W_h]``, whose first ``a`` columns are the query;
- the loops multiply in the layout ``nmt.fast.loop_matmul`` picks for thin products;
- training differentiates the loop with ``nmt.fast.decoder_backward`` instead of
  TensorFlow's gradient of ``tf.scan``.

``supports`` says when this is exactly the plain decoder: float32, no layer
normalisation, and no GPU (there the plain step with TensorFlow's gradient runs).
``tests/fast/`` checks outputs and gradients against the plain path.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from nmt.fast import loop_matmul
from nmt.fast.decoder_backward import unroll_backward
from nmt.model.decoder import Memory, State


class Kernels(NamedTuple):
    """The step's two matmul kernels, ``loop_matmul.prepare``-d once per loop."""

    fused: tf.Tensor  # (a + 4u, u): [W_c | W_h]ᵀ
    context: tf.Tensor  # (4u, u_ctx): W_ctxᵀ


class Trace(NamedTuple):
    """What a step keeps for the hand-written backward pass."""

    query: tf.Tensor  # (b, a) W_c·h_{t-1}
    gates: tf.Tensor  # (b, 4u) the LSTM's gates i, f, g, o before their activations


def supports(decoder) -> bool:
    """Whether these loops compute exactly what the plain decoder does here."""
    return (
        not decoder.layer_norm
        and decoder.compute_dtype == "float32"
        and decoder.variable_dtype == "float32"
        and not tf.config.list_logical_devices("GPU")
    )


def fused_kernel(decoder):
    """``(u, a + 4u)``: ``[W_c | W_h]``, both applied to ``h_{t-1}``."""
    query_kernel = decoder.attention.query_dense.kernel
    return tf.concat([tf.convert_to_tensor(query_kernel), decoder.recurrent_kernel], axis=1)


def prepare(decoder, fused=None) -> Kernels:
    """The step's kernels laid out for a loop of steps."""
    fused = fused_kernel(decoder) if fused is None else fused
    return Kernels(loop_matmul.prepare(fused), loop_matmul.prepare(decoder.context_kernel))


def input_gates(decoder, embedded, kernel=None, bias=None):
    """``(..., e)`` -> ``(..., 4u)``: ``x·W_in + b`` as one 2-D matmul over all rows."""
    kernel = decoder.input_kernel if kernel is None else kernel
    bias = decoder.bias if bias is None else bias
    shape = tf.shape(embedded)
    gates = tf.matmul(tf.reshape(embedded, [-1, shape[-1]]), kernel) + bias
    return tf.reshape(gates, tf.concat([shape[:-1], [4 * decoder.units]], 0))


def step(decoder, gates, state: State, memory: Memory, kernels: Kernels):
    """``Decoder.step`` given the token's gates ``x·W_in + b`` ``(b, 4u)``.

    Returns:
        ``(state_t, context_t, weights_t, trace_t)``.
    """
    projected = loop_matmul.matmul(state.h, kernels.fused)  # h_{t-1}·[W_c | W_h]
    query = projected[:, : decoder.attention_units]
    context, weights = decoder.attention.attend(query, memory.keys, memory.values, memory.mask)
    z = gates + projected[:, decoder.attention_units :]
    z += loop_matmul.matmul(context, kernels.context)
    i, f, g, o = tf.split(z, 4, axis=-1)
    cell = tf.sigmoid(f) * state.cell + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(cell)
    return State(h, cell), context, weights, Trace(query, z)


def decode_step(decoder):
    """``Decoder.decode_step`` with the kernels prepared once, for a search loop."""
    kernels = prepare(decoder)

    def run(ids, state: State, memory: Memory):
        gates = input_gates(decoder, decoder.embed(ids))
        new_state, context, weights, _ = step(decoder, gates, state, memory, kernels)
        return decoder.output_logits(new_state.h, context), new_state, weights

    return run


def unroll(decoder, embedded, state: State, memory: Memory):
    """``Decoder.unroll``, differentiated by ``nmt.fast.decoder_backward``.

    Returns:
        ``(hs, contexts, weights)``: ``(b, t, u)``, ``(b, t, u_ctx)``, ``(b, t, s)``.
    """
    score_kernel = decoder.attention.score_dense.kernel
    context_kernel = decoder.context_kernel
    mask = memory.mask

    @tf.custom_gradient
    def loop(embedded, h0, cell0, keys, values, fused, input_kernel, bias):
        # tf.custom_gradient runs this without recording it on the tape.
        batch = tf.shape(values)[0]
        memory = Memory(values, keys, mask)
        kernels = prepare(decoder, fused)
        inputs = tf.transpose(embedded, (1, 0, 2))  # (t, b, e)
        gates = input_gates(decoder, inputs, input_kernel, bias)

        def one_step(carry, gates_t):
            new_state, context, weights, trace = step(
                decoder, gates_t, State(*carry[:2]), memory, kernels
            )
            return (*new_state, context, weights, *trace)

        initial = (
            h0,
            cell0,
            tf.zeros([batch, decoder.context_dim]),
            tf.zeros(tf.shape(mask)),
            tf.zeros([batch, decoder.attention_units]),
            tf.zeros([batch, 4 * decoder.units]),
        )
        saved = tf.scan(one_step, gates, initializer=initial)
        hs, _, contexts, weights = saved[:4]

        def grad(d_hs, d_contexts, d_weights, variables=()):
            d_args, d_context_kernel, d_score = unroll_backward(
                saved, d_hs, d_contexts, d_weights, inputs, h0, cell0, keys, values, fused,
                input_kernel, context_kernel, score_kernel,
            )  # fmt: skip
            # The variables the loop reads itself rather than taking as arguments.
            known = {context_kernel.value.ref(): d_context_kernel,
                     score_kernel.value.ref(): d_score}  # fmt: skip
            unknown = [v.name for v in variables if v.ref() not in known]
            if unknown:
                raise ValueError(f"no hand-written gradient for {unknown}")
            return d_args, [known[v.ref()] for v in variables]

        return tuple(tf.transpose(x, (1, 0, 2)) for x in (hs, contexts, weights)), grad

    return loop(
        embedded, state.h, state.cell, memory.keys, memory.values, fused_kernel(decoder),
        tf.convert_to_tensor(decoder.input_kernel), tf.convert_to_tensor(decoder.bias),
    )  # fmt: skip
