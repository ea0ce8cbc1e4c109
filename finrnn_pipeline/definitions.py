"""The one place the Dagster definitions are built; `dagster dev` loads this module."""

from __future__ import annotations

import os

import dagster as dg

from finrnn_pipeline.assets.evaluation import prediction_scores
from finrnn_pipeline.assets.features import price_features
from finrnn_pipeline.assets.models import checkpoint_assets
from finrnn_pipeline.assets.predictions import predictions
from finrnn_pipeline.assets.prices import ingest_prices
from finrnn_pipeline.checks import ALL_CHECKS
from finrnn_pipeline.executors import executor_from_env
from finrnn_pipeline.io_managers import NoPickleIOManager, PartitionedParquetIOManager
from finrnn_pipeline.resources import ComputeResource, PriceSourceResource, StorageResource
from finrnn_pipeline.schedules import (
    daily_predictions_job,
    daily_predictions_schedule,
    retraining_job,
    weekly_retraining_schedule,
)
from finrnn_pipeline.sensors import price_files_sensor

features_job = dg.define_asset_job(
    "features_job",
    selection=["raw_prices", "price_quarantine", "price_features"],
    description="Ingest prices and compute features for a range of trading days in one run.",
)

predictions_job = dg.define_asset_job(
    "predictions_job",
    selection=["predictions", "prediction_scores"],
    description="Predict a range of trading days (each with the newest checkpoint before it) "
    "and score them, in one run.",
)

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=["raw_prices", "price_quarantine"],
    description="Ingest prices (and quarantine what cannot be used) for a range of trading days.",
)


def build_resources(storage_root: str | None = None, price_path: str | None = None) -> dict:
    """Resources from arguments, else FINRNN_STORAGE_ROOT / FINRNN_PRICE_PATH / FINRNN_DEVICE."""
    storage = StorageResource(
        root=storage_root or os.environ.get("FINRNN_STORAGE_ROOT", "finrnn_data")
    )
    price_source = PriceSourceResource(path=price_path or os.environ.get("FINRNN_PRICE_PATH", ""))
    return {
        "storage": storage,
        "parquet_io_manager": PartitionedParquetIOManager(
            storage=storage, price_source=price_source
        ),
        "io_manager": NoPickleIOManager(),  # never Dagster's default, which pickles
        "price_source": price_source,
        "compute": ComputeResource(device=os.environ.get("FINRNN_DEVICE", "cpu")),
    }


ALL_ASSETS = [ingest_prices, price_features, *checkpoint_assets, predictions, prediction_scores]

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[features_job, retraining_job, predictions_job, ingest_job, daily_predictions_job],
    schedules=[daily_predictions_schedule, weekly_retraining_schedule],
    sensors=[price_files_sensor],
    resources=build_resources(),
    # one process per step by default (FINRNN_EXECUTOR=dask|k8s for a cluster), so each
    # training step sets its own visible GPU before TensorFlow starts
    executor=executor_from_env(),
)
