"""The trainer's whole fast step computes the textbook update of the plain model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.config import Config
from nmt.model.loss import masked_loss
from nmt.training.trainer import Trainer

SRC_LENGTHS = [7, 5, 2]
TGT_LENGTHS = [4, 6, 1]


@pytest.fixture
def batch(make_batch):
    return make_batch(SRC_LENGTHS, TGT_LENGTHS)


def test_train_step_matches_a_textbook_update(make_model, batch, tmp_path):
    """The trainer's compiled step (CPU loops, XLA loss, fused update) against TensorFlow's
    gradient of the plain model, an eager loss, clip and Keras's Adam."""
    config = Config().override(
        ["train.learning_rate=0.01", "train.clip_norm=0.5", "train.label_smoothing=0.0"]
    )
    model, reference = make_model(scale=0.5), make_model(scale=0.5)
    trainer = Trainer(config, tmp_path, model=model)
    loss_sum, tokens = trainer.train_step(*(tf.constant(x) for x in batch))
    assert trainer.steps.loops.ran["decoder_unroll:fast"] >= 1
    assert trainer.steps.loops.ran["encoder_lstm:fast"] >= 1

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
