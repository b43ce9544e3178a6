"""CPU streams: a batch cut into slices gives the whole batch's loss and gradients."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from nmt.config import Config
from nmt.errors import NmtError
from nmt.fast import cpu_streams
from nmt.training.trainer import Trainer


@pytest.mark.parametrize("rows", [1, 2, 5, 8])
@pytest.mark.parametrize("streams", [2, 3])
def test_slices_cover_the_batch_in_order(rows, streams):
    batch = tf.reshape(tf.range(rows * 3), [rows, 3])
    parts = cpu_streams.slices(streams, batch, batch + 100)
    assert len(parts) == streams
    sizes = [int(tf.shape(p[0])[0]) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    np.testing.assert_array_equal(tf.concat([p[0] for p in parts], 0), batch)
    np.testing.assert_array_equal(tf.concat([p[1] for p in parts], 0), batch + 100)


@pytest.mark.parametrize(
    "src_lengths, tgt_lengths",
    [
        ([5, 3, 7, 2, 4], [4, 6, 2, 5, 3]),  # odd: slices of 2 and 3 rows
        ([6], [4]),  # fewer rows than streams: one slice is empty
    ],
)
def test_streams_give_the_whole_batch_loss_and_gradients(
    make_model, make_batch, tmp_path, src_lengths, tgt_lengths
):
    config = Config().override(["train.label_smoothing=0.1", "train.cpu_streams=2"])
    streamed = Trainer(config, tmp_path / "two", model=make_model(scale=0.5))
    config = Config().override(["train.label_smoothing=0.1", "train.cpu_streams=1"])
    whole = Trainer(config, tmp_path / "one", model=make_model(scale=0.5))
    assert (streamed.streams, whole.streams) == (2, 1)
    batch = make_batch(src_lengths, tgt_lengths)

    got = tf.function(streamed.steps.replica_gradients)(*batch)
    expected = tf.function(whole.steps.replica_gradients)(*batch)
    np.testing.assert_allclose(float(got[0]), float(expected[0]), rtol=1e-5)
    assert float(got[1]) == float(expected[1]) == sum(tgt_lengths)
    names = [v.path for v in whole.model.trainable_variables]
    for name, g, e in zip(names, got[2], expected[2], strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6, err_msg=name)
    for got_part, expected_part in zip(streamed.eval_step(*batch), whole.eval_step(*batch)):
        np.testing.assert_allclose(float(got_part), float(expected_part), rtol=1e-5)


def test_each_slice_backward_waits_only_for_its_own_forward(make_model, make_batch, tmp_path):
    config = Config().override(["train.cpu_streams=2"])
    trainer = Trainer(config, tmp_path, model=make_model(scale=0.5))
    batch = make_batch([5, 3, 7, 2], [4, 6, 2, 5])
    graph = tf.function(trainer.steps.replica_gradients).get_concrete_function(*batch).graph
    calls = [op for op in graph.get_operations() if op.type == "StatefulPartitionedCall"]
    forward = {op for op in calls if "forward" in op.get_attr("f").name}
    backward = [op for op in calls if "backward" in op.get_attr("f").name]
    assert len(forward) == len(backward) == 2

    def ancestors(op):
        seen, todo = set(), [op]
        while todo:
            child = todo.pop()
            for parent in [x.op for x in child.inputs] + list(child.control_inputs):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    # Had the backward pass started from the token count of every slice's loss,
    # each slice would wait for the slowest slice's forward pass.
    assert [len(ancestors(op) & forward) for op in backward] == [1, 1]


def test_auto_takes_two_streams_only_on_two_cores_without_a_gpu(monkeypatch):
    for cores, expected in ((1, 1), (2, 2), (4, 1)):
        monkeypatch.setattr(cpu_streams, "available_cores", lambda n=cores: n)
        assert cpu_streams.resolve(cpu_streams.AUTO) == expected
        assert cpu_streams.resolve(3) == 3
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert cpu_streams.resolve(cpu_streams.AUTO) == cpu_streams.resolve(3) == 1


def test_started_tensorflow_keeps_its_threads(monkeypatch):
    tf.constant(1.0) + 1.0  # TensorFlow runs: its thread counts are fixed
    before = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    monkeypatch.setattr(cpu_streams, "available_cores", lambda: 2)
    assert cpu_streams.configure(cpu_streams.AUTO) == 1  # auto gives up its streams
    assert cpu_streams.configure(2) == 2  # a request keeps them, slower but correct
    after = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    assert after == before


def test_a_fresh_process_gets_one_thread_per_stream_and_a_yardstick_per_thread():
    """Run where TensorFlow has not started: the threads are set, and ``MatmulPeak``
    runs one product per intra-op thread group so that it still uses every core."""
    code = (
        "from nmt.bench import throughput as bench; from nmt.fast import cpu_streams as c;"
        "import tensorflow as tf; t = tf.config.threading;"
        "n = c.configure(2); p = bench.MatmulPeak(256); p.measure();"
        "print(n, t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads(),"
        " p.products, c.available_cores())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    streams, intra, inter, products, cores = map(int, out[-5:])
    assert streams == 2 and inter == 2
    assert intra == max(1, cores // 2)
    assert products == max(1, cores // intra)


def test_a_negative_stream_count_is_a_config_error():
    with pytest.raises(NmtError, match="train.cpu_streams must be >= 0"):
        Config().override(["train.cpu_streams=-1"]).validate()
