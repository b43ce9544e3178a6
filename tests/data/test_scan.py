"""Tests for nmt.data.scan and the streaming reader of nmt.data.formats: one pass that
checks, counts, cuts chunks and samples; chunks that give back every pair once."""

import collections
import gzip

import pytest

from nmt.data.formats import PairReader, moses_pairs, tsv_pairs
from nmt.data.scan import read_chunk, scan
from nmt.errors import NmtError

PAIRS = [(f"sentence number {i}.", f"문장 {i}번.") for i in range(1000)]


def write_tsv(path, pairs, *, compress=False, extra=b""):
    data = "".join(f"{en}\t{ko}\n" for en, ko in pairs).encode("utf-8") + extra
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def every_chunk(index, **kwargs):
    return [
        pair
        for chunk in range(len(index.chunks))
        for pair in zip(*(lambda c: (c.src, c.tgt))(read_chunk(index, chunk, **kwargs)))
    ]


@pytest.mark.parametrize("compress", [False, True])
def test_chunks_hold_every_pair_once_in_file_order(tmp_path, compress):
    name = "train.tsv.gz" if compress else "train.tsv"
    path = write_tsv(tmp_path / name, PAIRS, compress=compress)
    index = scan((path,), chunk_pairs=64, sample_pairs=100)
    assert index.pairs == len(PAIRS) and index.skipped == 0
    assert [c.pairs for c in index.chunks] == [64] * 15 + [40]
    assert every_chunk(index) == PAIRS
    assert tsv_pairs(path)[:2] == ([en for en, _ in PAIRS], [ko for _, ko in PAIRS])


def test_blank_and_bad_lines_between_chunks_keep_counts_and_line_numbers(tmp_path):
    lines = []
    for i, (en, ko) in enumerate(PAIRS[:100]):
        lines.append(f"{en}\t{ko}")
        if i % 7 == 0:
            lines.append("   ")
        if i % 11 == 0:
            lines.append("no tab on this line")
    path = tmp_path / "x.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"x\.tsv:3: no tab"):
        scan((path,), chunk_pairs=10, sample_pairs=5)
    index = scan((path,), chunk_pairs=10, sample_pairs=5, skip_bad_lines=True)
    assert index.skipped == 10 and index.pairs == 100
    assert every_chunk(index, skip_bad_lines=True) == PAIRS[:100]
    # Each chunk starts at the line of its first pair: 1-based, counting every line.
    assert index.chunks[0].start[1] == 1
    for i, chunk in enumerate(index.chunks):
        assert lines[chunk.start[1] - 1].split("\t")[0] == PAIRS[i * 10][0]


@pytest.mark.parametrize("compress", [False, True])
def test_a_bad_line_deep_in_a_large_file_names_its_line(tmp_path, compress):
    pairs = PAIRS * 10
    path = write_tsv(
        tmp_path / ("big.tsv.gz" if compress else "big.tsv"),
        pairs,
        compress=compress,
        extra=b"Good.\t\xec\x95\x88\nBad.\t\xb0\xa1\n",
    )
    with pytest.raises(NmtError) as info:
        scan((path,), chunk_pairs=1000, sample_pairs=100)
    message = str(info.value)
    assert f"{path.name}:{len(pairs) + 2}: not valid UTF-8" in message
    assert "\n" not in message


def test_a_truncated_gzip_file_is_a_one_line_error(tmp_path):
    path = write_tsv(tmp_path / "t.tsv.gz", PAIRS, compress=True)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(NmtError, match=r"t\.tsv\.gz:\d+: not a valid gzip file"):
        scan((path,), chunk_pairs=100, sample_pairs=10)


def test_moses_files_chunk_and_resume_by_both_offsets(tmp_path):
    src, tgt = tmp_path / "c.en.gz", tmp_path / "c.ko"
    src.write_bytes(gzip.compress("".join(f"{en}\n" for en, _ in PAIRS).encode()))
    tgt.write_text("".join(f"{ko}\n" for _, ko in PAIRS), encoding="utf-8")
    index = scan((src, tgt), chunk_pairs=300, sample_pairs=10)
    assert len(index.chunks) == 4
    assert every_chunk(index) == PAIRS
    assert moses_pairs(src, tgt)[0] == [en for en, _ in PAIRS]
    # A reader started at a chunk's position reads on from there.
    rest = [(s, t) for _, s, t in PairReader((src, tgt), start=index.chunks[2].start)]
    assert rest == PAIRS[600:]


def test_the_sample_is_every_pair_when_it_fits_and_seeded_and_uniform_when_not(tmp_path):
    path = write_tsv(tmp_path / "x.tsv", PAIRS)
    whole = scan((path,), chunk_pairs=100, sample_pairs=len(PAIRS))
    assert list(zip(whole.sample.src, whole.sample.tgt)) == PAIRS
    assert whole.sample_scale == 1.0
    first = scan((path,), chunk_pairs=100, sample_pairs=100)
    again = scan((path,), chunk_pairs=100, sample_pairs=100)
    other = scan((path,), chunk_pairs=100, sample_pairs=100, seed=1)
    assert first.sample == again.sample != other.sample
    assert len(first.sample) == 100 and first.sample_scale == 10.0
    numbers = [int(s.split()[-1].rstrip(".")) for s in first.sample.src]
    assert numbers == sorted(set(numbers))  # distinct, in file order
    # Uniform: over many seeds, each tenth of the file gives about a tenth of the sample.
    tenths = collections.Counter()
    for seed in range(40):
        sample = scan((path,), chunk_pairs=500, sample_pairs=100, seed=seed).sample
        tenths.update(int(s.split()[-1].rstrip(".")) // 100 for s in sample.src)
    assert all(300 <= tenths[t] <= 500 for t in range(10)), tenths


def test_held_out_sources_are_left_out_of_chunks(tmp_path):
    path = write_tsv(tmp_path / "x.tsv", [*PAIRS[:50], (PAIRS[3][0], "다른 번역.")])
    index = scan((path,), chunk_pairs=20, sample_pairs=10)
    kept = every_chunk(index, held_out=frozenset({PAIRS[3][0], PAIRS[40][0]}))
    assert len(kept) == 48
    assert all(en not in (PAIRS[3][0], PAIRS[40][0]) for en, _ in kept)
