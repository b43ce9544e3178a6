"""The command line: one run end to end as a user starts it, the rest in this process.

Commands other than that run call `nmt`'s entry point in the test's own process, which
spares each the start of a Python with TensorFlow: an exception escaping it, which a
user would see as a traceback, fails the test.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import assert_one_line_error, write_corpus_dir

from nmt.cli import main
from nmt.cli.quiet import NATIVE_LOG_LINE

PAIRS = [
    ("Artificial Intelligence", "인공 지능"),
    ("Machine Learning", "기계 학습"),
    ("Thank you.", "감사합니다."),
    ("Good morning.", "좋은 아침이에요."),
]
# With train.seed 0, 1 or 2 and one or two CPU streams, TINY had memorised PAIRS by
# epoch 20: 30 leave a margin.
EPOCHS = 30
TINY = [
    "--set", "model.embedding_dim=32", "--set", "model.units=64",
    "--set", "model.attention_units=32", "--set", "model.readout_dim=32",
    "--set", "model.dropout=0.0", "--set", "model.src_vocab_size=300",
    "--set", "model.tgt_vocab_size=300", "--set", "data.batch_size=4",
    "--set", "train.learning_rate=0.02", "--set", "train.patience=0",
]  # fmt: skip


def nmt(*args):
    """``nmt ARGS`` in a process of its own, as a user starts it: no TF_CPP_MIN_LOG_LEVEL."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "nmt", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """``nmt train`` until the model has memorised PAIRS: its result and model directory."""
    root = tmp_path_factory.mktemp("cli")
    corpus = write_corpus_dir(root / "corpus", PAIRS)
    model = root / "model"
    return nmt("train", "--corpus", corpus, "--out", model, "--epochs", EPOCHS, *TINY), model


@pytest.fixture
def trained(training):
    result, model = training
    assert result.returncode == 0, result.stderr
    assert f"epoch {EPOCHS}/{EPOCHS}" in result.stderr
    return model


@pytest.mark.slow
def test_train_then_translate(training, trained):
    result = nmt("translate", "--model", trained, "Artificial Intelligence", "Thank you.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["인공 지능", "감사합니다."]
    # Training loads TensorFlow and runs SentencePiece's trainer, whose C++ start-up and
    # log lines must not reach a user's terminal (nmt.cli.quiet).
    stderr = training[0].stderr
    native = [line for line in stderr.splitlines() if NATIVE_LOG_LINE.match(line.encode())]
    assert native == [], stderr
    assert not any(word in stderr for word in ("oneDNN", "cuda", "absl", "LOG(")), stderr


@pytest.mark.slow  # its model comes from `nmt train` in a process of its own
def test_translate_reads_stdin_and_prints_json(trained, run):
    result = run("translate", "--model", trained, "--json", stdin="Machine Learning\n\n")
    assert result.returncode == 0, result.stderr
    first, blank = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["translation"] == "기계 학습"
    assert len(first["attention"]) == len(first["tgt_tokens"])
    assert all(len(row) == len(first["src_tokens"]) for row in first["attention"])
    assert blank["translation"] == ""


def test_translate_writes_plot(tiny_model_dir, run, tmp_path):
    plot = tmp_path / "a.png"
    result = run("translate", "--model", tiny_model_dir, "--plot", plot, "Artificial Intelligence")
    assert result.returncode == 0, result.stderr
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_missing_corpus_is_one_line_error(run, tmp_path):
    result = run("train", "--corpus", tmp_path / "nope.tsv", "--out", tmp_path / "m")
    assert_one_line_error(result, "nope.tsv")


def test_malformed_line_names_file_and_line(run, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("hello\t안녕\nno tab here\n", encoding="utf-8")
    result = run("train", "--corpus", bad, "--out", tmp_path / "m")
    assert_one_line_error(result, "bad.tsv:2", "--skip-bad-lines")


def test_missing_model_dir(run, tmp_path):
    assert_one_line_error(run("translate", "--model", tmp_path / "x", "hi"), "no such model")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--epochs", "0"],
        ["train", "--corpus", "c", "--out", "m", "--max-time", "10x"],
        ["train", "--corpus", "c", "--out", "m", "--max-time", "0s"],
        ["translate", "--bogus"],
        ["translate", "--model", "m", "--beam", "0", "hi"],
        ["evaluate", "--model", "m", "--corpus", "c", "--length-penalty", "-1"],
        ["translate", "--model", "m", "--no-repeat-ngram", "-2", "hi"],
    ],
)
def test_argument_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_plot_command_pdf_pages_words_and_hypotheses(tiny_model_dir, run, tmp_path):
    model = tiny_model_dir
    pdf = tmp_path / "two.pdf"
    result = run("plot", "--model", model, "-o", pdf, "--words", "Thank you.", "Good morning.")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes())) == 2
    second = tmp_path / "second.png"
    result = run("plot", "--model", model, "-o", second, "--hypothesis", "2", "Thank you.")
    assert result.returncode == 0, result.stderr
    assert second.read_bytes()[:4] == b"\x89PNG"
    folder = tmp_path / "dir"
    result = run("plot", "--model", model, "-o", folder, "Thank you.", "Machine Learning")
    assert result.returncode == 0, result.stderr
    assert len(list(folder.glob("*.png"))) == 2


def test_n_best_above_beam_is_one_line_error(tiny_model_dir, run):
    result = run("translate", "--model", tiny_model_dir, "--beam", "2", "--n-best", "3", "hi")
    assert_one_line_error(result, "--n-best 3 exceeds --beam 2")


@pytest.mark.slow
def test_a_missing_model_directory_is_reported_before_tensorflow_loads(tmp_path):
    code = (
        "import sys; from nmt.cli import main; "
        f"status = main(['translate', '--model', {str(tmp_path / 'none')!r}, 'hi']); "
        "print(status, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert result.stderr.strip() == f"nmt: error: no such model directory: {tmp_path / 'none'}"


@pytest.mark.slow
def test_parser_imports_no_tensorflow():
    """`nmt --help` and argument errors answer at once: building the parser stays light."""
    code = (
        "import sys; from nmt.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.slow
def test_a_reader_that_leaves_early_ends_nmt_quietly(tiny_model_dir):
    """`nmt translate --json ... | head -c 100`: the reader is gone before nmt writes."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "nmt", "translate", "--model", str(tiny_model_dir), "--json"]
    process = subprocess.Popen(
        [*command, "Thank you.", "Good morning."],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    process.stdout.close()  # nmt takes seconds to load TensorFlow: its writes find no reader
    _, stderr = process.communicate(timeout=600)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert process.returncode == 141, stderr  # 128 + SIGPIPE, as a shell reports `cat | head`


@pytest.mark.parametrize(
    "text, seconds", [("none", 0.0), ("0", 0.0), ("90s", 90.0), ("1h30m", 5400.0)]
)
def test_max_time_none_lifts_the_default_budget(text, seconds):
    from nmt.cli.args import budget

    assert budget(text) == seconds
