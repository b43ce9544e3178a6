"""The stop rule: patience over dev loss and metric, and the default time budget."""

import itertools

import pytest
from conftest import TINY_PAIRS, write_corpus_dir
from training.test_trainer import tiny_config

from nmt.config import Config
from nmt.decoding import evaluate
from nmt.training import summaries
from nmt.training.interrupt import TimeBudget
from nmt.training.run import train_translator
from nmt.training.trainer import Trainer


def config(**train) -> Config:
    """The trainer tests' tiny model, without the moving average (one dev score an epoch)."""
    return tiny_config(**{"ema_decay": 0.0, "early_stop_metric": "chrf", **train})


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """``run(losses, metrics, **train) -> epochs trained``, with the dev loss and dev chrF
    of epoch i replaced by ``losses[i]`` and ``metrics[i]``: the stop rule alone decides."""
    monkeypatch.setattr(summaries, "SAMPLE_SENTENCES", 0)
    corpus = write_corpus_dir(tmp_path / "corpus", TINY_PAIRS)

    def run(losses, metrics, **train):
        losses, metrics = iter(losses), iter(metrics)
        monkeypatch.setattr(Trainer, "evaluate", lambda self, data: next(losses))
        monkeypatch.setattr(evaluate, "dev_metric", lambda *a: lambda: next(metrics))
        messages = []
        out = tmp_path / f"model{len(list(tmp_path.iterdir()))}"
        train_translator(config(**train), out, corpus=corpus, log=messages.append)
        return sum(m.startswith("epoch ") for m in messages), messages

    return run


FALLING = [5.0 - 0.1 * i for i in range(10)]
FLAT = [3.0] * 10
RISING = [10.0 + i for i in range(10)]


@pytest.mark.parametrize(
    "patience_on, losses, metrics, epochs",
    [
        ("any", FALLING, FLAT, 10),  # the loss still falls: go on
        ("metric", FALLING, FLAT, 4),  # one improvement (the first), then 3 flat epochs
        ("any", FLAT, FLAT, 4),
        ("any", FLAT, RISING, 10),
        ("metric", FLAT, RISING, 10),
    ],
)
def test_patience_counts_epochs_where_no_measure_improved(
    scripted, patience_on, losses, metrics, epochs
):
    run, stop = scripted(
        losses, metrics, epochs=10, patience=3, patience_on=patience_on, lr_decay=1.0
    )
    assert run == epochs
    assert any(m.startswith("early stop") for m in stop) == (epochs < 10)


def test_learning_rate_halves_every_lr_patience_flat_epochs(scripted):
    _, messages = scripted(FLAT, FLAT, epochs=10, patience=6, lr_patience=2, lr_decay=0.5)
    lowered = [m for m in messages if m.startswith("learning rate lowered")]
    assert len(lowered) == 3  # after flat epochs 2, 4 and 6 (epochs 3, 5, 7)


def test_the_default_budget_stops_a_run(monkeypatch, scripted):
    """Without --max-time, training still ends: the default budget is spent (fake clock)."""
    assert Config().train.max_time > 0
    ticks = itertools.count(step=Config().train.max_time / 7)
    monkeypatch.setattr(TimeBudget, "clock", staticmethod(lambda: float(next(ticks))))
    run, messages = scripted(FALLING * 5, RISING * 5, epochs=50)
    assert 0 < run < 50
    assert any(m.startswith("time budget of 12m 00s spent") for m in messages)
