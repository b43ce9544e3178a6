"""Tests for nmt.data.corpus and nmt.data.formats: TSV and Moses files, splits, dev hold-out."""

import re
import unicodedata

import pytest

from nmt.data.corpus import Corpus, read_corpus, read_moses, read_splits, read_tsv, split_off
from nmt.data.formats import moses_pairs, tsv_pairs
from nmt.errors import NmtError

HELLO = "안녕하세요"


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def raises_at(path, line, fn, *args, **kwargs):
    """Asserts ``fn`` raises a one-line NmtError naming ``path:line``; returns the message."""
    with pytest.raises(NmtError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert f"{path.name}:{line}:" in message
    assert "\n" not in message
    return message


def test_tsv_reads_pairs_and_ignores_anki_columns(tmp_path):
    path = write(
        tmp_path / "kor.tsv",
        f"Hi.\t{HELLO}\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123\nRun!\t뛰어!\n",
    )
    corpus = read_tsv(path)
    assert corpus == Corpus(["Hi.", "Run!"], [HELLO, "뛰어!"])
    assert len(corpus) == 2


def test_tsv_accepts_bom_crlf_blank_lines_and_no_final_newline(tmp_path):
    path = write(tmp_path / "x.tsv", "\ufeffHi.\t안녕.\r\n\r\n   \n  Bye. \t 잘 가. \r\nYes.\t네.")
    corpus = read_tsv(path)
    assert corpus.src == ["Hi.", "Bye.", "Yes."]
    assert corpus.tgt == ["안녕.", "잘 가.", "네."]
    assert corpus.skipped == 0


def test_tsv_normalizes_to_nfc(tmp_path):
    decomposed = unicodedata.normalize("NFD", HELLO)
    assert decomposed != HELLO
    corpus = read_tsv(write(tmp_path / "x.tsv", f"Cafe\u0301\t{decomposed}\n"))
    assert corpus.src == ["Café"]
    assert corpus.tgt == [HELLO]
    assert all(unicodedata.is_normalized("NFC", s) for s in corpus.src + corpus.tgt)


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        (b"no tab here", "no tab"),
        (b"\t\xec\x95\x88", "empty source"),
        (b"Hi.\t   \tattribution", "empty target"),
        (b"Hi.\t\xb0\xa1", "not valid UTF-8"),
    ],
)
def test_tsv_malformed_line_names_file_line_and_fix(tmp_path, bad_line, problem):
    path = write(tmp_path / "bad.tsv", b"Hi.\tx\n\nBye.\ty\n" + bad_line + b"\nOk.\tz\n")
    message = raises_at(path, 4, read_tsv, path)
    assert problem in message
    assert "--skip-bad-lines" in message
    corpus = read_tsv(path, skip_bad_lines=True)
    assert corpus.src == ["Hi.", "Bye.", "Ok."]
    assert corpus.skipped == 1


def test_tsv_skip_bad_lines_counts_every_bad_line(tmp_path):
    path = write(tmp_path / "x.tsv", b"a\tb\nnotab\n\xff\tc\n\n\td\ne\tf\n")
    corpus = read_tsv(path, skip_bad_lines=True)
    assert corpus == Corpus(["a", "e"], ["b", "f"], skipped=3)


def test_tsv_empty_or_all_bad_file_is_an_error(tmp_path):
    empty = write(tmp_path / "empty.tsv", "\n  \n")
    with pytest.raises(NmtError, match="empty.tsv"):
        read_tsv(empty)
    bad = write(tmp_path / "bad.tsv", "notab\n")
    with pytest.raises(
        NmtError, match=r"bad.tsv: no sentence pairs found \(bad lines skipped: 1\)"
    ):
        read_tsv(bad, skip_bad_lines=True)


def test_format_readers_return_no_pairs_where_a_corpus_would_be_an_error(tmp_path):
    blank = write(tmp_path / "blank.tsv", "\n \n")
    assert tsv_pairs(blank) == ([], [], 0)
    assert tsv_pairs(write(tmp_path / "bad.tsv", "notab\n"), skip_bad_lines=True) == ([], [], 1)
    assert moses_pairs(blank, blank) == ([], [], 0)
    with pytest.raises(NmtError, match="no sentence pairs"):
        read_moses(blank, blank)


def test_moses_reads_aligned_files(tmp_path):
    src = write(tmp_path / "c.en", "\ufeffHi.\r\n\nBye.\n")
    tgt = write(tmp_path / "c.ko", f"{unicodedata.normalize('NFD', HELLO)}\n \n잘 가.\n")
    corpus = read_moses(src, tgt)
    assert corpus == Corpus(["Hi.", "Bye."], [HELLO, "잘 가."])
    assert read_corpus(src=src, tgt=tgt, split="test") == corpus
    assert read_splits(src=src, tgt=tgt) == {"train": corpus}


def test_moses_line_count_mismatch_names_both_files_and_counts(tmp_path):
    src = write(tmp_path / "c.en", "a\nb\nc\n")
    tgt = write(tmp_path / "c.ko", "x\ny\n")
    with pytest.raises(NmtError) as info:
        read_moses(src, tgt)
    message = str(info.value)
    assert all(part in message for part in ("c.en", "c.ko", "3", "2"))


def test_moses_one_sided_blank_or_bad_line(tmp_path):
    src = write(tmp_path / "c.en", b"a\n\nc\nd\n")
    tgt = write(tmp_path / "c.ko", b"x\ny\nz\n\xc3\n")
    message = raises_at(src, 2, read_moses, src, tgt)
    assert "c.ko:2 is not" in message
    corpus = read_moses(src, tgt, skip_bad_lines=True)
    assert corpus == Corpus(["a", "c"], ["x", "z"], skipped=2)


def test_moses_undecodable_line_names_its_file(tmp_path):
    src = write(tmp_path / "c.en", b"a\nb\n")
    tgt = write(tmp_path / "c.ko", b"x\n\xc3\n")
    message = raises_at(tgt, 2, read_moses, src, tgt)
    assert "UTF-8" in message


def test_directory_of_splits(tmp_path):
    write(tmp_path / "train.tsv", "a\tb\nc\td\n")
    write(tmp_path / "test.tsv", "e\tf\n")
    assert read_corpus(tmp_path).src == ["a", "c"]
    assert read_corpus(tmp_path, split="test").src == ["e"]
    assert list(read_splits(tmp_path)) == ["train", "test"]
    with pytest.raises(NmtError, match="dev.tsv"):
        read_corpus(tmp_path, split="dev")


def test_directory_without_train_is_an_error(tmp_path):
    write(tmp_path / "dev.tsv", "a\tb\n")
    with pytest.raises(NmtError) as info:
        read_splits(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "train.tsv" in str(info.value)


def test_single_tsv_file_is_the_train_split_whatever_is_asked(tmp_path):
    path = write(tmp_path / "kor.tsv", "a\tb\n")
    assert read_corpus(path, split="dev") == read_corpus(path)
    assert read_splits(path) == {"train": Corpus(["a"], ["b"])}


def test_missing_path_and_bad_argument_combinations(tmp_path):
    missing = tmp_path / "nope.tsv"
    with pytest.raises(NmtError, match=re.escape(f"no such file or directory: {missing}")):
        read_corpus(missing)
    with pytest.raises(NmtError, match="no such file or directory"):
        read_moses(missing, missing)
    path = write(tmp_path / "x.tsv", "a\tb\n")
    for kwargs in ({}, {"src": path}, {"tgt": path}):
        with pytest.raises(NmtError):
            read_corpus(**kwargs)
    with pytest.raises(NmtError, match="not both"):
        read_splits(path, src=path, tgt=path)
    with pytest.raises(NmtError, match="unknown split"):
        read_corpus(path, split="valid")


def test_split_off_is_deterministic_disjoint_and_complete():
    corpus = Corpus([f"s{i}" for i in range(100)], [f"t{i}" for i in range(100)], skipped=3)
    rest, dev = split_off(corpus, 0.1, seed=7)
    assert split_off(corpus, 0.1, seed=7) == (rest, dev)
    assert split_off(corpus, 0.1, seed=8) != (rest, dev)
    assert len(dev) == 10
    assert set(rest.src).isdisjoint(dev.src)
    assert sorted(rest.src + dev.src) == sorted(corpus.src)
    assert all(s[1:] == t[1:] for s, t in zip(dev.src, dev.tgt, strict=True))
    assert (rest.skipped, dev.skipped) == (3, 0)


def test_split_off_keeps_translations_of_one_sentence_together():
    src = ["a", "a", "a", "b", "b", "c", "d", "e"]
    corpus = Corpus(src, [f"t{i}" for i in range(len(src))])
    for seed in range(20):
        rest, dev = split_off(corpus, 0.2, seed)
        assert set(rest.src).isdisjoint(dev.src)
        assert len(rest) + len(dev) == len(corpus)
        assert len(rest) >= 1 and len(dev) >= 1


@pytest.mark.parametrize("n", [2, 3])
def test_split_off_tiny_corpus_holds_out_one_and_keeps_one(n):
    corpus = Corpus(["same"] * n, [f"t{i}" for i in range(n)])
    rest, dev = split_off(corpus, 0.01, seed=0)
    assert len(dev) == 1
    assert len(rest) == n - 1


def test_split_off_rejects_bad_input():
    with pytest.raises(NmtError):
        split_off(Corpus(["a"], ["b"]), 0.1, seed=0)
    with pytest.raises(NmtError):
        split_off(Corpus(["a", "c"], ["b", "d"]), 1.0, seed=0)
