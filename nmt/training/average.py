"""Checkpoint averaging: a model whose weights are the mean of its last best ones.

The weights a run saves as it improves on dev sit close together late in training,
and their mean usually translates a little better than any one of them (Junczys-Dowmunt
et al. 2016; OpenNMT-tf and JoeyNMT offer the same). ``best/`` keeps the last
``train.keep_best`` of them; ``average_model`` writes their mean as a new model
directory that every command takes like any other.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from nmt import modeldir
from nmt.config import CONFIG_FILE
from nmt.errors import NmtError
from nmt.model.seq2seq import model_checkpoint, weight_map


def best_checkpoints(model_dir: str | Path, last: int) -> list[str]:
    """The paths of the newest ``last`` checkpoints in ``best/`` (fewer if it holds fewer),
    oldest first."""
    best = Path(model_dir) / modeldir.BEST_DIR
    state = tf.train.get_checkpoint_state(str(best)) if best.is_dir() else None
    paths = list(state.all_model_checkpoint_paths) if state else []
    if not paths:
        raise NmtError(f"{model_dir} has no checkpoints in {modeldir.BEST_DIR}/ to average")
    return paths[-last:]


def average_weights(model, paths: list[str]) -> None:
    """Set ``model``'s weights to the mean of the checkpoints at ``paths``.

    Floating-point variables are averaged in float64; any other (a counter, a seed)
    keeps the newest checkpoint's value.
    """
    variables = list(weight_map(model).values())
    sums = [np.zeros(v.shape, np.float64) for v in variables]
    for path in paths:
        try:
            model_checkpoint(model).restore(path).expect_partial().assert_existing_objects_matched()
        except modeldir.CHECKPOINT_ERRORS as exc:
            raise NmtError(f"checkpoint {path} cannot be read ({type(exc).__name__})") from None
        for total, variable in zip(sums, variables, strict=True):
            total += variable.numpy()
    for total, variable in zip(sums, variables, strict=True):
        newest = variable.numpy()
        if np.issubdtype(newest.dtype, np.floating):
            variable.assign((total / len(paths)).astype(newest.dtype))


def average_model(
    model_dir: str | Path, out: str | Path, last: int = 5, overwrite: bool = False
) -> list[str]:
    """Write a model directory at ``out`` whose ``best/`` weights average the last ``last``
    checkpoints of ``model_dir``'s ``best/``; returns the checkpoints averaged.

    ``out`` gets the same config and tokenizers. It is built beside ``out`` and renamed
    into place, so an interrupted run leaves no half-written model.
    """
    model_dir, out = Path(model_dir), Path(out)
    if last < 1:
        raise NmtError(f"--last must be positive, got {last}")
    config, model, _, _ = modeldir.load(model_dir)
    if out.resolve() == model_dir.resolve():
        raise NmtError(f"--out {out} is the model directory itself; choose a new directory")
    if out.exists() and not (overwrite and (out / CONFIG_FILE).is_file()):
        hint = "pass --overwrite to replace it" if (out / CONFIG_FILE).is_file() else ""
        raise NmtError(f"--out {out} exists; {hint or 'choose a new directory'}")
    paths = best_checkpoints(model_dir, last)
    average_weights(model, paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for name in (CONFIG_FILE, modeldir.SRC_TOKENIZER, modeldir.TGT_TOKENIZER):
            shutil.copy2(model_dir / name, tmp / name)
        step = int(Path(paths[-1]).name.rsplit("-", 1)[-1])
        manager = tf.train.CheckpointManager(
            model_checkpoint(model), tmp / modeldir.BEST_DIR, max_to_keep=1
        )
        manager.save(checkpoint_number=step)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths
