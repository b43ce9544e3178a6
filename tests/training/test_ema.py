import numpy as np
import tensorflow as tf

from nmt.fast.optimizer import FusedAdam
from nmt.model.loops import PLAIN
from nmt.training.ema import MovingAverage
from nmt.training.steps import Steps


def test_average_equals_a_hand_computed_one_over_real_steps(make_model, make_batch):
    """Five Adam steps on a tiny model; the average must be the textbook recurrence
    over the weights seen after each step, with the ramped decay min(d, (1+n)/(10+n))."""
    model = make_model(scale=0.5)
    optimizer = FusedAdam(learning_rate=0.05)
    optimizer.build(model.trainable_variables)
    ema = MovingAverage(model.trainable_variables, decay=0.6)
    steps = Steps(model, optimizer, loops=PLAIN, ema=ema)
    batch = [tf.constant(x) for x in make_batch([5, 3], [4, 6])]
    expected = [w.numpy().astype(np.float64) for w in model.trainable_variables]
    for n in range(5):
        steps.train_step(*batch)
        decay = min(0.6, (1 + n) / (10 + n))
        weights = [w.numpy().astype(np.float64) for w in model.trainable_variables]
        expected = [decay * a + (1 - decay) * w for a, w in zip(expected, weights)]
    assert int(ema.updates.numpy()) == 5
    moved = [not np.allclose(a, w) for a, w in zip(expected, weights)]
    assert sum(moved) > len(moved) // 2, "the weights must have moved away from the average"
    for average, want in zip(ema.averages, expected):
        np.testing.assert_allclose(average.numpy(), want, rtol=1e-5, atol=1e-6)


def test_swapped_in_holds_the_averages_then_gives_the_weights_back(make_model):
    model = make_model()
    ema = MovingAverage(model.trainable_variables, decay=0.9)
    raw = [w.numpy() for w in model.trainable_variables]
    for average in ema.averages:
        average.assign(average + 1.0)
    with ema.swapped_in():
        for w, r in zip(model.trainable_variables, raw):
            np.testing.assert_array_equal(w.numpy(), r + 1.0)
    for w, r in zip(model.trainable_variables, raw):
        np.testing.assert_array_equal(w.numpy(), r)


def test_averages_round_trip_through_a_checkpoint_and_reset_follows_the_weights(
    make_model, tmp_path
):
    model = make_model()
    ema = MovingAverage(model.trainable_variables, decay=0.9)
    for average in ema.averages:
        average.assign(average * 3.0)
    ema.updates.assign(7)
    path = tf.train.Checkpoint(ema=ema).save(str(tmp_path / "ckpt"))
    other = MovingAverage(make_model(seed=1).trainable_variables, decay=0.9)
    tf.train.Checkpoint(ema=other).restore(path).assert_existing_objects_matched()
    assert int(other.updates.numpy()) == 7
    for a, b in zip(ema.averages, other.averages):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    other.reset()
    assert int(other.updates.numpy()) == 0
    for a, w in zip(other.averages, other._weights):
        np.testing.assert_array_equal(a.numpy(), w.numpy())
