"""Train a model on the feature table up to a cut-off and keep everything needed to reuse it.

A trained checkpoint lives in ``<checkpoint_root>/<model_id>/cutoff=YYYY-MM-DD/``: the model's
TensorFlow checkpoint files and ``<model_id>.config.json`` (written by the model), plus
``training.json`` (this module): the cut-off, the scaling fitted on the training window, the
window sizes, the per-epoch history and the version string predictions are tagged with.

While it trains, the folder is ``.cutoff=YYYY-MM-DD.partial`` beside it. Every completed epoch
leaves a checkpoint and a line of ``epochs.jsonl`` there, so a step that dies (killed, out of
memory, pre-empted) and runs again resumes after its last completed epoch; the folder is renamed
into place only when training is done.
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
EPOCHS_FILE = "epochs.jsonl"
ATTEMPT_FILE = "attempt.json"
CELL_TYPES = ("lstm", "gru", "rnn")
# Fields that must match for a checkpoint's weights to load into a new network.
ARCHITECTURE_FIELDS = ("cell_type", "n_states", "n_layers", "n_time_steps", "forward_step")


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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
    spec: dict[str, Any] = field(default_factory=dict)
    """The :class:`TrainingSpec` it was trained with, as a dict."""
    train_start: str = ""
    """First date of a training window's rows; the window of data training saw is
    ``train_start..cutoff``."""
    warm_start_from: str = ""
    """Version of the checkpoint whose weights training started from ("" = from scratch)."""
    resumed_after_epoch: int = 0
    """Last epoch an earlier, interrupted attempt completed and this one resumed after (0 = none)."""
    device_assignment: str = ""
    """How the device was chosen, e.g. ``"gpu 1 (leased from pool [0, 1])"`` ("" = not recorded)."""
    mixed_precision: bool = False
    """Trained with float16 compute; loading it rebuilds the same optimizer structure."""

    @property
    def architecture(self) -> dict[str, Any]:
        return {k: self.spec.get(k) for k in ARCHITECTURE_FIELDS}

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

        overrides.setdefault("mixed_precision", self.mixed_precision)
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
    warm_start: TrainedCheckpoint | None = None,
    strategy: Any = None,
    mixed_precision: bool = False,
    device_assignment: str = "",
) -> TrainedCheckpoint:
    """Train ``spec`` on windows whose targets are realized on or before ``cutoff``, and save it.

    Rows dated after ``cutoff`` are dropped before anything else, so nothing later can leak in;
    the ``forward_step`` horizon is an embargo: a window ending at ``d`` is used only when its
    target date ``d + forward_step`` is on or before ``cutoff``.

    Training runs in ``<model_id>/.cutoff=YYYY-MM-DD.partial/``. When that folder holds
    completed epochs of the same spec and warm start (a killed or failed earlier attempt), this
    call resumes after the newest of them; otherwise it starts from ``warm_start``'s weights
    (continuing its epoch count, as the original framework's ``pre_trained_model`` did) or from
    scratch. The folder is renamed to ``cutoff=YYYY-MM-DD`` when training is done.

    Args:
        features: feature table (see :func:`finrnn_core.features.compute_features`).
        spec: the model and optimisation settings.
        cutoff: last date a training target may be realized on.
        checkpoint_root: folder holding one sub-folder per model id.
        device: ``"cpu"`` or ``"gpu"``.
        device_num: GPU index.
        strict_device: raise instead of falling back to CPU when the GPU is absent.
        callback: called after every epoch with ``(epoch, metrics)``.
        warm_start: an earlier checkpoint (cut-off before ``cutoff``, same architecture) to
            continue training from; ``None`` trains from scratch.
        strategy: a ``tf.distribute`` strategy to train under (see
            :func:`finrnn_core.distribute.make_strategy`); ``None``: one device.
        mixed_precision: float16 compute with float32 weights (a GPU speed-up).
        device_assignment: how the device was chosen (a ``DevicePlan.describe()``), recorded in
            ``training.json``.

    Returns:
        The saved :class:`TrainedCheckpoint`.

    Raises:
        ConfigError: ``warm_start`` has another architecture or a cut-off not before ``cutoff``.
        DataError: no training window is eligible at ``cutoff``.
    """
    from finrnn_core.models import GRU, LSTM, RNN

    cutoff_ts = pd.Timestamp(cutoff)
    if warm_start is not None:
        _check_warm_start(warm_start, spec, cutoff_ts)
    known = features[features["date"] <= cutoff_ts]
    training_set = build_training_set(
        known, spec.n_time_steps, spec.forward_step, cutoff_ts, spec.in_sample_fraction
    )
    model_id = spec.cell_type
    final_dir = Path(checkpoint_root) / model_id / f"cutoff={cutoff_ts:%Y-%m-%d}"
    work_dir = final_dir.parent / f".{final_dir.name}.partial"
    attempt = {
        "spec": spec.to_dict(),
        "warm_start_from": warm_start.version if warm_start else "",
        "mixed_precision": mixed_precision,
    }
    base_epoch = warm_start.epochs[-1] if warm_start is not None and warm_start.epochs else 0
    done_before = _prepare_work_dir(work_dir, attempt, epoch_end=base_epoch + spec.epochs)
    model_cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[spec.cell_type]

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        line = {"epoch": int(epoch), **{k: float(v) for k, v in metrics.items()}}
        with open(work_dir / EPOCHS_FILE, "a") as fh:
            fh.write(json.dumps(line) + "\n")
        if callback is not None:
            callback(epoch, metrics)

    model = model_cls(
        n_input_features=len(FEATURE_COLUMNS),
        n_output_features=1,
        device=device,
        device_num=device_num,
        strict_device=strict_device,
        model_id=model_id,
        model_dir=str(work_dir),
        strategy=strategy,
        mixed_precision=mixed_precision,
        **spec.model_kwargs(),
    )
    train_args: dict[str, Any] = {
        "data_feeder": training_set.feeder(),
        "epoch_end": base_epoch + spec.epochs,
        "callback": on_epoch,
    }
    if done_before:
        pass  # the model restores the newest completed epoch in work_dir by itself
    elif warm_start is not None:
        train_args["pre_trained_model"] = str(
            Path(warm_start.model_dir) / f"{model_id}_latest.ckpt"
        )
        train_args["epoch_prev"] = base_epoch
    else:
        train_args["restore_model"] = False
    history = model.train(**train_args)
    resumed_after = int(history["all_epochs"][0]) - 1 if done_before else 0
    per_epoch = _epoch_lines(work_dir, upto=base_epoch + spec.epochs)
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
        epochs=[int(line["epoch"]) for line in per_epoch],
        loss_per_epoch=[float(line.get("loss", float("nan"))) for line in per_epoch],
        corr_is_per_epoch=[float(line.get("corr_is", float("nan"))) for line in per_epoch],
        corr_oos_per_epoch=[float(line.get("corr_oos", float("nan"))) for line in per_epoch],
        corr_is=_pooled_corr(history["all_actual_is"], history["all_predicted_is"]),
        corr_oos=_pooled_corr(history["all_actual_oos"], history["all_predicted_oos"]),
        skipped_tickers=sorted(set(map(str, known["ticker"].unique())) - set(training_set.tickers)),
        spec=spec.to_dict(),
        train_start=training_set.scaling.fit_start,
        warm_start_from=attempt["warm_start_from"],
        resumed_after_epoch=resumed_after,
        device_assignment=device_assignment,
        mixed_precision=mixed_precision,
    )
    (work_dir / TRAINING_FILE).write_text(json.dumps(checkpoint.to_dict(), indent=2))
    _swap_into_place(work_dir, final_dir)
    return checkpoint


def warm_start_candidate(
    checkpoints: list[TrainedCheckpoint], spec: TrainingSpec, cutoff: str | pd.Timestamp
) -> tuple[TrainedCheckpoint | None, str]:
    """The newest checkpoint of ``spec``'s cell type with a cut-off before ``cutoff``, if usable.

    Returns:
        ``(checkpoint, "")``, or ``(None, why)`` when there is none or its architecture differs
        from ``spec`` (then training starts from scratch).
    """
    cutoff_ts = pd.Timestamp(cutoff)
    earlier = [
        c
        for c in checkpoints
        if c.model_id == spec.cell_type and pd.Timestamp(c.cutoff) < cutoff_ts
    ]
    if not earlier:
        return None, f"no {spec.cell_type} checkpoint with a cut-off before {cutoff_ts:%Y-%m-%d}"
    newest = max(earlier, key=lambda c: c.cutoff)
    wanted = {k: spec.to_dict()[k] for k in ARCHITECTURE_FIELDS}
    differ = {
        k: (newest.architecture[k], v) for k, v in wanted.items() if newest.architecture[k] != v
    }
    if differ:
        fields = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differ.items())
        return None, f"{newest.version} has another architecture ({fields})"
    return newest, ""


def _check_warm_start(warm: TrainedCheckpoint, spec: TrainingSpec, cutoff: pd.Timestamp) -> None:
    if not pd.Timestamp(warm.cutoff) < cutoff:
        raise ConfigError(
            f"`warm_start` must have a cut-off before {cutoff:%Y-%m-%d}. "
            f"Received: warm_start={warm.version!r} (cut-off {warm.cutoff})"
        )
    differ = [k for k in ARCHITECTURE_FIELDS if warm.architecture[k] != spec.to_dict()[k]]
    if differ:
        raise ConfigError(
            f"`warm_start` must have the architecture of `spec`; {', '.join(differ)} differ. "
            f"Received: warm_start={warm.version!r} with "
            + ", ".join(f"{k}={warm.architecture[k]!r}" for k in differ)
        )


def _prepare_work_dir(work_dir: Path, attempt: dict[str, Any], epoch_end: int) -> bool:
    """Keep an earlier attempt's work folder when it trained the same thing; True if it did.

    A folder whose attempt finished every epoch but died before the rename is started over:
    there is nothing left to train, and the history needs one epoch run in this process.
    """
    marker = work_dir / ATTEMPT_FILE
    if work_dir.exists():
        try:
            same = json.loads(marker.read_text()) == attempt
        except (OSError, ValueError):
            same = False
        recorded = {int(line["epoch"]) for line in _epoch_lines(work_dir, upto=epoch_end)}
        done = []
        for index in work_dir.glob("*_epoch_*.ckpt.index"):
            epoch = int(index.name.split("_epoch_")[1].split(".")[0])
            if epoch in recorded:
                done.append(epoch)
            else:
                # Killed after the epoch's checkpoint but before its metrics line: resume from
                # the epoch before, so the history has no hole.
                for path in work_dir.glob(index.name[: -len(".index")] + ".*"):
                    path.unlink()
        if same and done and max(done) < epoch_end:
            return True
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    marker.write_text(json.dumps(attempt, sort_keys=True))
    return False


def _epoch_lines(work_dir: Path, upto: int) -> list[dict[str, float]]:
    """Per-epoch metrics written so far, the latest line per epoch, for epochs up to ``upto``."""
    path = work_dir / EPOCHS_FILE
    lines: dict[int, dict[str, float]] = {}
    if path.exists():
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue  # a line cut short by a kill
            if int(line["epoch"]) <= upto:
                lines[int(line["epoch"])] = line
    return [lines[e] for e in sorted(lines)]


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
