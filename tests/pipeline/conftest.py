"""Fixtures that run the real asset graph into a temporary storage root."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from finrnn_pipeline.definitions import ALL_ASSETS, build_resources

TINY_TRAINING = {
    "epochs": 1,
    "n_states": 4,
    "n_layers": 1,
    "n_time_steps": 5,
    "inner_iteration": 2,
}


def range_tags(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def training_config(**overrides) -> dict:
    config = {**TINY_TRAINING, **overrides}
    return {"ops": {f"{c}_checkpoint": {"config": config} for c in ("lstm", "gru", "rnn")}}


def run_assets(
    root: Path,
    start: str,
    end: str,
    selection=None,
    price_path: str | None = None,
    run_config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
    **resource_overrides,
) -> dg.ExecuteInProcessResult:
    resources = {**build_resources(str(root), price_path), **resource_overrides}
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=resources,
        tags=range_tags(start, end),
        run_config=run_config,
        instance=instance,
    )


@pytest.fixture(scope="session")
def chain_root(tmp_path_factory) -> Path:
    """The whole graph over Jan-Apr 2018 of the bundled sample, tiny models cut off 2018-03-29."""
    root = tmp_path_factory.mktemp("chain")
    # the feature lookback reaches about seven weeks before the first day of the graph run
    lookback = run_assets(root, "2017-09-01", "2017-10-31", ["raw_prices", "price_quarantine"])
    assert lookback.success
    result = run_assets(
        root, "2017-11-01", "2018-04-30", run_config=training_config(cutoff="2018-03-29")
    )
    assert result.success
    return root
