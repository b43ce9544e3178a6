"""The hand-written backward pass of the decoder's training loop (``Decoder.unroll``).

TensorFlow's gradient of ``tf.scan`` over ``Decoder.step`` recomputes and stores more
than the recurrence needs; this does per step only the matmuls that carry the gradient
to ``h_{t-1}`` and the context, and every weight gradient once after the loop
(docs/speed-history.md has the measurements). float32 only;
``tests/fast/test_decoder_loop.py`` checks it against TensorFlow's autodiff of
``Decoder.step``.
"""

from __future__ import annotations

import tensorflow as tf

from nmt.fast import loop_matmul


def unroll_backward(
    saved, d_hs, d_contexts, d_weights, inputs, h0, c0, keys, values, fused, input_kernel,
    context_kernel, score_kernel,
):  # fmt: skip
    """Backpropagation through time of ``Decoder.step``, written out.

    ``saved`` is what the forward ``tf.scan`` stacked, time-major: ``h, c`` ``(t, b, u)``,
    contexts ``(t, b, u_ctx)``, attention weights ``(t, b, s)``, queries ``(t, b, a)`` and
    gates before their activations ``(t, b, 4u)``. ``inputs`` are the embedded input tokens,
    time-major ``(t, b, e)``, whose product with ``input_kernel`` (plus the bias) began each
    step's gates. The ``d_*`` are batch-major gradients of the outputs. Per step the loop
    does only what depends on the step before: the two matmuls that carry the gradient to
    ``h_{t-1}`` and the context, and the attention scores' backward (``tanh(keys + query)``
    is recomputed rather than stored, ``(b, s, a)`` per step). The weight gradients come
    after the loop, one matmul each, or one for the context and input kernels stacked
    (``nmt.fast.loop_matmul.stacked_weight_gradients``).

    Returns:
        ``(d_args, d_context_kernel, d_score)``: gradients of ``(inputs (b, t, e), h0, c0,
        keys, values, fused, input_kernel, bias)``, of the context kernel and of the
        attention's score kernel.
    """
    hs, cs, contexts, weights, queries, gates = saved
    steps = tf.shape(hs)[0]
    a = tf.shape(queries)[-1]
    v = tf.convert_to_tensor(score_kernel)[:, 0]  # (a,)
    d_hs, d_contexts = (tf.transpose(x, (1, 0, 2)) for x in (d_hs, d_contexts))
    d_weights = 0.0 if d_weights is None else tf.transpose(d_weights, (1, 0, 2))
    d_weights = d_weights + tf.zeros_like(weights)
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
    context_kernel = tf.convert_to_tensor(context_kernel)

    def body(t, dh, dc, d_keys, d_scores_sum, d_v, d_projected, d_context_all):
        i, f, g, o = tf.split(gates[t], 4, axis=-1)
        i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
        tanh_c = tf.tanh(cs[t])
        dh = dh + d_hs[t]
        dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
        dz = tf.concat(
            [dc * g * i * (1.0 - i), dc * c_prev[t] * f * (1.0 - f),
             dc * i * (1.0 - g * g), dh * tanh_c * o * (1.0 - o)],
            axis=-1,
        )  # fmt: skip
        d_context = d_contexts[t] + loop_matmul.matmul(dz, context_kernel)  # dz·W_ctxᵀ
        w = weights[t]
        # Batched matmuls rather than einsum: oneDNN's einsum is slower at these shapes.
        dw = tf.matmul(values, d_context[:, :, None])[:, :, 0] + d_weights[t]
        d_scores = w * (dw - tf.reduce_sum(w * dw, axis=-1, keepdims=True))  # (b, s)
        d_query, d_keys, d_v = _scores_backward(keys, queries[t], d_scores, v, d_keys, d_v)
        d_proj = tf.concat([d_query, dz], axis=-1)
        dh = loop_matmul.matmul(d_proj, fused)  # d_proj·[W_c | W_h]ᵀ
        return (
            t - 1, dh, dc * f, d_keys, d_scores_sum + d_scores, d_v,
            d_projected.write(t, d_proj), d_context_all.write(t, d_context),
        )  # fmt: skip

    _, dh0, dc0, d_keys, d_scores_sum, d_v, d_projected, d_context_all = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (
            steps - 1, tf.zeros_like(h0), tf.zeros_like(c0), tf.zeros_like(keys),
            tf.zeros_like(weights[0]), tf.zeros_like(v), tf.TensorArray(tf.float32, size=steps),
            tf.TensorArray(tf.float32, size=steps),
        ),
    )  # fmt: skip
    d_keys = v * (d_scores_sum[:, :, None] - d_keys)
    d_projected = d_projected.stack()  # (t, b, a + 4u)
    d_context_all = d_context_all.stack()  # (t, b, u_ctx)
    d_gates = _rows(d_projected[:, :, a:])
    d_fused = tf.matmul(_rows(h_prev), _rows(d_projected), transpose_a=True)
    d_context_kernel, d_input_kernel = loop_matmul.stacked_weight_gradients(
        [contexts, inputs], d_gates
    )
    d_bias = tf.reduce_sum(d_gates, axis=0)
    d_inputs = tf.reshape(tf.matmul(d_gates, input_kernel, transpose_b=True), tf.shape(inputs))
    d_values = tf.einsum("tbs,tbu->bsu", weights, d_context_all)
    d_args = (
        tf.transpose(d_inputs, (1, 0, 2)), dh0, dc0, d_keys, d_values, d_fused, d_input_kernel,
        d_bias,
    )  # fmt: skip
    return d_args, d_context_kernel, d_v[:, None]


def _scores_backward(keys, query, d_scores, v, d_keys, d_v):
    """One step of the attention scores' backward pass.

    Plain TensorFlow ops. As one XLA function per step it was slower in isolation on
    an AVX2 CPU, though even in the whole training step there, and had been the faster
    on an AVX-512 CPU; without it the first step compiles sooner (docs/speed-history.md, "The
    attention scores' backward as plain ops").

    ``tanh(keys + query)`` is recomputed, ``(b, s, a)``. Its gradient is
    ``v * d_scores * (1 - hidden²)``; summed over s for the query the "1" drops out
    (softmax gradients sum to zero over s). For the keys, ``d_scores * hidden²`` is
    summed over steps here and the rest applied after the loop.

    Returns:
        ``(d_query (b, a), d_keys (b, s, a), d_v (a,))``, the last two accumulated.
    """
    hidden = tf.tanh(keys + query[:, None, :])
    squared = hidden * hidden
    d_query = -v * tf.einsum("bs,bsa->ba", d_scores, squared)
    d_keys += d_scores[:, :, None] * squared
    d_v += tf.einsum("bsa,bs->a", hidden, d_scores)
    return d_query, d_keys, d_v


def _rows(x):
    """``(t, b, n)`` -> ``(t * b, n)``."""
    return tf.reshape(x, [-1, tf.shape(x)[-1]])
