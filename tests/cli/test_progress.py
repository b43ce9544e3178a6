"""Progress bars: drawn on a terminal's stderr only, and never changing what is computed."""

import io
import json
import os
import re
import signal

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_PAIRS, write_corpus_dir

from nmt import progress
from nmt.cli import main
from nmt.config import Config, DataConfig
from nmt.data.pipeline import Encoded, batch_count, batches
from nmt.decoding.translator import Translator
from nmt.errors import Interrupted
from nmt.progress import progress_bar
from nmt.training.run import train_translator

# "| 3/5 [" in a drawn bar: units done, of the total.
COUNT = re.compile(r"\| *(\d+)/(\d+) \[")


@pytest.fixture
def terminal(monkeypatch):
    """Stderr counts as a terminal, and every update is drawn."""
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(progress, "MININTERVAL", 0.0)


def drawn(text: str, desc: str) -> list[tuple[int, int]]:
    """The ``(done, total)`` of every draw of the bar called ``desc``, in order."""
    return [
        (int(m[1]), int(m[2]))
        for line in text.split("\r")
        if line.startswith(desc) and (m := COUNT.search(line))
    ]


def test_forced_bar_draws_steps_and_rates_to_its_stream(monkeypatch):
    monkeypatch.setattr(progress, "MININTERVAL", 0.0)
    out = io.StringIO()
    with progress_bar(5, "epoch 1/2", unit="step", initial=2, force=True, file=out) as bar:
        for _ in range(3):
            bar.set_postfix_str("loss 1.2345, 6,789 tgt tokens/s", refresh=False)
            bar.update()
    text = out.getvalue()
    assert drawn(text, "epoch 1/2") == [(2, 5), (3, 5), (4, 5), (5, 5)]
    assert "step/s, loss 1.2345, 6,789 tgt tokens/s]" in text
    # Cleared when closed: what is printed next starts on a blank line.
    assert text.endswith("\r") and not text.split("\r")[-2].strip()


def test_no_bar_unless_stderr_is_a_terminal(capsys, monkeypatch):
    assert not progress.stderr_is_terminal()  # captured by pytest
    with progress_bar(3, "quiet") as bar:
        bar.update(3)
    with progress_bar(3, "unwanted", enabled=False, force=True) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    with progress_bar(3, "watched") as bar:
        bar.update(3)
    assert "watched" in capsys.readouterr().err


def test_batch_count_is_what_the_pipeline_yields():
    rng = np.random.default_rng(0)
    for batch_size, width, max_len in [(4, 8, 64), (3, 5, 20), (64, 8, 64), (1, 1, 6)]:
        config = DataConfig(
            batch_size=batch_size, bucket_width=width, max_src_len=max_len, max_tgt_len=max_len
        )
        src_len, tgt_len = rng.integers(1, max_len + 1, (2, 150))
        src_len[:3] = [width, width + 1, max_len]  # on and around bucket boundaries
        data = Encoded(_ragged(src_len), _ragged(tgt_len))
        count = batch_count(data, config)
        assert count == sum(1 for _ in batches(data, config))
        shuffled = batches(data, config, shuffle=True, seed=1)
        assert count == sum(1 for _ in shuffled)


def _ragged(lengths):
    return tf.RaggedTensor.from_row_lengths(np.ones(lengths.sum(), np.int32), lengths)


def tiny_config(epochs: int) -> Config:
    return Config().override(
        ["model.embedding_dim=8", "model.units=16", "model.attention_units=8",
         "model.readout_dim=8", "model.src_vocab_size=300", "model.tgt_vocab_size=300",
         "data.batch_size=2", "train.patience=0", "train.checkpoint_every=0",
         f"train.epochs={epochs}"]
    )  # fmt: skip


def test_epoch_bar_counts_every_step_and_resumes_where_it_stopped(tmp_path, capsys, terminal):
    corpus = write_corpus_dir(tmp_path / "corpus", TINY_PAIRS)
    out, messages = tmp_path / "model", []

    def sigint_after_epoch_1(result):
        if result.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted) as info:
        train_translator(
            tiny_config(2), out, corpus=corpus, log=messages.append,
            on_epoch_end=sigint_after_epoch_1,
        )  # fmt: skip
    steps = info.value.step - 1  # it stops one step into epoch 2
    first = capsys.readouterr().err
    assert drawn(first, "epoch 1/2")[0] == (0, steps)
    assert drawn(first, "epoch 1/2")[-1] == (steps, steps)
    assert "loss " in first and " tgt tokens/s]" in first
    assert drawn(first, "epoch 2/2")[-1] == (1, steps)

    result = train_translator(tiny_config(2), out, corpus=corpus, log=messages.append)
    assert result.steps == 2 * steps
    resumed = drawn(capsys.readouterr().err, "epoch 2/2")
    assert resumed[0] == (1, steps) and resumed[-1] == (steps, steps)


def test_training_stderr_has_no_bar_when_not_a_terminal(tmp_path, capsys):
    corpus = write_corpus_dir(tmp_path / "corpus", TINY_PAIRS)
    lines = []
    train_translator(tiny_config(1), tmp_path / "model", corpus=corpus, log=lines.append)
    assert capsys.readouterr().err == ""
    assert lines[-1].startswith("epoch 1/1: train loss ")


def test_translating_with_progress_changes_no_output(tiny_model_dir):
    translator = Translator.load(tiny_model_dir)
    translator.config.data.batch_size = 2  # several batches
    texts = [en for en, _ in TINY_PAIRS] + ["", "Thank you, machine."]
    for beam, n_best in [(1, 1), (3, 2)]:
        done = []
        got = translator.translate(texts, beam, n_best, progress=done.append)
        expected = translator.translate(texts, beam, n_best)
        assert [json.dumps(r.to_json()) for r in got] == [json.dumps(r.to_json()) for r in expected]
        assert done == [1, 2, 2, 2]  # the blank line, then batches of 2
        assert sum(done) == len(texts)


def test_evaluate_command_draws_a_bar_on_a_terminal_only(tiny_model_dir, tmp_path, capsys):
    corpus = write_corpus_dir(tmp_path / "corpus", TINY_PAIRS, ("test",))
    args = ["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--json"]
    assert main(args) == 0
    plain = capsys.readouterr()
    assert plain.err == ""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress, "stderr_is_terminal", lambda: True)
        patch.setattr(progress, "MININTERVAL", 0.0)
        assert main(args) == 0
    watched = capsys.readouterr()
    assert watched.out == plain.out
    assert drawn(watched.err, "evaluate test")[-1] == (len(TINY_PAIRS), len(TINY_PAIRS))


def test_translate_command_over_stdin_draws_a_bar_on_a_terminal_only(
    exported_model_dir, capsys, monkeypatch
):
    # Through the exported translator, which takes the same progress callback.
    model = exported_model_dir
    lines = [en for en, _ in TINY_PAIRS] * 3
    args = ["translate", "--model", str(model)]
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(s + "\n" for s in lines)))
    assert main(args) == 0
    plain = capsys.readouterr()
    assert len(plain.out.splitlines()) == len(lines)
    assert "\r" not in plain.err  # the tiny model's truncation warnings only
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(progress, "MININTERVAL", 0.0)
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(s + "\n" for s in lines)))
    assert main(args) == 0
    watched = capsys.readouterr()
    assert watched.out == plain.out
    assert drawn(watched.err, "translate")[-1] == (len(lines), len(lines))
    assert watched.err.endswith("\r" + plain.err)  # cleared before the warnings
    assert main([*args, *lines[:2]]) == 0  # sentences as arguments: no bar
    assert "\r" not in capsys.readouterr().err
