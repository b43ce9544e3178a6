"""What a training run reports: per epoch, and for the whole run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    dev_loss: float
    tokens_per_s: float
    seconds: float
    dev_metrics: dict[str, float] = field(default_factory=dict)  # e.g. chrF, when computed


@dataclass
class TrainResult:
    steps: int
    epochs: list[EpochResult] = field(default_factory=list)
    best_dev_loss: float = math.inf
    stopped_early: bool = False
    best_dev_metric: float | None = None
    out_of_time: bool = False  # stopped by train.max_time
