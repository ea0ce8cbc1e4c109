"""Property: whatever a messy price table holds, no row is lost and accepted rows are clean."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from finrnn_core.prices import read_prices

DAYS = pd.date_range("2021-03-01", "2021-03-21")  # weekends included on purpose
CELLS = st.one_of(
    st.floats(min_value=-10, max_value=1e6, allow_nan=False).map(lambda v: f"{v:.4f}"),
    st.sampled_from(["", "null", "NaN", "-", "0", "abc", "1.5K", " 12 "]),
)
DATES = st.one_of(
    st.sampled_from([d.strftime("%Y-%m-%d") for d in DAYS]),
    st.sampled_from(["not a date", "", "2021-02-30", "2021-03-05T21:00:00Z"]),
)
ROWS = st.lists(
    st.tuples(DATES, st.sampled_from(["A", "B", "C/../D", "é"]), CELLS, CELLS), max_size=40
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, layout=st.sampled_from(["long", "wide"]), with_calendar=st.booleans())
@example(  # found by CI: a wide line of empty cells only is a blank line, not two rows
    rows=[("2021-03-01", "A", "0.0000", "0.0000"), ("", "A", "", "")],
    layout="wide",
    with_calendar=False,
)
def test_every_row_is_accounted_for_and_accepted_rows_are_clean(
    tmp_path, rows, layout, with_calendar
):
    path = tmp_path / f"{layout}.csv"
    if layout == "long":
        lines = ["date,ticker,close,volume", *(f'{d},"{t}",{c},{v}' for d, t, c, v in rows)]
        expected_rows = len(rows)
    else:
        lines = ["Date,A,B", *(f"{d},{c},{v}" for d, _, c, v in rows)]
        # a line of empty cells only (",,") is a blank line, skipped and counted, not a row
        blank = sum(1 for d, _, c, v in rows if d == c == v == "")
        expected_rows = 2 * (len(rows) - blank)
    path.write_text("\n".join(lines) + "\n")
    sessions = pd.bdate_range("2021-03-01", "2021-03-21") if with_calendar else None

    result = read_prices(path, trading_days=sessions)

    assert result.rows_read == expected_rows
    if layout == "wide":
        assert result.repairs.get("blank_lines_skipped", 0) == blank
    assert result.rows_read == result.rows_accepted + result.rows_quarantined
    prices = result.prices
    assert not prices.duplicated(["ticker", "date"]).any()
    assert prices.equals(prices.sort_values(["ticker", "date"], kind="stable"))
    assert np.isfinite(prices["adj_close"]).all() and (prices["adj_close"] > 0).all()
    assert prices["date"].notna().all()
    if sessions is not None:
        assert prices["date"].isin(sessions).all()
    assert result.quarantine["reason"].notna().all()
