"""The seam between the model's math and the loops that run it.

The model's layers define every step once (``Encoder`` with Keras LSTMs,
``Decoder.step``). How the steps are looped and differentiated is asked of a ``Loops``
object passed down by the caller: this plain one runs Keras's layers and
``Decoder.unroll`` and lets TensorFlow differentiate them, which is what runs on a GPU
(where Keras picks cuDNN for the encoder). ``nmt.fast.loops.CpuLoops`` runs the same
functions of the same variables faster on CPUs; the trainer and the search loop choose
it, the model never imports it.
"""

from __future__ import annotations


class Loops:
    """The plain loops: Keras's LSTM layers and ``Decoder.unroll``/``Decoder.decode_step``."""

    name = "plain"

    def encoder_lstm(self, layer, x, mask, training=False):
        """``layer(x, mask=mask)`` for one of the encoder's (Bidirectional) LSTM layers.

        Returns:
            Keras's outputs: ``(outputs, h, c)``, or ``(outputs, h_fw, c_fw, h_bw, c_bw)``.
        """
        return layer(x, mask=mask, training=training)

    def decoder_unroll(self, decoder, embedded, state, memory):
        """Teacher forcing: ``decoder.unroll(embedded, state, memory)``.

        Returns:
            ``(hs (b, t, u), contexts (b, t, u_ctx), weights (b, t, s))``.
        """
        return decoder.unroll(embedded, state, memory)

    def decoder_step(self, decoder):
        """The function a search loop calls once per step, prepared before the loop.

        Returns:
            ``step(ids (b,), state, memory) -> (logits (b, v), state, weights (b, s))``.
        """
        return decoder.decode_step


PLAIN = Loops()
