"""The exported SavedModel: raw strings in, same outputs as in-process decoding, no nmt needed."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from nmt.cli import main
from nmt.decoding.export import ExportedTranslator, export_model, is_current, load_translator
from nmt.decoding.translator import Translator
from nmt.errors import NmtError
from nmt.modeldir import EXPORT_DIR

SENTENCES = [
    "Artificial Intelligence",
    "Thank you.",
    "Where is the station?",
    "Good morning, machine!",
    "한국어 문장도 괜찮아요",
    "word " * 30,  # longer than data.max_src_len: truncated
]
# Greedy with the model's default length penalty, then beams with and without n-best.
SEARCHES = [(1, 1, 0.6), (3, 1, 0.0), (4, 3, 1.0)]

# Runs in a fresh interpreter that may import nothing but these two.
LOAD_AND_TRANSLATE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

model = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
results = []
for k, n, alpha in json.loads(sys.argv[3]):
    if k == 1:
        out = model.translate_greedy(texts, alpha)
    else:
        out = model.translate_beam(texts, k, n, alpha)
    results.append({key: value.numpy().tolist() for key, value in out.items()})
default = model.signatures["serving_default"](text=texts)
results.append({key: value.numpy().tolist() for key, value in default.items()})
assert not [m for m in sys.modules if m == "nmt" or m.startswith("nmt.")]
print(json.dumps(results, default=lambda b: b.decode("utf-8", "backslashreplace")))
"""


@pytest.fixture(scope="module")
def model_dir(exported_model_dir):
    """The tiny model directory with its export (conftest.py); tests copy it to change it."""
    return exported_model_dir


@pytest.fixture(scope="module")
def translator(model_dir):
    return Translator.load(model_dir)


def plain(out: dict) -> dict:
    """Tensors -> lists, strings decoded as the subprocess decodes them."""
    decode = np.vectorize(lambda b: b.decode("utf-8", "backslashreplace"), otypes=[object])
    plain = {}
    for key, value in out.items():
        value = value.numpy()
        plain[key] = decode(value).tolist() if value.dtype == object else value.tolist()
    return plain


def assert_same_outputs(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key in expected:
        if key in ("score", "log_prob", "attention"):
            np.testing.assert_allclose(got[key], expected[key], atol=1e-5, err_msg=key)
        else:
            assert got[key] == expected[key], key


@pytest.mark.slow
def test_savedmodel_needs_only_tensorflow_and_text(model_dir, translator):
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_TRANSLATE, str(model_dir / EXPORT_DIR),
         json.dumps(SENTENCES), json.dumps(SEARCHES)],
        capture_output=True, text=True, timeout=600, cwd=model_dir,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    *searches, default = json.loads(result.stdout)
    texts = tf.constant(SENTENCES)
    for got, (k, n, alpha) in zip(searches, SEARCHES, strict=True):
        if k == 1:
            expected = translator.translate_greedy(texts, alpha)
        else:
            expected = translator.translate_beam(texts, k, n, alpha)
        assert np.array(got["translation"]).shape == (len(SENTENCES), n)
        assert_same_outputs(got, plain(expected))
    alpha = translator.config.decode.length_penalty
    assert_same_outputs(default, plain(translator.translate_greedy(texts, alpha)))


def test_exported_translator_gives_the_same_translations(model_dir, translator):
    exported = ExportedTranslator(model_dir / EXPORT_DIR, translator.config)
    texts = [*SENTENCES, "", "Machine Learning"]
    for k, n, alpha in SEARCHES:
        got = exported.translate(texts, k, n, alpha)
        expected = translator.translate(texts, k, n, alpha)
        assert [r.text for r in got] == [r.text for r in expected]
        for a, b in zip(got, expected, strict=True):
            assert len(a.hypotheses) == len(b.hypotheses) == (n if a.source.strip() else 1)
            assert json.dumps(a.to_json()) == json.dumps(b.to_json())


def test_translate_uses_a_current_export_only(model_dir, tmp_path):
    assert isinstance(load_translator(model_dir), ExportedTranslator)
    stale = tmp_path / "model"
    shutil.copytree(model_dir, stale)
    assert is_current(stale)
    newer = time.time() + 10  # as after a training run resumed past the export
    for path in (stale / "best").iterdir():
        os.utime(path, (newer, newer))
    assert not is_current(stale)
    assert isinstance(load_translator(stale), Translator)
    shutil.rmtree(stale / EXPORT_DIR)
    assert not is_current(stale)


def test_cli_output_is_the_same_with_and_without_export(model_dir, tmp_path, capsys):
    without = tmp_path / "model"
    shutil.copytree(model_dir, without, ignore=shutil.ignore_patterns(EXPORT_DIR))
    outputs = []
    for path in (model_dir, without):
        for extra in ([], ["--json"]):
            args = ["translate", "--model", str(path), "--beam", "3", "--n-best", "2", *extra]
            assert main([*args, *SENTENCES[:3]]) == 0
            outputs.append(capsys.readouterr().out)
    assert outputs[:2] == outputs[2:]
    # Random weights emit byte pieces, newlines among them: each hypothesis stays one line.
    fields = [line.split("\t") for line in outputs[0].splitlines()]
    assert [f[0] for f in fields] == list("001122") and {len(f) for f in fields} == {3}
    assert all(float(f[1]) >= float(g[1]) for f, g in zip(fields[::2], fields[1::2]))


def test_export_replaces_atomically(model_dir, tmp_path):
    out = tmp_path / "served"
    out.mkdir()
    (out / "stale.txt").write_text("old export")
    export_model(model_dir, out)
    assert (out / "saved_model.pb").is_file() and not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]  # no temporary left


def test_serving_default_searches_as_the_model_config_says(tiny_model_dir, tmp_path):
    """A model whose decode config asks for beams (today's defaults do) is served by
    beam search from serving_default, as `nmt translate` decodes it."""
    from nmt.config import save_config
    from nmt.modeldir import load_model_config

    model_dir = tmp_path / "beam"
    shutil.copytree(tiny_model_dir, model_dir)
    config = load_model_config(model_dir)
    config.decode.beam_size, config.decode.n_best, config.decode.length_penalty = 3, 2, 1.5
    save_config(config, model_dir)
    export_model(model_dir)
    served = tf.saved_model.load(str(model_dir / EXPORT_DIR)).signatures["serving_default"]
    texts = tf.constant(SENTENCES[:4])
    translator = Translator.load(model_dir)  # kept: its tf.functions hold it weakly
    expected = translator.translate_beam(texts, 3, 2, 1.5)
    assert_same_outputs(plain(served(text=texts)), plain(expected))


def test_the_export_continues_prefixes_and_forces_as_the_translator_does(model_dir, translator):
    exported = ExportedTranslator(model_dir / EXPORT_DIR, translator.config)
    texts = [*SENTENCES, "Machine Learning"]
    prefixes = ["인공", "", "역은 어", "감사", "좋은"][: len(texts)]
    prefixes += [""] * (len(texts) - len(prefixes))
    for k, n, alpha in SEARCHES:
        got = exported.translate(texts, k, n, alpha, prefixes=prefixes)
        expected = translator.translate(texts, k, n, alpha, prefixes=prefixes)
        for a, b in zip(got, expected, strict=True):
            assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    loaded = tf.saved_model.load(str(model_dir / EXPORT_DIR))
    targets = tf.constant(["인공 지능"] * len(texts))
    assert_same_outputs(
        plain(loaded.translate_forced(tf.constant(texts), targets)),
        plain(translator.translate_forced(tf.constant(texts), targets)),
    )


def test_an_export_from_before_prefixes_says_to_export_again(model_dir, translator):
    exported = ExportedTranslator(model_dir / EXPORT_DIR, translator.config)
    del exported.translate_greedy_prefix, exported.translate_beam_prefix
    assert exported.translate(["Thank you."], prefixes=[""])[0].text
    with pytest.raises(NmtError, match="before prefix decoding: run nmt export again"):
        exported.translate(["Thank you."], prefixes=["감사"])
