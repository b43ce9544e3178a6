import pytest
import tensorflow as tf

from nmt.errors import NmtError
from nmt.tokenizer import EOS_ID, PAD_ID, Tokenizer, train_sentencepiece

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
