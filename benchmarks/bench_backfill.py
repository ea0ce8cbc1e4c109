"""Backfill cost: the whole bundled history in one Dagster run vs one run per partition.

Three measurements, in this order (one process, one DagsterInstance: by default with SQLite
storage on disk, as ``dagster dev`` uses; real Parquet under temporary storage roots):

* one run per partition: ``raw_prices``, ``price_quarantine`` and ``price_features`` for each of
  ``--days`` consecutive weekday partitions, each its own ``materialize`` call. The prices the
  feature lookback needs are materialized first in one run, outside the timing (that run also
  warms the process up);
* one run for the whole range: the same three assets over every partition from the partitions'
  start to the last day of the bundled sample (``price_features`` is single-run, so this is
  the run a UI backfill of the range launches). The features of the ``--days`` days are then
  compared with those of the per-partition runs: both paths must store the same numbers;
* the same two paths as *launched* runs, the way a user or the daemon runs them:
  ``dagster asset materialize`` in a fresh process per run (``--partition D`` for each of
  ``--launched-days`` days, ``--partition-range`` for the whole range), against a SQLite
  ``DAGSTER_HOME`` on disk, with the definitions' default multiprocess executor (one more process
  per step). This is what one run per partition costs for real: process start, code load and
  run set-up come on top of the events the in-process timing counts. Skip with
  ``--skip-launched``;
* peak memory of ``build_training_set`` on the stored feature table (``n_time_steps`` 20, the
  ``TrainingSpec`` default, and 100), each variant in a fresh child process: its peak RSS
  (``VmHWM``, see :func:`vm_hwm_mb`) and the tracemalloc peak of the build step alone (numpy
  registers its buffers with tracemalloc; pyarrow's pool is not traced), beside the table's
  size in memory and on disk and the size of a dense ``(samples, n_time_steps, n_features)``
  float32 array. ``--replicate K`` repeats the table
  with K renamed copies of every ticker, to see how the figures scale.

Usage: ``python benchmarks/bench_backfill.py [--days 10] [--launched-days 5] [--replicate 20]
[--instance sqlite] [--skip-launched] [--skip-memory] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from finrnn_core.features import FEATURE_COLUMNS
from finrnn_core.storage import read_table
from finrnn_core.training import TrainingSpec
from finrnn_core.windows import build_training_set

# The console logger at WARNING: its DEBUG lines (one per event) would be timed too otherwise.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
PRICE_ASSETS = ["raw_prices", "price_quarantine"]
BACKFILL_ASSETS = [*PRICE_ASSETS, "price_features"]
MEMORY_VARIANTS = {
    "read": "read the stored feature table only",
    "build": "build_training_set",
    "build+feed": "build_training_set, then every batch of its feeder",
    "dense copy": "build, then np.concatenate of every window (the dense array)",
}


def sample_last_day() -> str:
    """Last date of the bundled sample (its files' ``Date`` column)."""
    from finrnn_pipeline.resources import SAMPLE_DATA_DIR

    last = max(
        pd.read_parquet(f, columns=["Date"])["Date"].max() for f in SAMPLE_DATA_DIR.glob("*")
    )
    return pd.Timestamp(last).strftime("%Y-%m-%d")


def weekday_keys(first: str, last: str) -> list[str]:
    """The trading-day partition keys from ``first`` to ``last``, inclusive."""
    from finrnn_pipeline.partitions import trading_days

    return [k for k in trading_days.get_partition_keys() if first <= k <= last]


def run(instance, root: Path, selection: list[str], first: str, last: str | None = None):
    """Materialize ``selection`` for one partition (``last`` None) or one range, in one run."""
    import dagster as dg

    from finrnn_pipeline.definitions import ALL_ASSETS, build_resources

    if last is None:
        kwargs = {"partition_key": first}
    else:
        kwargs = {
            "tags": {
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            }
        }
    result = dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=build_resources(str(root)),
        instance=instance,
        run_config=QUIET,
        **kwargs,
    )
    if not result.success:
        raise RuntimeError(f"run {first}..{last} failed")
    return result


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds from STEP_START to STEP_SUCCESS of each step of a run, from the event log."""
    began, took = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            began[entry.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            took[entry.step_key] = entry.timestamp - began[entry.step_key]
    return took


def code_load_seconds(repeats: int = 3) -> float:
    """Median seconds to start Python and import the definitions, as a launched run does first."""
    took = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import finrnn_pipeline.definitions"], check=True)
        took.append(time.perf_counter() - began)
    return float(np.median(took))


def launched_run(home: Path, root: Path, selection: list[str], first: str, last: str | None = None):
    """Seconds of one ``dagster asset materialize`` process: one partition, or ``first..last``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINRNN_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), FINRNN_STORAGE_ROOT=str(root), TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize"]
    cmd += ["-m", "finrnn_pipeline.definitions", "--select", ",".join(selection)]
    cmd += ["--config-json", json.dumps(QUIET)]
    cmd += ["--partition", first] if last is None else ["--partition-range", f"{first}...{last}"]
    began = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"launched run {first}..{last} failed:\n{done.stderr[-3000:]}")
    return took


def measure_launched(
    tmp_path: Path, lookback: list[str], days: list[str], all_keys: list[str]
) -> None:
    """Time both paths as launched runs (see the module docstring) and print the comparison."""
    home = tmp_path / "launched_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    daily_root, single_root = tmp_path / "launched_per_partition", tmp_path / "launched_single"
    launched_run(home, daily_root, PRICE_ASSETS, lookback[0], lookback[-1])  # untimed
    per_day = [launched_run(home, daily_root, BACKFILL_ASSETS, day) for day in days]
    single_s = launched_run(home, single_root, BACKFILL_ASSETS, all_keys[0], all_keys[-1])
    daily = read_table(daily_root / "price_features", days[0], days[-1])
    single = read_table(single_root / "price_features", days[0], days[-1])
    pd.testing.assert_frame_equal(daily, single)
    print()
    print(
        "launched runs (`dagster asset materialize`: a fresh process per run and per step, "
        "SQLite DAGSTER_HOME):"
    )
    print_comparison(
        per_day,
        single_s,
        len(all_keys),
        days[0],
        "launched per-partition runs / launched single run",
    )


def print_comparison(
    per_day: list[float],
    single_s: float,
    partitions: int,
    first_day: str,
    ratio_label: str,
    extra: str = "",
) -> tuple[float, float]:
    """Print the per-partition runs beside the single run and the ratio; return both costs."""
    per_part_daily = sum(per_day) / len(per_day)
    per_part_single = single_s / partitions
    print(f"{'':38}{'runs':>6}{'partitions':>12}{'seconds':>10}{'s/partition':>13}")
    print(
        f"{'one run per partition':38}{len(per_day):>6}{len(per_day):>12}"
        f"{sum(per_day):>10.2f}{per_part_daily:>13.4f}"
    )
    print(
        f"{'one run for the whole range':38}{1:>6}{partitions:>12}"
        f"{single_s:>10.2f}{per_part_single:>13.4f}"
    )
    print(
        f"per-partition runs, each (s): min {min(per_day):.2f}, "
        f"median {float(np.median(per_day)):.2f}, max {max(per_day):.2f}"
    )
    if extra:
        print(extra)
    ratio = per_part_daily / per_part_single
    verdict = "met" if ratio >= 100 else "NOT met"
    print(f"ratio per-partition cost, {ratio_label}: {ratio:.0f}x")
    print(f"target >= 100x: {verdict}; both paths stored identical features for {first_day}..")
    return per_part_daily, per_part_single


def load_features(store: Path, replicate: int) -> pd.DataFrame:
    """The stored feature table, with ``replicate`` renamed copies of every ticker."""
    features = read_table(store / "price_features")
    if replicate == 1:
        return features
    copies = [features.assign(ticker=features["ticker"] + f"~{i}") for i in range(replicate)]
    return pd.concat(copies, ignore_index=True)


def vm_hwm_mb() -> float:
    """This process's peak resident memory since its exec (``VmHWM``), in MB.

    Not ``ru_maxrss`` of the child: at exec Linux folds the forking parent's peak into it, and
    the parent holds Dagster and the backfilled tables by then.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_child(store: Path, replicate: int, n_time_steps: int, variant: str) -> None:
    """Run one memory variant (in a fresh process); print its figures as JSON."""
    features = load_features(store, replicate)
    out = {}
    if variant != "read":
        tracemalloc.start()
        spec = TrainingSpec(n_time_steps=n_time_steps)
        cutoff = features["date"].max()
        training = build_training_set(
            features, n_time_steps, spec.forward_step, cutoff, spec.in_sample_fraction
        )
        out["build_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        out["samples"] = training.n_windows
        out["largest_batch"] = max(len(index) for _, index, _ in training.batches)
        if variant == "build+feed":
            for X, *_ in training.feeder()():
                del X
        elif variant == "dense copy":
            dense = np.concatenate([w.X[index] for w, index, _ in training.batches])
            out["dense_mb"] = dense.nbytes / 2**20
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    out["peak_rss_mb"] = vm_hwm_mb()
    print(json.dumps(out))


def peak_rss(args: argparse.Namespace, store: Path, replicate: int, steps: int, variant: str):
    """Peak resident memory (MB, the child's VmHWM) and its figures, one variant alone."""
    cmd = [sys.executable, __file__, "--store", str(store), "--replicate", str(replicate)]
    cmd += ["--n-time-steps", str(steps), "--only", variant]
    child = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"{variant} (n_time_steps={steps}) failed:\n{child.stderr}")
    figures = json.loads(child.stdout)
    return figures.pop("peak_rss_mb"), figures


def table_size(store: Path, replicate: int) -> tuple[int, float, float, float]:
    """Rows, MB in memory (pandas, deep), MB of Parquet bytes, MB of disk blocks (x replicate)."""
    features = load_features(store, 1)
    files = list((store / "price_features").glob("date=*/*.parquet"))
    parquet = sum(f.stat().st_size for f in files) * replicate / 2**20
    blocks = sum(f.stat().st_blocks * 512 for f in files) * replicate / 2**20
    in_memory = features.memory_usage(deep=True).sum() * replicate / 2**20
    return len(features) * replicate, in_memory, parquet, blocks


def cell(value: float | None, fmt: str) -> str:
    """A table cell: ``value`` formatted, or ``-`` where the variant has no such figure."""
    return "-" if value is None else format(value, fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10, help="per-partition runs to time")
    parser.add_argument("--first-day", default="2018-06-01", help="first of the --days days")
    parser.add_argument("--end", default=None, help="last day of the single run (sample's last)")
    parser.add_argument("--replicate", type=int, default=20, help="ticker copies, 2nd memory row")
    parser.add_argument(
        "--instance",
        choices=["sqlite", "ephemeral"],
        default="sqlite",
        help="Dagster instance: SQLite storage on disk (as dagster dev) or in memory",
    )
    parser.add_argument(
        "--launched-days", type=int, default=5, help="per-partition launched runs to time"
    )
    parser.add_argument(
        "--skip-launched", action="store_true", help="no `dagster asset materialize` runs"
    )
    parser.add_argument("--skip-memory", action="store_true", help="backfill timings only")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="single run over 2016 only; 3 in-process and 2 launched per-partition runs",
    )
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-time-steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=list(MEMORY_VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        memory_child(args.store, args.replicate, args.n_time_steps, args.only)
        return
    if args.quick:
        args.days, args.first_day, args.end = 3, "2016-11-01", "2016-12-30"
        args.launched_days = 2

    import dagster as dg

    from finrnn_pipeline.assets.features import LOOKBACK_PARTITIONS
    from finrnn_pipeline.partitions import PARTITIONS_START

    end = args.end or sample_last_day()
    all_keys = weekday_keys(PARTITIONS_START, end)
    i = all_keys.index(args.first_day)
    days = all_keys[i : i + args.days]
    lookback = all_keys[max(0, i - LOOKBACK_PARTITIONS) : i]
    print(
        f"single run: {len(all_keys)} partitions {all_keys[0]}..{all_keys[-1]}; "
        f"per-partition runs: {len(days)} ({days[0]}..{days[-1]}), "
        f"after {len(lookback)} lookback partitions of prices in one untimed run"
    )

    with tempfile.TemporaryDirectory(prefix="finrnn_bench_backfill_") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "dagster_home"
        home.mkdir()
        if args.instance == "sqlite":
            instance = dg.DagsterInstance.local_temp(str(home))
        else:
            instance = dg.DagsterInstance.ephemeral(str(home))
        daily_root, single_root = tmp_path / "per_partition", tmp_path / "single"

        run(instance, daily_root, PRICE_ASSETS, lookback[0], lookback[-1])  # untimed warm-up
        per_day = []
        for day in days:
            began = time.perf_counter()
            run(instance, daily_root, BACKFILL_ASSETS, day)
            per_day.append(time.perf_counter() - began)

        began = time.perf_counter()
        result = run(instance, single_root, BACKFILL_ASSETS, all_keys[0], all_keys[-1])
        single_s = time.perf_counter() - began
        steps = step_seconds(instance, result.run_id)

        daily = read_table(daily_root / "price_features", days[0], days[-1])
        single = read_table(single_root / "price_features", days[0], days[-1])
        pd.testing.assert_frame_equal(daily, single)
        stored = read_table(single_root / "price_features", columns=["ticker"])
        written = len(list((single_root / "price_features").glob("date=*/part-0.parquet")))
        if written != len(all_keys):
            raise RuntimeError(f"{written} feature partitions written, {len(all_keys)} expected")

        print()
        per_part_daily, per_part_single = print_comparison(
            per_day,
            single_s,
            len(all_keys),
            days[0],
            "per-partition runs / single run",
            extra="single run, steps (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(steps.items()))
            + f"; {len(stored):,} feature rows stored",
        )
        load_s = code_load_seconds()
        with_load = (per_part_daily + load_s) / per_part_single
        print(
            f"not timed above: a run launched by the daemon or UI starts a process and loads the "
            f"code first: python + import finrnn_pipeline.definitions = {load_s:.2f} s (median "
            f"of 3); with it, ratio >= {with_load:.0f}x"
        )
        if not args.skip_launched:
            measure_launched(tmp_path, lookback, days[: args.launched_days], all_keys)

        if args.skip_memory:
            instance.dispose()
            return
        print()
        print("build_training_set, peak memory (each variant alone in a fresh child process):")
        for name, text in MEMORY_VARIANTS.items():
            print(f"  {name}: {text}")
        n_features = len(FEATURE_COLUMNS)
        for replicate in sorted({1, args.replicate}):
            rows, in_mem, parquet, blocks = table_size(single_root, replicate)
            label = "stored table" if replicate == 1 else f"stored table x{replicate} tickers"
            print(
                f"\n{label}: {rows:,} rows; {in_mem:.1f} MB in pandas, {parquet:.1f} MB Parquet "
                f"({blocks:.1f} MB of disk blocks)"
            )
            print(
                f"{'n_time_steps':>12}  {'variant':<12}{'samples':>10}{'dense f32 MB':>14}"
                f"{'peak RSS MB':>13}{'build traced MB':>17}{'all traced MB':>15}"
            )
            for steps_n in (TrainingSpec().n_time_steps, 100):
                for variant in MEMORY_VARIANTS:
                    rss, child = peak_rss(args, single_root, replicate, steps_n, variant)
                    samples = child.get("samples")
                    dense = None if samples is None else samples * steps_n * n_features * 4 / 2**20
                    print(
                        f"{steps_n:>12}  {variant:<12}{cell(samples, ',.0f'):>10}"
                        f"{cell(dense, '.1f'):>14}{rss:>13,.0f}"
                        f"{cell(child.get('build_peak_mb'), '.1f'):>17}"
                        f"{cell(child.get('traced_peak_mb'), '.1f'):>15}"
                    )
        instance.dispose()


if __name__ == "__main__":
    main()
