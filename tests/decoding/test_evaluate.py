"""Corpus scores against sacrebleu itself, the evaluate command, and early stopping on them."""

import json

import numpy as np
import pytest
import sacrebleu
import tensorflow as tf

from nmt import modeldir
from nmt.cli import main
from nmt.config import Config
from nmt.decoding.evaluate import score
from nmt.decoding.translator import Translator
from nmt.training.run import train_translator
from nmt.training.trainer import Trainer

HYPOTHESES = ["저는 학생입니다.", "역은 어디에 있어요", "", "Machine learning", "좋은 아침"]
REFERENCES = [
    "저는 학생입니다.",
    "역은 어디에 있어요?",
    "감사합니다.",
    "기계 학습",
    "좋은 아침이에요.",
]


@pytest.fixture
def corpus(tmp_path):
    """A directory corpus whose splits are all the same few pairs."""
    from conftest import TINY_PAIRS, write_corpus_dir

    return write_corpus_dir(tmp_path / "corpus", TINY_PAIRS, ("train", "dev", "test"))


def test_scores_are_sacrebleus():
    scores = score(HYPOTHESES, REFERENCES)
    bleu = sacrebleu.metrics.BLEU(tokenize="char").corpus_score(HYPOTHESES, [REFERENCES])
    chrf = sacrebleu.metrics.CHRF().corpus_score(HYPOTHESES, [REFERENCES])
    assert scores.bleu == bleu.score and scores.chrf == chrf.score
    assert 0 < scores.bleu < 100 and 0 < scores.chrf < 100
    assert scores.sentences == 5
    assert scores.exact_match == 1 / 5
    assert scores.length_ratio == (9 + 10 + 0 + 16 + 5) / (9 + 11 + 6 + 5 + 9)
    assert "tok:char" in scores.bleu_signature and "nc:6|nw:0" in scores.chrf_signature
    perfect = score(REFERENCES, REFERENCES)
    assert (perfect.bleu, perfect.chrf, perfect.exact_match) == pytest.approx((100, 100, 1))
    with pytest.raises(ValueError, match="5 hypotheses for 4 references"):
        score(HYPOTHESES, REFERENCES[:4])


def test_evaluate_command_scores_its_own_hypotheses(tiny_model_dir, corpus, tmp_path, capsys):
    references = [line.split("\t")[1] for line in (corpus / "test.tsv").read_text().splitlines()]
    for beam in ("1", "3"):
        out = tmp_path / f"hyps{beam}.txt"
        args = ["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus)]
        assert main([*args, "--json", "--out", str(out), "--beam", beam]) == 0
        reported = json.loads(capsys.readouterr().out)
        hypotheses = out.read_text(encoding="utf-8").split("\n")[:-1]
        assert len(hypotheses) == len(references)
        assert reported == score(hypotheses, references).to_json()
    assert main([*args, "--split", "dev"]) == 0
    assert "BLEU" in capsys.readouterr().out


def test_early_stop_on_dev_chrf_keeps_the_best_checkpoint(corpus, tmp_path):
    config = Config().override(
        ["model.embedding_dim=16", "model.units=32", "model.attention_units=16",
         "model.readout_dim=16", "model.dropout=0.0", "model.src_vocab_size=300",
         "model.tgt_vocab_size=300", "data.batch_size=4", "train.learning_rate=0.02",
         "train.patience=0", "train.checkpoint_every=0", "train.epochs=5",
         'train.early_stop_metric="chrf"']
    )  # fmt: skip
    epochs, messages = [], []
    out = tmp_path / "model"
    result = train_translator(
        config, out, corpus=corpus, log=messages.append, on_epoch_end=epochs.append
    )
    values = [e.dev_metrics["chrf"] for e in epochs]
    assert len(values) == 5 and len(set(values)) > 1
    assert result.best_dev_metric == max(values)
    assert any("dev chrf" in m for m in messages)
    steps_per_epoch = result.steps // 5
    best = tf.train.latest_checkpoint(str(out / modeldir.BEST_DIR))
    assert best.endswith(f"-{(int(np.argmax(values)) + 1) * steps_per_epoch}")
    # The dev metric decodes greedily, whatever the model's decode.beam_size.
    translations = Translator.load(out).translate([en for en, _ in _pairs(corpus)], beam_size=1)
    rescored = score([t.text for t in translations], [ko for _, ko in _pairs(corpus)])
    assert rescored.chrf == pytest.approx(max(values))
    resumed = Trainer(config, out)  # the best value comes back with the best weights
    assert resumed.restore() and float(resumed.best_dev_metric) == max(values)


def _pairs(corpus):
    lines = (corpus / "dev.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines]
