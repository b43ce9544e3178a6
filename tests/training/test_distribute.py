"""tf.distribute and mixed precision: results must not depend on the strategy.

conftest.py splits the CPU into two logical devices, so "mirrored" here runs two
replicas; the multi-worker tests each start two processes talking over loopback.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import write_corpus_dir
from test_streaming import record_batches
from test_trainer import PAIRS as TRAINER_PAIRS
from test_trainer import tiny_config, without_images

from nmt.cli import main
from nmt.config import Config
from nmt.data.pipeline import encode
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.decoding.translator import Translator
from nmt.errors import NmtError
from nmt.training import distribute
from nmt.training.run import train_translator
from nmt.training.trainer import Trainer

# Seven pairs in batches of at most 4 (by length): odd batch sizes split unevenly
# over two replicas, so they see different token counts, or one of them none.
PAIRS = [*TRAINER_PAIRS, ("See you tomorrow.", "내일 봐요.")]


def config(**train) -> Config:
    return tiny_config(**{"clip_norm": 0.5, **train})  # low enough to clip, at times


@pytest.fixture(scope="module")
def data():
    src = Tokenizer(train_sentencepiece([en for en, _ in PAIRS] * 10, 300))
    tgt = Tokenizer(train_sentencepiece([ko for _, ko in PAIRS] * 10, 300))
    cfg = config()
    cfg.model.src_vocab_size, cfg.model.tgt_vocab_size = src.vocab_size, tgt.vocab_size
    ids = encode([en for en, _ in PAIRS], [ko for _, ko in PAIRS], src, tgt, cfg.data)
    return cfg, ids


@pytest.fixture
def float32_policy():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def fit(cfg, ids, model_dir, strategy, epochs=2):
    cfg.train.epochs = epochs
    keras.utils.set_random_seed(0)
    trainer = Trainer(cfg, model_dir, strategy=strategy)
    result = trainer.fit(ids, ids, log=lambda message: None)
    return trainer, result


def test_mirrored_training_matches_one_device(tmp_path, data):
    cfg, ids = data
    strategy = distribute.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    one, one_result = fit(cfg, ids, tmp_path / "one", None)
    two, two_result = fit(cfg, ids, tmp_path / "two", strategy)
    for a, b in zip(one_result.epochs, two_result.epochs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)
        assert a.dev_loss == pytest.approx(b.dev_loss, rel=1e-5)
    for a, b in zip(one.model.weights, two.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5, err_msg=a.path)
    # The mirrored checkpoint restores on the default strategy, optimizer included.
    restored = Trainer(cfg, tmp_path / "two")
    assert restored.restore()
    assert int(restored.step.numpy()) == int(two.step.numpy())
    for a, b in zip(two.model.weights, restored.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    inner = two.optimizer.variables
    for a, b in zip(inner, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mirrored_run_translates_on_one_device(tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{en}\t{ko}\n" for en, ko in PAIRS), encoding="utf-8")
    out = tmp_path / "model"
    train_translator(
        config(epochs=1, strategy="mirrored"), out, corpus=corpus, log=lambda message: None
    )
    translation = Translator.load(out).translate(["Thank you."])[0]
    np.testing.assert_allclose(translation.attention.sum(axis=1), 1.0, atol=1e-5)
    assert json.loads((out / "config.json").read_text())["train"]["strategy"] == "mirrored"


@pytest.mark.parametrize(
    "precision, strategy",
    [("mixed_bfloat16", "default"), ("mixed_float16", "default"), ("mixed_float16", "mirrored")],
)
def test_mixed_precision_trains_to_a_lower_loss(
    tmp_path, data, float32_policy, precision, strategy
):
    cfg, ids = data
    distribute.set_precision(precision)
    # The loss falls to 0.54 of the first epoch's in 5 epochs (0.68 in 3), float32 alike.
    trainer, result = fit(cfg, ids, tmp_path, distribute.make_strategy(strategy), epochs=5)
    assert trainer.model.decoder.compute_dtype == precision.removeprefix("mixed_")
    assert all(v.dtype == "float32" for v in trainer.model.weights)
    losses = [e.train_loss for e in result.epochs]
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]
    # Variables are float32 and the loss scale is not checkpointed: a float32 run resumes.
    keras.mixed_precision.set_dtype_policy("float32")
    assert Trainer(cfg, tmp_path).restore()


def test_bad_strategy_settings_are_one_line_errors(monkeypatch):
    with pytest.raises(NmtError, match="train.strategy must be one of"):
        Config().override(["train.strategy=tpu"]).validate()
    with pytest.raises(NmtError, match="train.precision must be one of"):
        Config().override(["train.precision=float16"]).validate()
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(NmtError, match="needs TF_CONFIG"):
        distribute.make_strategy("multiworker")
    for bad in ("{not json", '{"cluster": {}}', _tf_config([1, 2], 5)):
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(NmtError, match="TF_CONFIG"):
            distribute.make_strategy("multiworker")


def _tf_config(ports, index):
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train_args(corpus, out, strategy, epochs=2):
    """``nmt train`` arguments for the tiny model."""
    settings = [
        "model.embedding_dim=32", "model.units=64", "model.attention_units=32",
        "model.readout_dim=32", "model.dropout=0.0", "model.src_vocab_size=300",
        "model.tgt_vocab_size=300", "data.batch_size=4", "train.learning_rate=0.01",
        "train.patience=0", "model.word_dropout=0.0", "train.early_stop_metric=loss",
        # Sampled segmentations would differ from one process to the other.
        "data.subword_alpha=0",
    ]  # fmt: skip
    return [
        "train", "--corpus", str(corpus), "--out", str(out), "--epochs", str(epochs),
        "--strategy", strategy, *(arg for s in settings for arg in ("--set", s)),
    ]  # fmt: skip


def _losses(stderr):
    found = re.findall(r"train loss ([\d.]+), dev loss ([\d.]+)", stderr)
    return [tuple(map(float, pair)) for pair in found]


@pytest.fixture
def corpus_dir(tmp_path):
    return write_corpus_dir(tmp_path / "corpus", PAIRS)


# ``nmt`` that also writes to $RECORD_TO, for each step, the source rows of the batch
# its replicas trained on.
_RECORDING_WORKER = """
import json, os, sys
from nmt.cli import main
from nmt.training import steps

seen, for_dataset = [], steps.Steps.for_dataset

def recording(self, data):
    step, eval_step, data = for_dataset(self, data)

    def recorded(batch, flag):
        parts = self.strategy.experimental_local_results(batch[0])
        seen.append([[int(t) for t in row if t] for part in parts for row in part.numpy()])
        return step(batch, flag)

    return recorded, eval_step, data

steps.Steps.for_dataset = recording
status = main(sys.argv[1:])
with open(os.environ["RECORD_TO"], "w") as f:
    json.dump(seen, f)
sys.exit(status)
"""


class _Worker:
    """One ``nmt train --strategy multiworker`` process, its stderr collected as it comes,
    so a test can wait for what it logs while it runs. With ``record_to``, it writes
    there the rows it trained on (``_RECORDING_WORKER``)."""

    def __init__(self, args, tf_config, record_to=None):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": tf_config}
        command = [sys.executable, "-m", "nmt", *args]
        if record_to is not None:
            env["RECORD_TO"] = str(record_to)
            command = [sys.executable, "-c", _RECORDING_WORKER, *args]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            self._lines.append(line)

    @property
    def stderr(self):
        return "".join(self._lines)

    def finish(self, timeout=300):
        """The exit status, once the process has ended."""
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.process.kill()
            self._reader.join(timeout=10)


def _start_workers(corpus, tmp_path, *settings, record=False):
    """A two-worker cluster training for many epochs: until the test stops it. With
    ``record``, worker i writes the rows it trains on to ``tmp_path/rowsI.json``."""
    ports = _free_ports(2)
    workers = []
    for i in range(2):
        args = _train_args(corpus, tmp_path / f"worker{i}", "multiworker", epochs=500)
        record_to = tmp_path / f"rows{i}.json" if record else None
        workers.append(_Worker([*args, *settings], _tf_config(ports, i), record_to))
    return workers


# A streamed split: chunks of 4 of the 7 pairs, tokenizers from a sample of 5.
_STREAMED = ["--set", "data.chunk_pairs=4", "--set", "data.tokenizer_sample=5"]


def _wait_until(workers, done, what, timeout=240):
    """Until ``done()``; fails at once, with the workers' stderr, if one of them ends."""
    deadline = time.monotonic() + timeout
    while not done():
        ended = [w for w in workers if w.process.poll() is not None]
        late = time.monotonic() > deadline
        if ended or late:
            for w in workers:
                w.process.kill()
            stderr = "\n\n".join(w.stderr[-3000:] for w in workers)
            pytest.fail(f"{'a worker ended' if ended else 'timed out'} before {what}:\n{stderr}")
        time.sleep(0.02)


def _latest_checkpoint(model_dir):
    return tf.train.latest_checkpoint(str(model_dir / "checkpoints"))


@pytest.mark.slow
def test_two_workers_agree_with_one_process_and_stop_together(
    tmp_path, corpus_dir, capsys, monkeypatch
):
    """Two local processes as a MultiWorkerMirroredStrategy cluster on a streamed
    corpus: at every step the two train on disjoint shares of the one process's batch,
    with the same losses; the other worker takes the chief's tokenizers without reading
    its model directory; only the chief writes; and a signal to the other worker stops
    both after the same step, each with a checkpoint.

    One cluster serves it all: it trains on (for many epochs) past the two compared
    with the one process, until the signal.
    """
    workers = _start_workers(corpus_dir, tmp_path, *_STREAMED, record=True)
    without_images(monkeypatch)
    single_rows = record_batches(monkeypatch)
    try:
        # The one process is this one: the same command, run while the workers start up.
        single = main([*_train_args(corpus_dir, tmp_path / "single", "default"), *_STREAMED])
        single_stderr = capsys.readouterr().err
        assert single == 0, single_stderr[-2000:]
        # Signalled within its third epoch, most likely during a step: the signal must
        # ride on the next step's shared flag, or the worker would stop alone and the
        # chief wait for it until it lost contact.
        _wait_until(workers, lambda: len(_losses(workers[1].stderr)) >= 2, "epoch 2")
        time.sleep(0.5)
        workers[1].process.send_signal(signal.SIGTERM)
        statuses = [w.finish() for w in workers]
    finally:
        for w in workers:
            w.process.kill()
    outputs = [w.stderr for w in workers]
    for status, stderr in zip(statuses, outputs):
        assert status == 130, stderr[-2000:]
        assert "SIGTERM: saved checkpoint" in stderr and "Traceback" not in stderr
    assert "streamed from disk in 2 chunks" in single_stderr
    expected = _losses(single_stderr)
    assert len(expected) == 2
    shards = [json.loads((tmp_path / f"rows{i}.json").read_text()) for i in range(2)]
    assert len(single_rows) >= 4
    for step, batch in enumerate(single_rows):
        first, second = ({tuple(row) for row in shard[step]} for shard in shards)
        assert not first & second
        assert sorted(first | second) == sorted(batch)
    for stderr in outputs:
        np.testing.assert_allclose(_losses(stderr)[:2], expected, atol=2e-4)
    chief, other = tmp_path / "worker0", tmp_path / "worker1"
    steps = {int(re.search(r"saved checkpoint .* at step (\d+)", e).group(1)) for e in outputs}
    assert len(steps) == 1
    assert _latest_checkpoint(chief).endswith(f"ckpt-{steps.pop()}")
    assert (chief / "config.json").is_file()
    assert not other.exists() or not any(other.iterdir())
    assert Translator.load(chief).translate(["Thank you."])[0].text is not None


@pytest.mark.slow
def test_a_killed_worker_is_a_one_line_error_on_the_other(tmp_path, corpus_dir):
    # A checkpoint after the first step: the kill need not wait for an epoch's end.
    workers = _start_workers(corpus_dir, tmp_path, "--set", "train.checkpoint_every=1")
    chief = tmp_path / "worker0"
    try:
        _wait_until(workers, lambda: _latest_checkpoint(chief), "a checkpoint")
        workers[1].process.kill()
        status = workers[0].finish()
    finally:
        for w in workers:
            w.process.kill()
    chief_stderr = workers[0].stderr
    assert status == 2, chief_stderr[-3000:]
    last = chief_stderr.strip().splitlines()[-1]
    assert last.startswith("nmt: error: lost contact with another worker"), last
    assert "Traceback" not in chief_stderr
    assert _latest_checkpoint(chief)


def test_only_the_chief_writes(monkeypatch):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver
    spec = tf.train.ClusterSpec({"worker": ["a:1", "b:2"]})

    class Fake:
        def __init__(self, task_type, task_id, cluster=spec):
            self.cluster_resolver = resolver(cluster, task_type=task_type, task_id=task_id)

    assert distribute.is_chief(None)
    assert distribute.is_chief(Fake("worker", 0))
    assert not distribute.is_chief(Fake("worker", 1))
    with_chief = tf.train.ClusterSpec({"chief": ["c:0"], "worker": ["a:1"]})
    assert distribute.is_chief(Fake("chief", 0, with_chief))
    assert not distribute.is_chief(Fake("worker", 0, with_chief))
