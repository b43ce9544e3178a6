import numpy as np
import pytest
import tensorflow as tf

from nmt.config import DataConfig
from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.data.pipeline import batch_count, batches, encode
from nmt.data.tokenizer import Tokenizer, train_sentencepiece

EN = ["artificial intelligence", "machine learning is fun", "i am a student", "where is it"] * 10
KO = ["인공 지능", "기계 학습은 재미있어요", "저는 학생입니다.", "어디에 있어요?"] * 10


@pytest.fixture(scope="module")
def tokenizers():
    return Tokenizer(train_sentencepiece(EN, 300)), Tokenizer(train_sentencepiece(KO, 300))


def _all(ds):
    return [tuple(x.numpy() for x in batch) for batch in ds]


def test_batches_shapes_teacher_forcing_and_padding(tokenizers):
    config = DataConfig(batch_size=8, bucket_width=4)
    data = encode(EN, KO, *tokenizers, config)
    seen = 0
    for src, tgt_in, tgt_out in _all(batches(data, config, shuffle=True, seed=3)):
        assert src.shape[1] % 4 == 0 and tgt_in.shape[1] % 4 == 0
        assert tgt_in.shape == tgt_out.shape and len(src) <= 8
        assert (tgt_in[:, 0] == BOS_ID).all()
        for row_in, row_out in zip(tgt_in, tgt_out):
            n = int((row_out != PAD_ID).sum())
            assert row_out[n - 1] == EOS_ID and (row_out[n:] == PAD_ID).all()
            np.testing.assert_array_equal(row_in[1:n], row_out[: n - 1])
        seen += len(src)
    assert seen == len(EN)
    assert batch_count(data, config) == len(_all(batches(data, config)))


def test_shuffle_is_seeded(tokenizers):
    config = DataConfig(batch_size=4, bucket_width=4)
    data = encode(EN, KO, *tokenizers, config)

    def order(seed):
        return [b[0].tobytes() for b in _all(batches(data, config, shuffle=True, seed=seed))]

    assert order(1) == order(1)
    assert order(1) != order(2)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_are_not_autotuned(tokenizers, shuffle):
    # An autotuned iterator could take seconds to free at the end of every epoch.
    config = DataConfig(batch_size=4, bucket_width=4)
    ds = batches(encode(EN, KO, *tokenizers, config), config, shuffle=shuffle)
    assert ds.options().autotune.enabled is False


def test_long_pairs_dropped_or_truncated(tokenizers):
    lengths = tokenizers[0].tokenize(tf.constant(EN[:4])).row_lengths().numpy()
    limit = int(np.sort(lengths)[1])  # two of the four sentences are longer
    too_long = int((lengths > limit).sum()) * 10
    dropped = encode(EN, KO, *tokenizers, DataConfig(max_src_len=limit))
    assert dropped.dropped == too_long and len(dropped) == len(EN) - too_long
    cut = encode(EN, KO, *tokenizers, DataConfig(max_src_len=limit, long_pairs="truncate"))
    assert cut.truncated == too_long and len(cut) == len(EN)
    assert max(cut.src.row_lengths().numpy()) == limit
    assert all(row[-1] == EOS_ID for row in cut.src.numpy())


@pytest.mark.parametrize("batch_tokens", [40, 64, 7])
def test_token_batches_fill_to_the_budget(tokenizers, batch_tokens):
    """Batches hold about ``batch_tokens`` tokens: more sentences when they are short."""
    config = DataConfig(batch_size=2, batch_tokens=batch_tokens, bucket_width=4)
    data = encode(EN, KO, *tokenizers, config)
    found = _all(batches(data, config, shuffle=True, seed=1))
    assert sum(len(src) for src, _, _ in found) == len(EN)
    assert batch_count(data, config) == len(found)
    for src, _, tgt_out in found:
        width = max(src.shape[1], tgt_out.shape[1])  # already padded to the bucket's multiple
        # Over budget only when one sentence alone is longer than the budget.
        assert len(src) * width <= batch_tokens or len(src) == 1
    if batch_tokens == 64:
        assert max(len(src) for src, _, _ in found) > config.batch_size  # batch_size ignored
