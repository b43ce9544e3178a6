"""A training run end to end: corpus -> tokenizers -> batches -> trained model directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras

from nmt import modeldir
from nmt.config import Config, save_config
from nmt.data.corpus import Corpus, read_splits, split_off
from nmt.data.pipeline import encode, resample, samples_subwords
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.decoding import evaluate
from nmt.decoding.translator import Translator
from nmt.errors import NmtError
from nmt.fast import cpu_streams
from nmt.training import distribute
from nmt.training.results import EpochResult, TrainResult
from nmt.training.summaries import Summaries
from nmt.training.trainer import Trainer


def train_translator(
    config: Config,
    out: str | Path,
    *,
    corpus: str | Path | None = None,
    src: str | Path | None = None,
    tgt: str | Path | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[EpochResult], None] | None = None,
) -> TrainResult:
    """Train (or resume training) a translator into the model directory ``out``.

    Re-running with the same arguments resumes from the latest checkpoint; the
    tokenizers trained by the first run are reused, so ids keep their meaning.
    """
    config.validate()
    # First: a multi-worker strategy and the CPU's thread counts must be set before
    # TensorFlow runs any op.
    strategy = distribute.make_strategy(config.train.strategy)
    distribute.set_precision(config.train.precision)
    cpu_streams.for_training(config.train, strategy)
    with distribute.peers_lost_as_error(strategy):
        return _train(config, Path(out), strategy, corpus, src, tgt, overwrite, log, on_epoch_end)


def _train(config, out, strategy, corpus, src, tgt, overwrite, log, on_epoch_end) -> TrainResult:
    chief = distribute.is_chief(strategy)
    if config.train.jit_compile and strategy is not None:
        log(f"note: --jit applies to the default strategy only, not to {config.train.strategy}")
    splits = read_splits(corpus, src=src, tgt=tgt, skip_bad_lines=config.data.skip_bad_lines)
    train, dev = _train_dev(splits, config)
    for name, split in (("train", train), ("dev", dev)):
        if split.skipped:
            log(f"skipped {split.skipped} malformed lines in the {name} split")
    keras.utils.set_random_seed(config.train.seed)
    # Other workers than the chief never write to (or clean) the model directory;
    # they train the same tokenizers themselves, checked equal below.
    saved = modeldir.prepare(out, config, overwrite=overwrite) if chief else None
    if saved is not None:
        src_tok, tgt_tok = modeldir.load_tokenizers(out)
        config.model.src_vocab_size = saved.model.src_vocab_size
        config.model.tgt_vocab_size = saved.model.tgt_vocab_size
    else:
        log(f"training tokenizers on {len(train)} sentence pairs")
        src_tok = _train_tokenizer(train.src, config, "src")
        tgt_tok = _train_tokenizer(train.tgt, config, "tgt")
        if chief:
            modeldir.save_tokenizers(out, src_tok, tgt_tok)
    distribute.check_same_everywhere(
        strategy, "tokenizers", src_tok.model_proto + tgt_tok.model_proto
    )
    if chief:
        save_config(config, out)
    train_ids = encode(train.src, train.tgt, src_tok, tgt_tok, config.data)
    dev_ids = encode(dev.src, dev.tgt, src_tok, tgt_tok, config.data)
    for name, data in (("train", train_ids), ("dev", dev_ids)):
        if data.dropped:
            log(f"{name}: dropped {data.dropped} pairs longer than the length limits")
        if data.truncated:
            log(f"{name}: truncated {data.truncated} pairs to the length limits")
    if not len(train_ids):
        raise NmtError("no training pairs left after the length limits; raise data.max_*_len")
    trainer = Trainer(config, out, strategy=strategy)
    summaries = None
    if chief:
        translator = Translator(trainer.model, src_tok, tgt_tok, config)
        summaries = Summaries(out, translator, dev.src, trainer.step, trainer.learning_rate)
    if trainer.restore():
        step, epoch = int(trainer.step.numpy()), int(trainer.epoch.numpy())
        log(f"resuming from step {step} (epoch {epoch + 1})")
    # Workers on hosts that cannot read the chief's model directory would start over.
    distribute.check_same_everywhere(
        strategy, "step to resume from", trainer.step.numpy().tobytes()
    )
    log(
        f"training on {len(train_ids)} pairs ({train_ids.tgt_tokens} target tokens), "
        f"dev {len(dev_ids)} pairs; vocabularies {src_tok.vocab_size}/{tgt_tok.vocab_size}"
    )
    if trainer.streams > 1:
        log(f"CPU: each batch runs as {trainer.streams} slices side by side (train.cpu_streams)")

    def epoch_end(result: EpochResult) -> None:
        if summaries:
            summaries(result)
        if on_epoch_end:
            on_epoch_end(result)

    dev_metric = None
    if config.train.early_stop_metric != "loss":
        metric = config.train.early_stop_metric
        translator = Translator(trainer.model, src_tok, tgt_tok, config)
        dev_metric = evaluate.dev_metric(translator, dev.src, dev.tgt, metric)
    draw = None  # each epoch's training split, when it samples segmentations
    if samples_subwords(config.data):
        if config.train.strategy == "multiworker":
            # Each worker would sample its own segmentations, so their batches, and
            # the shards cut from them, would no longer line up.
            log("note: subword sampling is off under multiworker (data.subword_alpha)")
        else:
            d = config.data
            log(f"subword sampling: nbest {d.subword_nbest}, alpha {d.subword_alpha}")
            draw = lambda: resample(  # noqa: E731
                train.src, train.tgt, src_tok, tgt_tok, config.data, like=train_ids
            )
    try:
        result = trainer.fit(
            train_ids,
            dev_ids,
            log=log,
            on_epoch_end=epoch_end,
            dev_metric=dev_metric,
            resample=draw,
        )
        # Also a barrier: a worker that exits while another is still in a collective
        # makes that one fail (tensorflow#58434).
        distribute.check_same_everywhere(strategy, "final step", trainer.step.numpy().tobytes())
        return result
    finally:
        trainer.close()


def _train_tokenizer(sentences: list[str], config: Config, side: str) -> Tokenizer:
    """One side's tokenizer; its size goes into ``config`` (0 there: sized from the corpus)."""
    field = f"{side}_vocab_size"
    proto = train_sentencepiece(
        sentences,
        getattr(config.model, field),
        config.data.character_coverage,
        split_digits=config.data.split_digits,
        field=f"model.{field}",
    )
    tokenizer = Tokenizer(proto)
    setattr(config.model, field, tokenizer.vocab_size)
    return tokenizer


def _train_dev(splits: dict[str, Corpus], config: Config) -> tuple[Corpus, Corpus]:
    train = splits["train"]
    if "dev" in splits:
        return train, splits["dev"]
    if len(train) < 2:
        raise NmtError("the corpus needs at least 2 pairs to hold out a dev set")
    # Not train.seed: runs that differ only in their seed hold out the same dev set, so
    # they train the same tokenizers and can decode together as an ensemble.
    return split_off(train, config.data.dev_fraction, seed=0)
