"""The fast paths of training compute what the plain ones do.

``Decoder.unroll`` differentiates its loop with a hand-written backward pass, and the
trainer runs the loss and the optimizer update under XLA. Each is checked here
against the textbook version: TensorFlow's autodiff of ``Decoder.step`` under
``tf.scan``, and an eager loss, clip and Adam update. The loops' matmul layout
(``nmt.fast.loop_matmul``) is checked against the plain product.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.config import Config
from nmt.fast import env, loop_matmul
from nmt.model.loss import masked_loss
from nmt.training.trainer import Trainer

SRC_LENGTHS = [7, 5, 2]
TGT_LENGTHS = [4, 6, 1]
ENCODERS = {"uni-1": dict(), "bi-2": dict(bidirectional=True, encoder_layers=2)}


@pytest.fixture
def batch(make_batch):
    return make_batch(SRC_LENGTHS, TGT_LENGTHS)


def loss_and_gradients(model, batch, fast):
    """A loss that reads every output of ``unroll``: logits, and attention weights too."""
    src, tgt_in, tgt_out = batch
    probe = tf.constant(np.random.default_rng(3).normal(size=src.shape[1]), tf.float32)
    with tf.GradientTape() as tape:
        memory, state = model.encode(src, training=True)
        decoder = model.decoder
        hs, contexts, weights = decoder.unroll(
            decoder.embed(tgt_in, training=True), state, memory, fast=fast
        )
        logits = decoder.output_logits(hs, contexts, training=True)
        loss = masked_loss(logits, tgt_out)[0] + tf.reduce_sum(weights * probe)
    gradients = tape.gradient(loss, model.trainable_variables)
    return (hs, contexts, weights), loss, [tf.convert_to_tensor(g) for g in gradients]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_fast_unroll_matches_autodiff_of_step(make_model, batch, encoder, compiled):
    model = make_model(scale=0.5, **ENCODERS[encoder])
    run = tf.function(loss_and_gradients, autograph=False) if compiled else loss_and_gradients
    plain_outputs, plain_loss, plain_gradients = run(model, batch, False)
    fast_outputs, fast_loss, fast_gradients = run(model, batch, True)
    # The forward loop is ``step`` itself: the same numbers.
    for fast, plain in zip(fast_outputs, plain_outputs, strict=True):
        np.testing.assert_allclose(fast.numpy(), plain.numpy(), atol=1e-6)
    np.testing.assert_allclose(float(fast_loss), float(plain_loss), rtol=1e-6)
    for variable, fast, plain in zip(
        model.trainable_variables, fast_gradients, plain_gradients, strict=True
    ):
        scale = max(1.0, float(np.abs(plain.numpy()).max()))
        np.testing.assert_allclose(
            fast.numpy(), plain.numpy(), atol=1e-5 * scale, err_msg=variable.path
        )
    # Every decoder weight gets a gradient through the loop (none is silently zero).
    for variable, gradient in zip(model.trainable_variables, fast_gradients, strict=True):
        assert np.abs(gradient.numpy()).max() > 0, variable.path


def test_fast_unroll_is_not_used_below_float32(make_model, batch):
    """Mixed precision (GPU) keeps TensorFlow's gradient of ``step``."""
    src, tgt_in, _ = batch
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_model(scale=0.5)
        memory, state = model.encode(src)
        decoder = model.decoder
        outputs = decoder.unroll(decoder.embed(tgt_in), state, memory)
        assert outputs[0].dtype == tf.float16
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_train_step_matches_a_textbook_update(make_model, batch, tmp_path):
    """The trainer's compiled step (XLA loss and update) against eager loss, clip and Adam."""
    config = Config().override(["train.learning_rate=0.01", "train.clip_norm=0.5"])
    model, reference = make_model(scale=0.5), make_model(scale=0.5)
    trainer = Trainer(config, tmp_path, model=model)
    loss_sum, tokens = trainer.train_step(*(tf.constant(x) for x in batch))

    src, tgt_in, tgt_out = batch
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    with tf.GradientTape() as tape:
        logits, _ = reference((src, tgt_in), training=True)
        expected_sum, expected_tokens = masked_loss(logits, tgt_out)
        loss = expected_sum / expected_tokens
    gradients = tape.gradient(loss, reference.trainable_variables)
    gradients, norm = tf.clip_by_global_norm([tf.convert_to_tensor(g) for g in gradients], 0.5)
    assert float(norm) > 0.5  # the clip is exercised
    optimizer.apply_gradients(zip(gradients, reference.trainable_variables))

    np.testing.assert_allclose(float(loss_sum), float(expected_sum), rtol=1e-5)
    assert float(tokens) == float(expected_tokens) == sum(TGT_LENGTHS)
    for got, expected in zip(model.trainable_variables, reference.trainable_variables, strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5, err_msg=got.path)


def test_loop_matmul_is_the_plain_product():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 3)), tf.float32)
    w = tf.constant(rng.normal(size=(3, 7)), tf.float32)
    v = tf.constant(rng.normal(size=(4, 3)), tf.float32)
    expected = np.asarray(x) @ np.asarray(w)
    np.testing.assert_allclose(loop_matmul.matmul(x, loop_matmul.prepare(w)), expected, rtol=1e-5)
    # x·Vᵀ takes V as it is.
    np.testing.assert_allclose(loop_matmul.matmul(x, v), np.asarray(x) @ np.asarray(v).T, rtol=1e-5)


@pytest.mark.parametrize(
    "variable, default, preset",
    [
        pytest.param(
            "TF_ENABLE_ONEDNN_OPTS",
            "1",
            None,
            marks=pytest.mark.skipif(not env.X86, reason="x86 only"),
        ),
        ("TF_ENABLE_ONEDNN_OPTS", "0", "0"),
        ("TF_CPU_ALLOCATOR_USE_BFC", "true", None),
        ("TF_CPU_ALLOCATOR_USE_BFC", "false", "false"),
    ],
)
def test_nmt_sets_tensorflow_defaults_unless_told_otherwise(variable, default, preset):
    env = {k: v for k, v in os.environ.items() if k != variable}
    if preset is not None:
        env[variable] = preset
    code = f"import os, nmt; print(os.environ.get('{variable}'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == default
