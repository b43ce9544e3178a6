import numpy as np
import pytest
import tensorflow as tf

from nmt.config import DataConfig
from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.data.pipeline import batch_count, batches, encode, resample
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


def _rows(ragged):
    return [tuple(row) for row in ragged.to_list()]


def test_sampling_draws_new_segmentations_of_the_same_pairs(tokenizers):
    """Subword regularization: training encodings differ between draws, each is a
    segmentation of the same sentence (it detokenizes back to it), and the plain
    encoding (dev, test) is the same every time and is the tokenizer's one best."""
    src_tok, tgt_tok = tokenizers
    config = DataConfig(subword_nbest=-1, subword_alpha=0.1)
    plain = [encode(EN, KO, *tokenizers, config) for _ in range(2)]
    assert _rows(plain[0].src) == _rows(plain[1].src)
    assert _rows(plain[0].src) == _rows(src_tok.tokenize(tf.constant(EN)))
    draws = [resample(EN, KO, *tokenizers, config, like=plain[0]) for _ in range(3)]
    src_rows = [_rows(d.src) for d in draws]
    assert any(a != b for a in src_rows for b in src_rows), "no draw differs"
    assert any(r != p for r, p in zip(src_rows[0], _rows(plain[0].src)))
    assert any(_rows(d.tgt) != _rows(plain[0].tgt) for d in draws)
    for draw in draws:
        text = src_tok.detokenize(draw.src.to_tensor()).numpy()
        assert [t.decode() for t in text] == EN
        assert all(row[-1] == EOS_ID for row in _rows(draw.src) + _rows(draw.tgt))


def test_sampled_epochs_batch_the_same_pairs_as_the_plain_one(tokenizers):
    """Bucketed by the one-best lengths: every draw's epoch has the same batches of the
    same pairs (so a resumed epoch skips exactly what it trained on), and pairs the
    limits dropped stay dropped; long draws are cut to the limits."""
    config = DataConfig(batch_size=3, bucket_width=2, max_src_len=16, max_tgt_len=12)
    plain = encode(EN, KO, *tokenizers, config)
    assert plain.dropped and plain.kept is not None
    texts = [en for en, keep in zip(EN, plain.kept) if keep]

    def epoch(data):
        src_tok = tokenizers[0]
        out = []
        for src, _, tgt_out in _all(batches(data, config, shuffle=True, seed=5)):
            assert src.shape[1] <= 16 and tgt_out.shape[1] <= 12
            out.append([t.decode() for t in src_tok.detokenize(src).numpy()])
        return out

    want = epoch(plain)
    for _ in range(3):
        draw = resample(EN, KO, *tokenizers, config, like=plain)
        assert len(draw) == len(plain)
        assert batch_count(draw, config) == batch_count(plain, config) == len(want)
        assert epoch(draw) == want
    assert sorted(t for batch in want for t in batch) == sorted(texts)


@pytest.mark.parametrize("nbest, alpha", [(0, 0.1), (1, 0.1), (-1, 0.0)])
def test_sampling_off_gives_the_plain_encoding(tokenizers, nbest, alpha):
    config = DataConfig(subword_nbest=nbest, subword_alpha=alpha)
    plain = encode(EN, KO, *tokenizers, config)
    assert _rows(resample(EN, KO, *tokenizers, config, like=plain).src) == _rows(plain.src)


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (7, 3), (1000, 0), (5000, 12)])
def test_permutation_is_the_order_dataset_shuffle_gives_the_elements(n, seed):
    from nmt.data.pipeline import permutation

    # The reference shuffles the elements themselves (not indices), as batches once did.
    elements = tf.data.Dataset.range(n).map(lambda i: tf.strings.as_string(i * 7))
    shuffled = elements.shuffle(n, seed=seed, reshuffle_each_iteration=False)
    expected = [int(x.numpy()) // 7 for x in shuffled]
    np.testing.assert_array_equal(permutation(n, seed), expected)
