"""Scores for predictions; numpy only."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def pearson(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Pearson correlation of two equally long series.

    Both inputs are flattened, so `(samples, 1)` columns work as they are.

    Args:
        a: Values, any shape with `n` elements.
        b: Values, any shape with the same `n` elements.

    Returns:
        The correlation in `[-1, 1]`, or `nan` when there are fewer than two
        points or either series has zero variance.

    Raises:
        ValueError: If `a` and `b` have different numbers of elements.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(
            f"`a` and `b` must have the same number of elements. Received: {x.size} and {y.size}"
        )
    if x.size < 2:
        return float("nan")
    dx = x - x.mean()
    dy = y - y.mean()
    denom = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if not np.isfinite(denom) or denom == 0.0:
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / denom, -1.0, 1.0))
