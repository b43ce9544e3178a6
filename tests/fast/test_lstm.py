"""``nmt.fast.lstm`` computes what ``keras.layers.LSTM`` does, and is used only when it does.

The trainer's CPU loops run the encoder's Keras LSTM weights through ``nmt.fast.lstm``.
Each check runs the same weights through the CPU loops and through the plain ones
(the Keras layers called as they are) on a padded batch, and asserts which path ran.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.fast import lstm
from nmt.fast.loops import CpuLoops
from nmt.model.loops import PLAIN

SRC_LENGTHS = [7, 4, 1]
ENCODERS = {
    "uni-1": dict(),
    "uni-2": dict(encoder_layers=2),
    "bi-1": dict(bidirectional=True),
    "bi-2": dict(bidirectional=True, encoder_layers=2),
}


def encoder_outputs_and_gradients(encoder, src, loops):
    """Outputs, final state and the gradients of a loss that reads all of them."""
    rng = np.random.default_rng(5)
    with tf.GradientTape() as tape:
        values, _, (h, c) = encoder(src, training=True, loops=loops)
        outputs = (values, h, c)
        probes = [tf.constant(rng.normal(size=x.shape), tf.float32) for x in outputs]
        loss = sum(tf.reduce_sum(x * p) for x, p in zip(outputs, probes, strict=True))
    gradients = tape.gradient(loss, encoder.trainable_variables)
    return outputs, [tf.convert_to_tensor(g) for g in gradients]


def assert_close(fast, plain, names, atol=1e-5):
    for name, a, b in zip(names, fast, plain, strict=True):
        scale = max(1.0, float(np.abs(b.numpy()).max()))
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=atol * scale, err_msg=name)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_encoder_matches_keras_lstm(make_model, make_ids, encoder, compiled):
    model = make_model(scale=0.5, **ENCODERS[encoder])
    assert all(lstm.supports(rnn) for rnn in model.encoder.rnns)
    src = make_ids(SRC_LENGTHS, 30, seed=1)
    fn = encoder_outputs_and_gradients
    run = tf.function(fn, autograph=False) if compiled else fn
    loops = CpuLoops()
    fast_outputs, fast_gradients = run(model.encoder, src, loops)
    plain_outputs, plain_gradients = run(model.encoder, src, PLAIN)
    assert loops.ran == {"encoder_lstm:fast": len(model.encoder.rnns)}

    assert_close(fast_outputs, plain_outputs, ["values", "h", "c"], atol=1e-6)
    names = [v.path for v in model.encoder.trainable_variables]
    assert_close(fast_gradients, plain_gradients, names)
    # Every weight, the embeddings included, gets a gradient (none silently zero).
    for name, gradient in zip(names, fast_gradients, strict=True):
        assert np.abs(gradient.numpy()).max() > 0, name


@pytest.mark.parametrize("loops", [PLAIN, CpuLoops()], ids=["plain", "cpu"])
def test_padding_is_carried_as_keras_does(make_model, make_ids, loops):
    """Past the last real token a lone LSTM repeats its output; a bidirectional one gives 0."""
    src = make_ids(SRC_LENGTHS, 30, seed=1)
    values, _, (h, _) = make_model(scale=0.5).encoder(src, loops=loops)
    for row, length in enumerate(SRC_LENGTHS):
        for t in range(length, src.shape[1]):
            np.testing.assert_array_equal(values[row, t], values[row, length - 1])
        np.testing.assert_array_equal(h[row], values[row, length - 1])
    values, _, _ = make_model(scale=0.5, bidirectional=True).encoder(src, loops=loops)
    for row, length in enumerate(SRC_LENGTHS):
        assert not np.any(values[row, length:].numpy())


def test_unsupported_layers_fall_back():
    def built(layer):
        layer.build((None, None, 4))
        return layer

    def lstm_layer(**kwargs):
        return keras.layers.LSTM(3, return_sequences=True, return_state=True, **kwargs)

    assert lstm.supports(built(lstm_layer()))
    assert lstm.supports(built(keras.layers.Bidirectional(lstm_layer())))
    assert not lstm.supports(built(lstm_layer(recurrent_dropout=0.1)))
    assert not lstm.supports(built(lstm_layer(dropout=0.1)))
    assert not lstm.supports(built(lstm_layer(activation="relu")))
    assert not lstm.supports(built(lstm_layer(recurrent_activation="hard_sigmoid")))
    assert not lstm.supports(built(lstm_layer(use_bias=False)))
    assert not lstm.supports(built(lstm_layer(go_backwards=True)))
    assert not lstm.supports(built(keras.layers.Bidirectional(lstm_layer(), merge_mode="sum")))
    assert not lstm.supports(built(lstm_layer(dtype="mixed_float16")))


def test_empty_batch(make_model):
    """A replica of a distributed step can get no sentences at all."""
    encoder = make_model(scale=0.5, bidirectional=True).encoder
    src = np.zeros((0, 5), np.int32)
    run = tf.function(encoder_outputs_and_gradients, autograph=False)
    loops = CpuLoops()
    (values, h, _), gradients = run(encoder, tf.constant(src), loops)
    assert loops.ran == {"encoder_lstm:fast": 1}
    assert values.shape == (0, 5, 12) and h.shape == (0, 12)
    assert not any(np.any(g.numpy()) for g in gradients)
