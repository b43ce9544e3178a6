"""The command line end to end, in subprocesses, as a user runs it."""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import write_corpus_dir

PAIRS = [
    ("Artificial Intelligence", "인공 지능"),
    ("Machine Learning", "기계 학습"),
    ("Thank you.", "감사합니다."),
    ("Good morning.", "좋은 아침이에요."),
]
TINY = [
    "--set", "model.embedding_dim=32", "--set", "model.units=64",
    "--set", "model.attention_units=32", "--set", "model.readout_dim=32",
    "--set", "model.dropout=0.0", "--set", "model.src_vocab_size=300",
    "--set", "model.tgt_vocab_size=300", "--set", "data.batch_size=4",
    "--set", "train.learning_rate=0.01", "--set", "train.patience=0",
]  # fmt: skip


def nmt(*args, stdin=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "nmt", *map(str, args)],
        input=stdin, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("nmt: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = write_corpus_dir(root / "corpus", PAIRS)
    model = root / "model"
    result = nmt("train", "--corpus", corpus, "--out", model, "--epochs", 60, *TINY)
    assert result.returncode == 0, result.stderr
    assert "epoch 60/60" in result.stderr
    return model


def test_train_then_translate(trained):
    result = nmt("translate", "--model", trained, "Artificial Intelligence", "Thank you.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["인공 지능", "감사합니다."]


def test_translate_reads_stdin_and_prints_json(trained):
    result = nmt("translate", "--model", trained, "--json", stdin="Machine Learning\n\n")
    assert result.returncode == 0, result.stderr
    first, blank = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["translation"] == "기계 학습"
    assert len(first["attention"]) == len(first["tgt_tokens"])
    assert all(len(row) == len(first["src_tokens"]) for row in first["attention"])
    assert blank["translation"] == ""


def test_translate_writes_plot(trained, tmp_path):
    plot = tmp_path / "a.png"
    result = nmt("translate", "--model", trained, "--plot", plot, "Artificial Intelligence")
    assert result.returncode == 0, result.stderr
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_missing_corpus_is_one_line_error(tmp_path):
    result = nmt("train", "--corpus", tmp_path / "nope.tsv", "--out", tmp_path / "m")
    assert_one_line_error(result, "nope.tsv")


def test_malformed_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("hello\t안녕\nno tab here\n", encoding="utf-8")
    result = nmt("train", "--corpus", bad, "--out", tmp_path / "m")
    assert_one_line_error(result, "bad.tsv:2", "--skip-bad-lines")


def test_missing_model_dir(tmp_path):
    assert_one_line_error(nmt("translate", "--model", tmp_path / "x", "hi"), "no such model")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--epochs", "0"],
        ["train", "--corpus", "c", "--out", "m", "--max-time", "10x"],
        ["train", "--corpus", "c", "--out", "m", "--max-time", "0s"],
        ["translate", "--bogus"],
        ["translate", "--model", "m", "--beam", "0", "hi"],
        ["evaluate", "--model", "m", "--corpus", "c", "--length-penalty", "-1"],
    ],
)
def test_argument_errors_exit_2(args):
    result = nmt(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "usage:" in result.stderr


def test_plot_command_pdf_pages_words_and_hypotheses(trained, tmp_path):
    pdf = tmp_path / "two.pdf"
    result = nmt("plot", "--model", trained, "-o", pdf, "--words", "Thank you.", "Good morning.")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes())) == 2
    second = tmp_path / "second.png"
    result = nmt("plot", "--model", trained, "-o", second, "--hypothesis", "2", "Thank you.")
    assert result.returncode == 0, result.stderr
    assert second.read_bytes()[:4] == b"\x89PNG"
    folder = tmp_path / "dir"
    result = nmt("plot", "--model", trained, "-o", folder, "Thank you.", "Machine Learning")
    assert result.returncode == 0, result.stderr
    assert len(list(folder.glob("*.png"))) == 2


def test_n_best_above_beam_is_one_line_error(trained):
    result = nmt("translate", "--model", trained, "--beam", "2", "--n-best", "3", "hi")
    assert_one_line_error(result, "--n-best 3 exceeds --beam 2")


def test_parser_imports_no_tensorflow():
    """`nmt --help` and argument errors answer at once: building the parser stays light."""
    code = (
        "import sys; from nmt.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


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
