"""A model directory written by nmt 0.1.0, before the package moved into subpackages,
still loads, translates as it did then and resumes training.

The expected outputs in ``tests/fixtures/model-0.1.0/`` were printed by that code
(``tests/fixtures/README.md``), so this compares today's code with yesterday's, not
with itself.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nmt.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = FIXTURES / "model-0.1.0"
CORPUS = FIXTURES / "model-0.1.0-corpus"
TRAIN_FLAGS = [
    "--set", "model.embedding_dim=16", "--set", "model.units=24",
    "--set", "model.attention_units=16", "--set", "model.readout_dim=16",
    "--set", "model.dropout=0", "--set", "train.learning_rate=0.01",
    "--set", "train.keep_checkpoints=1", "--set", "train.patience=300",
]  # fmt: skip


def translate_json(capsys, monkeypatch, *options):
    sources = (MODEL / "expected-input.txt").read_text(encoding="utf-8")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(sources))
    assert main(["translate", "--model", str(MODEL), "--json", *options]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def expected(name):
    lines = (MODEL / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def assert_same_hypothesis(got, want, where):
    assert got["tgt_tokens"] == want["tgt_tokens"], where
    assert got["translation"] == want["translation"], where
    assert got["score"] == pytest.approx(want["score"], abs=1e-4), where
    assert got["log_prob"] == pytest.approx(want["log_prob"], abs=1e-4), where
    # The file holds attention rounded to 5 decimals.
    np.testing.assert_allclose(got["attention"], want["attention"], atol=2e-5, err_msg=where)


@pytest.mark.parametrize(
    "options, name",
    [([], "expected-greedy.jsonl"), (["--beam", "4", "--n-best", "3"], "expected-beam4.jsonl")],
)
def test_an_old_model_directory_translates_as_before(capsys, monkeypatch, options, name):
    got, want = translate_json(capsys, monkeypatch, *options), expected(name)
    assert len(got) == len(want) == 10
    for g, w in zip(got, want, strict=True):
        assert g["source"] == w["source"] and g["src_tokens"] == w["src_tokens"]
        assert_same_hypothesis(g, w, g["source"])
        for i, (gh, wh) in enumerate(zip(g.get("nbest", []), w.get("nbest", []), strict=True)):
            assert_same_hypothesis(gh, wh, f"{g['source']} #{i}")
    # The fixture's model learned its corpus: the check is not of empty outputs.
    assert got[0]["translation"] == "인공 지능"


def test_an_old_model_directory_resumes_training(tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    argv = ["train", "--corpus", str(CORPUS), "--out", str(model), *TRAIN_FLAGS]
    assert main([*argv, "--epochs", "301"]) == 0
    err = capsys.readouterr().err
    assert "epoch 301/301" in err and "epoch 300/" not in err
    checkpoints = (model / "checkpoints" / "checkpoint").read_text(encoding="utf-8")
    assert 'model_checkpoint_path: "ckpt-903"' in checkpoints  # 900 steps, then one epoch
