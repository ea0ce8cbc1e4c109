"""Evaluation: daily cross-sectional scores of each model against naive baselines."""

import dagster as dg
import pandas as pd

from finrnn_core.scoring import score_predictions, summarize_scores
from finrnn_pipeline.metadata import OWNERS, preview, table_definition_metadata
from finrnn_pipeline.partitions import date_bounds, trading_days


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="parquet_io_manager",
    group_name="evaluation",
    kinds={"parquet"},
    owners=OWNERS,
    metadata=table_definition_metadata("prediction_scores"),
)
def prediction_scores(
    context: dg.AssetExecutionContext, predictions: pd.DataFrame, price_features: pd.DataFrame
) -> pd.DataFrame:
    """IC, rank IC, hit rate and errors of each model vs zero-return and persistence baselines, over the predictions with a realized value; a partition is one trading day."""
    start, end = date_bounds(context)
    scores = score_predictions(predictions, price_features)
    unscored = predictions.loc[predictions["realized"].isna(), "date"].drop_duplicates()
    if len(unscored):
        context.log.info(
            f"{len(unscored)} day(s) have predictions without a realized value yet (first "
            f"{unscored.min():%Y-%m-%d}); they get score rows once predictions is re-materialized "
            "after their horizon has passed."
        )
    metadata: dict[str, object] = {
        "rows": len(scores),
        "days_scored": scores["date"].nunique(),
        "first_date": f"{start:%Y-%m-%d}",
        "last_date": f"{end:%Y-%m-%d}",
    }
    for model_id, summary in summarize_scores(scores).items():
        metadata[f"mean_ic_{model_id}"] = summary["mean_ic"]
        metadata[f"mean_rank_ic_{model_id}"] = summary["mean_rank_ic"]
        metadata[f"hit_rate_{model_id}"] = summary["hit_rate"]
        metadata[f"rmse_ratio_vs_zero_{model_id}"] = summary["rmse_ratio_vs_zero"]
    metadata["preview"] = preview(scores)
    context.add_output_metadata(metadata)
    return scores
