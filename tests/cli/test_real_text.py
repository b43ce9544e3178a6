"""`nmt train` on text it did not write: real Korean news, and corpora built to break it.

Each case either trains or stops with one `nmt: error:` line; none shows a traceback.
The model is small so that the cases test the data path, not the optimiser. They run
`nmt`'s entry point in the test's own process (test_cli.py runs it as a command): an
exception escaping it, which a user would see as a traceback, fails the test.
"""

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import write_corpus_dir
from test_cli import assert_one_line_error

from nmt.cli import main
from nmt.data.tokenizer import minimum_vocab_size

NEWS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "ko-en-news"
SMALL = [
    "--set", "model.embedding_dim=16", "--set", "model.units=32",
    "--set", "model.attention_units=16", "--set", "model.readout_dim=16",
    "--set", "data.batch_size=32", "--set", "train.checkpoint_every=0",
]  # fmt: skip


@pytest.fixture
def train(capsys):
    """``train(corpus, out, *extra)``: ``nmt train`` for one epoch; its status and stderr."""

    def run(corpus, out, *extra):
        capsys.readouterr()
        args = ["train", "--corpus", corpus, "--out", out, "--epochs", 1, *SMALL, *extra]
        returncode = main([str(arg) for arg in args])
        return SimpleNamespace(returncode=returncode, stderr=capsys.readouterr().err)

    return run


def assert_trained(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "epoch 1/1" in result.stderr


def vocab_sizes(result) -> tuple[int, int]:
    """The source and target vocabulary sizes a training run logged."""
    sizes = [line for line in result.stderr.splitlines() if "vocabularies" in line]
    return tuple(map(int, sizes[0].rsplit(" ", 1)[1].split("/")))


@pytest.mark.skipif(not NEWS.is_dir(), reason=f"shared corpora not found at {NEWS}")
def test_one_epoch_on_korean_news(tmp_path, train):
    result = train(NEWS, tmp_path / "m")
    assert_trained(result)
    # More distinct syllables (1,152) than the old fixed 1,000-piece vocabulary.
    src_size, tgt_size = vocab_sizes(result)
    assert tgt_size > 1152 and src_size > 260


def test_target_side_of_one_repeated_syllable(tmp_path, train):
    pairs = [(f"sentence number {i}", "가" * (1 + i % 7)) for i in range(60)]
    assert_trained(train(write_corpus_dir(tmp_path / "c", pairs), tmp_path / "m"))


def test_a_single_pair(tmp_path, train):
    corpus = tmp_path / "one.tsv"
    corpus.write_text("Thank you.\t감사합니다.\n", encoding="utf-8")
    assert_one_line_error(train(corpus, tmp_path / "m"), "at least 2")
    # With its own dev split, one pair is enough to train on.
    pairs = [("Thank you.", "감사합니다.")]
    assert_trained(train(write_corpus_dir(tmp_path / "c", pairs), tmp_path / "m2"))


def test_twenty_thousand_distinct_characters(tmp_path, train):
    rng = random.Random(0)
    chars = [chr(c) for c in rng.sample(range(0x4E00, 0x9FFF), 20_000)]
    rng.shuffle(chars)
    text = "".join(chars) + "".join(rng.choices(chars, k=10_000))
    pairs = [(f"line {i // 30}", text[i : i + 30]) for i in range(0, len(text), 30)]
    result = train(write_corpus_dir(tmp_path / "c", pairs), tmp_path / "m")
    assert_trained(result)
    minimum = minimum_vocab_size([ko for _, ko in pairs], 0.9995)
    assert minimum > 10_000  # the rare characters beyond the coverage are spelled as bytes
    assert vocab_sizes(result)[1] >= minimum


def test_explicit_vocabulary_below_the_minimum(tmp_path, train):
    pairs = [(f"line {i}", chr(0xAC00 + i)) for i in range(400)]
    result = train(
        write_corpus_dir(tmp_path / "c", pairs), tmp_path / "m", "--set", "model.tgt_vocab_size=300"
    )
    assert_one_line_error(result, "model.tgt_vocab_size=300", "at least 661")
