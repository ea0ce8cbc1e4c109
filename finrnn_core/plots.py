"""Small PNG charts of training and predictions, for run metadata and reports.

Matplotlib is imported inside each function with the non-interactive Agg backend, so importing this
module costs nothing and it works on machines without a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# Small figures at a low DPI keep each PNG well under 100 KB, so it can travel inside metadata.
_FIGSIZE = (5.0, 3.2)
_DPI = 80


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _to_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=_DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def loss_curve_png(
    loss: Sequence[float],
    corr_is: Sequence[float] | None = None,
    corr_oos: Sequence[float] | None = None,
    title: str = "",
    epochs: Sequence[int] | None = None,
) -> bytes:
    """Draw the training loss per epoch, with in- and out-of-sample correlation on a second axis.

    Args:
        loss: loss after each epoch, epoch 1 first.
        corr_is: in-sample correlation after each epoch, or `None` to leave it out.
        corr_oos: out-of-sample correlation after each epoch, or `None` to leave it out.
        title: the chart title.
        epochs: the epoch number of each value (e.g. `[5, 6, 7]` after a warm start), or
            `None` for `1..len(loss)`.

    Returns:
        The chart as PNG bytes.

    Raises:
        ValueError: `loss` is empty, or a correlation series or `epochs` is not as long as
            `loss`.
    """
    if len(loss) == 0:
        raise ValueError("`loss` must hold at least one epoch. Received: loss=[]")
    for name, series in (("corr_is", corr_is), ("corr_oos", corr_oos), ("epochs", epochs)):
        if series is not None and len(series) != len(loss):
            raise ValueError(
                f"`{name}` must have one value per epoch ({len(loss)}). "
                f"Received: {len(series)} values"
            )
    plt = _pyplot()
    epochs = np.arange(1, len(loss) + 1) if epochs is None else np.asarray(epochs)
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    ax.plot(epochs, loss, marker="o", color="tab:blue", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_xticks(epochs)
    lines = ax.get_lines()
    if corr_is is not None or corr_oos is not None:
        corr_ax = ax.twinx()
        corr_ax.axhline(0.0, color="0.8", linewidth=0.8)
        if corr_is is not None:
            corr_ax.plot(epochs, corr_is, marker="s", color="tab:green", label="corr in-sample")
        if corr_oos is not None:
            corr_ax.plot(epochs, corr_oos, marker="^", color="tab:red", label="corr out-of-sample")
        corr_ax.set_ylabel("correlation")
        lines = lines + corr_ax.get_lines()[1:]
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return _to_png(fig)


def predicted_vs_realized_png(
    predicted: npt.ArrayLike,
    realized: npt.ArrayLike,
    groups: npt.ArrayLike | None = None,
    title: str = "",
) -> bytes:
    """Draw a scatter of predicted against realized values, one colour per group.

    Rows where either value is missing are left out.

    Args:
        predicted: predicted values, `(n,)`.
        realized: realized values, `(n,)`.
        groups: a label per row (e.g. the model), `(n,)`, or `None` for one colour.
        title: the chart title.

    Returns:
        The chart as PNG bytes.

    Raises:
        ValueError: the inputs have different lengths.
    """
    x = np.asarray(realized, dtype=np.float64).ravel()
    y = np.asarray(predicted, dtype=np.float64).ravel()
    labels = np.full(x.shape, "", dtype=object) if groups is None else np.asarray(groups, object)
    if not (x.size == y.size == labels.size):
        raise ValueError(
            "`predicted`, `realized` and `groups` must have the same length. "
            f"Received: {y.size}, {x.size} and {labels.size}"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    ax.axhline(0.0, color="0.8", linewidth=0.8)
    ax.axvline(0.0, color="0.8", linewidth=0.8)
    for label in sorted(set(labels[keep])):
        rows = keep & (labels == label)
        ax.scatter(x[rows], y[rows], s=8, alpha=0.6, label=str(label) or None)
    if groups is not None and keep.any():
        ax.legend(fontsize=8, loc="best")
    if not keep.any():
        ax.text(0.5, 0.5, "no realized values yet", ha="center", va="center")
    ax.set_xlabel("realized")
    ax.set_ylabel("predicted")
    if title:
        ax.set_title(title, fontsize=10)
    return _to_png(fig)
