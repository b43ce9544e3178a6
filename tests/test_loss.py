"""The training loss computed with its gradient equals the plain loss and its autodiff."""

import numpy as np
import pytest
import tensorflow as tf

from nmt.constants import PAD_ID
from nmt.model.loss import fused_masked_loss, masked_loss, token_count


def batch(dtype=tf.float32):
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(3, 5, 11)) * 3, dtype)
    targets = rng.integers(4, 11, (3, 5)).astype(np.int32)
    targets[0, 3:] = PAD_ID  # a short sentence
    targets[2, 1:] = PAD_ID
    return logits, tf.constant(targets)


def loss_and_gradient(fn, logits, targets, label_smoothing):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss_sum, tokens = fn(logits, targets, label_smoothing)
        scaled = loss_sum * 0.37  # the step's loss is the sum scaled, e.g. by 1 / tokens
    return loss_sum, tokens, tape.gradient(scaled, logits)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_fused_loss_and_its_gradient_equal_autodiff_of_the_plain_loss(label_smoothing):
    logits, targets = batch()
    expected = loss_and_gradient(masked_loss, logits, targets, label_smoothing)
    fused = loss_and_gradient(fused_masked_loss, logits, targets, label_smoothing)
    np.testing.assert_allclose(fused[0], expected[0], rtol=1e-5)
    assert float(fused[1]) == float(expected[1]) == float(token_count(targets)) == 9  # real only
    np.testing.assert_allclose(fused[2], expected[2], rtol=1e-5, atol=1e-7)
    # Padding positions get no gradient at all.
    assert not np.any(fused[2].numpy()[targets.numpy() == PAD_ID])


def test_fused_loss_gradient_has_the_dtype_of_half_precision_logits():
    logits, targets = batch(tf.float16)
    loss_sum, _, gradient = loss_and_gradient(fused_masked_loss, logits, targets, 0.0)
    assert loss_sum.dtype == tf.float32 and gradient.dtype == tf.float16
    expected = loss_and_gradient(masked_loss, tf.cast(logits, tf.float32), targets, 0.0)
    np.testing.assert_allclose(gradient.numpy().astype(np.float32), expected[2], atol=1e-3)
