"""The attention experiment: attention must find the label column wherever it is put."""

import argparse
import json
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nmt.cli import synthetic as synthetic_cli
from nmt.errors import NmtError
from nmt.synthetic import experiment as synthetic
from nmt.synthetic.config import VARIANTS, SyntheticConfig, check
from nmt.synthetic.experiment import SyntheticResult
from nmt.synthetic.figure import attention_figure

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "synthetic.py"
# Small but reliable: a larger step than the default makes a few thousand samples enough.
SMALL = SyntheticConfig(samples=4000, epochs=3, batch_size=64, learning_rate=1e-2, seed=0)


@pytest.mark.parametrize("variant", ["dense", "after"])
def test_make_data_writes_the_label_into_the_column_only(variant):
    config = SyntheticConfig(column=3)
    x, y = synthetic.make_data(variant, 64, config, np.random.default_rng(0))
    assert x.shape == ((64, 32) if variant == "dense" else (64, 20, 2))
    assert set(np.unique(y)) == {0.0, 1.0}
    label = x[:, 3] if variant == "dense" else x[:, 3, 0]
    np.testing.assert_array_equal(label, y[:, 0])
    assert not np.isin(x[:, 4], (0.0, 1.0)).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_attention_model_gives_a_distribution_per_sample(variant):
    config = SyntheticConfig(time_steps=7, input_dims=9, column=2)
    model, attention_model = synthetic.build_model(variant, config)
    x, _ = synthetic.make_data(variant, 5, config, np.random.default_rng(0))
    probs = np.asarray(attention_model(x))
    width = 9 if variant == "dense" else 7
    assert model(x).shape == (5, 1)
    assert probs.shape[:2] == (5, width)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)  # over steps or features


def test_datasets_split_like_keras_and_reshuffle_each_epoch():
    config = SyntheticConfig(samples=100, batch_size=16, validation_split=0.25, seed=3)
    x, y = synthetic.make_data("after", config.samples, config, np.random.default_rng(0))
    train, validation = synthetic.datasets(x, y, config)
    epochs = [np.concatenate([bx.numpy() for bx, _ in train]) for _ in range(2)]
    for seen in epochs:  # every training sample once, and no validation sample
        assert seen.shape == x[:75].shape
        assert sorted(map(bytes, seen)) == sorted(map(bytes, x[:75]))
    assert not np.array_equal(epochs[0], epochs[1])
    for bx, by in train.take(2):  # a sample keeps its label
        rows = [int(np.flatnonzero((x == row).all(axis=(1, 2)))[0]) for row in bx.numpy()]
        np.testing.assert_array_equal(by.numpy(), y[rows])
    np.testing.assert_array_equal(np.concatenate([bx for bx, _ in validation]), x[75:])
    assert train.options().autotune.enabled is False
    assert validation.options().autotune.enabled is False


def test_step_annotations_are_per_step_and_round_trip_their_config():
    layer = synthetic.StepAnnotations(4, name="annotations")
    x = np.random.default_rng(0).standard_normal((3, 6, 2)).astype("float32")
    out = np.asarray(layer(x))
    assert out.shape == (3, 6, 4) == layer.compute_output_shape((3, 6, 2))
    changed = x.copy()
    changed[:, 2] += 1.0
    moved = np.asarray(layer(changed)) != out
    assert moved[:, 2].all() and not moved[:, [0, 1, 3, 4, 5]].any()  # sees only its own step
    clone = synthetic.StepAnnotations.from_config(layer.get_config())
    assert clone.units == 4 and clone.name == "annotations"


def test_check_names_the_flag_at_fault():
    with pytest.raises(NmtError, match="--column 20 is outside"):
        check("before", SyntheticConfig(column=20))
    check("dense", SyntheticConfig(column=20))  # 32 input dims
    with pytest.raises(NmtError, match="--input-dims"):
        check("dense", SyntheticConfig(column=20, input_dims=16))
    with pytest.raises(NmtError, match="--validation-split"):
        check("after", SyntheticConfig(samples=10, validation_split=0.05))


def test_plot_path_is_checked_before_training(tmp_path):
    with pytest.raises(NmtError, match="attention.jpg"):
        synthetic_cli.check_plot_path(tmp_path / "attention.jpg")
    with pytest.raises(NmtError, match="does not exist"):
        synthetic_cli.check_plot_path(tmp_path / "missing" / "attention.png")
    synthetic_cli.check_plot_path(tmp_path / "attention.PDF")


def test_figure_has_one_chart_per_variant_and_highlights_the_column(tmp_path):
    results = [
        SyntheticResult(v, 0.9, 0.95, np.full(20, 0.05), 0, 0.05, 1.0, column=4)
        for v in ("after", "before", "additive", "additive-lstm")
    ]
    figure = attention_figure(results)
    charts = [ax for ax in figure.axes if ax.get_visible()]
    assert len(charts) == 4
    colors = {bar.get_facecolor() for bar in charts[0].patches}
    assert len(colors) == 2
    assert charts[0].patches[4].get_facecolor() != charts[0].patches[3].get_facecolor()
    figure.savefig(tmp_path / "a.svg")
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "variant,column",
    [("dense", 3), ("dense", 14), ("before", 3), ("before", 14), ("additive", 5)]
    + [("additive", 17), ("after", 3)],
)
def test_attention_finds_the_label_column(variant, column):
    config = SyntheticConfig(**{**SMALL.__dict__, "column": column})
    result = synthetic.run(variant, config)
    assert result.val_accuracy > 0.85  # 400 validation samples; the default run reaches 0.99
    assert result.argmax == column, result.attention.round(3)
    assert result.mass_at_column == pytest.approx(result.attention[column])
    assert result.attention.sum() == pytest.approx(1.0, abs=1e-4)
    assert result.attention.shape == ((32,) if variant == "dense" else (20,))


def parse(*flags):
    parser = argparse.ArgumentParser()
    synthetic_cli.add_arguments(parser)
    return parser.parse_args(flags)


@pytest.mark.parametrize(
    "flags",
    [
        ["--column", "-1"],
        ["--samples", "9"],
        ["--epochs", "0"],
        ["--validation-split", "1"],
        ["--learning-rate", "0"],
        ["--variant", "gru"],
    ],
)
def test_flags_out_of_range_are_usage_errors(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(*flags)
    assert exit_info.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_flags_fill_the_config_and_main_checks_it_before_training():
    args = parse("--column", "20", "--no-jit", "--steps-per-execution", "4")
    assert args.steps_per_execution == 4 and args.jit is False
    with pytest.raises(NmtError, match="--column 20"):
        synthetic_cli.run(args)


@pytest.fixture
def run_script(monkeypatch, capsys):
    """``run_script(*flags)``: the script's ``cli()`` with those flags, in this process."""
    # The script puts its checkout first on sys.path: on a copy, undone after the test.
    monkeypatch.setattr(sys, "path", list(sys.path))
    cli = runpy.run_path(str(SCRIPT))["cli"]

    def run(*flags):
        monkeypatch.setattr(sys, "argv", [str(SCRIPT), *flags])
        capsys.readouterr()
        returncode = cli()
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=returncode, stdout=out, stderr=err)

    return run


def test_script_writes_a_png_and_json_lines(run_script, tmp_path):
    plot = tmp_path / "attention.png"
    done = run_script(
        *("--variant", "dense", "--samples", "500", "--plot", str(plot), "--json"),
        *("--compare-keras",),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["variant"] == "dense"
    assert len(record["attention"]) == 32
    assert record["ratio"] == pytest.approx(record["seconds"] / record["reference_seconds"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_script_reports_a_bad_column_on_one_line(run_script):
    done = run_script("--variant", "before", "--column", "20")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("synthetic:")]
    assert ours == [done.stderr.strip().splitlines()[-1]]
    assert ours[0].startswith("synthetic: error: --column 20 is outside [0, 20)")
