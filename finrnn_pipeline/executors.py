"""Which Dagster executor runs the steps: this machine's processes, a Dask cluster, or Kubernetes.

`FINRNN_EXECUTOR` picks it when the definitions load:

* `multiprocess` (default): one process per step on this machine (`dg.multiprocess_executor`),
  so every training step sets its GPU before TensorFlow starts.
* `dask`: steps are submitted to an existing `dask.distributed` scheduler at
  `FINRNN_DASK_ADDRESS` (`dagster_dask.dask_executor`; extra `finrnn[dask]`). Each Dask worker
  process runs one step at a time when started with `--nthreads 1`.
* `k8s`: one Kubernetes Job per step (`dagster_k8s.k8s_job_executor`; extra `finrnn[k8s]`);
  `deploy/k8s/` holds the run config that gives each training step one GPU.

The integrations are imported only when chosen, so the default install needs neither.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

EXECUTOR_ENV = "FINRNN_EXECUTOR"
DASK_ADDRESS_ENV = "FINRNN_DASK_ADDRESS"
EXECUTOR_NAMES = ("multiprocess", "dask", "k8s")


def dask_executor(address: str) -> dg.ExecutorDefinition:
    """`dagster_dask.dask_executor` bound to an existing scheduler, e.g. `tcp://10.0.0.5:8786`."""
    from dagster_dask import dask_executor as executor

    return executor.configured({"cluster": {"existing": {"address": address}}}, name="dask")


def k8s_executor() -> dg.ExecutorDefinition:
    """`dagster_k8s.k8s_job_executor`; per-step GPUs come from the run config in deploy/k8s/."""
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor


def executor_from_env(environ: Any = None) -> dg.ExecutorDefinition:
    """The executor `FINRNN_EXECUTOR` names (`multiprocess`, `dask` or `k8s`).

    Raises:
        dg.DagsterInvariantViolationError: If the name is unknown or `dask` lacks its address.
    """
    environ = os.environ if environ is None else environ
    name = environ.get(EXECUTOR_ENV, "multiprocess") or "multiprocess"
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "dask":
        address = environ.get(DASK_ADDRESS_ENV, "")
        if not address:
            raise dg.DagsterInvariantViolationError(
                f"`{DASK_ADDRESS_ENV}` must be the scheduler address when {EXECUTOR_ENV}=dask. "
                f"Received: {DASK_ADDRESS_ENV}={address!r}"
            )
        return dask_executor(address)
    if name == "k8s":
        return k8s_executor()
    raise dg.DagsterInvariantViolationError(
        f"`{EXECUTOR_ENV}` must be one of {EXECUTOR_NAMES}. Received: {EXECUTOR_ENV}={name!r}"
    )
