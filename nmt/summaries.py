"""TensorBoard logs of a training run: scalars, and alignments forming epoch by epoch."""

from __future__ import annotations

import io
from pathlib import Path

import tensorflow as tf

from nmt.trainer import EpochResult

LOG_DIR = "logs"
# Few enough to keep an epoch's overhead to one small batched decode.
SAMPLE_SENTENCES = 3


class Summaries:
    """Writes ``MODEL_DIR/logs``: per-epoch scalars and attention images of fixed dev sentences.

    The images come from the same inference path as ``nmt translate --plot``, so
    what TensorBoard shows during training is what users get afterwards.

    Args:
        model_dir: The model directory.
        translator: A ``Translator`` over the model being trained.
        samples: Source sentences whose alignments are logged each epoch.
        step: Variable holding the global step, used as the x axis.
        learning_rate: The optimizer's learning rate (a number or schedule value).
    """

    def __init__(self, model_dir, translator, samples: list[str], step, learning_rate):
        self.writer = tf.summary.create_file_writer(str(Path(model_dir) / LOG_DIR))
        self.translator = translator
        self.samples = samples[:SAMPLE_SENTENCES]
        self.step = step
        self.learning_rate = learning_rate

    def __call__(self, epoch: EpochResult) -> None:
        step = int(self.step.numpy())
        with self.writer.as_default(step=step):
            tf.summary.scalar("loss/train", epoch.train_loss)
            tf.summary.scalar("loss/dev", epoch.dev_loss)
            tf.summary.scalar("learning_rate", float(self.learning_rate))
            tf.summary.scalar("tgt_tokens_per_s", epoch.tokens_per_s)
            if epoch.dev_metrics:
                for name, value in epoch.dev_metrics.items():
                    tf.summary.scalar(f"dev/{name}", value)
            for i, image in enumerate(self._images()):
                tf.summary.image(f"attention/dev_{i}", image[None], max_outputs=1)
        self.writer.flush()

    def _images(self):
        from nmt.plot import translation_figure

        for result in self.translator.translate(self.samples):
            if not result.tgt_tokens:
                continue
            figure = translation_figure(result)
            png = io.BytesIO()
            figure.savefig(png, format="png", dpi=72)
            yield tf.image.decode_png(png.getvalue(), channels=4)
