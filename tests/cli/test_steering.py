"""``nmt translate`` and ``nmt plot`` with prefixes, forced targets and word alignments."""

import json

import numpy as np
import pytest
from conftest import assert_one_line_error

from nmt.decoding.translator import Translator
from nmt.viz.pieces import merge_pieces

TEXTS = ["Where is the station?", "Thank you."]


@pytest.fixture(scope="module")
def translator(tiny_model_dir):
    return Translator.load(tiny_model_dir)


def reference_links(attention, src_tokens, tgt_tokens, min_weight=0.2):
    """Pharaoh links by the documented rule, from merge_pieces alone (</s> last on each side)."""
    merged, _, _ = merge_pieces(attention, src_tokens, tgt_tokens)
    real = merged[:-1, :-1]
    links = [(int(row.argmax()), j) for j, row in enumerate(real) if row.max() >= min_weight]
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


def test_a_prefix_starts_the_translation_and_the_model_continues_it(
    run, tiny_model_dir, translator
):
    result = run("translate", "--model", tiny_model_dir, "--prefix", "역은 어디", *TEXTS)
    assert result.returncode == 0, result.stderr
    expected = translator.translate(TEXTS, prefixes=["역은 어디"] * 2)
    assert result.stdout.splitlines() == [t.text for t in expected]
    assert all(line.startswith("역은 어디") for line in result.stdout.splitlines())


def test_a_prefix_file_gives_one_prefix_per_input(run, tiny_model_dir, translator, tmp_path):
    prefixes = tmp_path / "prefixes.txt"
    prefixes.write_text("역은\n\n", encoding="utf-8")
    result = run("translate", "--model", tiny_model_dir, "--prefix-file", prefixes, *TEXTS)
    assert result.returncode == 0, result.stderr
    expected = translator.translate(TEXTS, prefixes=["역은", ""])
    assert result.stdout.splitlines() == [t.text for t in expected]


def test_alignments_follow_each_line_after_three_bars(run, tiny_model_dir, translator):
    result = run("translate", "--model", tiny_model_dir, "--alignments", *TEXTS)
    assert result.returncode == 0, result.stderr
    for line, want in zip(result.stdout.splitlines(), translator.translate(TEXTS), strict=True):
        text, alignment = line.split(" ||| ")
        assert text == want.text
        assert alignment == reference_links(want.attention, want.src_tokens, want.tgt_tokens)
    nbest = run("translate", "--model", tiny_model_dir, "--alignments", "--beam", "3",
                "--n-best", "2", TEXTS[1])  # fmt: skip
    [expected] = translator.translate([TEXTS[1]], 3, 2)
    for line, h in zip(nbest.stdout.splitlines(), expected.hypotheses, strict=True):
        assert line.split(" ||| ")[1] == reference_links(
            h.attention, expected.src_tokens, h.tgt_tokens
        )


def test_json_reports_coverage_for_every_hypothesis(run, tiny_model_dir, translator):
    result = run("translate", "--model", tiny_model_dir, "--json", "--alignments", "--beam", "3",
                 "--n-best", "2", TEXTS[1])  # fmt: skip
    out = json.loads(result.stdout)
    [expected] = translator.translate([TEXTS[1]], 3, 2)
    assert out["src_words"] == ["Thank", "you."]
    for entry, h in zip([out, *out["nbest"]], [expected.best, *expected.hypotheses], strict=True):
        # Each source word's weight summed over the target pieces but the last (</s>).
        attention = np.asarray(h.attention)[:-1]
        pieces = expected.src_tokens
        starts = [k for k, p in enumerate(pieces) if p.startswith("\u2581")] + [len(pieces) - 1]
        coverage = [attention[:, a:b].sum() for a, b in zip(starts, starts[1:])]
        np.testing.assert_allclose(entry["coverage"], coverage, atol=1e-4)
        assert set(entry["uncovered"]) <= {0, 1}
        assert entry["alignment"] == reference_links(h.attention, pieces, h.tgt_tokens)
    plain = json.loads(run("translate", "--model", tiny_model_dir, "--json", TEXTS[1]).stdout)
    assert "coverage" in plain and "alignment" not in plain


def test_a_target_is_scored_not_searched(run, tiny_model_dir, translator, tmp_path):
    targets = ["역은 어디에 있어요?", "감사합니다."]
    args = ["--target", targets[0], "--target", targets[1]]
    result = run("translate", "--model", tiny_model_dir, "--json", *args, *TEXTS)
    assert result.returncode == 0, result.stderr
    forced = translator.force(TEXTS, targets)
    for line, want, target in zip(result.stdout.splitlines(), forced, targets, strict=True):
        out = json.loads(line)
        assert out["translation"] == target
        assert out["log_prob"] == pytest.approx(want.log_prob, abs=1e-4)
    plot = run("plot", "--model", tiny_model_dir, "-o", tmp_path / "forced.png", "--words",
               "--target", targets[1], TEXTS[1])  # fmt: skip
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "forced.png").stat().st_size > 5000


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--target", "a", "x", "y"], ["--target given 1 times for 2 inputs"]),
        (["--target", "a", "--beam", "3", "x"], ["--target scores the given translation"]),
        (["--prefix-file", "{tmp}/missing.txt", "x"], ["missing.txt: cannot read"]),
        (["--prefix-file", "{tmp}/two.txt", "x"], ["two.txt: 2 lines for 1 inputs"]),
        (["--prefix-file", "{tmp}/latin1.txt", "x"], ["latin1.txt:2: not UTF-8"]),
    ],
)
def test_bad_steering_gets_a_one_line_error(run, tiny_model_dir, tmp_path, args, fragments):
    (tmp_path / "two.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes(b"a\n\xe9t\xe9\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run("translate", "--model", tiny_model_dir, *args)
    assert_one_line_error(result, *fragments)


def test_prefix_and_target_exclude_each_other(run, tiny_model_dir):
    with pytest.raises(SystemExit) as exit_info:
        run("translate", "--model", tiny_model_dir, "--prefix", "a", "--target", "b", "x")
    assert exit_info.value.code == 2
