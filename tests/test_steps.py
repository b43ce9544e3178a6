"""``nmt.training.steps``: the compiled steps are the textbook update of the batch's mean loss,
whatever the optimizer, however the batch is cut."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.model.loss import masked_loss
from nmt.training.steps import Steps

LENGTHS = ([5, 3, 7, 2, 4], [4, 6, 2, 5, 3])  # odd, so two streams differ by a row


@pytest.mark.parametrize("streams, jit_compile", [(1, False), (2, False), (1, True)])
def test_train_step_is_one_sgd_step_on_the_mean_loss(make_model, make_batch, streams, jit_compile):
    model, reference = make_model(scale=0.5), make_model(scale=0.5)
    steps = Steps(
        model,
        keras.optimizers.SGD(learning_rate=0.1),
        label_smoothing=0.1,
        jit_compile=jit_compile,
        streams=streams,
    )
    src, tgt_in, tgt_out = make_batch(*LENGTHS)
    loss_sum, tokens = steps.train_step(src, tgt_in, tgt_out)

    with tf.GradientTape() as tape:
        logits, _ = reference((src, tgt_in), training=True)
        expected_sum, expected_tokens = masked_loss(logits, tgt_out, 0.1)
        loss = expected_sum / expected_tokens
    variables = reference.trainable_variables
    gradients = tape.gradient(loss, variables)
    assert float(tokens) == float(expected_tokens) == sum(LENGTHS[1])
    np.testing.assert_allclose(float(loss_sum), float(expected_sum), rtol=1e-5)
    for new, old, g in zip(model.trainable_variables, variables, gradients, strict=True):
        expected = old - 0.1 * tf.convert_to_tensor(g)
        np.testing.assert_allclose(new, expected, rtol=1e-4, atol=1e-6, err_msg=new.path)


@pytest.mark.parametrize("streams", [1, 2])
def test_eval_step_is_the_loss_and_changes_nothing(make_model, make_batch, streams):
    model = make_model(scale=0.5)
    steps = Steps(model, keras.optimizers.SGD(learning_rate=0.1), streams=streams)
    before = [v.numpy() for v in model.trainable_variables]
    src, tgt_in, tgt_out = make_batch(*LENGTHS)
    loss_sum, tokens = steps.eval_step(src, tgt_in, tgt_out)
    expected_sum, expected_tokens = masked_loss(model((src, tgt_in))[0], tgt_out)
    np.testing.assert_allclose(float(loss_sum), float(expected_sum), rtol=1e-5)
    assert float(tokens) == float(expected_tokens)
    for v, old in zip(model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), old)


def test_one_trace_serves_every_batch_shape(make_model, make_batch):
    steps = Steps(make_model(), keras.optimizers.SGD(learning_rate=0.01), streams=2)
    for lengths in (LENGTHS, ([2, 9], [7, 1]), ([4], [3])):
        steps.train_step(*make_batch(*lengths))
        steps.eval_step(*make_batch(*lengths))
    assert steps.train_step.experimental_get_tracing_count() == 1
    assert steps.eval_step.experimental_get_tracing_count() == 1
