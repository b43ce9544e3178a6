"""Word links and coverage, checked against matrices built by construction and against
plain-loop references, never against the code under test."""

import json

import numpy as np
import pytest
from matplotlib.colors import same_color

from nmt.decoding.translation import Hypothesis, Translation
from nmt.errors import NmtError
from nmt.viz.alignment import alignment_figure, translation_figure
from nmt.viz.links import (
    format_pharaoh,
    parse_pharaoh,
    source_label_positions,
    uncovered_words,
    word_alignment,
    word_coverage,
    word_links,
)

END = "</s>"


def split_words(words, pieces_per_word):
    """Pieces of the given words, word k cut into ``pieces_per_word[k]`` pieces that
    start with "▁", plus the word index of every piece (the test's own segmentation)."""
    pieces, owner = [], []
    for k, (word, count) in enumerate(zip(words, pieces_per_word)):
        pieces += [f"▁{word}"] + [f"{word[-1]}{n}" for n in range(1, count)]
        owner += [k] * count
    return pieces, owner


def build(src_words, tgt_words, src_cuts, tgt_cuts, word_weights, seed=0):
    """Piece weights whose target word j puts ``word_weights[j][k]`` on source word k
    (the last column: ``</s>``), each piece row spread at random over the word's pieces;
    the target ``</s>`` row is random."""
    rng = np.random.default_rng(seed)
    src, src_owner = split_words(src_words, src_cuts)
    tgt, tgt_owner = split_words(tgt_words, tgt_cuts)
    src, tgt = [*src, END], [*tgt, END]
    src_owner.append(len(src_words))
    weights = np.zeros((len(tgt), len(src)))
    for row, j in enumerate(tgt_owner):
        for k, share in enumerate(word_weights[j]):
            columns = [c for c, owner in enumerate(src_owner) if owner == k]
            weights[row, columns] = share * rng.dirichlet(np.ones(len(columns)))
    weights[-1] = rng.dirichlet(np.ones(len(src)))
    return weights, src, tgt


def loop_word_matrix(weights, src_owner, tgt_owner):
    """Word-level weights by plain loops: source words summed, target words averaged."""
    n_src, n_tgt = max(src_owner) + 1, max(tgt_owner) + 1
    out = [[0.0] * n_src for _ in range(n_tgt)]
    counts = [tgt_owner.count(j) for j in range(n_tgt)]
    for row, j in enumerate(tgt_owner):
        for column, k in enumerate(src_owner):
            out[j][k] += weights[row][column] / counts[j]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_a_permutation_gives_exactly_its_links(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    perm = rng.permutation(n)  # target word j renders source word perm[j]
    word_weights = np.eye(n + 1)[perm]
    weights, src, tgt = build(
        [f"s{k}" for k in range(n)],
        [f"t{j}" for j in range(n)],
        rng.integers(1, 4, size=n),
        rng.integers(1, 4, size=n),
        word_weights,
        seed=seed,
    )
    expected = sorted((int(perm[j]), j) for j in range(n))
    assert word_links(weights, src, tgt) == expected
    assert word_alignment(weights, src, tgt).links == expected


def test_pharaoh_round_trips_and_parses_known_strings():
    links = [(2, 1), (0, 0), (1, 2), (1, 3)]
    text = format_pharaoh(links)
    assert text == "0-0 1-2 1-3 2-1"
    assert parse_pharaoh(text) == sorted(links)
    assert parse_pharaoh(" 3-0  0-2\n") == [(0, 2), (3, 0)]
    assert parse_pharaoh("") == [] and format_pharaoh([]) == ""


@pytest.mark.parametrize("bad", ["0-", "a-1", "0:1", "-1-2", "1-2-3", "0-1 x"])
def test_bad_pharaoh_strings_raise(bad):
    with pytest.raises(NmtError, match="not a Pharaoh link"):
        parse_pharaoh(bad)


@pytest.mark.parametrize("seed", range(10))
def test_links_rebuild_the_argmax_of_loop_merged_words(seed):
    rng = np.random.default_rng(seed)
    src, src_owner = split_words(["a", "bb", "ccc", "dd"][: rng.integers(1, 5)], [1, 3, 2, 1])
    tgt, tgt_owner = split_words(["x", "yy", "zz"], [2, 1, 3])
    src, tgt = [*src, END], [*tgt, END]
    src_owner, tgt_owner = [*src_owner, max(src_owner) + 1], [*tgt_owner, max(tgt_owner) + 1]
    weights = rng.dirichlet(np.full(len(src), 0.3), size=len(tgt))
    words = loop_word_matrix(weights, src_owner, tgt_owner)
    real_src, real_tgt = max(src_owner), max(tgt_owner)  # the last word is </s>
    links = parse_pharaoh(format_pharaoh(word_links(weights, src, tgt, min_weight=0)))
    rebuilt = np.zeros((real_tgt, real_src))
    for i, j in links:
        rebuilt[j, i] = 1
    for j in range(real_tgt):
        row = words[j][:real_src]
        assert rebuilt[j].sum() == 1  # min_weight=0: exactly one link per target word
        assert np.argmax(rebuilt[j]) == row.index(max(row))


def test_end_token_is_never_linked_nor_indexed():
    # "▁2018" "년": the suffix looks at </s>; "▁4", "월": all on </s>.
    src = ["▁20", "1", "8", "▁April", END]  # a 3-piece word is one word
    tgt = ["▁2018", "년", "▁4", "월", END]
    weights = np.array(
        [
            [0.3, 0.3, 0.3, 0.0, 0.1],
            [0.0, 0.0, 0.1, 0.0, 0.9],
            [0.0, 0.0, 0.0, 0.05, 0.95],
            [0.0, 0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ]
    )
    result = word_alignment(weights, src, tgt)
    assert result.src_words == ["2018", "April"]
    assert result.tgt_words == ["2018년", "4월"]
    assert result.links == [(0, 0)]  # 4월's best real word has 0.025: no link
    assert word_links(weights, src, tgt, min_weight=0) == [(0, 0), (1, 1)]
    assert len(result.coverage) == 2


def test_a_spelled_out_end_token_is_a_real_word():
    src = ["▁</", "s", ">", END]
    tgt = ["▁끝", END]
    weights = np.array([[0.5, 0.2, 0.2, 0.1], [0, 0, 0, 1.0]])
    result = word_alignment(weights, src, tgt)
    assert result.src_words == ["</s>"] and result.links == [(0, 0)]


def test_also_above_adds_other_strong_source_words():
    src, tgt = ["▁Artificial", "▁Intelligence", "▁now", END], ["▁인공지능", END]
    weights = np.array([[0.45, 0.4, 0.1, 0.05], [0, 0, 0, 1.0]])
    assert word_links(weights, src, tgt) == [(0, 0)]
    assert word_links(weights, src, tgt, also_above=0.3) == [(0, 0), (1, 0)]


@pytest.mark.parametrize("seed", range(10))
def test_coverage_adds_up_to_the_counted_target_rows(seed):
    rng = np.random.default_rng(seed)
    src, src_owner = split_words(["a", "bb", "ccc"], rng.integers(1, 4, size=3))
    tgt, _ = split_words(["x", "yy"], rng.integers(1, 4, size=2))
    src, tgt = [*src, END], [*tgt, END]
    weights = rng.dirichlet(np.ones(len(src)), size=len(tgt))
    coverage = word_coverage(weights, src, tgt)
    expected = [0.0, 0.0, 0.0]
    end_column = 0.0
    for row in range(len(tgt) - 1):  # the target </s> row is not counted
        for column, k in enumerate(src_owner):
            expected[k] += weights[row][column]
        end_column += weights[row][len(src) - 1]
    np.testing.assert_allclose(coverage, expected)
    np.testing.assert_allclose(sum(coverage) + end_column, len(tgt) - 1)


def test_a_neglected_word_is_flagged_and_only_it():
    # Four target words over five source words; nobody looks at source word 2.
    shares = [[0.9, 0, 0.01, 0, 0, 0.09], [0, 0.9, 0.0, 0.05, 0, 0.05]]
    shares += [[0, 0, 0.02, 0.9, 0, 0.08], [0, 0, 0.01, 0, 0.95, 0.04]]
    weights, src, tgt = build(
        ["a", "b", "c", "d", "e"], ["w", "x", "y", "z"], [1, 2, 3, 1, 2], [2, 1, 1, 2], shares
    )
    assert word_alignment(weights, src, tgt).uncovered == [2]


def test_a_translation_that_stopped_half_way_flags_the_untranslated_rest():
    # Target words 0..2 render source words 0..2; source words 3..7 get nothing.
    shares = np.zeros((3, 9))
    shares[range(3), range(3)] = 0.9
    shares[:, 8] = 0.1
    weights, src, tgt = build(
        [f"s{k}" for k in range(8)], ["a", "b", "c"], [2] * 8, [1] * 3, shares
    )
    assert word_alignment(weights, src, tgt).uncovered == [3, 4, 5, 6, 7]


def test_uniform_attention_flags_nothing():
    for n in range(1, 12):
        src, tgt = [*[f"▁s{k}" for k in range(n)], END], ["▁a", "b", "▁c", END]
        weights = np.full((len(tgt), len(src)), 1 / len(src))
        assert word_alignment(weights, src, tgt).uncovered == []


@pytest.mark.parametrize("n", [1, 2])
def test_short_sources_never_flag_every_word(n):
    rng = np.random.default_rng(n)
    src = [*[f"▁s{k}" for k in range(n)], END]
    for _ in range(200):
        t = int(rng.integers(1, 5))
        tgt = [*[f"▁t{j}" for j in range(t - 1)], END]
        weights = rng.dirichlet(np.full(len(src), 0.1), size=t)
        assert len(word_alignment(weights, src, tgt).uncovered) < n
    # All attention on </s>, or no target words at all: nothing to compare, no flags.
    assert word_alignment(np.eye(n + 1)[[n, n]], src, ["▁a", END]).uncovered == []
    assert word_alignment(np.eye(n + 1)[[n]], src, [END]).uncovered == []
    # Of two words, the unlinked one with less attention than the other is flagged.
    assert uncovered_words([1.0, 0.1], []) == [1] and uncovered_words([1.0, 0.1], [(1, 0)]) == []
    assert uncovered_words([1.0, 1.0], []) == []


def test_json_shape_is_plain_and_serialisable():
    src, tgt = ["▁인", "공", "▁지능", END], ["▁Artificial", "▁Intel", "ligence", END]
    weights = np.array(
        [[0.5, 0.4, 0.05, 0.05], [0.0, 0.1, 0.8, 0.1], [0, 0, 0.7, 0.3], [0, 0, 0, 1.0]]
    ).astype(np.float32)
    out = word_alignment(weights, src, tgt).to_json()
    assert set(out) == {"alignment", "src_words", "tgt_words", "coverage", "uncovered"}
    assert out["alignment"] == "0-0 1-1"
    assert out["src_words"] == ["인공", "지능"]
    assert out["tgt_words"] == ["Artificial", "Intelligence"]
    np.testing.assert_allclose(out["coverage"], [1.0, 1.55], atol=1e-5)
    assert out["uncovered"] == []
    assert json.loads(json.dumps(out)) == out


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: word_links(np.ones((2, 3)), ["▁a", END], ["▁b", END]), "shape"),
        (lambda: word_coverage(np.ones(2), ["▁a", END], ["▁b", END]), "2-D"),
        (lambda: word_alignment(np.ones((0, 0)), [], []), "must not be empty"),
        (lambda: word_links(np.full((2, 2), np.nan), ["▁a", END], ["▁b", END]), "finite"),
        (lambda: word_links(np.eye(2), ["▁a", END], ["▁b", END], min_weight=2), "min_weight"),
        (lambda: word_links(np.eye(2), ["▁a", END], ["▁b", END], also_above=0), "also_above"),
        (lambda: uncovered_words([1.0], [], ratio=1.5), "ratio"),
        (lambda: source_label_positions(["▁a", END], [1], words=True), "out of range"),
    ],
)
def test_bad_input_raises_one_line_nmt_errors(call, message):
    with pytest.raises(NmtError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_label_positions_of_words_and_of_pieces():
    src = ["▁The", "▁re", "lease", "d", "▁it", END]
    assert source_label_positions(src, [1, 2], words=True) == [1, 2]
    assert source_label_positions(src, [1], words=False) == [1, 2, 3]


def tick_colours(figure):
    figure.canvas.draw()
    return [label.get_color() for label in figure.axes[0].get_xticklabels()]


def test_plot_marks_flagged_labels_in_red_and_only_when_asked():
    src, tgt = ["▁a", "▁b", "▁c", END], ["▁x", "▁y", END]
    weights = np.random.default_rng(0).dirichlet(np.ones(4), size=3)
    plain = alignment_figure(weights, src, tgt)
    marked = alignment_figure(weights, src, tgt, flagged=[1])
    colours = tick_colours(marked)
    assert same_color(colours[1], "tab:red")
    assert [same_color(c, "tab:red") for c in colours] == [False, True, False, False]
    assert "red" in marked.axes[0].get_xlabel()
    assert not any(same_color(c, "tab:red") for c in tick_colours(plain))
    assert plain.axes[0].get_xlabel() == "source"
    with pytest.raises(NmtError, match="flagged positions"):
        alignment_figure(weights, src, tgt, flagged=[4])


@pytest.mark.parametrize(("words", "red"), [(False, [1, 2]), (True, [1])])
def test_translation_figure_flags_the_neglected_word(words, red):
    src, tgt = ["▁a", "▁b", "b", "▁c", END], ["▁x", "▁y", "▁z", END]
    weights = np.array(
        [[0.9, 0, 0, 0, 0.1], [0, 0.01, 0, 0.9, 0.09], [0.5, 0, 0, 0.4, 0.1], [0, 0, 0, 0, 1.0]]
    )
    hypothesis = Hypothesis("x y z", tgt, weights, -1.0, -1.0)
    translation = Translation("a bb c", src, [hypothesis])
    figure = translation_figure(translation, words=words, flag_uncovered=True)
    colours = tick_colours(figure)
    assert [i for i, c in enumerate(colours) if same_color(c, "tab:red")] == red
    plain = translation_figure(translation, words=words)
    assert not any(same_color(c, "tab:red") for c in tick_colours(plain))


def test_a_word_no_target_word_chose_is_flagged_though_it_got_some_attention():
    """The attention a dates model gave "Tuesday, April 10, 2018" forced to 2018년 4월 10일
    (its weekday deleted), merged into words: Tuesday got 0.49 in all, more than "10,"
    gets from some rows, but no target word looked at it most."""
    src, tgt = ["▁Tuesday", "▁April", "▁10", "▁2018", END], ["▁2018년", "▁4월", "▁10일", END]
    weights = np.array(
        [[0.08, 0.02, 0.04, 0.70, 0.16], [0.08, 0.69, 0.02, 0.01, 0.20],
         [0.33, 0.05, 0.54, 0.02, 0.06], [0.95, 0.04, 0.01, 0.0, 0.0]]
    )  # fmt: skip
    assert word_alignment(weights, src, tgt).uncovered == [0]
    # With the weekday translated (화요일 looked at Tuesday), nothing is flagged.
    whole = np.insert(weights, 3, [0.79, 0.02, 0.02, 0.02, 0.15], axis=0)
    assert word_alignment(whole, src, [*tgt[:3], "▁화요일", END]).uncovered == []
