"""Mixed precision: one batch's gradients, as the trainer computes them under a mixed
policy, are the float32 gradients of the same weights up to half-precision rounding.

The reference is TensorFlow's autodiff of the plain float32 model with a loss written
here; the mixed gradients are the trainer's own (``Trainer.steps.replica_gradients``,
the loss unscaled where the trainer scales it).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.config import Config
from nmt.training import distribute
from nmt.training.trainer import Trainer

LENGTHS = ([5, 3, 7, 2, 4], [4, 6, 2, 5, 3])
# Unit roundoff: the largest relative error of one rounding, 2^-p for p bits of
# significand (bfloat16 keeps 8, float16 11).
ROUNDOFF = {"mixed_bfloat16": 2.0**-8, "mixed_float16": 2.0**-11}


@pytest.fixture
def set_precision():
    """``distribute.set_precision``, as ``nmt train`` calls it; float32 again afterwards,
    since the Keras policy is global and every later test builds its models under it."""
    yield distribute.set_precision
    keras.mixed_precision.set_dtype_policy("float32")


def float32_gradients(model, src, tgt_in, tgt_out):
    """The mean masked cross-entropy's loss sum and gradients, by TensorFlow's autodiff."""
    with tf.GradientTape() as tape:
        logits, _ = model((src, tgt_in), training=False)  # dropout is 0
        log_p = tf.nn.log_softmax(tf.cast(logits, tf.float64))
        per_token = -tf.gather(log_p, tgt_out, batch_dims=2)
        real = tf.cast(tgt_out != 0, tf.float64)
        loss_sum = tf.reduce_sum(per_token * real)
        loss = loss_sum / tf.reduce_sum(real)
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss_sum), [tf.convert_to_tensor(g).numpy() for g in gradients]


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_gradients_are_the_float32_gradients(
    make_model, make_batch, tmp_path, set_precision, precision
):
    batch = make_batch(*LENGTHS)
    expected_sum, expected = float32_gradients(make_model(scale=0.5), *batch)

    set_precision(precision)
    model = make_model(scale=0.5)  # the same weights, in float32 variables
    assert model.decoder.compute_dtype == precision.removeprefix("mixed_")
    trainer = Trainer(Config().override(["train.label_smoothing=0.0"]), tmp_path, model=model)
    loss_sum, _, gradients = trainer.steps.replica_gradients(*(tf.constant(x) for x in batch))
    # Under float16 the trainer scales the loss (LossScaleOptimizer) and the optimizer
    # unscales the gradients; bfloat16 has float32's range and needs no scaling.
    scale = float(trainer.optimizer.scale_loss(tf.constant(1.0)))
    assert (scale > 1) == (precision == "mixed_float16")
    gradients = [g.numpy() / scale for g in gradients]

    # Bounds in units u of one rounding. The loss is a sum over 20 tokens of float32
    # log-softmaxes of half-precision logits: a fraction of u measured, bounded by u.
    u = ROUNDOFF[precision]
    assert abs(float(loss_sum) - expected_sum) <= u * expected_sum
    # A gradient goes through a few tens of roundings (seven decoder and seven encoder
    # steps, each a few matmuls and gates). Measured here: 1.5-5 u of each tensor's
    # norm and 2 u of all of them together, but 10-20 u for the attention query
    # kernel, whose gradient is a small sum (1/100 of the others' norm) of large terms
    # of both signs. So at most 32 u per tensor and 8 u in all (bfloat16: 12.5% and
    # 3%; float16: 1.6% and 0.4%), which leaves room for other CPUs' kernels. A gradient
    # left scaled is off by 2^15, and one that misses the path from the LSTM back to
    # the context, or back along h, by 35% of the encoder's; a path of a few percent
    # (the query's back into h_{t-1}: 3% of the bridge's) shows only under float16.
    assert all(g.dtype == np.float32 for g in gradients)  # variables stay float32
    for variable, got, want in zip(model.trainable_variables, gradients, expected, strict=True):
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert error <= 32 * u, f"{variable.path}: relative error {error:.2e}"
    total_error = np.sqrt(sum(np.sum((g - e) ** 2) for g, e in zip(gradients, expected)))
    total = np.sqrt(sum(np.sum(e**2) for e in expected))
    assert total_error <= 8 * u * total, f"relative error {total_error / total:.2e}"
    # The fast loops are float32 only: mixed precision runs (and is checked on) the plain.
    assert trainer.steps.loops.ran["decoder_unroll:plain"] >= 1
