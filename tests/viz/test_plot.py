"""Alignment plots: Hangul renders as glyphs, shapes are checked, files are written."""

import re
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib.figure import Figure

import nmt.viz.fonts
from nmt.errors import NmtError
from nmt.viz.alignment import alignment_figure, save_figures
from nmt.viz.fonts import cjk_font
from nmt.viz.pieces import merge_pieces

SHORT_SRC = ["▁Artificial", "▁Intelligence", "</s>"]
SHORT_TGT = ["▁인공", "▁지능", "</s>"]
LONG_SRC = ["▁The", "▁lab", "▁released", "▁a", "▁new", "▁translation", "▁model", "▁yesterday"]
LONG_SRC += ["▁.", "</s>"]
LONG_TGT = ["▁연구", "소", "는", "▁어제", "▁새로운", "▁번역", "▁모델", "을", "▁공개", "했다"]
LONG_TGT += ["▁.", "</s>"]


def random_weights(t, s, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(s), size=t)


def draw_strictly(figure):
    """Draws with every warning an error: missing glyphs warn "Glyph ... missing"."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure.canvas.draw()


def font_codepoints(text):
    """Codepoints of the first font of a text's family list: the one used unless it lacks one."""
    props = text.get_fontproperties()
    first = font_manager.FontProperties(family=props.get_family()[0])
    path = font_manager.findfont(first, fallback_to_default=False)
    with TTFont(str(path), fontNumber=getattr(path, "face_index", 0), lazy=True) as font:
        return path, set(font["cmap"].getBestCmap())


@pytest.mark.parametrize(
    ("src", "tgt", "title"),
    [
        (SHORT_SRC, SHORT_TGT, None),
        (
            LONG_SRC,
            LONG_TGT,
            "The lab released a new translation model yesterday.\n→ 연구소는 어제",
        ),
    ],
)
def test_hangul_renders_with_a_font_that_has_every_glyph(src, tgt, title):
    assert cjk_font() is not None, "no Hangul font: pip install notojp-matplotlib"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = alignment_figure(random_weights(len(tgt), len(src)), src, tgt, title=title)
    draw_strictly(figure)
    axes = figure.axes[0]
    texts = [*axes.get_xticklabels(), *axes.get_yticklabels()]
    if title:
        texts.append(axes.title)
    for text in texts:
        path, codepoints = font_codepoints(text)
        missing = {c for c in text.get_text() if c != "\n" and ord(c) not in codepoints}
        assert not missing, f"{path} lacks {missing} of {text.get_text()!r}"


def test_packaged_font_is_found_without_importing_its_package():
    font = cjk_font()
    assert font is not None
    assert "notojp_matplotlib" not in sys.modules
    assert "koreanize_matplotlib" not in sys.modules
    charmap = font_manager.get_font(font.get_file()).get_charmap()
    assert all(ord(char) in charmap for char in "인공지능한국어Latin")


@pytest.fixture
def fresh_font_lookup():
    """Clears the cached font lookup before and after, so patches to it take effect."""
    cjk_font()  # registers the packaged font, as a system-installed one would be
    cjk_font.cache_clear()
    yield
    cjk_font.cache_clear()


def test_installed_font_is_found_by_family(fresh_font_lookup, monkeypatch):
    monkeypatch.setattr(nmt.viz.fonts, "_packaged_font_files", lambda: iter(()))
    font = cjk_font()
    assert font is not None
    charmap = font_manager.get_font(font.get_file()).get_charmap()
    assert all(ord(char) in charmap for char in "인공지능")


def test_no_font_warns_once_and_still_plots(fresh_font_lookup, monkeypatch):
    monkeypatch.setattr(nmt.viz.fonts, "_packaged_font_files", lambda: iter(()))
    monkeypatch.setattr(nmt.viz.fonts, "_system_font_files", lambda: iter(()))
    with pytest.warns(UserWarning, match="notojp-matplotlib.*fonts-nanum"):
        assert cjk_font() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cjk_font() is None  # cached: no second warning
        figure = alignment_figure(random_weights(3, 3), SHORT_SRC, ["▁a", "▁b", "</s>"])
        figure.canvas.draw()


def test_tick_labels_match_tokens():
    figure = alignment_figure(random_weights(len(LONG_TGT), len(LONG_SRC)), LONG_SRC, LONG_TGT)
    draw_strictly(figure)
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == LONG_SRC
    assert [label.get_text() for label in axes.get_yticklabels()] == LONG_TGT
    assert all(label.get_rotation() == 90 for label in axes.get_xticklabels())


def test_figure_grows_with_tokens_and_is_capped():
    small = alignment_figure(random_weights(3, 3), SHORT_SRC, SHORT_TGT)
    tokens = [f"▁w{i}" for i in range(30)]
    medium = alignment_figure(random_weights(30, 30), tokens, tokens)
    tokens = [f"▁w{i}" for i in range(300)]
    huge = alignment_figure(random_weights(300, 300), tokens, tokens)
    small_w, small_h = small.get_size_inches()
    medium_w, medium_h = medium.get_size_inches()
    assert medium_w > small_w and medium_h > small_h
    assert medium_w >= 30 * 0.25 and medium_h >= 30 * 0.25  # a readable cell per token
    assert max(huge.get_size_inches()) <= 24


def test_rcparams_unchanged_in_this_process():
    before = dict(matplotlib.rcParams)
    figure = alignment_figure(random_weights(3, 3), SHORT_SRC, SHORT_TGT, title="인공 지능")
    draw_strictly(figure)
    assert dict(matplotlib.rcParams) == before


def test_import_and_plot_leave_rcparams_unchanged_in_a_fresh_process():
    code = (
        "import matplotlib, numpy as np\n"
        "before = dict(matplotlib.rcParams)\n"
        "import nmt.viz.alignment\n"
        "assert dict(matplotlib.rcParams) == before, 'import changed rcParams'\n"
        "figure = nmt.viz.alignment.alignment_figure(np.eye(2), ['▁a', '</s>'], ['▁가', '</s>'])\n"
        "figure.canvas.draw()\n"
        "assert dict(matplotlib.rcParams) == before, 'plotting changed rcParams'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_mismatched_shapes_raise():
    with pytest.raises(NmtError, match=r"2 target and 3 source"):
        alignment_figure(random_weights(3, 3), SHORT_SRC, SHORT_TGT[:2])
    with pytest.raises(NmtError, match="2-D"):
        alignment_figure(np.ones(3), SHORT_SRC, SHORT_TGT)
    with pytest.raises(NmtError, match="shape"):
        merge_pieces(random_weights(3, 2), SHORT_SRC, SHORT_TGT)


def test_merge_pieces_sums_source_and_averages_target():
    src = ["▁인", "공", "▁지능", "</s>"]
    tgt = ["▁Artific", "ial", "▁Intel", "li", "gence", "</s>"]
    weights = random_weights(len(tgt), len(src), seed=1)
    merged, src_words, tgt_words = merge_pieces(weights, src, tgt)
    assert src_words == ["인공", "지능", "</s>"]
    assert tgt_words == ["Artificial", "Intelligence", "</s>"]
    assert merged.shape == (3, 3)
    np.testing.assert_allclose(merged.sum(axis=1), 1.0)
    np.testing.assert_allclose(merged[0, 0], weights[:2, :2].sum(axis=1).mean())
    np.testing.assert_allclose(merged[2], weights[5, [0, 2, 3]] + [weights[5, 1], 0, 0])


def test_merge_pieces_keeps_specials_and_attaches_byte_pieces():
    # "▁", "<0xE2>", "<0x82>", "<0xAC>" is a byte-fallback "€" at the start of a word.
    src = ["<s>", "▁", "<0xE2>", "<0x82>", "<0xAC>", "5", "<unk>", "x", "▁y", "</s>"]
    tgt = ["▁인", "공", "▁지능", "</s>"]
    merged, src_words, tgt_words = merge_pieces(random_weights(4, len(src)), src, tgt)
    assert src_words == ["<s>", "€5", "<unk>", "x", "y", "</s>"]
    assert tgt_words == ["인공", "지능", "</s>"]
    np.testing.assert_allclose(merged.sum(axis=1), 1.0)


def test_merge_pieces_rows_sum_to_one_for_random_pieces():
    rng = np.random.default_rng(2)
    vocab = ["▁a", "b", "▁c", "<0x41>", "</s>", "▁", "d"]
    for _ in range(20):
        src = list(rng.choice(vocab, size=rng.integers(1, 12)))
        tgt = list(rng.choice(vocab, size=rng.integers(1, 12)))
        merged, src_words, tgt_words = merge_pieces(random_weights(len(tgt), len(src)), src, tgt)
        assert merged.shape == (len(tgt_words), len(src_words))
        np.testing.assert_allclose(merged.sum(axis=1), 1.0)


@pytest.fixture(scope="module")
def figures():
    return [
        alignment_figure(random_weights(3, 3, seed=i), SHORT_SRC, SHORT_TGT, title=f"문장 {i}")
        for i in range(3)
    ]


def test_save_single_png_and_svg(figures, tmp_path):
    (png,) = save_figures(figures[:1], tmp_path / "new" / "plot.PNG")
    assert png.read_bytes().startswith(b"\x89PNG")
    (svg,) = save_figures(figures[:1], tmp_path / "plot.svg")
    assert "<svg" in svg.read_text(encoding="utf-8")


def test_save_several_to_one_pdf(figures, tmp_path):
    (pdf,) = save_figures(figures, tmp_path / "plots.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == len(figures)


def test_save_several_to_numbered_files(figures, tmp_path):
    paths = save_figures(figures, tmp_path / "plot.png")
    assert [p.name for p in paths] == ["plot-001.png", "plot-002.png", "plot-003.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_save_several_to_a_directory(figures, tmp_path):
    paths = save_figures(figures, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "alignment-001.png",
        "alignment-002.png",
        "alignment-003.png",
    ]
    assert sorted(paths) == sorted((tmp_path / "out").iterdir())


def test_save_rejects_bad_extension_and_no_figures(figures, tmp_path):
    with pytest.raises(NmtError, match=r"plot\.jpg.*\.png, \.svg, \.pdf"):
        save_figures(figures, tmp_path / "plot.jpg")
    with pytest.raises(NmtError, match="no figures"):
        save_figures([], tmp_path / "plot.png")


def test_save_accepts_any_figure(tmp_path):
    figure = Figure()
    figure.add_subplot().plot([0, 1])
    (path,) = save_figures([figure], tmp_path / "line.pdf")
    assert path.read_bytes().startswith(b"%PDF")


def test_control_characters_in_a_translation_are_escaped_in_its_title():
    from nmt.decoding.translation import Hypothesis, Translation
    from nmt.viz.alignment import translation_figure

    # An untrained model's byte-fallback output can decode to control characters.
    tgt = ["<0x16>", "▁지능", "</s>"]
    hypothesis = Hypothesis("\x16 지능", tgt, random_weights(3, 2), -1.0, -1.0)
    figure = translation_figure(Translation("AI\x07", ["▁AI", "</s>"], [hypothesis]))
    draw_strictly(figure)
    assert figure.axes[0].get_title() == "AI\\x07\n→ \\x16 지능"
