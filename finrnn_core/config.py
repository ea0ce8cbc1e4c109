"""The hyperparameters of one recurrent model, validated on creation and saved as JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

from finrnn_core.errors import ConfigError

CELL_TYPES = ("lstm", "gru", "rnn")
DEVICES = ("cpu", "gpu")
ACTIVATIONS = ("tanh", "relu", "sigmoid", "elu", "selu", "softsign", "linear")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: Largest accepted `seed`: TensorFlow takes seeds as int64, and each layer's is derived from it.
MAX_SEED = 2**32 - 1


def _fail(name: str, rule: str, value: Any) -> ConfigError:
    return ConfigError(f"`{name}` {rule}. Received: {name}={value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of one LSTM / GRU / RNN model.

    Defaults are those of the original framework. Every field is checked in
    `__post_init__`, so an instance that exists is valid.

    Args:
        cell_type: Recurrent cell, one of `"lstm"`, `"gru"`, `"rnn"`.
        n_input_features: Features per time step, the last axis of
            `(batch, n_time_steps, n_input_features)`. Defaults to 10.
        n_output_features: Targets per sample, the last axis of
            `(batch, n_output_features)`. Defaults to 1.
        batch_size: Fixed batch size, or `None` for any. Defaults to `None`.
        n_states: Units of every recurrent layer. Defaults to 50.
        n_layers: Stacked recurrent layers. Defaults to 2.
        n_time_steps: Time steps per sample. Defaults to 100.
        l1_reg: L1 penalty on all trainable weights, `>= 0`. Defaults to 0.05.
        l2_reg: L2 penalty on all trainable weights, `>= 0`. Defaults to 0.01.
        start_learning_rate: Adam learning rate at epoch 0, `> 0`. Defaults to 0.001.
        decay_steps: Learning-rate decay period, in fractions of the run, `> 0`.
            Defaults to 1.
        decay_rate: Learning-rate decay factor in `(0, 1]`. Defaults to 0.3.
        inner_iteration: Optimiser steps per batch per epoch, `> 0`. Defaults to 10.
        forward_step: How many steps ahead the target lies, `> 0`. Defaults to 1.
        device: `"cpu"` or `"gpu"`. Defaults to `"gpu"`.
        device_num: Index of the device, `>= 0`. Defaults to 0.
        activation: Activation of the recurrent cells. Defaults to `"tanh"`.
        keep_prob: Probability of keeping a unit in dropout, in `(0, 1]`.
            Defaults to 0.5.
        seed: Random seed, or `None` for a random start. Defaults to `None`.
        model_id: Name used in checkpoint file names. Defaults to `cell_type`.

    Raises:
        ConfigError: If any field has the wrong type or is out of range.
    """

    cell_type: str
    n_input_features: int = 10
    n_output_features: int = 1
    batch_size: int | None = None
    n_states: int = 50
    n_layers: int = 2
    n_time_steps: int = 100
    l1_reg: float = 0.05
    l2_reg: float = 0.01
    start_learning_rate: float = 0.001
    decay_steps: float = 1
    decay_rate: float = 0.3
    inner_iteration: int = 10
    forward_step: int = 1
    device: str = "gpu"
    device_num: int = 0
    activation: str = "tanh"
    keep_prob: float = 0.5
    seed: int | None = None
    model_id: str | None = field(default=None)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            # numpy scalars (np.int64 from a grid, np.float32) are stored as the Python numbers
            # they stand for, so the config validates and saves as JSON like any other.
            value = getattr(self, f.name)
            if isinstance(value, numbers.Integral) and type(value) not in (int, bool):
                object.__setattr__(self, f.name, int(value))
            elif isinstance(value, numbers.Real) and type(value) not in (int, float, bool):
                object.__setattr__(self, f.name, float(value))
        if not isinstance(self.cell_type, str) or self.cell_type not in CELL_TYPES:
            raise _fail("cell_type", f"must be one of {CELL_TYPES}", self.cell_type)

        for name in (
            "n_input_features",
            "n_output_features",
            "n_states",
            "n_layers",
            "n_time_steps",
            "inner_iteration",
            "forward_step",
        ):
            value = getattr(self, name)
            if not _is_int(value):
                raise _fail(name, "must be an integer", value)
            if value <= 0:
                raise _fail(name, "must be > 0", value)

        if self.batch_size is not None:
            if not _is_int(self.batch_size):
                raise _fail("batch_size", "must be an integer or None", self.batch_size)
            if self.batch_size <= 0:
                raise _fail("batch_size", "must be > 0", self.batch_size)

        for name in ("l1_reg", "l2_reg"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise _fail(name, "must be a finite number", value)
            if value < 0:
                raise _fail(name, "must be >= 0", value)

        for name in ("start_learning_rate", "decay_steps"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise _fail(name, "must be a finite number", value)
            if value <= 0:
                raise _fail(name, "must be > 0", value)

        for name in ("decay_rate", "keep_prob"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise _fail(name, "must be a finite number", value)
            if not 0 < value <= 1:
                raise _fail(name, "must be in (0, 1]", value)

        if not isinstance(self.device, str) or self.device.lower() not in DEVICES:
            raise _fail("device", f"must be one of {DEVICES}", self.device)
        if self.device != self.device.lower():
            object.__setattr__(self, "device", self.device.lower())

        if not _is_int(self.device_num):
            raise _fail("device_num", "must be an integer", self.device_num)
        if self.device_num < 0:
            raise _fail("device_num", "must be >= 0", self.device_num)

        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise _fail("activation", f"must be one of {ACTIVATIONS}", self.activation)

        if self.seed is not None:
            if not _is_int(self.seed):
                raise _fail("seed", "must be an integer or None", self.seed)
            if not 0 <= self.seed <= MAX_SEED:
                raise _fail("seed", f"must be between 0 and {MAX_SEED} (2**32 - 1)", self.seed)

        if self.model_id is None:
            object.__setattr__(self, "model_id", self.cell_type)
        elif not isinstance(self.model_id, str) or not self.model_id:
            raise _fail("model_id", "must be a non-empty string or None", self.model_id)
        elif any(sep in self.model_id for sep in ("/", "\\", os.sep)):
            raise _fail("model_id", "must not contain a path separator", self.model_id)

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a plain, JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Builds a config from a dict such as `to_dict()` returns.

        Args:
            values: Field names to values; missing fields take their defaults.

        Returns:
            The validated config.

        Raises:
            ConfigError: If `values` is not a dict, has keys that are not fields,
                lacks `cell_type`, or holds an invalid value.
        """
        if not isinstance(values, dict):
            raise _fail("values", "must be a dict", values)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(
                f"Unknown ModelConfig fields: {unknown}. Valid fields: {sorted(names)}"
            )
        if "cell_type" not in values:
            raise ConfigError("`cell_type` is required. Received: no cell_type")
        return cls(**values)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Writes the config as JSON to `path`.

        Args:
            path: File to write; its folder must exist.
        """
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> ModelConfig:
        """Reads a config written by `to_json`.

        Args:
            path: JSON file to read.

        Returns:
            The validated config.

        Raises:
            ConfigError: If the file is missing, is not a JSON object, or holds
                unknown or invalid fields.
        """
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"Cannot read model config from {os.fspath(path)!r}: {exc}") from exc
        return cls.from_dict(values)
