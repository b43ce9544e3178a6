"""Training on a streamed split (nmt.data.stream through nmt.training.epoch): the same
batches as a split held whole, every pair once per epoch, resumes that neither repeat
nor skip a pair, gzip corpora, and bad lines found before training starts."""

import collections
import gzip
import os
import signal
import types

import pytest
import tensorflow as tf
from test_trainer import quiet, tiny_config, without_images

from nmt import modeldir
from nmt.constants import PAD_ID
from nmt.data.pipeline import encode
from nmt.data.scan import scan
from nmt.data.stream import InMemory, Streamed
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.errors import Interrupted, NmtError
from nmt.training import steps as steps_module
from nmt.training.epoch import train_epoch
from nmt.training.interrupt import TimeBudget
from nmt.training.run import train_translator

WORDS = [
    "red",
    "green",
    "blue",
    "small",
    "big",
    "old",
    "new",
    "happy",
    "sad",
    "fast",
    "slow",
    "cat",
    "dog",
    "bird",
]
KO = [
    "빨간",
    "초록",
    "파란",
    "작은",
    "큰",
    "오래된",
    "새",
    "행복한",
    "슬픈",
    "빠른",
    "느린",
    "고양이",
    "개",
    "새",
]
# 60 distinct pairs of 2-3 words: short enough that no length limit drops one.
PAIRS = [
    (" ".join(WORDS[(i + k * 5) % 14] for k in range(2 + i % 2)) + f" {i}.",
     " ".join(KO[(i + k * 5) % 14] for k in range(2 + i % 2)) + f" {i}.")
    for i in range(60)
]  # fmt: skip


SIDES = ([en for en, _ in PAIRS], [ko for _, ko in PAIRS])


def write_tsv(path, pairs, compress=False):
    data = "".join(f"{en}\t{ko}\n" for en, ko in pairs).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def rows(src):
    """A batch's source rows as tuples of ids, padding removed."""
    return [tuple(int(t) for t in row if t != PAD_ID) for row in src.numpy()]


@pytest.fixture
def tokenizers():
    # Per test: a tokenizer kept across tests broke (its SentencePiece resource "does not
    # exist") once a training run in between had made and dropped tokenizers of its own.
    return tuple(Tokenizer(train_sentencepiece(side, 300)) for side in SIDES)


class FakeTrainer:
    """What ``train_epoch`` uses of a ``Trainer``, with a step that records its batches
    and, after ``stop_after`` of them, a signal."""

    def __init__(self, config, stop_after=None):
        self.config, self.strategy, self.on_step = config, None, None
        self.budget = TimeBudget(0.0, tf.Variable(0.0, dtype=tf.float64))
        for name in ("step", "batch_in_epoch", "chunk_in_epoch", "batch_in_chunk"):
            setattr(self, name, tf.Variable(0, dtype=tf.int64))
        self.batches, self.stop_after = [], stop_after
        self.steps = types.SimpleNamespace(for_dataset=self._for_dataset)

    def _for_dataset(self, data):
        def step(batch, flag):
            self.batches.append(rows(batch[0]))
            return 1.0, 1.0, flag

        return step, None, data

    def save(self):
        pass


class Interrupt:
    """What ``train_epoch`` reads of an ``Interruptible``: SIGINT once the trainer has
    taken ``stop_after`` steps."""

    def __init__(self, trainer):
        self.trainer = trainer

    @property
    def signal(self):
        t = self.trainer
        return signal.SIGINT if t.stop_after is not None and len(t.batches) >= t.stop_after else 0


def epoch_batches(config, split, epoch=0, stop_after=None, trainer=None):
    trainer = trainer or FakeTrainer(config, stop_after)
    trainer.stop_after = stop_after
    train_epoch(trainer, split, epoch, Interrupt(trainer))
    return trainer


def streamed(tmp_path, tokenizers, config, chunk_pairs, compress=False):
    path = write_tsv(tmp_path / ("c.tsv.gz" if compress else "c.tsv"), PAIRS, compress)
    index = scan((path,), chunk_pairs=chunk_pairs, sample_pairs=10)
    return Streamed(
        index, config.data, lambda c: encode(c.src, c.tgt, *tokenizers, config.data), seed=0
    )


def test_a_streamed_split_of_one_chunk_gives_the_batches_of_one_held_whole(tmp_path, tokenizers):
    config = tiny_config()
    whole = InMemory(encode(*SIDES, *tokenizers, config.data), config.data)
    stream = streamed(tmp_path, tokenizers, config, chunk_pairs=100)
    for epoch in (0, 3):
        held = epoch_batches(config, whole, epoch).batches
        assert epoch_batches(config, stream, epoch).batches == held
    assert whole.batch_estimate() == stream.batch_estimate() == len(held)


def test_every_pair_once_per_epoch_in_a_new_order_of_chunks(tmp_path, tokenizers):
    config = tiny_config()
    stream = streamed(tmp_path, tokenizers, config, chunk_pairs=16, compress=True)
    ids = encode(*SIDES, *tokenizers, config.data).src
    expected = collections.Counter(tuple(row) for row in ids.to_list())
    orders = []
    for epoch in (0, 1):
        seen = epoch_batches(config, stream, epoch).batches
        assert collections.Counter(r for batch in seen for r in batch) == expected
        orders.append(stream.order(epoch))
    assert sorted(orders[0]) == [0, 1, 2, 3] and orders[0] != orders[1]
    assert stream.batch_estimate() == len(seen)


@pytest.mark.parametrize("stop_after", [1, 5, 6, 11])
def test_an_interrupted_epoch_resumes_without_repeating_or_skipping(
    tmp_path, tokenizers, stop_after
):
    config = tiny_config()
    stream = streamed(tmp_path, tokenizers, config, chunk_pairs=16)
    full = epoch_batches(config, stream).batches
    first = epoch_batches(config, stream, stop_after=stop_after)
    assert len(first.batches) == stop_after
    # The counters as a checkpoint saved them; the resumed epoch reads from there.
    rest = epoch_batches(config, stream, trainer=first).batches[stop_after:]
    assert first.batches[:stop_after] + rest == full


def record_batches(monkeypatch):
    """The source rows of every batch the real train step gets, in order."""
    seen = []
    for_dataset = steps_module.Steps.for_dataset

    def recording(self, data):
        step, eval_step, data = for_dataset(self, data)

        def recorded(batch, flag):
            seen.append(rows(batch[0]))
            return step(batch, flag)

        return recorded, eval_step, data

    monkeypatch.setattr(steps_module.Steps, "for_dataset", recording)
    return seen


def streaming_config(**train):
    config = tiny_config(**train)
    return config.override(["data.chunk_pairs=16", "data.tokenizer_sample=30"])


def test_a_gzip_corpus_streams_and_a_resumed_run_trains_each_pair_once(tmp_path, monkeypatch):
    without_images(monkeypatch)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_tsv(corpus / "train.tsv.gz", PAIRS, compress=True)
    write_tsv(corpus / "dev.tsv", PAIRS[:5])
    seen = record_batches(monkeypatch)
    logs = []

    def stop_at_7(step, tokens):
        if step == 7:
            os.kill(os.getpid(), signal.SIGINT)

    config = streaming_config(epochs=1, checkpoint_every=3)
    with pytest.raises(Interrupted):
        train_translator(config, tmp_path / "m", corpus=corpus, log=logs.append, on_step=stop_at_7)
    assert any("streamed from disk in 4 chunks" in line for line in logs), logs
    assert any("a sample of 60" in line for line in logs), logs
    assert len(seen) == 7
    result = train_translator(
        streaming_config(epochs=1), tmp_path / "m", corpus=corpus, log=logs.append
    )
    assert any("resuming from step 7" in line for line in logs)
    trained = collections.Counter(r for batch in seen for r in batch)
    src_tok, _ = modeldir.load_tokenizers(tmp_path / "m")
    ids = src_tok.tokenize(tf.constant([e for e, _ in PAIRS])).to_list()
    expected = collections.Counter(tuple(row) for row in ids)
    assert trained == expected
    assert result.steps == len(seen)


def test_a_streamed_file_without_dev_holds_out_sampled_pairs_and_their_sources(
    tmp_path, monkeypatch
):
    without_images(monkeypatch)
    path = write_tsv(tmp_path / "c.tsv", [*PAIRS, (PAIRS[0][0], "또 다른 번역.")])
    seen = record_batches(monkeypatch)
    config = streaming_config(epochs=1).override(["data.dev_fraction=0.1"])
    train_translator(config, tmp_path / "m", corpus=path, log=quiet)
    src_tok, _ = modeldir.load_tokenizers(tmp_path / "m")
    trained = {r for batch in seen for r in batch}
    ids = src_tok.tokenize(tf.constant([e for e, _ in PAIRS])).to_list()
    by_source = {en: tuple(int(t) for t in row) for (en, _), row in zip(PAIRS, ids)}
    held = [en for en, row in by_source.items() if row not in trained]
    # A tenth of 61 pairs, taken from the sample of 30: about 6, whole source groups.
    assert 4 <= len(held) <= 9
    assert len(trained) == len(PAIRS) - len(held)


def test_a_bad_line_deep_in_a_streamed_corpus_stops_before_training(tmp_path):
    path = tmp_path / "c.tsv.gz"
    body = "".join(f"{en}\t{ko}\n" for en, ko in PAIRS * 3) + "no tab here\n"
    path.write_bytes(gzip.compress(body.encode()))
    with pytest.raises(NmtError, match=rf"c\.tsv\.gz:{len(PAIRS) * 3 + 1}: no tab"):
        train_translator(streaming_config(), tmp_path / "m", corpus=path, log=quiet)
    assert not (tmp_path / "m").exists()
