"""TensorBoard logs of a training run: scalars each epoch, and alignments as they form."""

from __future__ import annotations

import io
import time
from pathlib import Path

import tensorflow as tf

from nmt.training.results import EpochResult

LOG_DIR = "logs"
# Few enough to keep an epoch's overhead to one small batched decode.
SAMPLE_SENTENCES = 3
# Drawing the images costs about a second (three translations through matplotlib),
# which on a small corpus is a third of an epoch: they are drawn after the first epoch
# and then only once the training time since the last ones is 1 / IMAGE_SHARE times
# what they cost, so they never take more than about this share of a run.
IMAGE_SHARE = 0.1


class Summaries:
    """Writes ``MODEL_DIR/logs``: per-epoch scalars and attention images of fixed dev sentences.

    The images come from the same inference path as ``nmt translate --plot``, so
    what TensorBoard shows during training is what users get afterwards.

    Args:
        model_dir: The model directory.
        translator: A ``Translator`` over the model being trained.
        samples: Source sentences whose alignments are logged each epoch.
        step: Variable holding the global step, used as the x axis.
        learning_rate: The optimizer's learning rate (a variable, read at each epoch's end).
    """

    def __init__(self, model_dir, translator, samples: list[str], step, learning_rate):
        self.writer = tf.summary.create_file_writer(str(Path(model_dir) / LOG_DIR))
        self.translator = translator
        self.samples = samples[:SAMPLE_SENTENCES]
        self.step = step
        self.learning_rate = learning_rate
        self.images = ImageBudget(IMAGE_SHARE)

    def __call__(self, epoch: EpochResult) -> None:
        step = int(self.step.numpy())
        with self.writer.as_default(step=step):
            tf.summary.scalar("loss/train", epoch.train_loss)
            tf.summary.scalar("loss/dev", epoch.dev_loss)
            tf.summary.scalar("learning_rate", float(self.learning_rate.numpy()))
            tf.summary.scalar("tgt_tokens_per_s", epoch.tokens_per_s)
            if epoch.dev_metrics:
                for name, value in epoch.dev_metrics.items():
                    tf.summary.scalar(f"dev/{name}", value)
            if self.images.due(epoch.seconds):
                start = time.perf_counter()
                for i, image in enumerate(self._images()):
                    tf.summary.image(f"attention/dev_{i}", image[None], max_outputs=1)
                self.images.spent(time.perf_counter() - start)
        self.writer.flush()

    def _images(self):
        from nmt.viz.alignment import translation_figure

        for result in self.translator.translate(self.samples):
            if not result.tgt_tokens:
                continue
            figure = translation_figure(result)
            png = io.BytesIO()
            figure.savefig(png, format="png", dpi=72)
            yield tf.image.decode_png(png.getvalue(), channels=4)


class ImageBudget:
    """Decides when images are due so that they cost at most ``share`` of the training time."""

    def __init__(self, share: float):
        self.share = share
        self.cost: float | None = None  # seconds the last images took
        self.training = 0.0  # seconds of training since then

    def due(self, train_seconds: float) -> bool:
        self.training += train_seconds
        return self.cost is None or self.cost <= self.share * self.training

    def spent(self, seconds: float) -> None:
        self.cost, self.training = seconds, 0.0
