"""Shared fixtures: a tiny random Seq2Seq, right-padded id batches, the CLI run in process."""

# First: nmt sets TensorFlow's environment, which only counts before TensorFlow loads,
# so the tests run the kernels users get.
import nmt  # noqa: F401

# isort: split
import io
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.model.seq2seq import Seq2Seq

# Two logical CPU devices, so that tf.distribute tests mirror over two replicas on
# CPU. It must happen before TensorFlow initialises its devices, hence here.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
# Then TensorFlow starts, with its default thread counts, whichever test comes first:
# a test that trains in this process (nmt train's entry point, train_translator) would
# otherwise fix them for every later test of the session when it happens to come first
# (nmt.fast.cpu_streams), and tests that read them would depend on the order.
tf.constant(0.0)


TINY_PAIRS = [
    ("Artificial Intelligence", "인공 지능"),
    ("Machine Learning", "기계 학습"),
    ("Thank you.", "감사합니다."),
    ("Good morning.", "좋은 아침이에요."),
    ("Where is the station?", "역은 어디에 있어요?"),
]


def write_corpus_dir(path, pairs, splits=("train", "dev")):
    """A directory corpus whose splits all hold ``pairs``, so a model can memorise dev."""
    path.mkdir()
    text = "".join(f"{en}\t{ko}\n" for en, ko in pairs)
    for split in splits:
        (path / f"{split}.tsv").write_text(text, encoding="utf-8")
    return path


TINY = dict(
    src_vocab_size=30,
    tgt_vocab_size=25,
    embedding_dim=8,
    units=12,
    attention_units=10,
    encoder_layers=1,
    bidirectional=False,
    dropout=0.0,
    readout_dim=9,
)


def with_eos_bias(model, eos_bias):
    """Tilts the output layer: PAD and BOS never win (as after training), EOS by ``eos_bias``."""
    bias = model.decoder.projection.bias
    value = bias.numpy()
    value[[PAD_ID, BOS_ID]] -= 100.0
    value[EOS_ID] += eos_bias
    bias.assign(value)
    return model


@pytest.fixture
def make_model():
    """``make_model(seed=0, scale=1.0, **overrides)`` -> a built tiny ``Seq2Seq``.

    Every weight is redrawn from N(0, scale²): Keras's initializers at these sizes give
    nearly uniform attention, which would hide a wrong query behind a 1e-3 difference,
    and equal initial biases would hide a variable a checkpoint forgot.
    """

    def make(seed=0, scale=1.0, **overrides):
        keras.utils.set_random_seed(seed)
        model = Seq2Seq(**{**TINY, **overrides})
        model.build()
        if scale:
            rng = np.random.default_rng(seed)
            model.set_weights([rng.normal(0.0, scale, w.shape) for w in model.get_weights()])
        return model

    return make


@pytest.fixture
def make_ids():
    """``make_ids(lengths, vocab, seed=0, first=None)`` -> ``(b, max(lengths))`` int32 ids.

    Row i holds ``lengths[i]`` random ids in [4, vocab) (no specials), then 0 padding;
    ``first`` replaces the first id of every row (BOS for decoder inputs).
    """

    def make(lengths, vocab, seed=0, first=None):
        rng = np.random.default_rng(seed)
        ids = np.zeros((len(lengths), max(lengths)), np.int32)
        for row, length in enumerate(lengths):
            ids[row, :length] = rng.integers(4, vocab, length)
            if first is not None and length:
                ids[row, 0] = first
        return ids

    return make


@pytest.fixture
def make_sources(make_ids):
    """``make_sources(lengths)`` -> EOS-terminated source ids as the searches take them:
    row i holds ``lengths[i]`` ids (of 30, seed 1), the last of them EOS, then padding."""

    def make(lengths):
        ids = make_ids(lengths, 30, seed=1)
        ids[np.arange(len(lengths)), np.array(lengths) - 1] = EOS_ID
        return ids

    return make


@pytest.fixture
def make_batch(make_ids):
    """``make_batch(src_lengths, tgt_lengths)`` -> ``(src, tgt_in, tgt_out)`` ids in the
    tiny model's vocabularies (30 and 25): ``tgt_in`` is BOS then ``tgt_out`` shifted
    right, with the same padding."""

    def make(src_lengths, tgt_lengths):
        src = make_ids(src_lengths, 30, seed=1)
        tgt_out = make_ids(tgt_lengths, 25, seed=2)
        tgt_in = np.pad(tgt_out[:, :-1], [(0, 0), (1, 0)], constant_values=BOS_ID)
        tgt_in[tgt_out == 0] = 0
        return src, tgt_in, tgt_out

    return make


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A complete model directory with random weights: config, tokenizers, a checkpoint.

    Enough for everything downstream of training (translate, evaluate, export) in
    a second; do not modify it, copy it.
    """
    import tensorflow as tf

    from nmt import modeldir
    from nmt.config import Config, save_config
    from nmt.data.tokenizer import Tokenizer, train_sentencepiece
    from nmt.model.seq2seq import build_model, model_checkpoint

    path = tmp_path_factory.mktemp("tiny") / "model"
    config = Config().override(
        ["model.embedding_dim=8", "model.units=16", "model.attention_units=8",
         "model.readout_dim=8", "data.max_src_len=12", "decode.max_len_b=4",
         # Greedy by default: the tests that decode with the model's defaults expect it.
         "decode.beam_size=1"]
    )  # fmt: skip
    src = Tokenizer(train_sentencepiece([en for en, _ in TINY_PAIRS] * 10, 300))
    tgt = Tokenizer(train_sentencepiece([ko for _, ko in TINY_PAIRS] * 10, 300))
    config.model.src_vocab_size, config.model.tgt_vocab_size = src.vocab_size, tgt.vocab_size
    path.mkdir(parents=True)
    save_config(config, path)
    modeldir.save_tokenizers(path, src, tgt)
    keras.utils.set_random_seed(0)
    model = build_model(config.model)
    # Keras's initial weights give near-uniform outputs; larger ones give varied output.
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.0, 0.5, w.shape) for w in model.get_weights()])
    manager = tf.train.CheckpointManager(
        model_checkpoint(model), path / modeldir.BEST_DIR, max_to_keep=1
    )
    manager.save()
    return path


@pytest.fixture(scope="session")
def exported_model_dir(tiny_model_dir, tmp_path_factory):
    """``tiny_model_dir`` with its SavedModel exported, as ``nmt export`` leaves it.

    Exporting traces every search, which takes seconds: done once. Do not modify it,
    copy it.
    """
    import shutil

    from nmt.decoding.export import export_model

    path = tmp_path_factory.mktemp("exported") / "model"
    shutil.copytree(tiny_model_dir, path)
    export_model(path)
    return path


@pytest.fixture
def run(capsys, monkeypatch):
    """``run(*args, stdin=None)``: ``nmt ARGS`` through its entry point in this process."""

    def call(*args, stdin=None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        from nmt.cli import main

        returncode = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=returncode, stdout=out, stderr=err)

    return call


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("nmt: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
