import io
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import tensorflow as tf

from nmt.data.tokenizer import (
    EOS_ID,
    MAX_AUTO_VOCAB,
    PAD_ID,
    Tokenizer,
    default_vocab_size,
    minimum_vocab_size,
    train_sentencepiece,
)
from nmt.errors import NmtError

# Real English-Korean text beside the repository (see its README); absent elsewhere.
NEWS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "ko-en-news"

KOREAN = ["인공 지능", "기계 학습", "저는 학생입니다.", "역은 어디에 있어요?", "감사합니다."] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(train_sentencepiece(KOREAN, 300))


def _decode(tokenizer, texts):
    ids = tokenizer.tokenize(tf.constant(texts)).to_tensor()
    return [s.decode("utf-8") for s in tokenizer.detokenize(ids).numpy()]


def test_special_ids_and_eos(tokenizer):
    assert tokenizer.id_to_piece(tf.constant([PAD_ID, EOS_ID])).numpy().tolist() == [
        b"<pad>",
        b"</s>",
    ]
    ids = tokenizer.tokenize(tf.constant(["인공 지능", ""]))
    assert [row[-1] for row in ids.numpy()] == [EOS_ID, EOS_ID]
    assert ids[1].numpy().tolist() == [EOS_ID]


def test_round_trip_including_unseen_characters(tokenizer):
    texts = ["인공 지능", "😀 unseen 쀍 ÆØ", "tab\tand  spaces"]
    # Byte fallback: nothing unseen becomes <unk> or disappears.
    assert _decode(tokenizer, texts) == ["인공 지능", "😀 unseen 쀍 ÆØ", "tab\tand spaces"]


def test_nfc_applied_in_graph(tokenizer):
    decomposed = "\u110b\u1175\u11ab\u1100\u1169\u11bc 지능"  # 인공 as conjoining jamo
    nfc = tokenizer.tokenize(tf.constant(["인공 지능"])).numpy().tolist()
    assert tokenizer.tokenize(tf.constant([decomposed])).numpy().tolist() == nfc


def test_detokenize_stops_at_eos(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["인공 지능", "기계 학습"])).to_tensor()
    glued = tf.concat([ids[:1], ids[1:]], axis=1)  # sentence, EOS, then another
    assert _decode(tokenizer, ["인공 지능"]) == [tokenizer.detokenize(glued).numpy()[0].decode()]


def test_save_load(tmp_path, tokenizer):
    tokenizer.save(tmp_path / "t.spm")
    loaded = Tokenizer.load(tmp_path / "t.spm")
    assert loaded.vocab_size == tokenizer.vocab_size
    with pytest.raises(NmtError, match="missing"):
        Tokenizer.load(tmp_path / "nope.spm")
    (tmp_path / "bad.spm").write_bytes(b"not a model")
    with pytest.raises(NmtError, match="not a valid SentencePiece model"):
        Tokenizer.load(tmp_path / "bad.spm")


def test_vocab_size_floor():
    with pytest.raises(NmtError, match="at least"):
        train_sentencepiece(KOREAN, 100)


def _syllables(n, seed=0, count=4000):
    """``count`` short Korean "sentences" over ``n`` distinct Hangul syllables, Zipf-like
    (a few frequent, a long tail of rare ones), each syllable used at least once."""
    rng = np.random.default_rng(seed)
    pool = [chr(0xAC00 + i) for i in rng.choice(11172, n, replace=False)]
    weights = 1.0 / np.arange(1, n + 1)
    picks = list(rng.choice(n, size=count * 6, p=weights / weights.sum())) + list(range(n))
    rng.shuffle(picks)
    text = "".join(pool[i] for i in picks)
    return [f"{text[i : i + 3]} {text[i + 3 : i + 6]}" for i in range(0, len(text), 6)]


def _spm_accepts(sentences, vocab_size, coverage):
    """SentencePiece itself, with nmt's options, as the reference for what fits."""
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=io.BytesIO(), vocab_size=vocab_size,
            hard_vocab_limit=False, model_type="unigram", character_coverage=coverage,
            byte_fallback=True, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            normalization_rule_name="identity", remove_extra_whitespaces=True, minloglevel=2,
        )  # fmt: skip
    except RuntimeError as exc:
        assert "required_chars" in str(exc)
        return False
    return True


@pytest.fixture(scope="module")
def many_syllables():
    sentences = _syllables(2500)
    assert len(set("".join(sentences)) - {" "}) == 2500
    return sentences


@pytest.mark.parametrize("coverage", [1.0, 0.9995, 0.98])
def test_minimum_vocab_size_is_the_smallest_sentencepiece_accepts(many_syllables, coverage):
    minimum = minimum_vocab_size(many_syllables, coverage)
    assert _spm_accepts(many_syllables, minimum, coverage)
    assert not _spm_accepts(many_syllables, minimum - 1, coverage)


def test_default_vocabulary_trains_on_over_2000_syllables(many_syllables):
    # 2,500 syllables: the old fixed 1,000 pieces could not hold them.
    tokenizer = Tokenizer(train_sentencepiece(many_syllables))
    assert tokenizer.vocab_size >= minimum_vocab_size(many_syllables, 0.9995) > 2000
    # The rarest syllables left out by the coverage are spelled as bytes, not lost.
    assert _decode(tokenizer, many_syllables[:300]) == many_syllables[:300]


def test_default_vocabulary_grows_with_the_corpus():
    words = [f"w{i}" for i in range(5000)]
    small = [" ".join(words[i : i + 5]) for i in range(0, 1000, 5)]
    large = [" ".join(words[i % 5000 : i % 5000 + 5]) for i in range(0, 100_000, 5)]
    assert default_vocab_size(small, 1.0) < default_vocab_size(large, 1.0) <= MAX_AUTO_VOCAB
    for sentences in (small, large, KOREAN):
        size = default_vocab_size(sentences, 1.0)
        assert size % 8 == 0 and size >= 1.25 * minimum_vocab_size(sentences, 1.0)


def _rounded(size):
    return -(-size // 8) * 8


_REPEATED = [" ".join(f"word{(i * 5 + j) % 2000}" for j in range(5)) for i in range(2000)]
_CJK = [chr(0x4E00 + i) * 3 + chr(0x4E01 + i) for i in range(0, 3000, 2)]  # no spaces


@pytest.mark.parametrize(
    ("case", "sentences", "scale", "expected"),
    [
        # 10,000 words, 2,000 distinct, each 5 times: 10·√W = 1,000 < 2·R = 4,000.
        ("10·√W", _REPEATED, 1.0, lambda minimum: _rounded(max(1000, 1.25 * minimum))),
        # The same counts standing for 400 times as many words: 10·√W = 20,000.
        ("scaled W", _REPEATED, 400.0, lambda minimum: 4000),
        # 20,000 distinct words seen twice, standing for 12 M: both terms pass 32,000.
        ("cap", [f"w{i} w{i}" for i in range(20_000)], 300.0, lambda minimum: 32_000),
        # No word seen twice: 2·R = 0, so the floor of 1.25 × the minimum decides.
        ("no repeats", [f"unique{i}" for i in range(3000)], 1.0,
         lambda minimum: _rounded(1.25 * minimum)),
        # Chinese-like text without spaces: each line one word, none repeated; the
        # floor of its 3,000 distinct characters decides.
        ("no spaces", _CJK, 1.0, lambda minimum: _rounded(1.25 * minimum)),
    ],
)  # fmt: skip
def test_each_term_of_the_size_rule_decides_where_it_is_smallest(case, sentences, scale, expected):
    minimum = minimum_vocab_size(sentences, 1.0)
    size = default_vocab_size(sentences, 1.0, scale=scale)
    assert size == expected(minimum), case
    assert size % 8 == 0 and size >= 1.25 * minimum
    if case == "no spaces":
        assert minimum == 3000 + 1 + 260  # each character, ▁, specials and bytes


def test_default_vocabulary_stays_near_the_recurring_words():
    # 100k words made of 400 distinct ones: no room needed for 10·√100k = 3,163 pieces.
    templates = [" ".join(f"w{(i * 7 + j) % 400}" for j in range(5)) for i in range(20_000)]
    minimum = minimum_vocab_size(templates, 1.0)
    assert default_vocab_size(templates, 1.0) == -(-max(800, 1.25 * minimum) // 8) * 8


def test_too_small_explicit_vocabulary_names_the_minimum(many_syllables):
    minimum = minimum_vocab_size(many_syllables, 0.9995)
    with pytest.raises(NmtError) as error:
        train_sentencepiece(many_syllables, 1000, field="model.tgt_vocab_size")
    message = str(error.value)
    assert "model.tgt_vocab_size=1000" in message and f"at least {minimum}" in message
    assert "\n" not in message


def test_sentencepiece_failure_is_an_nmt_error():
    # Below SentencePiece's own lower bound for the coverage (config refuses it first).
    with pytest.raises(NmtError, match="SentencePiece could not train") as error:
        train_sentencepiece(KOREAN, 2000, character_coverage=0.5)
    assert "\n" not in str(error.value)


BUNDLED = Path(__file__).resolve().parents[2] / "data" / "en-ko"


@pytest.mark.parametrize(
    "corpus_dir",
    [
        BUNDLED,  # real Korean in the repository: the check runs on every checkout
        pytest.param(
            NEWS,
            marks=pytest.mark.skipif(not NEWS.is_dir(), reason=f"no shared corpora at {NEWS}"),
        ),
    ],
    ids=["bundled", "news"],
)
def test_trains_on_real_korean(corpus_dir):
    from nmt.data.corpus import read_corpus

    corpus = read_corpus(corpus_dir, split="train")
    for side in (corpus.src, corpus.tgt):
        tokenizer = Tokenizer(train_sentencepiece(side))
        assert tokenizer.vocab_size >= minimum_vocab_size(side, 0.9995)
        assert _decode(tokenizer, side[:50]) == side[:50]


@pytest.mark.parametrize("split", [True, False])
def test_split_digits_spells_every_number_digit_by_digit(split):
    """A corpus full of years: without split_digits SentencePiece learns them as pieces;
    with it, no piece holds a digit beside anything else, in training and in-graph."""
    years = [f"in {year} and {year}년" for year in range(1950, 2030)] * 3
    tokenizer = Tokenizer(train_sentencepiece(years, 400, split_digits=split))
    pieces = tokenizer.id_to_piece(tokenizer.tokenize(tf.constant(["in 2011 and 2011년"])))
    pieces = [p.decode() for p in pieces.flat_values.numpy()]
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert (digits == list("20112011")) == split, pieces
