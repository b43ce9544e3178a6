"""``nmt average``: the mean of best/'s newest checkpoints, as a model directory of its own."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from nmt import modeldir
from nmt.cli import main
from nmt.errors import NmtError
from nmt.model.seq2seq import model_checkpoint
from nmt.training.average import average_model


def with_best(tiny_model_dir, tmp_path, weight_sets):
    """A copy of the tiny model whose best/ holds one checkpoint per weight set, in order
    (numbered 10, 20, ...), as a run that improved that many times leaves it."""
    path = tmp_path / "model"
    shutil.copytree(tiny_model_dir, path)
    shutil.rmtree(path / modeldir.BEST_DIR)
    config, model, _, _ = modeldir.load(tiny_model_dir)
    manager = tf.train.CheckpointManager(
        model_checkpoint(model), path / modeldir.BEST_DIR, max_to_keep=len(weight_sets)
    )
    for i, weights in enumerate(weight_sets):
        model.set_weights(weights)
        manager.save(checkpoint_number=10 * (i + 1))
    return path


def random_weights(tiny_model_dir, seeds):
    _, model, _, _ = modeldir.load(tiny_model_dir)
    shapes = [w.shape for w in model.get_weights()]
    return [
        [np.random.default_rng(s).normal(size=shape).astype(np.float32) for shape in shapes]
        for s in seeds
    ]


def loaded_weights(path):
    _, model, _, _ = modeldir.load(path)
    return model.get_weights()


def test_averaging_copies_of_the_same_weights_gives_those_weights(tiny_model_dir, tmp_path):
    (weights,) = random_weights(tiny_model_dir, [1])
    model = with_best(tiny_model_dir, tmp_path, [weights] * 3)
    average_model(model, tmp_path / "avg", last=3)
    for got, want in zip(loaded_weights(tmp_path / "avg"), weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_average_is_the_mean_of_the_newest_checkpoints(tiny_model_dir, tmp_path):
    sets = random_weights(tiny_model_dir, [1, 2, 3, 4])
    model = with_best(tiny_model_dir, tmp_path, sets)
    used = average_model(model, tmp_path / "avg", last=3)
    assert [p.rsplit("-", 1)[-1] for p in used] == ["20", "30", "40"]
    for i, got in enumerate(loaded_weights(tmp_path / "avg")):
        want = np.mean([s[i].astype(np.float64) for s in sets[1:]], axis=0)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # The average is a model directory like any other: same config and tokenizers.
    for name in ("config.json", "source.spm", "target.spm"):
        assert (tmp_path / "avg" / name).read_bytes() == (model / name).read_bytes()


def test_asking_for_more_than_best_holds_averages_what_is_there(tiny_model_dir, tmp_path):
    sets = random_weights(tiny_model_dir, [1, 2])
    model = with_best(tiny_model_dir, tmp_path, sets)
    assert len(average_model(model, tmp_path / "avg", last=5)) == 2


def test_average_command(tiny_model_dir, tmp_path, capsys):
    model = with_best(tiny_model_dir, tmp_path, random_weights(tiny_model_dir, [1, 2]))
    out = tmp_path / "avg"
    assert main(["average", "--model", str(model), "--out", str(out), "--last", "2"]) == 0
    assert "averaged 2 checkpoint(s) (ckpt-10, ckpt-20)" in capsys.readouterr().err
    # An existing model is only replaced when asked.
    assert main(["average", "--model", str(model), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nmt: error: --out") and "--overwrite" in err and "\n" not in err
    assert main(["average", "--model", str(model), "--out", str(out), "--overwrite"]) == 0
    assert main(["translate", "--model", str(out), "Thank you."]) == 0
    # Decode-only: training on it would start from random weights, so it is refused.
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text(
        "Thank you.\t감사합니다.\nGood morning.\t좋은 아침이에요.\n", encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["train", "--corpus", str(corpus), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "decode-only weights" in err and "--overwrite" in err and "\n" not in err


@pytest.mark.parametrize(
    "case, message",
    [("no-best", "no checkpoints in best/"), ("same-dir", "is the model directory itself")],
)
def test_average_errors(tiny_model_dir, tmp_path, case, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    out = model if case == "same-dir" else tmp_path / "avg"
    if case == "no-best":
        # Only the training checkpoint: nothing was ever judged best.
        shutil.move(model / modeldir.BEST_DIR, model / modeldir.CHECKPOINT_DIR)
    with pytest.raises(NmtError, match=message):
        average_model(model, out)
