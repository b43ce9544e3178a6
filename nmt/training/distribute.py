"""Distribution strategies and numeric precision: the few hooks the trainer needs.

The model never sees a strategy. The trainer builds its variables under
``strategy.scope()``, runs its step with ``strategy.run`` and asks ``is_chief``
before writing anything; everything else is TensorFlow's own ``tf.distribute``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nmt.config_rules import PRECISIONS, STRATEGIES
from nmt.errors import NmtError


@functools.cache
def make_strategy(name: str) -> tf.distribute.Strategy | None:
    """The strategy called ``name``; None for ``default`` (one device, no wrapping).

    One per process and name: two strategies in one process number their collective
    ops alike and abort each other's (tensorflow#62790). ``multiworker`` reads the
    cluster from ``TF_CONFIG`` and must be created before TensorFlow runs any op,
    because its collectives are configured at start-up.
    """
    if name == "default":
        return None
    if name == "mirrored":
        # Every local GPU; without one, every logical CPU device (one, unless the
        # process split its CPU, as the tests do), where MirroredStrategy would take
        # only the first.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        _check_tf_config()
        # RING collectives work on CPU hosts as well as GPU ones, without NCCL.
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise NmtError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise NmtError(
            "--strategy multiworker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}} (see README, Distributed training)'
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise NmtError(f"TF_CONFIG is not a valid cluster description ({exc})") from None
    jobs = config["cluster"]
    if kind not in jobs or not 0 <= index < len(jobs[kind]):
        raise NmtError(f"TF_CONFIG task {kind}:{index} is not in its cluster {jobs}")
    if not workers and "chief" not in jobs:
        raise NmtError("TF_CONFIG lists no workers")


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes checkpoints, logs and files for the whole cluster.

    The chief is task ``chief:0`` or, in a cluster without one, ``worker:0``.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    jobs = resolver.cluster_spec().jobs
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in jobs


def worker_dir(model_dir: Path, strategy: tf.distribute.Strategy | None) -> Path:
    """Where this process saves checkpoints: the model directory for the chief.

    Every worker of a multi-worker run must take part in saving (saving may run
    collectives), but only the chief's files are kept; the others write to a
    scratch directory that ``discard_worker_dir`` removes.
    """
    if is_chief(strategy):
        return model_dir
    return Path(tempfile.mkdtemp(prefix="nmt-worker-"))


def discard_worker_dir(path: Path, model_dir: Path) -> None:
    if path != model_dir:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def peers_lost_as_error(strategy: tf.distribute.Strategy | None):
    """Turn a lost worker into a one-line ``NmtError`` on the workers left.

    When a worker dies (``kill -9``, a lost host), the others' collectives fail once
    TensorFlow's coordination service misses its heartbeats; the checkpoints the chief
    wrote before are complete, so restarting every worker resumes from the last one.
    """
    if getattr(strategy, "cluster_resolver", None) is None:
        yield
        return
    try:
        yield
    except (
        tf.errors.UnavailableError,
        tf.errors.AbortedError,
        tf.errors.CancelledError,
        tf.errors.DeadlineExceededError,
    ) as exc:
        first = next((line for line in exc.message.splitlines() if line.strip()), "")
        raise NmtError(
            f"lost contact with another worker ({type(exc).__name__}: {first[:200]}); the "
            "latest checkpoint is complete: restart every worker to resume from it"
        ) from None


def set_precision(name: str) -> None:
    """Set the Keras dtype policy for the layers built after this call.

    Variables stay float32 under both mixed policies, so checkpoints do not depend
    on the precision they were trained in.
    """
    if name not in PRECISIONS:
        raise NmtError(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    keras.mixed_precision.set_dtype_policy(name)


def check_same_everywhere(strategy: tf.distribute.Strategy | None, what: str, data: bytes):
    """Fail unless every worker holds the same ``data`` (e.g. its trained tokenizers).

    Each worker trains its own SentencePiece models, deterministically; this makes
    sure that holds, rather than training on silently different token ids.
    """
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return
    # 32 bits of the digest: sums of them over replicas stay exact in float64.
    digest = float(int.from_bytes(hashlib.sha256(data).digest()[:4], "big"))
    replicas = strategy.num_replicas_in_sync

    @tf.function
    def disagreements():
        # Two rounds, so that every worker reaches the same verdict: a worker that
        # stopped alone would leave the others waiting in their next collective.
        value = tf.constant(digest, tf.float64)
        total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(value)), axis=None)
        differs = tf.cast(total != value * replicas, tf.float64)
        return strategy.reduce("SUM", strategy.run(lambda: tf.identity(differs)), axis=None)

    if float(disagreements()) > 0:
        raise NmtError(f"workers disagree on the {what}: give every worker the same corpus")


def from_chief(strategy: tf.distribute.Strategy | None, data: bytes | None) -> bytes:
    """The chief's ``data`` on every worker: the chief passes it, the others None.

    Sent through the strategy's own collectives (a sum to which only the first replica,
    the chief's, adds anything), so workers need no shared file system for it.
    """
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return data
    mine = np.frombuffer(data, np.uint8).astype(np.int32) if data is not None else None

    def chiefs(values: np.ndarray):
        @tf.function
        def summed():
            def replica():
                first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
                return tf.constant(values) * tf.cast(first, tf.int32)

            return strategy.reduce("SUM", strategy.run(replica), axis=None)

        return summed().numpy()

    length = int(chiefs(np.array([len(mine) if mine is not None else 0], np.int32))[0])
    padded = np.zeros(length, np.int32)
    if mine is not None:
        padded[:] = mine
    return chiefs(padded).astype(np.uint8).tobytes()
