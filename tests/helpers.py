"""Small builders shared by tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_prices(closes: dict[str, list[float]], start: str = "2020-01-06") -> pd.DataFrame:
    """A long price table with the given closes on consecutive weekdays."""
    frames = []
    for ticker, values in closes.items():
        dates = pd.bdate_range(start, periods=len(values))
        frames.append(
            pd.DataFrame({"date": dates, "ticker": ticker, "adj_close": np.asarray(values, float)})
        )
    return pd.concat(frames, ignore_index=True)
