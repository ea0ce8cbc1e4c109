import ast
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from finrnn_pipeline.definitions import defs

REPO = Path(__file__).resolve().parents[2]


def test_definitions_load_and_every_job_resolves():
    jobs = [
        "features_job",
        "retraining_job",
        "predictions_job",
        "ingest_job",
        "daily_predictions_job",
    ]
    assert {defs.resolve_job_def(name).name for name in jobs} == set(jobs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {
        "raw_prices",
        "price_quarantine",
        "price_features",
        "lstm_checkpoint",
        "gru_checkpoint",
        "rnn_checkpoint",
        "predictions",
        "prediction_scores",
    }


def test_every_asset_has_a_description_and_group():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no description"
        assert node.group_name != "default", f"{key} is in the default group"


def test_every_launchpad_knob_is_described():
    """The launchpad shows each field's description: training config and every resource."""
    from finrnn_pipeline.assets.models import TrainingConfig

    configurables = {"TrainingConfig": TrainingConfig}
    for name, resource in defs.resources.items():
        if isinstance(resource, dg.ConfigurableResource | dg.ConfigurableIOManager):
            configurables[name] = type(resource)
    assert {"storage", "price_source", "compute", "parquet_io_manager"} <= set(configurables)
    for name, cls in configurables.items():
        for field_name, field in cls.model_fields.items():
            nested = isinstance(field.annotation, type) and issubclass(
                field.annotation, dg.ConfigurableResource
            )
            if nested:
                continue  # a nested resource (the io manager's storage), described by its fields
            assert field.description, f"{name}.{field_name} has no description"
    # and they reach the config schema the launchpad renders
    schema = defs.resolve_job_def("retraining_job").run_config_schema
    ops = schema.config_type.fields["ops"].config_type.fields
    training = ops["lstm_checkpoint"].config_type.fields["config"].config_type.fields
    assert training["warm_start"].description.startswith("Start from the weights")
    assert "gpu_pool" in training["device_num"].description


def test_daily_assets_share_weekday_partitions_and_run_ranges_in_one_run():
    graph = defs.resolve_asset_graph()
    for name in ("raw_prices", "price_quarantine", "price_features", "predictions"):
        node = graph.get(dg.AssetKey(name))
        keys = node.partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange("2018-01-12", "2018-01-16")
        )
        assert keys == ["2018-01-12", "2018-01-15", "2018-01-16"]  # weekend skipped
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_checkpoints_are_partitioned_by_weekly_cutoff_retried_and_backfilled_in_one_run():
    graph = defs.resolve_asset_graph()
    for name in ("lstm_checkpoint", "gru_checkpoint", "rnn_checkpoint"):
        node = graph.get(dg.AssetKey(name))
        keys = node.partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange("2018-03-23", "2018-04-13")
        )
        assert keys == ["2018-03-23", "2018-03-30", "2018-04-06", "2018-04-13"]  # Fridays
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        retry = defs.resolve_assets_def(name).op.retry_policy
        assert retry == dg.RetryPolicy(max_retries=2, delay=10)


def test_each_day_is_mapped_to_the_newest_cutoff_strictly_before_it():
    graph = defs.resolve_asset_graph()
    predictions, lstm = dg.AssetKey("predictions"), dg.AssetKey("lstm_checkpoint")
    mapping = graph.get_partition_mapping(predictions, lstm)
    days, cutoffs = graph.get(predictions).partitions_def, graph.get(lstm).partitions_def
    expected = {
        "2018-03-29": ["2018-03-23"],  # Thursday
        "2018-03-30": ["2018-03-23"],  # Friday: its own cut-off is not before it
        "2018-04-02": ["2018-03-30"],  # Monday
        "2016-01-08": [],  # the first cut-off is 2016-01-08: nothing before it
    }
    for day, upstream in expected.items():
        mapped = mapping.get_upstream_mapped_partitions_result_for_partitions(
            days.subset_with_partition_keys([day]), days, cutoffs
        )
        assert list(mapped.partitions_subset.get_partition_keys()) == upstream, day


def _imports_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(','.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return set(out.stdout.strip().split(","))


def test_core_imports_neither_dagster_nor_tensorflow():
    loaded = _imports_after("import finrnn_core")
    assert "dagster" not in loaded
    assert "tensorflow" not in loaded


def test_definitions_load_without_tensorflow():
    loaded = _imports_after("import finrnn_pipeline.definitions")
    assert "dagster" in loaded
    assert "tensorflow" not in loaded and "keras" not in loaded


def test_no_core_module_imports_dagster():
    for path in (REPO / "finrnn_core").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "dagster" for n in names), path


def test_no_output_can_fall_back_to_dagsters_pickling_io_manager(tmp_path):
    """The default io_manager is finrnn's guard: a value that would be pickled fails the run."""
    from finrnn_pipeline.definitions import build_resources
    from finrnn_pipeline.io_managers import NoPickleIOManager

    assert isinstance(defs.resources["io_manager"], NoPickleIOManager)

    @dg.asset
    def stray() -> dict:
        return {"would be": "pickled"}

    with pytest.raises(dg.DagsterInvariantViolationError, match=r"stray returned a dict .*"):
        dg.materialize([stray], resources=build_resources(str(tmp_path)))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing was written
