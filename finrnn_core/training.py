"""Train a model on the feature table up to a cut-off and keep everything needed to reuse it.

A trained checkpoint lives in ``<checkpoint_root>/<model_id>/cutoff=YYYY-MM-DD/``: the model's
TensorFlow checkpoint files and ``<model_id>.config.json`` (written by the model), plus
``training.json`` (this module): the cut-off, the scaling fitted on the training window, the
window sizes, the per-epoch history and the version string predictions are tagged with.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finrnn_core.errors import CheckpointError, ConfigError
from finrnn_core.features import FEATURE_COLUMNS
from finrnn_core.metrics import pearson
from finrnn_core.windows import Scaling, build_training_set

TRAINING_FILE = "training.json"
CELL_TYPES = ("lstm", "gru", "rnn")


@dataclass(frozen=True)
class TrainingSpec:
    """What to train: the cell type, the network size and the optimisation settings.

    Field names are the model constructor's (see :class:`finrnn_core.models.RecurrentModel`),
    plus ``epochs`` and ``in_sample_fraction``.
    """

    cell_type: str = "lstm"
    n_states: int = 16
    n_layers: int = 2
    n_time_steps: int = 20
    forward_step: int = 1
    epochs: int = 4
    inner_iteration: int = 4
    start_learning_rate: float = 0.003
    decay_steps: int = 1
    decay_rate: float = 0.3
    l1_reg: float = 0.0
    l2_reg: float = 1e-4
    keep_prob: float = 0.9
    seed: int = 7
    in_sample_fraction: float = 0.8

    def __post_init__(self) -> None:
        if self.cell_type not in CELL_TYPES:
            raise ConfigError(
                f"`cell_type` must be one of {CELL_TYPES}. Received: cell_type={self.cell_type!r}"
            )
        if not isinstance(self.epochs, int) or self.epochs <= 0:
            raise ConfigError(f"`epochs` must be an integer > 0. Received: epochs={self.epochs!r}")

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the model constructor."""
        kwargs = asdict(self)
        for key in ("cell_type", "epochs", "in_sample_fraction"):
            kwargs.pop(key)
        return kwargs


@dataclass
class TrainedCheckpoint:
    """A model trained at one cut-off, as saved on disk."""

    model_id: str
    cell_type: str
    cutoff: str
    model_dir: str
    version: str
    n_time_steps: int
    forward_step: int
    feature_columns: list[str]
    scaling: Scaling
    split_date: str
    n_in_sample: int
    n_out_of_sample: int
    tickers: list[str]
    device_used: str
    epochs: list[int] = field(default_factory=list)
    loss_per_epoch: list[float] = field(default_factory=list)
    corr_is_per_epoch: list[float] = field(default_factory=list)
    corr_oos_per_epoch: list[float] = field(default_factory=list)
    corr_is: float = float("nan")
    corr_oos: float = float("nan")
    skipped_tickers: list[str] = field(default_factory=list)
    """Tickers in the features with no training window (history shorter than the window)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scaling"] = self.scaling.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainedCheckpoint:
        data = dict(data)
        data["scaling"] = Scaling.from_dict(data["scaling"])
        return cls(**data)

    @classmethod
    def read(cls, model_dir: str | Path) -> TrainedCheckpoint:
        """Read ``training.json`` from a checkpoint folder.

        Raises:
            CheckpointError: the file is missing or malformed.
        """
        path = Path(model_dir) / TRAINING_FILE
        try:
            data = json.loads(path.read_text())
            ckpt = cls.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"Cannot read checkpoint description {str(path)!r}: {exc}"
            ) from exc
        ckpt.model_dir = str(Path(model_dir))
        return ckpt

    def load_model(self, **overrides: Any) -> Any:
        """Rebuild the model and restore its latest weights (imports TensorFlow)."""
        from finrnn_core.models import RecurrentModel

        return RecurrentModel.load(self.model_dir, self.model_id, **overrides)


def train_checkpoint(
    features: pd.DataFrame,
    spec: TrainingSpec,
    cutoff: str | pd.Timestamp,
    checkpoint_root: str | Path,
    device: str = "cpu",
    device_num: int = 0,
    strict_device: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainedCheckpoint:
    """Train ``spec`` on windows whose targets are realized on or before ``cutoff``, and save it.

    Rows dated after ``cutoff`` are dropped before anything else, so nothing later can leak in.
    The folder is written under a temporary name and renamed into place when training is done.

    Args:
        features: feature table (see :func:`finrnn_core.features.compute_features`).
        spec: the model and optimisation settings.
        cutoff: last date a training target may be realized on.
        checkpoint_root: folder holding one sub-folder per model id.
        device: ``"cpu"`` or ``"gpu"``.
        device_num: GPU index.
        strict_device: raise instead of falling back to CPU when the GPU is absent.
        callback: called after every epoch with ``(epoch, metrics)``.

    Returns:
        The saved :class:`TrainedCheckpoint`.
    """
    from finrnn_core.models import GRU, LSTM, RNN

    cutoff_ts = pd.Timestamp(cutoff)
    known = features[features["date"] <= cutoff_ts]
    training_set = build_training_set(
        known, spec.n_time_steps, spec.forward_step, cutoff_ts, spec.in_sample_fraction
    )
    model_id = spec.cell_type
    final_dir = Path(checkpoint_root) / model_id / f"cutoff={cutoff_ts:%Y-%m-%d}"
    work_dir = final_dir.parent / f".{final_dir.name}.{uuid.uuid4().hex}.tmp"
    work_dir.mkdir(parents=True)
    model_cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[spec.cell_type]
    per_epoch: dict[str, list[float]] = {"corr_is": [], "corr_oos": []}

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        per_epoch["corr_is"].append(float(metrics.get("corr_is", float("nan"))))
        per_epoch["corr_oos"].append(float(metrics.get("corr_oos", float("nan"))))
        if callback is not None:
            callback(epoch, metrics)

    try:
        model = model_cls(
            n_input_features=len(FEATURE_COLUMNS),
            n_output_features=1,
            device=device,
            device_num=device_num,
            strict_device=strict_device,
            model_id=model_id,
            model_dir=str(work_dir),
            **spec.model_kwargs(),
        )
        history = model.train(
            data_feeder=training_set.feeder(),
            epoch_end=spec.epochs,
            restore_model=False,
            callback=on_epoch,
        )
        checkpoint = TrainedCheckpoint(
            model_id=model_id,
            cell_type=spec.cell_type,
            cutoff=f"{cutoff_ts:%Y-%m-%d}",
            model_dir=str(final_dir),
            version=f"{model_id}@{cutoff_ts:%Y-%m-%d}#{_fingerprint(model)}",
            n_time_steps=spec.n_time_steps,
            forward_step=spec.forward_step,
            feature_columns=list(FEATURE_COLUMNS),
            scaling=training_set.scaling,
            split_date=f"{training_set.split_date:%Y-%m-%d}",
            n_in_sample=training_set.n_in_sample,
            n_out_of_sample=training_set.n_out_of_sample,
            tickers=training_set.tickers,
            device_used=str(model.device_used),
            epochs=[int(e) for e in history["all_epochs"]],
            loss_per_epoch=[float(v) for v in history["all_losses_per_epoch"]],
            corr_is_per_epoch=per_epoch["corr_is"],
            corr_oos_per_epoch=per_epoch["corr_oos"],
            corr_is=_pooled_corr(history["all_actual_is"], history["all_predicted_is"]),
            corr_oos=_pooled_corr(history["all_actual_oos"], history["all_predicted_oos"]),
            skipped_tickers=sorted(
                set(map(str, known["ticker"].unique())) - set(training_set.tickers)
            ),
        )
        (work_dir / TRAINING_FILE).write_text(json.dumps(checkpoint.to_dict(), indent=2))
        _swap_into_place(work_dir, final_dir)
    finally:
        if work_dir.exists():
            shutil.rmtree(work_dir, ignore_errors=True)
    return checkpoint


def list_checkpoints(checkpoint_root: str | Path) -> list[TrainedCheckpoint]:
    """Every complete checkpoint under ``checkpoint_root``, sorted by model id then cut-off."""
    root = Path(checkpoint_root)
    found = []
    for path in sorted(root.glob("*/cutoff=*")):
        if path.is_dir() and (path / TRAINING_FILE).is_file():
            found.append(TrainedCheckpoint.read(path))
    return sorted(found, key=lambda c: (c.model_id, c.cutoff))


def _pooled_corr(actual: list[np.ndarray], predicted: list[np.ndarray]) -> float:
    if not actual:
        return float("nan")
    a = np.concatenate([np.ravel(x) for x in actual])
    p = np.concatenate([np.ravel(x) for x in predicted])
    return float(pearson(a, p))


def _fingerprint(model: Any) -> str:
    """Hash of the trained weights: equal weights give an equal version, whatever the file bytes."""
    digest = hashlib.sha256()
    for array in model.keras_model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:10]


def _swap_into_place(work_dir: Path, final_dir: Path) -> None:
    old = final_dir.parent / f".{final_dir.name}.{uuid.uuid4().hex}.old"
    if final_dir.exists():
        os.replace(final_dir, old)
    os.replace(work_dir, final_dir)
    shutil.rmtree(old, ignore_errors=True)
