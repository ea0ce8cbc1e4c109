"""A prediction for day d may only use prices and models that existed before d."""

import numpy as np
import pandas as pd

from finrnn_core.storage import read_table
from finrnn_core.training import list_checkpoints
from tests.pipeline.conftest import run_assets, run_chain

ALTERED_AFTER = pd.Timestamp("2018-04-16")


def altered_sample(sample_dir, folder):
    """The bundled sample with every price after ALTERED_AFTER scrambled."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    for path in sample_dir.glob("*.parquet"):
        frame = pd.read_parquet(path)
        later = pd.to_datetime(frame["Date"]) > ALTERED_AFTER
        for column in frame.columns:
            if column not in ("Date", "Volume"):
                factor = rng.uniform(0.5, 2.0, later.sum())
                frame.loc[later, column] = frame.loc[later, column] * factor
        frame.to_parquet(folder / path.name, index=False)
    return folder


def test_predictions_and_checkpoints_ignore_prices_after_their_date(
    chain_root, sample_dir, tmp_path
):
    root = tmp_path / "altered"
    source = str(altered_sample(sample_dir, tmp_path / "prices"))
    ingest = ["raw_prices", "price_quarantine"]
    assert run_assets(root, "2017-09-01", "2017-10-31", ingest, price_path=source).success
    results = run_chain(root, "2017-11-01", "2018-04-30", ("2018-03-30", "2018-03-30"), source)
    assert all(r.success for r in results)

    # The features up to the alteration are bit-for-bit the same...
    base_features = read_table(chain_root / "price_features", end=ALTERED_AFTER)
    altered_features = read_table(root / "price_features", end=ALTERED_AFTER)
    pd.testing.assert_frame_equal(base_features, altered_features, check_exact=True)
    # ...while the later ones changed, so that comparison could have failed.
    later = lambda r: read_table(r / "price_features", start=ALTERED_AFTER + pd.Timedelta(days=1))  # noqa: E731
    assert not later(chain_root)["ret_1d"].equals(later(root)["ret_1d"])

    # The checkpoints trained at 2018-03-30 are bit-for-bit the same: later prices never reached them.
    versions = lambda r: sorted(c.version for c in list_checkpoints(r / "rnn_checkpoints"))  # noqa: E731
    assert versions(root) == versions(chain_root)

    key = ["date", "ticker", "model"]
    base = read_table(chain_root / "predictions").set_index(key).sort_index()
    altered = read_table(root / "predictions").set_index(key).sort_index()
    assert base.index.equals(altered.index)
    before = base.index.get_level_values("date") <= ALTERED_AFTER
    # Predictions up to the alteration are identical...
    np.testing.assert_array_equal(base.loc[before, "predicted"], altered.loc[before, "predicted"])
    # ...and the ones after it did change, so the comparison above could have failed.
    assert not np.allclose(base.loc[~before, "predicted"], altered.loc[~before, "predicted"])
