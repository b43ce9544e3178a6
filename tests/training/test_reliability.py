"""Messy input, killed jobs and damaged model directories: clear errors, no lost work."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_trainer import without_images

from nmt import modeldir
from nmt.cli import main
from nmt.config import Config, save_config
from nmt.data.corpus import read_tsv
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.decoding.translator import Translator
from nmt.errors import NmtError
from nmt.model.seq2seq import build_model, model_checkpoint

EN = ["Artificial Intelligence", "Machine Learning", "Thank you.", "Good morning.", "Hi"]
KO = ["인공 지능", "기계 학습", "감사합니다.", "좋은 아침이에요.", "안녕"]


def untrained_model_dir(path):
    """A complete model directory with random weights: enough to exercise the plumbing."""
    config = Config().override(
        ["model.embedding_dim=8", "model.units=16", "model.attention_units=8",
         "model.readout_dim=8", "data.max_src_len=12", "decode.max_len_b=5"]
    )  # fmt: skip
    src = Tokenizer(train_sentencepiece(EN * 10, 300))
    tgt = Tokenizer(train_sentencepiece(KO * 10, 300))
    config.model.src_vocab_size, config.model.tgt_vocab_size = src.vocab_size, tgt.vocab_size
    path.mkdir(parents=True, exist_ok=True)
    save_config(config, path)
    modeldir.save_tokenizers(path, src, tgt)
    manager = tf.train.CheckpointManager(
        model_checkpoint(build_model(config.model)), path / modeldir.BEST_DIR, max_to_keep=1
    )
    manager.save()
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return untrained_model_dir(tmp_path_factory.mktemp("rel") / "model")


@pytest.fixture(scope="module")
def translator(model_dir):
    return Translator.load(model_dir)


def test_odd_translation_inputs(translator):
    texts = ["", "   ", "\x00\x07\x1b[31m", "😀🎉", "Ω≈ç√ 漢字 ሰላም", "word " * 200, "Hi"]
    results = translator.translate(texts)
    assert [r.source for r in results] == texts
    assert results[0].text == "" and results[1].text == ""
    long = results[5]
    assert long.truncated and len(long.src_tokens) == translator.config.data.max_src_len
    decode = translator.config.decode
    for r in results[2:]:
        limit = int(decode.max_len_a * len(r.src_tokens)) + decode.max_len_b
        assert 1 <= len(r.tgt_tokens) <= limit  # bounded, never a runaway repeat
        np.testing.assert_allclose(r.attention.sum(axis=1), 1.0, atol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=60), min_size=1, max_size=4))
def test_any_unicode_translates(translator, texts):
    results = translator.translate(texts)
    assert len(results) == len(texts)
    assert all(isinstance(r.text, str) for r in results)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_corpus_or_a_clear_error(tmp_path, data):
    path = tmp_path / "c.tsv"
    path.write_bytes(data)
    try:
        corpus = read_tsv(path)
    except NmtError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message
    else:
        assert len(corpus.src) == len(corpus.tgt) > 0
        assert all(s and t for s, t in zip(corpus.src, corpus.tgt))


def test_damaged_model_dirs(tmp_path):
    path = untrained_model_dir(tmp_path / "m")
    (path / "target.spm").unlink()
    with pytest.raises(NmtError, match="tokenizer model is missing: .*target.spm"):
        Translator.load(path)

    path = untrained_model_dir(tmp_path / "m2")
    for data in (path / modeldir.BEST_DIR).glob("*.data-*"):
        data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(NmtError, match="cannot be read"):
        Translator.load(path)

    path = untrained_model_dir(tmp_path / "m3")
    (path / "config.json").unlink()
    with pytest.raises(NmtError, match="config.json is missing"):
        Translator.load(path)


def _nmt(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return [sys.executable, "-m", "nmt", *map(str, args)], env


def _latest_step(model_dir):
    path = tf.train.latest_checkpoint(str(model_dir / modeldir.CHECKPOINT_DIR))
    return int(path.rsplit("-", 1)[1]) if path else 0


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path, capsys, monkeypatch):
    without_images(monkeypatch)
    corpus = tmp_path / "c.tsv"
    # 38 training pairs in batches of 4: ten steps an epoch, so the kill lands mid-epoch.
    corpus.write_text("".join(f"{e} {i}\t{k} {i}\n" for i in range(8) for e, k in zip(EN, KO)))
    out = tmp_path / "m"
    settings_ = [
        "--epochs", 2, "--set", "data.batch_size=4", "--set", "train.checkpoint_every=1",
        "--set", "model.units=32", "--set", "model.embedding_dim=16",
        "--set", "model.attention_units=16", "--set", "model.readout_dim=16",
        "--set", "model.src_vocab_size=300", "--set", "model.tgt_vocab_size=300",
        "--set", "train.patience=0",
    ]  # fmt: skip

    def train(model_dir):
        return ["train", "--corpus", str(corpus), "--out", str(model_dir), *map(str, settings_)]

    cmd, env = _nmt(*train(out))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def kill_after_a_few_checkpoints():
        deadline = time.monotonic() + 240
        while _latest_step(out) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_after_a_few_checkpoints)
    killer.start()
    # Only the killed run needs a process of its own: the runs after it read what it
    # left on disk, and run in this one, through the same `nmt` entry point. The
    # uninterrupted one needs nothing from it, so it trains while the other starts up.
    straight_out = tmp_path / "straight"
    try:
        assert main(train(straight_out)) == 0
    finally:
        killer.join()
        _, err = proc.communicate()
    killed_at = _latest_step(out)
    assert proc.returncode == -signal.SIGKILL, err.decode()  # killed, not finished
    assert killed_at >= 4, err.decode()
    capsys.readouterr()
    assert main(train(out)) == 0
    assert f"resuming from step {killed_at}" in capsys.readouterr().err
    assert _latest_step(out) == _latest_step(straight_out)
    assert main(["translate", "--model", str(out), "Thank you."]) == 0


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tmp_path):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{e} {i}\t{k} {i}\n" for i in range(20) for e, k in zip(EN, KO)))
    out = tmp_path / "m"
    cmd, env = _nmt(
        "train", "--corpus", corpus, "--out", out, "--epochs", 500, "--set", "data.batch_size=2",
        "--set", "model.units=32", "--set", "model.embedding_dim=16", "--set", "train.patience=0",
        "--set", "model.readout_dim=16",
        "--set", "model.src_vocab_size=300", "--set", "model.tgt_vocab_size=300",
        # A checkpoint early in the first epoch (of 48 steps): the signal comes mid-epoch,
        # without waiting for the epoch's dev loss and attention images.
        "--set", "train.checkpoint_every=4",
    )  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _latest_step(out) == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # wait for the first checkpoint: training is under way
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "SIGTERM: saved checkpoint" in err and "Traceback" not in err
    assert f"at step {_latest_step(out)}" in err
