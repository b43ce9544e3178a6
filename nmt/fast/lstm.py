"""A CPU fast path for the encoder's ``keras.layers.LSTM``: same weights, faster backward.

On CPU, ``keras.layers.LSTM`` runs its cell in a ``tf.while_loop`` and lets TensorFlow
differentiate it. Each step of that backward pass multiplies by the transposed input
and recurrent kernels (``matmul(..., transpose_b=True)``), which ran much slower than
other layouts (with oneDNN on an AVX-512 CPU, and with Eigen on AVX2), and computes
each weight gradient as one small matmul per step (docs/speed-training-step.md). ``run`` computes
the same function with the layer's own variables, written like the decoder's loop:

- the input projection ``x·W + b`` of all steps is one matmul before the loop;
- the loop does per step only the recurrent matmul ``h_{t-1}·U`` and the gates;
- its gradient is written out (``_backward``): per step only ``dz·Uᵀ``, and the
  kernel, recurrent kernel, bias and input gradients are one matmul (or sum) each
  over all steps after the loop;
- both loops multiply in the layout ``nmt.fast.loop_matmul`` picks for thin products.

Padding is handled as Keras does it with a mask: a masked step keeps the previous
``(h, c)``, so the final state is the one at the last real token, and the output at a
masked step is the carried ``h`` (a lone LSTM) or zero (inside ``Bidirectional``,
which forces ``zero_output_for_mask``). The backward direction of ``Bidirectional``
reads the whole reversed sequence, padding first; since padding carries the zero
initial state unchanged, that is the same as reading only the real tokens backwards.

``supports`` says when all of this is exactly the Keras layer: float32, no GPU (where
Keras uses cuDNN), Keras's default activations, a bias, no dropout inside the layer.
Everything else falls back to calling the layer. ``tests/test_lstm.py`` compares
outputs, states and gradients with the Keras layer.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nmt.fast import loop_matmul


def supports(layer) -> bool:
    """Whether ``run(layer, ...)`` computes exactly what calling ``layer`` does here."""
    if isinstance(layer, keras.layers.Bidirectional):
        return (
            layer.merge_mode == "concat"
            and not layer.forward_layer.go_backwards
            and layer.backward_layer.go_backwards
            and all(_supports_lstm(x) for x in (layer.forward_layer, layer.backward_layer))
        )
    return _supports_lstm(layer) and not layer.go_backwards


def _supports_lstm(layer) -> bool:
    if not isinstance(layer, keras.layers.LSTM):
        return False
    cell = layer.cell
    return (
        layer.compute_dtype == "float32"
        and layer.variable_dtype == "float32"
        and not tf.config.list_logical_devices("GPU")
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and cell.use_bias
        and cell.dropout == 0
        and cell.recurrent_dropout == 0
        and layer.return_sequences
        and layer.return_state
        and not layer.stateful
    )


def run(layer, x, mask):
    """What ``layer(x, mask=mask)`` returns, for a layer that ``supports`` accepts.

    Args:
        layer: ``keras.layers.LSTM`` or ``Bidirectional`` of one, both with
            ``return_sequences`` and ``return_state``.
        x: ``(b, s, e)`` float32 inputs.
        mask: ``(b, s)`` bool, True at real tokens.

    Returns:
        ``(outputs (b, s, u), h, c)``, or ``(outputs (b, s, 2u), h_fw, c_fw, h_bw, c_bw)``
        for ``Bidirectional``, as Keras returns them.
    """
    if isinstance(layer, keras.layers.Bidirectional):
        y, *forward = sequence(layer.forward_layer.cell, x, mask, zero_masked=True)
        y_rev, *backward = sequence(
            layer.backward_layer.cell, tf.reverse(x, [1]), tf.reverse(mask, [1]), zero_masked=True
        )
        return (tf.concat([y, tf.reverse(y_rev, [1])], axis=-1), *forward, *backward)
    return sequence(layer.cell, x, mask, zero_masked=False)


def sequence(cell, x, mask, zero_masked):
    """One LSTM direction over ``(b, s, e)`` with a ``(b, s)`` mask, from a zero state.

    Args:
        cell: The ``keras.layers.LSTMCell`` whose variables are used.
        x: ``(b, s, e)`` float32 inputs.
        mask: ``(b, s)`` bool.
        zero_masked: Output zeros at masked steps instead of the carried ``h``.

    Returns:
        ``(outputs (b, s, u), h, c)``.
    """
    kernel, recurrent, bias = (
        tf.convert_to_tensor(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias)
    )
    keep = tf.transpose(mask)[:, :, None]  # (s, b, 1) bool, time-major

    @tf.custom_gradient
    def loop(x, kernel, recurrent, bias):
        # tf.custom_gradient runs this without recording it on the tape.
        xs = tf.transpose(x, (1, 0, 2))  # (s, b, e)
        batch, units = tf.shape(x)[0], tf.shape(recurrent)[0]
        zeros = tf.zeros([batch, units])
        recurrent_t = loop_matmul.prepare(recurrent)

        def step(carry, inputs):
            h, c = carry[:2]
            z_t, keep_t = inputs
            return _cell(z_t + loop_matmul.matmul(h, recurrent_t), h, c, keep_t)

        # (s, b, 4u): the input half of every step, one matmul.
        z = tf.reshape(tf.matmul(_rows(xs), kernel) + bias, [tf.shape(xs)[0], batch, 4 * units])
        initial = (zeros, zeros, tf.zeros([batch, 4 * units]), zeros)
        saved = tf.scan(step, (z, keep), initializer=initial)
        hs, cs = saved[:2]
        outputs = tf.where(keep, hs, 0.0) if zero_masked else hs

        def grad(d_outputs, d_h, d_c):
            if d_outputs is None:
                d_outputs = tf.zeros_like(hs)
            else:
                d_outputs = tf.transpose(d_outputs, (1, 0, 2))
            if zero_masked:
                d_outputs = tf.where(keep, d_outputs, 0.0)
            return _backward(saved, keep, xs, kernel, recurrent, d_outputs, d_h, d_c)

        return (tf.transpose(outputs, (1, 0, 2)), hs[-1], cs[-1]), grad

    return loop(x, kernel, recurrent, bias)


def _backward(saved, keep, xs, kernel, recurrent, d_outputs, d_h, d_c):
    """Backpropagation through time of ``sequence``'s loop, written out.

    ``saved`` is what the forward ``tf.scan`` stacked, time-major: the carried
    ``h, c`` ``(s, b, u)``, the activated gates ``i, f, g, o`` ``(s, b, 4u)`` and
    ``tanh(c_new)`` ``(s, b, u)``. A masked step passes the gradient of its state
    straight to the previous state and contributes nothing else, as its ``tf.where``
    does. ``d_outputs`` is time-major and already masked where the outputs were zeroed.

    Returns:
        Gradients of ``(x (b, s, e), kernel, recurrent, bias)``.
    """
    hs, cs, gates, tanh_cs = saved
    steps = tf.shape(hs)[0]
    zero = tf.zeros_like(hs[0])
    c_prev = tf.concat([zero[None], cs[:-1]], axis=0)
    real = tf.cast(keep, tf.float32)  # (s, b, 1)

    def body(t, dh, dc, d_gates):
        dz, dh_passed, dc = _cell_backward(
            dh + d_outputs[t], dc, gates[t], tanh_cs[t], c_prev[t], real[t]
        )
        dh = loop_matmul.matmul(dz, recurrent) + dh_passed  # dz·Uᵀ
        return t - 1, dh, dc, d_gates.write(t, dz)

    d_h = tf.zeros_like(zero) if d_h is None else d_h
    d_c = tf.zeros_like(zero) if d_c is None else d_c
    _, _, _, d_gates = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (steps - 1, d_h, d_c, tf.TensorArray(tf.float32, size=steps)),
    )
    d_gates = d_gates.stack()  # (s, b, 4u)
    h_prev = tf.concat([zero[None], hs[:-1]], axis=0)
    d_rows = _rows(d_gates)
    d_recurrent, d_kernel = loop_matmul.stacked_weight_gradients([h_prev, xs], d_rows)
    d_bias = tf.reduce_sum(d_rows, axis=0)
    d_xs = tf.reshape(tf.matmul(d_rows, tf.transpose(kernel)), tf.shape(xs))  # (s, b, e)
    return tf.transpose(d_xs, (1, 0, 2)), d_kernel, d_recurrent, d_bias


def _cell(z, h, c, keep):
    """One step's gates and new state from its pre-activations ``z`` ``(b, 4u)``.

    Returns:
        ``(h, c, gates, tanh_c)``: the carried state (the old one where ``keep`` is
        False), the activated gates ``i, f, g, o`` ``(b, 4u)`` and ``tanh(c_new)``.
    """
    i, f, g, o = tf.split(z, 4, axis=-1)
    i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
    c_new = f * c + i * g
    tanh_c = tf.tanh(c_new)
    h_new = o * tanh_c
    gates = tf.concat([i, f, g, o], axis=-1)
    return tf.where(keep, h_new, h), tf.where(keep, c_new, c), gates, tanh_c


def _cell_backward(dh, dc, gates, tanh_c, c_prev, real):
    """``_cell``'s backward: the gradient of the pre-activations, and what passes by.

    ``real`` is 1.0 at a real step and 0.0 at a masked one, where the gradient of
    the state goes straight to the previous state.

    Returns:
        ``(dz (b, 4u), dh passed to h_{t-1} besides dz·Uᵀ, dc for c_{t-1})``.
    """
    i, f, g, o = tf.split(gates, 4, axis=-1)
    dh_new, dc_new = dh * real, dc * real
    dc_new = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
    dz = tf.concat(
        [dc_new * g * i * (1.0 - i), dc_new * c_prev * f * (1.0 - f),
         dc_new * i * (1.0 - g * g), dh_new * tanh_c * o * (1.0 - o)],
        axis=-1,
    )  # fmt: skip
    return dz, dh - dh_new, dc_new * f + (dc - dc * real)


def _rows(x):
    """``(s, b, n)`` -> ``(s * b, n)``."""
    return tf.reshape(x, [-1, tf.shape(x)[-1]])
