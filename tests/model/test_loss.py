"""The training loss against the textbook cross-entropy written in NumPy, and the fused
loss's hand-computed gradient against the NumPy gradient and TensorFlow's autodiff."""

import numpy as np
import pytest
import tensorflow as tf

from nmt.constants import PAD_ID
from nmt.fast.loss import fused_masked_loss
from nmt.model.loss import masked_loss, token_count

V = 11  # vocabulary


def batch(dtype=tf.float32):
    rng = np.random.default_rng(0)
    # Logits of scale 3: the softmax is far from uniform, so a wrong ε / v shows.
    logits = tf.constant(rng.normal(size=(3, 5, V)) * 3, dtype)
    # Every id but padding, the special ids 1-3 and the last one included.
    targets = rng.integers(1, V, (3, 5)).astype(np.int32)
    targets[1, 4] = V - 1
    targets[0, 3:] = PAD_ID  # a short sentence
    targets[2, 1:] = PAD_ID
    return logits, tf.constant(targets)


def textbook(logits, targets, label_smoothing):
    """Label-smoothed cross-entropy in float64: ``(loss sum, tokens, d loss sum / d logits)``.

    With ε and v words the target distribution is q = (1 - ε)·onehot + ε / v; a token's
    loss is -sum_k q_k log softmax(z)_k, summed over the tokens whose target is not
    padding; its gradient is softmax(z) - q at those tokens and 0 at padding.
    """
    z = np.asarray(logits, np.float64)
    targets = np.asarray(targets)
    v = z.shape[-1]
    q = (1.0 - label_smoothing) * np.eye(v)[targets] + label_smoothing / v
    shifted = z - z.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    real = targets != PAD_ID
    per_token = -(q * log_softmax).sum(axis=-1)
    gradient = (np.exp(log_softmax) - q) * real[..., None]
    return per_token[real].sum(), real.sum(), gradient


def loss_and_gradient(fn, logits, targets, label_smoothing):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss_sum, tokens = fn(logits, targets, label_smoothing)
        scaled = loss_sum * 0.37  # the step's loss is the sum scaled, e.g. by 1 / tokens
    return loss_sum, tokens, tape.gradient(scaled, logits)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("fn", [masked_loss, fused_masked_loss], ids=["plain", "fused"])
def test_loss_and_gradient_are_the_textbook_cross_entropy(fn, label_smoothing):
    # The plain loss's gradient is TensorFlow's autodiff; the fused one's is its own.
    logits, targets = batch()
    loss_sum, tokens, gradient = loss_and_gradient(fn, logits, targets, label_smoothing)
    expected_sum, expected_tokens, expected_gradient = textbook(logits, targets, label_smoothing)
    assert float(tokens) == expected_tokens == 9  # real tokens only
    np.testing.assert_allclose(float(loss_sum), expected_sum, rtol=1e-6)
    np.testing.assert_allclose(gradient.numpy(), 0.37 * expected_gradient, atol=1e-6)
    # Padding positions get no gradient at all.
    assert not np.any(gradient.numpy()[targets.numpy() == PAD_ID])


def test_the_reference_is_not_vacuous():
    # Smoothing changes the loss by far more than the tolerance above, and a smoothed
    # target still puts 1 - ε + ε / v on its word (not 1 - ε).
    logits, targets = batch()
    plain, smoothed = textbook(logits, targets, 0.0)[0], textbook(logits, targets, 0.1)[0]
    assert abs(smoothed - plain) > 0.1
    one_word = np.zeros((1, 1, V))
    loss = textbook(one_word, np.array([[5]]), 0.1)[0]
    np.testing.assert_allclose(loss, np.log(V))  # uniform softmax: log v whatever q is


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_fused_loss_and_its_gradient_equal_autodiff_of_the_plain_loss(label_smoothing):
    logits, targets = batch()
    expected = loss_and_gradient(masked_loss, logits, targets, label_smoothing)
    fused = loss_and_gradient(fused_masked_loss, logits, targets, label_smoothing)
    np.testing.assert_allclose(fused[0], expected[0], rtol=1e-5)
    assert float(fused[1]) == float(expected[1]) == float(token_count(targets)) == 9  # real only
    np.testing.assert_allclose(fused[2], expected[2], rtol=1e-5, atol=1e-7)


def test_fused_loss_gradient_has_the_dtype_of_half_precision_logits():
    logits, targets = batch(tf.float16)
    loss_sum, _, gradient = loss_and_gradient(fused_masked_loss, logits, targets, 0.0)
    assert loss_sum.dtype == tf.float32 and gradient.dtype == tf.float16
    # The reference sees the same float16 logits; only the gradient's rounding to
    # float16 (11 bits: 5e-4 of values below 1, times 0.37) separates them.
    expected_sum, _, expected_gradient = textbook(logits.numpy(), targets, 0.0)
    np.testing.assert_allclose(float(loss_sum), expected_sum, rtol=1e-6)
    np.testing.assert_allclose(
        gradient.numpy().astype(np.float32), 0.37 * expected_gradient, atol=1e-3
    )
