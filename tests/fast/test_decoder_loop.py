"""``nmt.fast`` runs the decoder's plain math: outputs and TensorFlow's own gradients agree.

The reference is always the plain path (``nmt.model.loops.PLAIN``): ``Decoder.step``
under ``tf.scan`` and the Keras LSTMs, differentiated by TensorFlow. Every check also
asserts which path ran (``CpuLoops.ran``), so a silent fall-back to the plain path
cannot pass as a match.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.fast import decoder_loop, lstm
from nmt.fast.loops import CpuLoops
from nmt.model.loops import PLAIN

SRC_LENGTHS = [7, 5, 2]
TGT_LENGTHS = [4, 6, 1]
ENCODERS = {"uni-1": dict(), "bi-2": dict(bidirectional=True, encoder_layers=2)}


@pytest.fixture
def batch(make_batch):
    return make_batch(SRC_LENGTHS, TGT_LENGTHS)


def loss_and_gradients(model, batch, loops):
    """A loss that reads every output of the decoder: logits, and attention weights too."""
    src, tgt_in, tgt_out = batch
    rng = np.random.default_rng(3)
    probe = tf.constant(rng.normal(size=(*tgt_in.shape, src.shape[1])), tf.float32)
    token_probe = tf.constant(rng.normal(size=(*tgt_in.shape, 25)), tf.float32)
    with tf.GradientTape() as tape:
        logits, weights = model((src, tgt_in), training=True, loops=loops)
        real = tf.cast(tgt_out != 0, tf.float32)[:, :, None]
        loss = tf.reduce_sum(logits * token_probe * real) + tf.reduce_sum(weights * probe)
    gradients = tape.gradient(loss, model.trainable_variables)
    return (logits, weights), loss, [tf.convert_to_tensor(g) for g in gradients]


def seed_states(model):
    """The dropout layers' RNG states, so a second pass can draw the same masks."""
    return {v.path: v.numpy() for v in model.variables if "seed_generator" in v.path}


def restore_seed_states(model, states):
    for v in model.variables:
        if v.path in states:
            v.assign(states[v.path])


def compare(model, batch, run, dropout):
    """Run plain then CPU loops (same dropout masks); assert equal outputs and gradients."""
    loops = CpuLoops()
    seeds = seed_states(model)
    plain_outputs, plain_loss, plain_gradients = run(model, batch, PLAIN)
    restore_seed_states(model, seeds)
    fast_outputs, fast_loss, fast_gradients = run(model, batch, loops)
    assert loops.ran["decoder_unroll:fast"] >= 1 and not loops.ran["decoder_unroll:plain"]
    assert loops.ran["encoder_lstm:fast"] >= 1 and not loops.ran["encoder_lstm:plain"]
    for fast, plain in zip(fast_outputs, plain_outputs, strict=True):
        np.testing.assert_allclose(fast.numpy(), plain.numpy(), atol=2e-5)
    np.testing.assert_allclose(float(fast_loss), float(plain_loss), rtol=1e-5)
    for variable, fast, plain in zip(
        model.trainable_variables, fast_gradients, plain_gradients, strict=True
    ):
        scale = max(1.0, float(np.abs(plain.numpy()).max()))
        np.testing.assert_allclose(
            fast.numpy(), plain.numpy(), atol=2e-5 * scale, err_msg=variable.path
        )
        # Every weight gets a gradient through the loops (none is silently zero).
        assert np.abs(fast.numpy()).max() > 0, variable.path
    if dropout:  # the masks were really drawn, and drawn alike
        assert any(
            not np.array_equal(v.numpy(), seeds[v.path]) for v in model.variables if v.path in seeds
        )


@pytest.mark.parametrize(
    "encoder, mode, dropout",
    [
        ("uni-1", "eager", 0.0),
        ("uni-1", "graph", 0.3),
        ("uni-1", "xla", 0.3),
        ("bi-2", "eager", 0.3),
        ("bi-2", "graph", 0.0),
    ],
)
def test_cpu_loops_match_autodiff_of_the_plain_step(make_model, batch, encoder, mode, dropout):
    model = make_model(scale=0.5, dropout=dropout, **ENCODERS[encoder])
    if mode == "eager":
        run = loss_and_gradients
    else:
        run = tf.function(loss_and_gradients, autograph=False, jit_compile=mode == "xla")
    compare(model, batch, run, dropout)


def test_cpu_loops_match_the_plain_step_under_a_mirrored_strategy(make_model, batch):
    """Each replica of a two-device mirrored strategy runs the fast path, exactly."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        model = make_model(scale=0.5)

    @tf.function(autograph=False)
    def run(model, batch, loops):
        per_replica = strategy.run(loss_and_gradients, (model, batch, loops))
        return tf.nest.map_structure(
            lambda x: strategy.experimental_local_results(x)[0], per_replica
        )

    compare(model, batch, run, dropout=0.0)


def test_search_step_matches_the_plain_step(make_model, make_ids):
    model = make_model(scale=0.5)
    src = make_ids(SRC_LENGTHS, 30, seed=1)
    memory, state = model.encode(src)
    prev = tf.constant([4, 7, 9])
    loops = CpuLoops()
    fast = loops.decoder_step(model.decoder)(prev, state, memory)
    plain = PLAIN.decoder_step(model.decoder)(prev, state, memory)
    assert loops.ran["decoder_step:fast"] == 1
    for got, expected in zip(tf.nest.flatten(fast), tf.nest.flatten(plain), strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_the_fast_paths_stand_aside_below_float32(make_model, batch):
    """Mixed precision keeps TensorFlow's gradient of the plain step."""
    src, tgt_in, _ = batch
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_model(scale=0.5)
        loops = CpuLoops()
        logits, _ = model((src, tgt_in), loops=loops)
        assert logits.dtype == tf.float16
        assert loops.ran["decoder_unroll:plain"] == 1 and not loops.ran["decoder_unroll:fast"]
        assert loops.ran["encoder_lstm:plain"] == 1 and not loops.ran["encoder_lstm:fast"]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_fast_paths_stand_aside_on_a_gpu(make_model, batch, monkeypatch):
    """With a GPU visible, the plain step (cuDNN-eligible Keras LSTMs) runs instead."""
    model = make_model(scale=0.5)
    assert decoder_loop.supports(model.decoder) and lstm.supports(model.encoder.rnns[0])
    real = tf.config.list_logical_devices

    def with_a_gpu(kind=None):
        gpu = tf.config.LogicalDevice("/device:GPU:0", "GPU")
        return [gpu] if kind == "GPU" else real(kind)

    monkeypatch.setattr(tf.config, "list_logical_devices", with_a_gpu)
    assert not decoder_loop.supports(model.decoder)
    assert not lstm.supports(model.encoder.rnns[0])
    loops = CpuLoops()
    src, tgt_in, _ = batch
    model((src, tgt_in), loops=loops)
    loops.decoder_step(model.decoder)
    assert set(loops.ran) == {"encoder_lstm:plain", "decoder_unroll:plain", "decoder_step:plain"}
