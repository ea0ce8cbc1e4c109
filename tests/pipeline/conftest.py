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


DAILY_INPUTS = ["raw_prices", "price_quarantine", "price_features"]
CHECKPOINTS = ["lstm_checkpoint", "gru_checkpoint", "rnn_checkpoint"]
DAILY_OUTPUTS = ["predictions", "prediction_scores"]


def training_config(**overrides) -> dict:
    config = {**TINY_TRAINING, **overrides}
    return {"ops": {f"{c}_checkpoint": {"config": config} for c in ("lstm", "gru", "rnn")}}


def run_chain(
    root: Path,
    start: str,
    end: str,
    cutoffs: tuple[str, str],
    price_path: str | None = None,
    run_config: dict | None = None,
    **resource_overrides,
) -> list[dg.ExecuteInProcessResult]:
    """The whole graph as a user runs it: features over a range of days, the models at a range
    of cut-offs, then predictions and scores over the days; one run each."""
    common = {"price_path": price_path, **resource_overrides}
    results = [run_assets(root, start, end, DAILY_INPUTS, **common)]
    results.append(
        run_assets(
            root, *cutoffs, CHECKPOINTS, run_config=run_config or training_config(), **common
        )
    )
    results.append(run_assets(root, start, end, DAILY_OUTPUTS, **common))
    return results


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
    """The whole graph over Nov 2017-Apr 2018 of the bundled sample, tiny models cut off
    2018-03-30 (Good Friday: the last session before it is 2018-03-29)."""
    root = tmp_path_factory.mktemp("chain")
    # the feature lookback reaches about seven weeks before the first day of the graph run
    lookback = run_assets(root, "2017-09-01", "2017-10-31", ["raw_prices", "price_quarantine"])
    assert lookback.success
    results = run_chain(root, "2017-11-01", "2018-04-30", ("2018-03-30", "2018-03-30"))
    assert all(r.success for r in results)
    return root
