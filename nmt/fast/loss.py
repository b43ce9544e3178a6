"""The training loss and its gradient computed together, in one XLA function."""

from __future__ import annotations

import tensorflow as tf

from nmt.model.loss import smoothed_labels, target_mask


def fused_masked_loss(logits, targets, label_smoothing: float = 0.0):
    """``masked_loss`` whose gradient was computed with it, in one XLA function.

    The gradient of cross-entropy with respect to the logits is ``softmax - labels``,
    and the forward pass has every term of it at hand. Computed there, the backward
    pass is one scaling of it, where TensorFlow's own gradient of the XLA loss reads
    the ``(b, t, v)`` logits again and takes every exponent a second time. That made
    the reference model's training step faster (docs/speed-history.md, "The loss's gradient
    from the loss"). The gradient is kept until the backward pass: ``(b, t, v)``
    floats, as many as the logits.
    """

    @tf.custom_gradient
    def loss(logits):
        loss_sum, tokens, d_logits = _loss_and_gradient(logits, targets, label_smoothing)

        def grad(d_loss_sum, d_tokens):
            return tf.cast(d_loss_sum * d_logits, logits.dtype)

        return (loss_sum, tokens), grad

    return loss(logits)


@tf.function(jit_compile=True)
def _loss_and_gradient(logits, targets, label_smoothing):
    mask = target_mask(targets)
    logits = tf.cast(logits, tf.float32)
    labels = smoothed_labels(targets, tf.shape(logits)[-1], label_smoothing)
    log_normaliser = tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
    if label_smoothing:
        losses = tf.reduce_sum(labels * (log_normaliser - logits), axis=-1)
    else:  # one logit per token, not a pass over all of them
        losses = log_normaliser[..., 0] - tf.gather(logits, targets, batch_dims=2)
    d_logits = (tf.exp(logits - log_normaliser) - labels) * mask[..., None]
    return tf.reduce_sum(losses * mask), tf.reduce_sum(mask), d_logits
