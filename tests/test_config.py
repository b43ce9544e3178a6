import json

import pytest

from nmt.config import Config, load_config, save_config
from nmt.errors import NmtError
from nmt.files import atomic_write
from nmt.modeldir import load_model_config


def test_defaults_validate():
    Config().validate()


def test_round_trip_through_model_dir(tmp_path):
    config = Config().override(["model.units=64", "train.epochs=3", "data.long_pairs=truncate"])
    save_config(config, tmp_path)
    assert load_model_config(tmp_path) == config


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model": {"units": 32}, "train": {"learning_rate": 1}}))
    config = load_config(path).override(["model.units=48"])
    assert config.model.units == 48
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("model.nope=1", "unknown field model.nope"),
        ("nosection.x=1", "unknown config section"),
        ("model.units=abc", "model.units must be int"),
        ("model.units=1.5", "model.units must be int"),
        ("units=3", "expected section.field=value"),
    ],
)
def test_bad_overrides(assignment, message):
    with pytest.raises(NmtError, match=message):
        Config().override([assignment])


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("model.units=0", "model.units must be positive"),
        ("train.epochs=-1", "train.epochs must be positive"),
        ("model.dropout=1.0", "model.dropout"),
        ('data.long_pairs="cut"', "data.long_pairs"),
        ("model.units=33", "even"),
        ("decode.beam_size=0", "decode.beam_size and decode.n_best must be positive"),
        ("decode.n_best=6", r"decode.n_best \(6\) cannot exceed decode.beam_size \(5\)"),
        ("decode.no_repeat_ngram=1", r"decode.no_repeat_ngram must be 0 \(off\) or >= 2"),
        ("train.ema_decay=1.0", r"train.ema_decay must be in \[0, 1\)"),
        ('train.patience_on="loss"', r"train.patience_on must be one of 'metric', 'any'"),
        ("data.subword_alpha=-0.1", r"data.subword_alpha must be >= 0"),
        ("decode.length_penalty=-0.5", "decode.length_penalty must be >= 0"),
        ('train.early_stop_metric="ter"', "train.early_stop_metric must be one of"),
        ("model.word_dropout=1", r"model.word_dropout must be in \[0, 1\), got 1.0"),
        ("model.word_dropout=-0.1", "model.word_dropout"),
        ("data.batch_tokens=-5", "data.batch_tokens must be >= 0"),
    ],
)
def test_validation(assignment, message):
    config = Config().override([assignment])
    if "units=33" in assignment:
        config.model.bidirectional = True
    with pytest.raises(NmtError, match=message):
        config.validate()


def test_bad_json_names_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n  "model": {"units": 3,}\n}')
    with pytest.raises(NmtError, match=r"c\.json:2: invalid JSON"):
        load_config(path)


def test_model_dir_errors(tmp_path):
    with pytest.raises(NmtError, match="no such model directory"):
        load_model_config(tmp_path / "missing")
    with pytest.raises(NmtError, match="config.json is missing"):
        load_model_config(tmp_path)
    data = Config().to_dict()
    data["version"] = 999
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(NmtError, match="format version 999"):
        load_model_config(tmp_path)


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    atomic_write(tmp_path / "a.json", "{}")
    (tmp_path / "b.json").write_text("{}")
    assert (tmp_path / "a.json").read_text() == "{}"
    assert (tmp_path / "a.json").stat().st_mode == (tmp_path / "b.json").stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]  # no leftovers


def test_tied_embeddings_need_equal_sizes():
    config = Config().override(
        ["model.tie_embeddings=true", "model.readout_dim=64", "model.embedding_dim=32"]
    )
    with pytest.raises(NmtError, match="readout_dim == model.embedding_dim, got 64 and 32"):
        config.validate()
    config.model.readout_dim = 32
    config.validate()


def test_a_snapshot_without_newer_fields_loads_as_it_was_trained(tmp_path):
    """A model directory written before a field existed keeps its behaviour, whatever
    today's default for that field is."""
    snapshot = Config().to_dict()
    added = {
        "model": ("word_dropout", "tie_embeddings", "layer_norm"),
        "data": ("batch_tokens", "split_digits", "subword_alpha"),
        "train": ("patience_on", "ema_decay"),
    }
    for section, names in added.items():
        for name in names:
            del snapshot[section][name]
    (tmp_path / "config.json").write_text(json.dumps(snapshot))
    config = load_model_config(tmp_path)
    assert config.model.word_dropout == 0.0
    assert config.model.tie_embeddings is False and config.model.layer_norm is False
    assert config.data.batch_tokens == 0
    # Its tokenizers were trained without split digits; its runs judged chrF alone, raw.
    assert config.data.split_digits is False and config.data.subword_alpha == 0.0
    assert config.train.patience_on == "metric" and config.train.ema_decay == 0.0
    # Written now, the fields are kept as written.
    save_config(Config().override(["model.layer_norm=true", "data.batch_tokens=900"]), tmp_path)
    config = load_model_config(tmp_path)
    assert config.model.layer_norm is True and config.data.batch_tokens == 900
