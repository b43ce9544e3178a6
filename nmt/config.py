"""The one configuration schema: plain dataclasses, read from JSON, overridable.

Precedence, lowest to highest: the defaults below (or, when ``nmt train`` goes on with
a model directory, the snapshot it holds), a ``--config`` JSON file, then
``--set section.field=value`` overrides from the command line. The merged result is
snapshotted as ``config.json`` in the model directory, and translation reads only
that snapshot, so a model always decodes with the settings it was trained with.

``ModelConfig`` field names are exactly the ``Seq2Seq`` constructor arguments and
its ``get_config`` keys.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmt.config_rules import check
from nmt.errors import NmtError
from nmt.files import atomic_write

CONFIG_FILE = "config.json"
# Bumped when a saved model directory stops being readable by this code.
FORMAT_VERSION = 1


@dataclass
class ModelConfig:
    """Sizes of the network.

    The vocabulary sizes ask for subword vocabularies of that many pieces; 0 sizes
    each from its side of the corpus (``nmt.data.tokenizer.default_vocab_size``). The
    snapshot in a model directory holds the sizes the trained tokenizers have. The
    defaults here and in the other sections are a small-data recipe, each part measured
    on real small corpora (docs/quality.md).
    """

    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    embedding_dim: int = 256
    units: int = 256  # with bidirectional, half of them read each way
    attention_units: int = 256
    encoder_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    readout_dim: int = 256
    # Whole input tokens (their embeddings) dropped in training, on both sides; BOS,
    # EOS and padding never are.
    word_dropout: float = 0.1
    # The output projection is the target embedding matrix (needs readout_dim ==
    # embedding_dim): one table of v x e parameters fewer to learn from little data.
    tie_embeddings: bool = True
    layer_norm: bool = False  # layer-normalised LSTMs (Ba et al. 2016) in encoder and decoder


@dataclass
class DataConfig:
    """How text becomes batches."""

    # In subword tokens, EOS included. Real news sentences (about 23 English words) run
    # to 100 and more: 64 dropped a quarter of one such corpus, 128 drops under 1%.
    max_src_len: int = 128
    max_tgt_len: int = 128
    long_pairs: str = "drop"  # "drop" or "truncate" pairs over the maximum lengths
    batch_size: int = 32
    # Above 0: batches hold about this many tokens (source or target, whichever is
    # longer, padding included) instead of batch_size sentences, so short sentences
    # come in larger batches than long ones.
    batch_tokens: int = 0
    bucket_width: int = 8  # batches hold sentences of similar length, padded to a multiple
    dev_fraction: float = 0.05  # held out when the corpus has no dev split
    # Characters covered by pieces of their own; SentencePiece spells the rarest rest
    # as bytes. Below 1.0 so that a CJK corpus's rare characters do not each take a
    # piece (SentencePiece accepts 0.98 to 1.0).
    character_coverage: float = 0.9995
    # Digits as pieces of their own: numbers are copied digit by digit (docs/quality.md).
    split_digits: bool = True
    skip_bad_lines: bool = False
    # Training splits of more pairs than this are streamed from disk a chunk of this many
    # pairs at a time, shuffled within the chunk; smaller ones are read once and held in
    # memory (nmt/training/inputs.py, docs/data.md).
    chunk_pairs: int = 100_000
    # The tokenizers learn from every training pair up to this many, and from a seeded
    # uniform sample of this many beyond, so their time and memory stop growing.
    tokenizer_sample: int = 200_000
    # Subword regularization (Kudo 2018), off by default (it lost on the quality suite,
    # docs/quality.md): with alpha > 0 each epoch samples new segmentations of the
    # training split, with SentencePiece's nbest_size (-1: whole lattice; 0, 1: off) and
    # alpha. Dev, test and translation take the one best segmentation.
    subword_nbest: int = -1
    subword_alpha: float = 0.0


@dataclass
class TrainConfig:
    """The optimisation loop."""

    # A cap: patience and max_time end training first (docs/quality.md, "Stopping").
    epochs: int = 200
    learning_rate: float = 2e-3
    clip_norm: float = 5.0  # global gradient norm limit; 0 disables clipping
    label_smoothing: float = 0.1
    patience: int = 8  # epochs without dev improvement before stopping; 0 disables
    # The learning rate is multiplied by lr_decay after every lr_patience epochs without
    # dev improvement (1.0: constant), so training settles in before it stops.
    lr_decay: float = 0.5
    lr_patience: int = 2
    early_stop_metric: str = "chrf"  # dev "loss", "chrf" or "bleu" (greedy decoding): picks best/
    # Improvement for patience and lr_decay: of the early-stop metric ("metric"), or of
    # it or the dev loss ("any"), so neither a noisy metric nor a flat loss stops a run
    # that the other shows still learning.
    patience_on: str = "any"
    # Seconds of training (steps and dev evaluation) summed over every run of the model
    # directory, like epochs; training stops cleanly when they are spent. 0: no limit.
    # The default bounds a run on a few thousand pairs to what 2 CPU cores do in 12 min.
    max_time: float = 720.0
    # Decay of the weights' moving average kept beside them (0: off); after each epoch
    # the better of the two on dev goes to best/ (nmt/training/ema.py).
    ema_decay: float = 0.999
    seed: int = 0
    jit_compile: bool = False
    keep_checkpoints: int = 2
    # best/ also keeps the weights of the improvements before the best, for nmt average.
    keep_best: int = 5
    checkpoint_every: int = 200  # steps between mid-epoch checkpoints; 0: only per epoch
    # "default" (one device), "mirrored" (every local GPU, or the one CPU) or
    # "multiworker" (the cluster in TF_CONFIG); see README, Distributed training.
    strategy: str = "default"
    precision: str = "float32"  # or "mixed_float16" (GPUs), "mixed_bfloat16"
    # Slices of each batch run side by side on a CPU (nmt/fast/cpu_streams.py); 0: auto,
    # 2 on a two-core machine without a GPU, else 1. Ignored by --jit and strategies.
    cpu_streams: int = 0


@dataclass
class DecodeConfig:
    """Search settings; outputs have at most ``max_len_a * source_length + max_len_b`` tokens."""

    max_len_a: float = 1.5
    max_len_b: int = 10
    beam_size: int = 5  # 1: greedy search
    n_best: int = 1  # hypotheses returned per sentence, at most beam_size
    length_penalty: float = 1.5  # GNMT's alpha: beams rank by log P / ((5 + len) / 6) ** alpha
    no_repeat_ngram: int = 0  # n >= 2: no output holds an n-gram twice (0: off)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, source: str = "config", base: Config | None = None
    ) -> Config:
        """The fields ``data`` names, over ``base`` (a copy of it) or the defaults."""
        config = cls() if base is None else copy.deepcopy(base)
        for key, value in data.items():
            if key == "version":
                config.version = value
                continue
            section = _section(config, key, source)
            if not isinstance(value, dict):
                raise NmtError(f"{source}: section {key!r} must be an object")
            for name, item in value.items():
                _assign(section, key, name, item, source)
        return config

    def override(self, assignments: list[str]) -> Config:
        """Apply ``section.field=value`` strings; values are parsed as JSON when they can be."""
        for text in assignments:
            path, sep, raw = text.partition("=")
            section_name, dot, name = path.strip().partition(".")
            if not sep or not dot:
                raise NmtError(f"--set {text!r}: expected section.field=value, e.g. train.epochs=5")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            _assign(_section(self, section_name, "--set"), section_name, name, value, "--set")
        return self

    def validate(self) -> Config:
        """This config, once ``nmt.config_rules.check`` finds every field in range."""
        check(self)
        return self


def _section(config: Config, name: str, source: str) -> Any:
    sections = [f.name for f in dataclasses.fields(config) if f.name != "version"]
    if name not in sections:
        raise NmtError(f"{source}: unknown config section {name!r} (known: {', '.join(sections)})")
    return getattr(config, name)


def _assign(section: Any, section_name: str, name: str, value: Any, source: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(section)}
    if name not in fields:
        known = ", ".join(fields)
        raise NmtError(f"{source}: unknown field {section_name}.{name} (known: {known})")
    current = getattr(section, name)
    expected = type(current)
    # JSON has one number type; accept 3 for a float field but not 3.5 for an int one.
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise NmtError(
            f"{source}: {section_name}.{name} must be {expected.__name__}, got {value!r}"
        )
    setattr(section, name, value)


def load_config(path: str | os.PathLike, base: Config | None = None) -> Config:
    """Read a JSON config file (a full snapshot or any subset of sections) over ``base``,
    or over the defaults."""
    path = Path(path)
    return Config.from_dict(read_object(path), source=str(path), base=base)


def read_object(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NmtError(f"no such config file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NmtError(f"cannot read config file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NmtError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise NmtError(f"{path}: expected a JSON object")
    return data


def save_config(config: Config, model_dir: str | os.PathLike) -> None:
    text = json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n"
    atomic_write(Path(model_dir) / CONFIG_FILE, text)
