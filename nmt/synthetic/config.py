"""The settings of the attention experiment, and which of them it can run with.

No TensorFlow here: the ``nmt`` parser takes its defaults from ``SyntheticConfig`` and
checks them before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from nmt.errors import NmtError

VARIANTS = ("after", "before", "dense", "additive", "additive-lstm")
PLOT_FORMATS = (".png", ".svg", ".pdf")


@dataclass(frozen=True)
class SyntheticConfig:
    """Data, training and read-out settings; field names are the CLI flags."""

    samples: int = 300_000
    epochs: int = 1
    batch_size: int = 128
    validation_split: float = 0.1
    column: int = 10
    seed: int = 0
    time_steps: int = 20
    input_dims: int = 32
    readout_samples: int = 50
    learning_rate: float = 1e-3
    # Compiled-step settings, chosen by the measurements in docs/synthetic.md.
    jit: bool = False
    steps_per_execution: int = 32


def check(variant: str, config: SyntheticConfig) -> None:
    """Raise ``NmtError`` for settings the experiment cannot run with."""
    if variant not in VARIANTS:
        raise NmtError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    flag, width = ("--input-dims", config.input_dims)
    if variant != "dense":
        flag, width = ("--time-steps", config.time_steps)
    if not 0 <= config.column < width:
        raise NmtError(
            f"--column {config.column} is outside [0, {width}) for variant {variant} "
            f"({flag} {width})"
        )
    validation = validation_count(config.samples, config.validation_split)
    if not 1 <= validation < config.samples:
        raise NmtError(
            f"--validation-split {config.validation_split} of --samples {config.samples} "
            "leaves no validation or no training samples"
        )


def validation_count(samples: int, split: float) -> int:
    """How many of ``samples`` the last ``split`` of them is, for training and ``check`` alike."""
    return int(samples * split)
