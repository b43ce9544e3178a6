"""Shared fixtures: a tiny random Seq2Seq and right-padded id batches."""

import keras
import numpy as np
import pytest

from nmt.model import Seq2Seq

TINY = dict(
    src_vocab_size=30,
    tgt_vocab_size=25,
    embedding_dim=8,
    units=12,
    attention_units=10,
    encoder_layers=1,
    bidirectional=False,
    dropout=0.0,
    readout_dim=9,
)


@pytest.fixture
def make_model():
    """``make_model(seed=0, scale=1.0, **overrides)`` -> a built tiny ``Seq2Seq``.

    Every weight is redrawn from N(0, scale²): Keras's initializers at these sizes give
    nearly uniform attention, which would hide a wrong query behind a 1e-3 difference,
    and equal initial biases would hide a variable a checkpoint forgot.
    """

    def make(seed=0, scale=1.0, **overrides):
        keras.utils.set_random_seed(seed)
        model = Seq2Seq(**{**TINY, **overrides})
        model.build()
        if scale:
            rng = np.random.default_rng(seed)
            model.set_weights([rng.normal(0.0, scale, w.shape) for w in model.get_weights()])
        return model

    return make


@pytest.fixture
def make_ids():
    """``make_ids(lengths, vocab, seed=0, first=None)`` -> ``(b, max(lengths))`` int32 ids.

    Row i holds ``lengths[i]`` random ids in [4, vocab) (no specials), then 0 padding;
    ``first`` replaces the first id of every row (BOS for decoder inputs).
    """

    def make(lengths, vocab, seed=0, first=None):
        rng = np.random.default_rng(seed)
        ids = np.zeros((len(lengths), max(lengths)), np.int32)
        for row, length in enumerate(lengths):
            ids[row, :length] = rng.integers(4, vocab, length)
            if first is not None and length:
                ids[row, 0] = first
        return ids

    return make
