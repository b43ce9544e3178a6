"""``nmt.training.steps``: the compiled steps are the textbook update of the batch's mean loss,
whatever the optimizer, however the batch is cut.

The reference is never the step's own machinery: TensorFlow's autodiff of the plain
model (``model(...)`` runs the plain loops; ``Steps`` the CPU fast path with its
hand-written gradients), a loss written here, and the update written out in NumPy.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.config import TrainConfig
from nmt.fast.optimizer import FusedAdam
from nmt.model.loss import masked_loss
from nmt.training.steps import Steps

LENGTHS = ([5, 3, 7, 2, 4], [4, 6, 2, 5, 3])  # odd, so two streams differ by a row
# Further batches for several updates in a row: other lengths, other padding.
MORE_LENGTHS = [([2, 6, 4, 1, 3], [5, 2, 3, 6, 1]), ([7, 7, 3, 5, 2], [3, 3, 6, 2, 4])]
SMOOTHING = 0.1
# Adam's constants as Kingma & Ba give them, and the trainer's optimizer keeps.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def mean_loss(model, src, tgt_in, tgt_out, label_smoothing=SMOOTHING):
    """The plain model's label-smoothed cross-entropy over real tokens, over their count.

    The textbook formula in float64: q = (1 - ε)·onehot + ε / v and a token's loss is
    -sum_k q_k log softmax(z)_k; pad id 0 marks the tokens left out.
    """
    logits, _ = model((src, tgt_in), training=False)  # dropout is 0: the same as training
    logits = tf.cast(logits, tf.float64)
    vocab = logits.shape[-1]
    q = (1 - label_smoothing) * tf.one_hot(tgt_out, vocab, dtype=tf.float64)
    q += label_smoothing / vocab
    per_token = -tf.reduce_sum(q * tf.nn.log_softmax(logits), axis=-1)
    real = tf.cast(tgt_out != 0, tf.float64)
    loss_sum, tokens = tf.reduce_sum(per_token * real), tf.reduce_sum(real)
    return loss_sum / tokens, loss_sum, tokens


def autodiff(model, batch):
    """``(mean loss, loss sum, tokens, float64 gradients)`` by TensorFlow's autodiff."""
    with tf.GradientTape() as tape:
        loss, loss_sum, tokens = mean_loss(model, *batch)
    gradients = tape.gradient(loss, model.trainable_variables)
    # Embedding gradients come as IndexedSlices: their dense sum is the gradient.
    return loss, loss_sum, tokens, [tf.convert_to_tensor(g).numpy() for g in gradients]


def assert_ran_the_fast_path(steps):
    # Otherwise the comparison would be of the plain model with itself.
    assert steps.loops.ran["decoder_unroll:fast"] >= 1
    assert steps.loops.ran["encoder_lstm:fast"] >= 1


@pytest.mark.parametrize("streams, jit_compile", [(1, False), (2, False), (1, True)])
def test_train_step_is_one_sgd_step_on_the_mean_loss(make_model, make_batch, streams, jit_compile):
    model, reference = make_model(scale=0.5), make_model(scale=0.5)
    steps = Steps(
        model,
        keras.optimizers.SGD(learning_rate=0.1),
        label_smoothing=SMOOTHING,
        jit_compile=jit_compile,
        streams=streams,
    )
    batch = make_batch(*LENGTHS)
    loss_sum, tokens = steps.train_step(*batch)
    assert_ran_the_fast_path(steps)

    _, expected_sum, expected_tokens, gradients = autodiff(reference, batch)
    assert float(tokens) == float(expected_tokens) == sum(LENGTHS[1])
    np.testing.assert_allclose(float(loss_sum), float(expected_sum), rtol=1e-5)
    for new, old, g in zip(model.trainable_variables, reference.trainable_variables, gradients):
        # SGD moves each weight by lr·g: every gradient shows at its own size.
        expected = old.numpy() - 0.1 * g
        np.testing.assert_allclose(new, expected, rtol=1e-4, atol=1e-6, err_msg=new.path)
    # Guard against a vacuous comparison: every weight has a gradient well above atol,
    # so a missing term moves some weight by more than the tolerance.
    assert min(np.abs(g).max() for g in gradients) > 1e-4


def textbook_adam(weights, gradients, moments, step, learning_rate, clip_norm):
    """One step of clip-by-global-norm then Adam, in float64 NumPy, in place.

    Clip: g <- g·min(1, clip / ||g||) with ||g|| the norm of all gradients together.
    Adam (Kingma & Ba, Algorithm 1 in the form of their section 2 that Keras and
    TensorFlow implement): m <- β1·m + (1 - β1)·g, v <- β2·v + (1 - β2)·g²,
    w <- w - α_t·m / (√v + ε) with α_t = lr·√(1 - β2ᵗ) / (1 - β1ᵗ) the bias correction.

    Returns:
        The global norm before clipping.
    """
    norm = np.sqrt(sum(np.sum(g**2) for g in gradients))
    scale = min(1.0, clip_norm / norm)
    alpha = learning_rate * np.sqrt(1 - BETA_2**step) / (1 - BETA_1**step)
    for w, g, (m, v) in zip(weights, gradients, moments, strict=True):
        g = g * scale
        m += (1 - BETA_1) * (g - m)
        v += (1 - BETA_2) * (g * g - v)
        w -= alpha * m / (np.sqrt(v) + EPSILON)
    return norm


@pytest.mark.parametrize("streams", [1, 2])
@pytest.mark.parametrize("clip_norm", [TrainConfig().clip_norm, 0.5], ids=["config", "low"])
def test_train_steps_are_textbook_clipped_adam_on_autodiff_gradients(
    make_model, make_batch, streams, clip_norm
):
    """Three updates with the optimizer as the trainer builds it (``Trainer``).

    One Adam step from zero moments moves every weight by about lr·sign(g), whatever
    the gradient's size; from the second step on, each move depends on the ratios of
    successive (clipped) gradients, so the comparison sees their sizes too.
    """
    learning_rate = TrainConfig().learning_rate
    model, reference = make_model(scale=0.5), make_model(scale=0.5)
    optimizer = FusedAdam(learning_rate=learning_rate, global_clipnorm=clip_norm)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (BETA_1, BETA_2, EPSILON)
    steps = Steps(model, optimizer, label_smoothing=SMOOTHING, streams=streams)

    weights = [v.numpy().astype(np.float64) for v in reference.trainable_variables]
    moments = [(np.zeros_like(w), np.zeros_like(w)) for w in weights]
    norms = []
    for step, lengths in enumerate([LENGTHS, *MORE_LENGTHS], start=1):
        batch = make_batch(*lengths)
        loss_sum, _ = steps.train_step(*batch)
        for variable, w in zip(reference.trainable_variables, weights, strict=True):
            variable.assign(w.astype(np.float32))
        _, expected_sum, _, gradients = autodiff(reference, batch)
        np.testing.assert_allclose(float(loss_sum), float(expected_sum), rtol=1e-5)
        norms.append(textbook_adam(weights, gradients, moments, step, learning_rate, clip_norm))
        for got, expected in zip(model.trainable_variables, weights, strict=True):
            # Moves of about lr = 2e-3 per step: a wrong sign or ratio shows at 1e-4.
            np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6, err_msg=got.path)
    assert_ran_the_fast_path(steps)
    if clip_norm < 1:  # the low limit clips every step; so its scale is checked
        assert min(norms) > clip_norm


@pytest.mark.parametrize("streams", [1, 2])
def test_eval_step_is_the_loss_and_changes_nothing(make_model, make_batch, streams):
    model = make_model(scale=0.5)
    steps = Steps(model, keras.optimizers.SGD(learning_rate=0.1), streams=streams)
    before = [v.numpy() for v in model.trainable_variables]
    batch = make_batch(*LENGTHS)
    loss_sum, tokens = steps.eval_step(*batch)
    _, expected_sum, expected_tokens = mean_loss(model, *batch, label_smoothing=0.0)
    np.testing.assert_allclose(float(loss_sum), float(expected_sum), rtol=1e-5)
    assert float(tokens) == float(expected_tokens)
    # The same as the library's plain loss.
    np.testing.assert_allclose(
        float(loss_sum), float(masked_loss(model((batch[0], batch[1]))[0], batch[2])[0]), rtol=1e-5
    )
    for v, old in zip(model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), old)


def test_one_trace_serves_every_batch_shape(make_model, make_batch):
    steps = Steps(make_model(), keras.optimizers.SGD(learning_rate=0.01), streams=2)
    for lengths in (LENGTHS, ([2, 9], [7, 1]), ([4], [3])):
        steps.train_step(*make_batch(*lengths))
        steps.eval_step(*make_batch(*lengths))
    assert steps.train_step.experimental_get_tracing_count() == 1
    assert steps.eval_step.experimental_get_tracing_count() == 1
