"""The CPU loops: the model's recurrences run by ``nmt.fast`` wherever it is exact.

``CpuLoops`` is the one seam between the model and the speed work: the trainer and
the search loop pass it where the plain ``nmt.model.loops.Loops`` would go. Each
method takes the fast path when its ``supports`` says the result is exactly the
plain one (float32, no GPU), and the plain path otherwise, and counts which ran
(``ran``, counted when TensorFlow traces the call), so tests can assert the path.
"""

from __future__ import annotations

from collections import Counter

from nmt.fast import decoder_loop, lstm
from nmt.model.loops import Loops


class CpuLoops(Loops):
    """``Loops`` whose encoder LSTMs, decoder unroll and search step are ``nmt.fast``'s."""

    name = "cpu"

    def __init__(self):
        self.ran: Counter[str] = Counter()

    def encoder_lstm(self, layer, x, mask, training=False):
        if lstm.supports(layer):
            self.ran["encoder_lstm:fast"] += 1
            return lstm.run(layer, x, mask)
        self.ran["encoder_lstm:plain"] += 1
        return super().encoder_lstm(layer, x, mask, training)

    def decoder_unroll(self, decoder, embedded, state, memory):
        if decoder_loop.supports(decoder):
            self.ran["decoder_unroll:fast"] += 1
            return decoder_loop.unroll(decoder, embedded, state, memory)
        self.ran["decoder_unroll:plain"] += 1
        return super().decoder_unroll(decoder, embedded, state, memory)

    def decoder_step(self, decoder):
        if decoder_loop.supports(decoder):
            self.ran["decoder_step:fast"] += 1
            return decoder_loop.decode_step(decoder)
        self.ran["decoder_step:plain"] += 1
        return super().decoder_step(decoder)
