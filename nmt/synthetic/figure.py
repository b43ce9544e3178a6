"""The experiment's picture: where each trained variant put its attention."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from nmt.synthetic.experiment import SyntheticResult


def attention_figure(results: list[SyntheticResult]) -> Figure:
    """One bar chart of mean attention per result, the label column's bar in red."""
    cols = min(len(results), 3)
    rows = math.ceil(len(results) / cols)
    figure = Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax, result in zip(axes, results):
        colors = ["tab:blue"] * len(result.attention)
        colors[result.column] = "tab:red"
        ax.bar(np.arange(len(result.attention)), result.attention, color=colors)
        ax.set_title(f"{result.variant}: val acc {result.val_accuracy:.4f}")
        ax.set_xlabel("input dimension" if result.variant == "dense" else "time step")
        ax.set_ylabel("mean attention")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[len(results) :]:
        ax.set_visible(False)
    figure.suptitle("Attention on fresh samples (red: the column holding the label)")
    return figure
