"""A training run end to end: corpus -> tokenizers -> batches -> trained model directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras

from nmt import modeldir
from nmt.config import Config, save_config
from nmt.data.pipeline import encode, samples_subwords
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.decoding import evaluate
from nmt.decoding.translator import Translator
from nmt.errors import NmtError
from nmt.fast import cpu_streams
from nmt.memory import give_back
from nmt.training import distribute
from nmt.training.inputs import Inputs, read_inputs, training_split
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
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train (or resume training) a translator into the model directory ``out``.

    Re-running with the same arguments resumes from the latest checkpoint; the
    tokenizers trained by the first run are reused, so ids keep their meaning.
    ``on_step`` is called after every training step with its number and target tokens.
    """
    config.validate()
    # First: a multi-worker strategy and the CPU's thread counts must be set before
    # TensorFlow runs any op.
    strategy = distribute.make_strategy(config.train.strategy)
    distribute.set_precision(config.train.precision)
    cpu_streams.for_training(config.train, strategy)
    with distribute.peers_lost_as_error(strategy):
        return _train(
            config, Path(out), strategy, (corpus, src, tgt), overwrite, log, on_epoch_end, on_step
        )


def _train(config, out, strategy, corpus, overwrite, log, on_epoch_end, on_step) -> TrainResult:
    chief = distribute.is_chief(strategy)
    if config.train.jit_compile and strategy is not None:
        log(f"note: --jit applies to the default strategy only, not to {config.train.strategy}")
    inputs = read_inputs(config, *corpus)
    if inputs.index.skipped:
        log(f"skipped {inputs.index.skipped} malformed lines in the train split")
    if inputs.dev.skipped:
        log(f"skipped {inputs.dev.skipped} malformed lines in the dev split")
    keras.utils.set_random_seed(config.train.seed)
    # Workers other than the chief never write to (or clean) the model directory; they
    # take the chief's tokenizers, trained once.
    src_tok, tgt_tok = _tokenizers(inputs, config, out, overwrite, chief, log)
    protos = [
        distribute.from_chief(strategy, tok.model_proto if chief else None)
        for tok in (src_tok, tgt_tok)
    ]
    if not chief:
        src_tok, tgt_tok = (Tokenizer(proto) for proto in protos)
    config.model.src_vocab_size = src_tok.vocab_size
    config.model.tgt_vocab_size = tgt_tok.vocab_size
    inputs.drop_sample()
    give_back()
    # Chunks cut at different places would make the workers' epochs differ.
    chunk_table = repr([c.start for c in inputs.index.chunks]).encode()
    distribute.check_same_everywhere(strategy, "training split", chunk_table)
    if chief:
        save_config(config, out)
    sampling = samples_subwords(config.data)
    if sampling and config.train.strategy == "multiworker":
        # Each worker would sample its own segmentations, so their batches, and
        # the shards cut from them, would no longer line up.
        log("note: subword sampling is off under multiworker (data.subword_alpha)")
        sampling = False
    elif sampling:
        d = config.data
        log(f"subword sampling: nbest {d.subword_nbest}, alpha {d.subword_alpha}")
    train = training_split(inputs, src_tok, tgt_tok, config, sampling=sampling)
    dev_ids = encode(inputs.dev.src, inputs.dev.tgt, src_tok, tgt_tok, config.data)
    for name, data in (("train", getattr(train, "data", None)), ("dev", dev_ids)):
        if data is not None and data.dropped:
            log(f"{name}: dropped {data.dropped} pairs longer than the length limits")
        if data is not None and data.truncated:
            log(f"{name}: truncated {data.truncated} pairs to the length limits")
    if not train.pairs:
        raise NmtError("no training pairs left after the length limits; raise data.max_*_len")
    trainer = Trainer(config, out, strategy=strategy)
    summaries = None
    if chief:
        translator = Translator(trainer.model, src_tok, tgt_tok, config)
        summaries = Summaries(out, translator, inputs.dev.src, trainer.step, trainer.learning_rate)
    if trainer.restore():
        step, epoch = int(trainer.step.numpy()), int(trainer.epoch.numpy())
        log(f"resuming from step {step} (epoch {epoch + 1})")
    # Workers on hosts that cannot read the chief's model directory would start over.
    distribute.check_same_everywhere(
        strategy, "step to resume from", trainer.step.numpy().tobytes()
    )
    log(_describe(train, dev_ids, src_tok, tgt_tok, config))
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
        dev_metric = evaluate.dev_metric(translator, inputs.dev.src, inputs.dev.tgt, metric)
    trainer.on_step = on_step
    try:
        result = trainer.fit(train, dev_ids, log=log, on_epoch_end=epoch_end, dev_metric=dev_metric)
        if train.streamed and train.dropped:
            log(f"train: dropped {train.dropped} pairs longer than the length limits (chunks read)")
        # Also a barrier: a worker that exits while another is still in a collective
        # makes that one fail (tensorflow#58434).
        distribute.check_same_everywhere(strategy, "final step", trainer.step.numpy().tobytes())
        return result
    finally:
        trainer.close()


def _tokenizers(inputs: Inputs, config, out, overwrite, chief, log):
    """The chief's tokenizers: those the model directory holds, or trained now; (None,
    None) on other workers."""
    if not chief:
        return None, None
    saved = modeldir.prepare(out, config, overwrite=overwrite)
    if saved is not None:
        return modeldir.load_tokenizers(out)
    sources, targets = inputs.tokenizer_text
    sample = "" if inputs.scale == 1.0 else f" (a sample of {inputs.index.pairs})"
    log(f"training tokenizers on {len(sources)} sentence pairs{sample}")
    src_tok = _train_tokenizer(sources, config, "src", inputs.scale)
    tgt_tok = _train_tokenizer(targets, config, "tgt", inputs.scale)
    modeldir.save_tokenizers(out, src_tok, tgt_tok)
    return src_tok, tgt_tok


def _describe(train, dev_ids, src_tok, tgt_tok, config) -> str:
    """The log line that says what training reads."""
    sizes = f"vocabularies {src_tok.vocab_size}/{tgt_tok.vocab_size}"
    if not train.streamed:
        return (
            f"training on {train.pairs} pairs ({train.data.tgt_tokens} target tokens), "
            f"dev {len(dev_ids)} pairs; {sizes}"
        )
    chunks = len(train.index.chunks)
    return (
        f"training on {train.pairs} pairs streamed from disk in {chunks} chunks of up to "
        f"{config.data.chunk_pairs}, dev {len(dev_ids)} pairs; {sizes}"
    )


def _train_tokenizer(sentences: list[str], config: Config, side: str, scale: float) -> Tokenizer:
    """One side's tokenizer; its size goes into ``config`` (0 there: sized from the corpus)."""
    field = f"{side}_vocab_size"
    proto = train_sentencepiece(
        sentences,
        getattr(config.model, field),
        config.data.character_coverage,
        split_digits=config.data.split_digits,
        field=f"model.{field}",
        scale=scale,
    )
    tokenizer = Tokenizer(proto)
    setattr(config.model, field, tokenizer.vocab_size)
    return tokenizer
