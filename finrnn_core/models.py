"""Deep LSTM / GRU / RNN containers: build, train, checkpoint, restore and predict.

TensorFlow and Keras are imported inside the methods that need them, so importing
this module is cheap and GPU visibility can still be set before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import numbers
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import numpy as np

from finrnn_core.config import ModelConfig
from finrnn_core.devices import resolve_device
from finrnn_core.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    NotTrainedError,
    TrainingDivergedError,
)
from finrnn_core.metrics import pearson

logger = logging.getLogger("finrnn_core")

#: Config fields that must agree between a checkpoint and the model it is restored
#: into: they fix the weights' shapes or what the weights mean. Training knobs
#: (learning rate, regularisation, dropout, device, seed, model_id) may differ, so a
#: checkpoint can be fine-tuned with new settings or moved to another device.
ARCHITECTURE_FIELDS = (
    "cell_type",
    "n_input_features",
    "n_output_features",
    "n_states",
    "n_layers",
    "n_time_steps",
    "activation",
    "forward_step",
)

_CHECKPOINT_NAME = re.compile(r"^(?P<model_id>.+)_(?:epoch_(?P<epoch>\d+)|latest)\.ckpt$")


class _RetracingOfOurSteps(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning about this module's steps.

    Each step has a fixed input signature, so it is traced once per model; TensorFlow counts
    the traces of every model built from the same code together and, once a process holds a
    few models (predicting from several cut-offs), warns at every new one as if it were a bug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("triggered tf.function retracing" in text and "RecurrentModel." in text)


_RETRACING_OF_OUR_STEPS = _RetracingOfOurSteps()

#: One batch from a data feeder: `(X, y, y_mean, y_std, in_sample_size)`.
Batch = tuple[Any, Any, Any, Any, Any]
DataFeeder = Callable[[], Iterable[Batch]]


def _config_path(model_dir: str, model_id: str) -> str:
    return os.path.join(model_dir, f"{model_id}.config.json")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if value < minimum:
        raise ConfigError(f"`{name}` must be >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _read_saved_config(path: str) -> ModelConfig:
    """The `ModelConfig` a checkpoint folder's `<model_id>.config.json` holds, every field set.

    A missing field is refused rather than defaulted: a default `n_states` would make a
    checkpoint of another size look like a mismatch, or fail to restore with shape errors.

    Raises:
        One of `_SAVED_CONFIG_ERRORS`; the callers name the file.
    """
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
    if isinstance(values, dict):  # anything else is refused by from_dict, by name
        values.pop("epochs_trained", None)
        missing = sorted({f.name for f in dataclasses.fields(ModelConfig)} - set(values))
        if missing:
            raise ConfigError(f"it lacks the field(s) {missing}")
    return ModelConfig.from_dict(values)


_SAVED_CONFIG_ERRORS = (OSError, json.JSONDecodeError, ConfigError, AttributeError)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def _check_path(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str | os.PathLike):
        raise ConfigError(f"`{name}` must be a path or None. Received: {name}={value!r}")
    return None if value is None else os.fspath(value)


def _check_finite(arr: np.ndarray, name: str, axes: tuple[str, ...]) -> None:
    """Raises `DataError` naming the first non-finite entry of `arr` by its index on `axes`."""
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = ", ".join(f"{axis} {int(i)}" for axis, i in zip(axes, first, strict=True))
        raise DataError(
            f"`{name}` must hold only finite values. Received: {arr[tuple(first)]} at {where} "
            f"({int(bad.sum())} non-finite value(s) in all)"
        )


class RecurrentModel:
    """Base class of the `LSTM`, `GRU` and `RNN` containers.

    The network is `Input(n_time_steps, n_input_features)` → `n_layers` recurrent
    layers of `n_states` units, each followed by dropout (`1 - keep_prob`, training
    only) → `Dense(n_output_features)` on the last layer's final hidden state.
    Layer defaults are kept so the fused cuDNN kernel is used on a GPU for LSTM and
    GRU with `activation="tanh"` (see `fused_gpu_kernel`). Several instances may
    train at once, in threads or processes, each on its own device.

    Args:
        n_input_features: Features per time step. Defaults to 10.
        n_output_features: Targets per sample. Defaults to 1.
        batch_size: Fixed batch size or `None`. Recorded only. Defaults to `None`.
        n_states: Units per recurrent layer. Defaults to 50.
        n_layers: Stacked recurrent layers. Defaults to 2.
        n_time_steps: Time steps per sample. Defaults to 100.
        l1_reg: L1 penalty on all trainable weights. Defaults to 0.05.
        l2_reg: L2 penalty on all trainable weights. Defaults to 0.01.
        start_learning_rate: Adam learning rate at epoch 0. Defaults to 0.001.
        decay_steps: Decay period; the learning rate at `epoch` is
            `start_learning_rate * decay_rate ** ((epoch / epoch_end) / decay_steps)`.
            Defaults to 1.
        decay_rate: Decay factor in `(0, 1]`. Defaults to 0.3.
        inner_iteration: Adam steps per batch per epoch. Defaults to 10.
        forward_step: Steps ahead the target lies. Recorded only. Defaults to 1.
        device: `"cpu"` or `"gpu"`. Defaults to `"gpu"`.
        device_num: Device index. Defaults to 0.
        activation: Activation of the recurrent cells. Defaults to `"tanh"`.
        keep_prob: Dropout keep probability in `(0, 1]`. Defaults to 0.5.
        seed: Seed for initial weights and dropout; same seed and data give the
            same result. Defaults to `None` (random).
        model_id: Name in checkpoint file names. Defaults to the cell type.
        model_dir: Checkpoint folder, created if missing. Defaults to a new
            folder `finrnn_<model_id>_*` in the system's temp folder, which is kept
            (its checkpoints outlive the object, for `load` or a resume): pass a
            folder of your own for anything you train often.
        log_dir: Folder for TensorBoard: per-epoch training scalars (only when
            given) and `show_graph`'s graph. Defaults to `<model_dir>/logs` for
            `show_graph` and no scalars.
        strict_device: Raise `DeviceError` instead of falling back to the CPU
            when the requested GPU is missing. Defaults to `False`.
        strategy: A `tf.distribute.Strategy` (see `finrnn_core.distribute.make_strategy`)
            to build and train under; every batch's in-sample rows are split across its
            replicas and the gradients summed, so without dropout the result matches one
            device. `device`/`device_num` are then recorded only. Defaults to `None`.
        mixed_precision: Run the recurrent layers in float16 with float32 variables, a
            float32 output layer and loss scaling (a GPU feature; on the CPU it only
            tests the path). Defaults to `False`.

    Raises:
        ConfigError: If a hyperparameter is invalid.
        DeviceError: If `strict_device` is set and the GPU is missing.
    """

    CELL_TYPE: ClassVar[str] = ""

    def __init__(
        self,
        *,
        n_input_features: int = 10,
        n_output_features: int = 1,
        batch_size: int | None = None,
        n_states: int = 50,
        n_layers: int = 2,
        n_time_steps: int = 100,
        l1_reg: float = 0.05,
        l2_reg: float = 0.01,
        start_learning_rate: float = 0.001,
        decay_steps: float = 1,
        decay_rate: float = 0.3,
        inner_iteration: int = 10,
        forward_step: int = 1,
        device: str = "gpu",
        device_num: int = 0,
        activation: str = "tanh",
        keep_prob: float = 0.5,
        seed: int | None = None,
        model_id: str | None = None,
        model_dir: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        strict_device: bool = False,
        strategy: Any = None,
        mixed_precision: bool = False,
    ) -> None:
        if not self.CELL_TYPE:
            raise TypeError(
                "RecurrentModel is abstract; build an LSTM, GRU or RNN, "
                "or use RecurrentModel.load()."
            )
        self._config = ModelConfig(
            cell_type=self.CELL_TYPE,
            n_input_features=n_input_features,
            n_output_features=n_output_features,
            batch_size=batch_size,
            n_states=n_states,
            n_layers=n_layers,
            n_time_steps=n_time_steps,
            l1_reg=l1_reg,
            l2_reg=l2_reg,
            start_learning_rate=start_learning_rate,
            decay_steps=decay_steps,
            decay_rate=decay_rate,
            inner_iteration=inner_iteration,
            forward_step=forward_step,
            device=device,
            device_num=device_num,
            activation=activation,
            keep_prob=keep_prob,
            seed=seed,
            model_id=model_id,
        )
        model_dir = _check_path("model_dir", model_dir)
        log_dir = _check_path("log_dir", log_dir)
        if not isinstance(strict_device, bool):
            raise ConfigError(
                f"`strict_device` must be True or False. Received: strict_device={strict_device!r}"
            )
        if not isinstance(mixed_precision, bool):
            raise ConfigError(
                "`mixed_precision` must be True or False. "
                f"Received: mixed_precision={mixed_precision!r}"
            )
        if strategy is not None and not hasattr(strategy, "scope"):
            raise ConfigError(
                f"`strategy` must be a tf.distribute.Strategy or None. Received: {strategy!r}"
            )
        self._strategy = strategy
        self._mixed_precision = mixed_precision
        if strategy is None:
            self._device_used = resolve_device(
                self._config.device, self._config.device_num, strict=strict_device
            )
        else:
            self._device_used = ",".join(strategy.extended.worker_devices)
        # Folders last: a constructor that refuses its arguments leaves nothing behind.
        if model_dir is None:
            model_dir = tempfile.mkdtemp(prefix=f"finrnn_{self._config.model_id}_")
        try:
            os.makedirs(model_dir, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"`model_dir` must be a folder that can be created. Received: "
                f"model_dir={model_dir!r} ({exc.strerror or exc})"
            ) from exc
        self._model_dir = model_dir
        self._log_dir = log_dir
        self._trained = False
        self._last_metrics: dict[str, float] = {}
        self._last_checkpoint: str | None = None
        self._summary_writer: Any = None
        self._build()

    # ------------------------------------------------------------------ building

    @staticmethod
    def _recurrent_layer_class(keras: Any) -> Any:
        raise NotImplementedError

    def _placement(self) -> Any:
        """The strategy's scope, or the device the model lives on."""
        import tensorflow as tf

        if self._strategy is not None:
            return self._strategy.scope()
        return tf.device(self._device_used)

    def _build(self) -> None:
        """(Re)creates network, optimiser, epoch counter and compiled steps."""
        import keras
        import tensorflow as tf

        tf.get_logger().addFilter(_RETRACING_OF_OUR_STEPS)
        cfg = self._config
        layer_class = self._recurrent_layer_class(keras)

        def seeded(offset: int) -> int | None:
            return None if cfg.seed is None else cfg.seed * 1000 + offset

        # Dropout masks are a pure function of (seed, epoch, batch, step, layer), so a run
        # resumed from a checkpoint draws the same masks as an uninterrupted one and two
        # models never share random state.
        base_seed = cfg.seed if cfg.seed is not None else int(np.random.SeedSequence().entropy)
        base_seed %= 2**62
        # float16 compute, float32 variables; the output layer and the loss stay float32.
        policy = "mixed_float16" if self._mixed_precision else None
        with self._placement():
            step_seed = tf.Variable([base_seed, 0], dtype=tf.int64, trainable=False)
            inputs = keras.Input(shape=(cfg.n_time_steps, cfg.n_input_features), name="windows")
            x = inputs
            for i in range(cfg.n_layers):
                init_kwargs: dict[str, Any] = {}
                if cfg.seed is not None:
                    init_kwargs = {
                        "kernel_initializer": keras.initializers.GlorotUniform(
                            seed=seeded(10 * i + 1)
                        ),
                        "recurrent_initializer": keras.initializers.Orthogonal(
                            seed=seeded(10 * i + 2)
                        ),
                    }
                # Layer defaults (tanh / sigmoid, no recurrent dropout, unroll=False,
                # use_bias, GRU reset_after) keep the fused cuDNN kernel eligible.
                x = layer_class(
                    cfg.n_states,
                    activation=cfg.activation,
                    return_sequences=i < cfg.n_layers - 1,
                    seed=seeded(10 * i + 3),
                    name=f"{cfg.cell_type}_{i}",
                    dtype=policy,
                    **init_kwargs,
                )(x)
                x = _stateless_dropout_class()(
                    1.0 - cfg.keep_prob, step_seed, layer_index=i, name=f"dropout_{i}", dtype=policy
                )(x)
            dense_kwargs: dict[str, Any] = {}
            if cfg.seed is not None:
                dense_kwargs["kernel_initializer"] = keras.initializers.GlorotUniform(
                    seed=seeded(999)
                )
            if policy is not None:
                dense_kwargs["dtype"] = "float32"
            outputs = keras.layers.Dense(cfg.n_output_features, name="output", **dense_kwargs)(x)
            model = keras.Model(inputs, outputs, name=cfg.model_id)
            optimizer = keras.optimizers.Adam(learning_rate=cfg.start_learning_rate)
            if self._mixed_precision:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            # Built up front so the train step's loop creates no variables.
            optimizer.build(model.trainable_variables)
            epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

        self._model = model
        self._optimizer = optimizer
        self._epoch = epoch
        self._base_seed = base_seed
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)

        x_spec = tf.TensorSpec([None, cfg.n_time_steps, cfg.n_input_features], tf.float32)
        y_spec = tf.TensorSpec([None, cfg.n_output_features], tf.float32)
        int_spec = tf.TensorSpec([], tf.int64)
        l1 = float(cfg.l1_reg)
        l2 = float(cfg.l2_reg)
        weights = model.trainable_variables

        # All `inner_iteration` steps of a batch run inside one graph call: no Python
        # between steps. XLA is not used: on CPU it made these recurrent loops several
        # times slower, and on a GPU it would rule out the fused cuDNN kernel.
        @tf.function(
            input_signature=[x_spec, y_spec, tf.TensorSpec([], tf.int32), int_spec, int_spec]
        )
        def train_step(x: Any, y: Any, steps: Any, epoch: Any, batch: Any) -> Any:
            batch_seed = _batch_seed(tf, base_seed, epoch, batch)
            loss = tf.constant(0.0, tf.float32)
            for step in tf.range(steps):
                step_seed.assign(_step_seed(tf, batch_seed, step))
                with tf.GradientTape() as tape:
                    predicted = model(x, training=True)
                    loss = tf.reduce_mean(tf.square(predicted - y))
                    if l1:
                        loss += l1 * tf.add_n([tf.reduce_sum(tf.abs(w)) for w in weights])
                    if l2:
                        loss += l2 * tf.add_n([tf.reduce_sum(tf.square(w)) for w in weights])
                    scaled = scale(loss)
                if not tf.math.is_finite(loss):
                    break  # keep the weights from before the step that diverged
                grads = tape.gradient(scaled, weights)
                optimizer.apply_gradients(zip(grads, weights, strict=True))
            return loss

        mixed = self._mixed_precision

        def scale(loss: Any) -> Any:
            return optimizer.scale_loss(loss) if mixed else loss

        strategy = self._strategy
        if strategy is not None:
            train_step = self._distributed_train_step(
                strategy, model, optimizer, step_seed, base_seed, scale, x_spec, y_spec
            )

        @tf.function(input_signature=[x_spec])
        def predict_step(x: Any) -> Any:
            return model(x, training=False)

        self._train_step = train_step
        self._predict_step = predict_step

    def _distributed_train_step(
        self,
        strategy: Any,
        model: Any,
        optimizer: Any,
        step_seed: Any,
        base_seed: int,
        scale: Callable[[Any], Any],
        x_spec: Any,
        y_spec: Any,
    ) -> Any:
        """The train step under a `tf.distribute` strategy: rows split across replicas.

        Replica `r` of `n` takes rows `r, r + n, ...`; its loss is its squared errors over the
        global row count plus `1/n` of the penalties, so the summed gradients equal the
        single-device gradient. The loss is all-reduced before the weights move, so a
        non-finite loss stops every replica (and every worker) before the same step.
        """
        import tensorflow as tf

        cfg = self._config
        l1 = float(cfg.l1_reg)
        l2 = float(cfg.l2_reg)
        weights = model.trainable_variables
        n_out = float(cfg.n_output_features)
        sum_op = tf.distribute.ReduceOp.SUM

        def replica_loss(x: Any, y: Any) -> Any:
            ctx = tf.distribute.get_replica_context()
            n_replicas = ctx.num_replicas_in_sync
            rows = tf.range(ctx.replica_id_in_sync_group, tf.shape(x)[0], n_replicas)
            total = tf.cast(tf.shape(x)[0], tf.float32) * n_out
            with tf.GradientTape() as tape:
                predicted = model(tf.gather(x, rows), training=True)
                loss = tf.reduce_sum(tf.square(predicted - tf.gather(y, rows))) / total
                penalty = tf.constant(0.0, tf.float32)
                if l1:
                    penalty += l1 * tf.add_n([tf.reduce_sum(tf.abs(w)) for w in weights])
                if l2:
                    penalty += l2 * tf.add_n([tf.reduce_sum(tf.square(w)) for w in weights])
                loss += penalty / n_replicas
                scaled = scale(loss)
            grads = tape.gradient(scaled, weights)
            return loss, grads

        def replica_apply(grads: Any) -> None:
            optimizer.apply_gradients(zip(grads, weights, strict=True))

        @tf.function(
            input_signature=[
                x_spec,
                y_spec,
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.int64),
                tf.TensorSpec([], tf.int64),
            ]
        )
        def train_step(x: Any, y: Any, steps: Any, epoch: Any, batch: Any) -> Any:
            batch_seed = _batch_seed(tf, base_seed, epoch, batch)
            loss = tf.constant(0.0, tf.float32)
            for step in tf.range(steps):
                step_seed.assign(_step_seed(tf, batch_seed, step))
                per_replica_loss, per_replica_grads = strategy.run(replica_loss, args=(x, y))
                loss = strategy.reduce(sum_op, per_replica_loss, axis=None)
                if not tf.math.is_finite(loss):
                    break  # keep the weights from before the step that diverged
                strategy.run(replica_apply, args=(per_replica_grads,))
            return loss

        return train_step

    # ---------------------------------------------------------------- properties

    @property
    def config(self) -> ModelConfig:
        """The model's validated hyperparameters."""
        return self._config

    @property
    def device_used(self) -> str:
        """The TensorFlow device the model was built on, e.g. `"/CPU:0"`."""
        return self._device_used

    @property
    def fused_gpu_kernel(self) -> bool:
        """Whether the recurrent layers run as the fused cuDNN kernel.

        True on a GPU for LSTM and GRU with `activation="tanh"`; a basic RNN and any
        other activation run the generic (slower) loop. On the CPU there is no fused kernel.
        """
        cfg = self._config
        devices = self._device_used.split(",")
        return (
            all("GPU:" in d.upper() for d in devices)
            and cfg.cell_type in ("lstm", "gru")
            and cfg.activation == "tanh"
        )

    @property
    def epochs_trained(self) -> int:
        """Epochs the current weights have been trained for."""
        return int(self._epoch.numpy())

    @property
    def model_dir(self) -> str:
        """The checkpoint folder."""
        return self._model_dir

    @property
    def log_dir(self) -> str:
        """The folder `show_graph` writes to."""
        return self._log_dir or os.path.join(self._model_dir, "logs")

    @property
    def keras_model(self) -> Any:
        """The underlying `keras.Model`."""
        return self._model

    @property
    def latest_checkpoint(self) -> str | None:
        """Prefix of `<model_id>_latest.ckpt` in `model_dir`, or `None` if not written yet."""
        prefix = self._prefix("latest")
        return prefix if os.path.exists(prefix + ".index") else None

    def _prefix(self, tag: str) -> str:
        return os.path.join(self._model_dir, f"{self._config.model_id}_{tag}.ckpt")

    # ---------------------------------------------------------------- validation

    def _check_X(self, X: Any, name: str) -> np.ndarray:
        cfg = self._config
        expected = (cfg.n_time_steps, cfg.n_input_features)
        try:
            arr = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`{name}` must be a numeric array. Received: {type(X)!r}") from exc
        if arr.ndim != 3 or arr.shape[1:] != expected or arr.shape[0] == 0:
            raise DataError(
                f"`{name}` must have shape (samples, n_time_steps, n_input_features) = "
                f"(samples>0, {expected[0]}, {expected[1]}). Received: {name}.shape={arr.shape}"
            )
        _check_finite(arr, name, ("row", "time step", "feature"))
        return arr

    def _check_y(self, y: Any, n_samples: int, name: str) -> np.ndarray:
        n_out = self._config.n_output_features
        try:
            arr = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`{name}` must be a numeric array. Received: {type(y)!r}") from exc
        if arr.ndim == 1 and n_out == 1:
            arr = arr[:, None]
        if arr.shape != (n_samples, n_out):
            raise DataError(
                f"`{name}` must have shape (samples, n_output_features) = "
                f"({n_samples}, {n_out}). Received: {name}.shape={arr.shape}"
            )
        _check_finite(arr, name, ("row", "output"))
        return arr

    @staticmethod
    def _check_in_sample_size(value: Any, n_samples: int, name: str) -> int:
        if value is None:
            return n_samples
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"`{name}` must be an integer or None. Received: {name}={value!r}")
        if not 1 <= value <= n_samples:
            raise ConfigError(
                f"`{name}` must be in [1, samples={n_samples}]. Received: {name}={value}"
            )
        return int(value)

    def _check_scale(self, value: Any, name: str, positive: bool) -> np.ndarray:
        n_out = self._config.n_output_features
        try:
            arr = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`{name}` must be numeric. Received: {name}={value!r}") from exc
        if arr.size not in (1, n_out):
            raise DataError(
                f"`{name}` must be a scalar or have n_output_features={n_out} values. "
                f"Received: {name} with {arr.size} values"
            )
        if not np.isfinite(arr).all() or (positive and (arr <= 0).any()):
            rule = "finite and > 0" if positive else "finite"
            raise DataError(f"`{name}` must be {rule}. Received: {name}={value!r}")
        return np.broadcast_to(arr, (n_out,))

    def _check_batch(self, batch: Any, index: int) -> tuple[np.ndarray, ...]:
        where = f"data_feeder batch {index}"
        if not isinstance(batch, tuple | list) or len(batch) != 5:
            raise DataError(
                f"{where} must be a tuple (X, y, y_mean, y_std, in_sample_size). "
                f"Received: {type(batch).__name__}"
                + (f" of length {len(batch)}" if isinstance(batch, tuple | list) else "")
            )
        X, y, y_mean, y_std, in_sample_size = batch
        X = self._check_X(X, f"{where}: X")
        y = self._check_y(y, X.shape[0], f"{where}: y")
        mean = self._check_scale(y_mean, f"{where}: y_mean", positive=False)
        std = self._check_scale(y_std, f"{where}: y_std", positive=True)
        n_is = self._check_in_sample_size(in_sample_size, X.shape[0], f"{where}: in_sample_size")
        return X, y, mean, std, n_is

    def _batches(
        self,
        batch_X: Any,
        batch_y: Any,
        in_sample_size: Any,
        data_feeder: DataFeeder | None,
    ) -> Callable[[], Iterator[tuple[Any, ...]]]:
        """Returns a zero-arg function yielding validated `(X, y, mean, std, n_is)`."""
        n_out = self._config.n_output_features
        if data_feeder is not None:
            if batch_X is not None or batch_y is not None:
                raise ConfigError(
                    "Pass either `batch_X`/`batch_y` or `data_feeder`, not both. Received: both"
                )
            if not callable(data_feeder):
                raise ConfigError(
                    f"`data_feeder` must be a zero-argument callable. "
                    f"Received: data_feeder={data_feeder!r}"
                )

            def feed() -> Iterator[tuple[Any, ...]]:
                count = 0
                batches = data_feeder()
                try:
                    batches = iter(batches)
                except TypeError:
                    raise DataError(
                        "`data_feeder()` must return an iterable of batches "
                        "`(X, y, y_mean, y_std, in_sample_size)`. "
                        f"Received: {type(batches).__name__}"
                    ) from None
                for i, batch in enumerate(batches):
                    count += 1
                    yield self._check_batch(batch, i)
                if count == 0:
                    raise DataError("`data_feeder` yielded no batches. Received: 0 batches")

            return feed

        if batch_X is None or batch_y is None:
            raise ConfigError(
                "Pass `batch_X` and `batch_y`, or `data_feeder`. "
                f"Received: batch_X={'given' if batch_X is not None else None}, "
                f"batch_y={'given' if batch_y is not None else None}"
            )
        X = self._check_X(batch_X, "batch_X")
        y = self._check_y(batch_y, X.shape[0], "batch_y")
        n_is = self._check_in_sample_size(in_sample_size, X.shape[0], "in_sample_size")
        zeros, ones = np.zeros(n_out), np.ones(n_out)

        def single() -> Iterator[tuple[Any, ...]]:
            yield X, y, zeros, ones, n_is

        return single

    # ------------------------------------------------------------------ training

    def learning_rate(self, epoch: int, epoch_end: int) -> float:
        """Learning rate used in `epoch` of a run that ends at `epoch_end`.

        Args:
            epoch: Epoch number, counted from 1.
            epoch_end: Last epoch of the run.

        Returns:
            `start_learning_rate * decay_rate ** ((epoch / epoch_end) / decay_steps)`.
        """
        cfg = self._config
        return float(
            cfg.start_learning_rate * cfg.decay_rate ** ((epoch / epoch_end) / cfg.decay_steps)
        )

    def train(
        self,
        batch_X: Any = None,
        batch_y: Any = None,
        in_sample_size: int | None = None,
        data_feeder: DataFeeder | None = None,
        epoch_end: int = 10,
        epoch_prev: int | None = None,
        display_step: int = 1,
        restore_model: bool = True,
        pre_trained_model: str | os.PathLike[str] | None = None,
        return_weights: bool = False,
        callback: Callable[[int, dict[str, float]], Any] | None = None,
    ) -> dict[str, Any]:
        """Trains epochs `epoch_prev + 1` to `epoch_end`, checkpointing after each.

        Each batch gets `inner_iteration` Adam steps on its first `in_sample_size`
        rows; the loss is their mean squared error plus `l1_reg * sum|w|` and
        `l2_reg * sum(w**2)` over all trainable weights. The remaining rows are
        out-of-sample and only evaluated. Dropout masks depend only on
        `(seed, epoch, batch, step)`, and the checkpoint holds the optimiser state,
        so a run resumed from its epoch-`n` checkpoint ends with the same weights
        as one that was never interrupted. With `log_dir` set, each epoch's
        `loss`, `corr_is`, `corr_oos` and `learning_rate` are written there for
        TensorBoard.

        Args:
            batch_X: Inputs, `(samples, n_time_steps, n_input_features)`.
            batch_y: Targets, `(samples, n_output_features)` (or `(samples,)` when
                `n_output_features == 1`).
            in_sample_size: Leading rows of `batch_X` used for training. Defaults
                to all rows (no out-of-sample rows).
            data_feeder: Instead of `batch_X`/`batch_y`: a zero-argument callable,
                called once per epoch, returning an iterable of batches
                `(X, y, y_mean, y_std, in_sample_size)`; `y * y_std + y_mean`
                undoes the target scaling before metrics are recorded.
            epoch_end: Last epoch to train, counted from 1. Defaults to 10.
            epoch_prev: Epochs already done; training starts at `epoch_prev + 1`.
                Defaults to `epochs_trained` (0 after `restore_model=False`).
            display_step: Log progress every this many epochs. Defaults to 1.
            restore_model: Continue from the current weights; a model not yet trained
                or restored first restores the newest readable
                `<model_id>_epoch_<n>.ckpt` in `model_dir`, so re-running a killed
                script resumes after its last completed epoch (when checkpoints are
                there but none can be read, it raises rather than overwrite them).
                Training on from an earlier epoch deletes this model id's checkpoints
                of later epochs, which no longer follow from it. `False` resets the
                weights and optimiser, deletes this model id's earlier checkpoints in
                `model_dir` (so no later run resumes from an epoch of the old run) and
                trains from scratch. Defaults to `True`.
            pre_trained_model: Checkpoint prefix to restore before training.
                Defaults to `None`.
            return_weights: Add the last recurrent layer's and the output layer's
                weights to the result. Defaults to `False`.
            callback: Called as `callback(epoch, {"loss", "corr_is", "corr_oos",
                "learning_rate", "seconds"})` after every epoch.

        Returns:
            A dict with `all_epochs`, `all_losses_per_epoch` (sum over batches of
            the final in-sample loss) and `all_corr_oos_per_epoch` (pooled over
            batches), one entry per epoch of this call, and, for the last epoch,
            one entry per batch: `all_corr_is`, `all_corr_oos` (nan without
            out-of-sample rows), `all_actual_is`, `all_actual_oos`,
            `all_predicted_is`, `all_predicted_oos` (descaled arrays,
            `(rows, n_output_features)`). With `return_weights`, also
            `last_layer_kernel`, `last_layer_recurrent_kernel`, `last_layer_bias`,
            `output_weights`, `output_bias`.

        Raises:
            ConfigError: If an argument is invalid or `epoch_end <= epoch_prev`.
            DataError: If the data has the wrong shape or non-finite values (the
                message names the batch, row, time step and feature). Every
                `data_feeder` batch is checked before the first optimiser step.
            CheckpointError: If `pre_trained_model`, or a checkpoint found in
                `model_dir` when resuming, does not match this model, or none of
                the checkpoints found can be read. A refused call changes neither
                the model nor the files in `model_dir`.
            TrainingDivergedError: If the loss becomes NaN or infinite. No
                checkpoint is written for that epoch and the model is rolled back
                to its last good checkpoint. Any other error during an epoch
                rolls back the same way.
        """
        import tensorflow as tf

        # Every argument is checked before anything is reset, restored or deleted: a refused
        # call leaves the model and its checkpoints as they were.
        batches = self._batches(batch_X, batch_y, in_sample_size, data_feeder)
        epoch_end = _check_int("epoch_end", epoch_end, 1)
        display_step = _check_int("display_step", display_step, 1)
        restore_model = _check_bool("restore_model", restore_model)
        return_weights = _check_bool("return_weights", return_weights)
        pre_trained_model = _check_path("pre_trained_model", pre_trained_model)
        if callback is not None and not callable(callback):
            raise ConfigError(f"`callback` must be callable. Received: callback={callback!r}")
        if epoch_prev is not None:
            epoch_prev = _check_int("epoch_prev", epoch_prev, 0)
        if data_feeder is not None:
            # Every batch is checked before the first step, so bad data never half-trains.
            for _ in batches():
                pass
        if pre_trained_model is not None:
            self._check_checkpoint(pre_trained_model)
        elif not restore_model:
            self._check_epochs(epoch_end, 0 if epoch_prev is None else epoch_prev, None)

        before = (self._last_checkpoint, self._trained, dict(self._last_metrics))
        try:
            resumed_from = None
            if not restore_model:
                self._build()
                self._trained = False
                self._last_metrics = {}
                self._last_checkpoint = None
            if pre_trained_model is not None:
                self.restore(pre_trained_model)
            elif restore_model and not self._trained:
                resumed_from = self._resume_from_model_dir()
            if epoch_prev is None:
                epoch_prev = self.epochs_trained
            self._check_epochs(epoch_end, epoch_prev, resumed_from)
        except BaseException:
            self._put_back(*before)
            raise
        if not restore_model and pre_trained_model is None:
            self._remove_checkpoints()

        steps = tf.constant(self._config.inner_iteration, tf.int32)
        history: dict[str, list[Any]] = {
            "all_epochs": [],
            "all_losses_per_epoch": [],
            "all_corr_oos_per_epoch": [],
        }
        per_batch: dict[str, list[Any]] = {}
        started = time.perf_counter()
        n_epochs = epoch_end - epoch_prev
        with self._placement():
            for done, epoch in enumerate(range(epoch_prev + 1, epoch_end + 1), start=1):
                epoch_start = time.perf_counter()
                lr = self.learning_rate(epoch, epoch_end)
                self._optimizer.learning_rate = lr
                try:
                    total_loss, per_batch = self._train_epoch(batches, steps, epoch, lr)
                except BaseException:
                    # A failed epoch leaves the model at its last completed one.
                    self._roll_back()
                    raise
                self._trained = True
                corr_is = pearson(
                    np.concatenate(per_batch["all_actual_is"]),
                    np.concatenate(per_batch["all_predicted_is"]),
                )
                corr_oos = pearson(
                    np.concatenate(per_batch["all_actual_oos"]),
                    np.concatenate(per_batch["all_predicted_oos"]),
                )
                self._epoch.assign(epoch)
                self._write_checkpoints(epoch)

                seconds = time.perf_counter() - epoch_start
                metrics = {
                    "loss": total_loss,
                    "corr_is": corr_is,
                    "corr_oos": corr_oos,
                    "learning_rate": lr,
                    "seconds": seconds,
                }
                self._last_metrics = {"epoch": epoch, **metrics}
                self._write_summaries(epoch, metrics)
                history["all_epochs"].append(epoch)
                history["all_losses_per_epoch"].append(total_loss)
                history["all_corr_oos_per_epoch"].append(corr_oos)

                if done % display_step == 0 or epoch == epoch_end:
                    elapsed = time.perf_counter() - started
                    eta = elapsed / done * (n_epochs - done)
                    logger.info(
                        "%s epoch %d/%d loss=%.6g corr_is=%.4f corr_oos=%.4f "
                        "lr=%.3g elapsed=%.1fs eta=%.1fs",
                        self._config.model_id,
                        epoch,
                        epoch_end,
                        total_loss,
                        corr_is,
                        corr_oos,
                        lr,
                        elapsed,
                        eta,
                    )
                if callback is not None:
                    callback(epoch, dict(metrics))

        result: dict[str, Any] = {**history, **per_batch}
        if return_weights:
            result.update(self.weights())
        return result

    @staticmethod
    def _check_epochs(epoch_end: int, epoch_prev: int, resumed_from: str | None) -> None:
        if epoch_end <= epoch_prev:
            hint = (
                f" (the newest checkpoint in model_dir, {resumed_from!r}, is at epoch "
                f"{epoch_prev}; pass a larger epoch_end, or restore_model=False to start over)"
                if resumed_from
                else ""
            )
            raise ConfigError(
                f"`epoch_end` must be > epoch_prev={epoch_prev}{hint}. "
                f"Received: epoch_end={epoch_end}"
            )

    def _put_back(
        self, checkpoint: str | None, trained: bool, last_metrics: dict[str, float]
    ) -> None:
        """Returns the model to the state a refused `train` call found it in."""
        if (checkpoint, trained) == (self._last_checkpoint, self._trained):
            return
        if checkpoint is None:
            self._build()
        else:
            with self._placement():
                self._checkpoint.read(checkpoint).assert_existing_objects_matched()
        self._last_checkpoint, self._trained, self._last_metrics = checkpoint, trained, last_metrics

    def _train_epoch(
        self, batches: Callable[[], Iterator[tuple[Any, ...]]], steps: Any, epoch: int, lr: float
    ) -> tuple[float, dict[str, list[Any]]]:
        """Runs one epoch's optimiser steps; returns the summed loss and per-batch results."""
        import tensorflow as tf

        per_batch: dict[str, list[Any]] = {
            k: []
            for k in (
                "all_corr_is",
                "all_corr_oos",
                "all_actual_is",
                "all_actual_oos",
                "all_predicted_is",
                "all_predicted_oos",
            )
        }
        total_loss = 0.0
        epoch_t = tf.constant(epoch, tf.int64)
        for index, (X, y, mean, std, n_is) in enumerate(batches()):
            loss = float(
                self._train_step(
                    X[:n_is],
                    y[:n_is].astype(np.float32),
                    steps,
                    epoch_t,
                    tf.constant(index, tf.int64),
                )
            )
            if not np.isfinite(loss):
                raise TrainingDivergedError(
                    f"{self._config.model_id}: the training loss became {loss} in epoch {epoch}, "
                    f"batch {index} (learning_rate={lr:.3g}). Training stopped; the model is "
                    f"back at its last good checkpoint "
                    f"({self._last_checkpoint or 'none: initial weights'}). Lower "
                    "`start_learning_rate` or scale the inputs and targets."
                )
            total_loss += loss
            predicted = self._predict_step(X).numpy().astype(np.float64) * std + mean
            actual = y * std + mean
            per_batch["all_actual_is"].append(actual[:n_is])
            per_batch["all_actual_oos"].append(actual[n_is:])
            per_batch["all_predicted_is"].append(predicted[:n_is])
            per_batch["all_predicted_oos"].append(predicted[n_is:])
            per_batch["all_corr_is"].append(pearson(actual[:n_is], predicted[:n_is]))
            per_batch["all_corr_oos"].append(pearson(actual[n_is:], predicted[n_is:]))
        return total_loss, per_batch

    def _roll_back(self) -> None:
        """Puts weights, optimiser and epoch back to the last good checkpoint (or the start)."""

        if self._last_checkpoint is None:
            self._build()
            self._trained = False
            self._last_metrics = {}
            return
        with self._placement():
            self._checkpoint.read(self._last_checkpoint).assert_existing_objects_matched()

    def _resume_from_model_dir(self) -> str | None:
        """Restores the newest readable checkpoint of this model id in `model_dir`, if any.

        Epoch checkpoints are written before `<id>_latest`, so the newest one is the last
        completed epoch; one left half-written by a killed process is skipped.
        """
        model_id = str(self._config.model_id)
        found = self._epoch_checkpoints()[::-1]
        failures: list[str] = []
        for epoch, prefix in found:
            try:
                self.restore(prefix)
            except CheckpointError as exc:
                if "does not match this model" in str(exc):
                    raise CheckpointError(
                        f"{exc}. `model_dir` {self._model_dir!r} holds another model's "
                        "checkpoints under this model_id; pass restore_model=False to "
                        "overwrite them, or use another model_dir or model_id."
                    ) from exc
                logger.warning(
                    "Skipping unreadable checkpoint %s (epoch %d): %s", prefix, epoch, exc
                )
                failures.append(f"epoch {epoch}: {exc}")
                continue
            logger.info("%s resumes after epoch %d from %s", model_id, epoch, prefix)
            return prefix
        if failures:
            # Training from scratch would overwrite them: a missing config or a damaged copy
            # must not cost the user the epochs they hold.
            raise CheckpointError(
                f"{model_id}: `model_dir` {self._model_dir!r} holds {len(failures)} checkpoint(s) "
                f"of this model and none can be restored ({'; '.join(failures[:3])}). Repair "
                "or move them, or pass restore_model=False to delete them and start over."
            )
        return None

    def _checkpoint_files(self) -> list[tuple[str, int | None]]:
        """This model id's checkpoint files in `model_dir`, each with its epoch (None: latest).

        A checkpoint `<model_id>_epoch_<n>.ckpt` or `<model_id>_latest.ckpt` is stored as files
        named `<prefix>.index` and `<prefix>.data-*`; other files are never counted.
        """
        model_id = str(self._config.model_id)
        files = []
        for name in os.listdir(self._model_dir):
            prefix, dot, _ = name.partition(".ckpt.")
            match = _CHECKPOINT_NAME.match(prefix + ".ckpt") if dot else None
            if match and match["model_id"] == model_id:
                files.append((name, None if match["epoch"] is None else int(match["epoch"])))
        return files

    def _epoch_checkpoints(self) -> list[tuple[int, str]]:
        """`(epoch, prefix)` of each epoch checkpoint with an index file, oldest first."""
        return sorted(
            (epoch, os.path.join(self._model_dir, name[: -len(".index")]))
            for name, epoch in self._checkpoint_files()
            if epoch is not None and name.endswith(".ckpt.index")
        )

    def _remove_checkpoints(self) -> None:
        """Deletes this model id's epoch and latest checkpoints in `model_dir` (a fresh start)."""
        old = [name for name, _ in self._checkpoint_files()]
        for name in old:
            os.remove(os.path.join(self._model_dir, name))
        if old:
            logger.warning(
                "%s starts over (restore_model=False): deleted %d checkpoint file(s) of the "
                "earlier run in %s",
                self._config.model_id,
                len(old),
                self._model_dir,
            )

    def _write_summaries(self, epoch: int, metrics: dict[str, float]) -> None:
        """Writes the epoch's scalars for TensorBoard to `log_dir`, when `log_dir` was given."""
        if self._log_dir is None:
            return
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        if self._summary_writer is None:
            self._summary_writer = tf.summary.create_file_writer(self._log_dir)
        # What `tf.summary.scalar` writes, without needing the tensorboard package here.
        scalar = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        with self._summary_writer.as_default():
            for name in ("loss", "corr_is", "corr_oos", "learning_rate"):
                tf.summary.write(
                    f"{self._config.model_id}/{name}",
                    tf.constant(metrics[name], tf.float32),
                    step=epoch,
                    metadata=scalar,
                )
        self._summary_writer.flush()

    def weights(self) -> dict[str, np.ndarray]:
        """Returns the last recurrent layer's and the output layer's weights.

        Returns:
            `last_layer_kernel` `(n_in, k * n_states)`, `last_layer_recurrent_kernel`
            `(n_states, k * n_states)`, `last_layer_bias`, `output_weights`
            `(n_states, n_output_features)` and `output_bias`
            `(n_output_features,)`, where `k` is 4 for LSTM, 3 for GRU, 1 for RNN.
        """
        cfg = self._config
        cell = self._model.get_layer(f"{cfg.cell_type}_{cfg.n_layers - 1}").cell
        dense = self._model.get_layer("output")
        return {
            "last_layer_kernel": np.array(cell.kernel.numpy()),
            "last_layer_recurrent_kernel": np.array(cell.recurrent_kernel.numpy()),
            "last_layer_bias": np.array(cell.bias.numpy()),
            "output_weights": np.array(dense.kernel.numpy()),
            "output_bias": np.array(dense.bias.numpy()),
        }

    # --------------------------------------------------------------- checkpoints

    def _drop_later_epochs(self, epoch: int) -> None:
        """Deletes this model id's checkpoints of epochs after `epoch` in `model_dir`.

        They are left from an earlier run that went further than the checkpoint this run
        continued from; kept, the next resume would pick the old run's last epoch while
        `latest` and the saved config say this run's.
        """
        later: dict[int, list[str]] = {}
        for name, number in self._checkpoint_files():
            if number is not None and number > epoch:
                later.setdefault(number, []).append(name)
        for names in later.values():
            for name in names:
                os.remove(os.path.join(self._model_dir, name))
        if later:
            logger.warning(
                "%s: deleted the checkpoints of epoch(s) %s in %s, left by an earlier run; "
                "this run continues from epoch %d, so they no longer follow from it",
                self._config.model_id,
                ", ".join(map(str, sorted(later))),
                self._model_dir,
                epoch - 1,
            )

    def _write_checkpoints(self, epoch: int) -> None:
        try:
            self._drop_later_epochs(epoch)
            self._checkpoint.write(self._prefix(f"epoch_{epoch}"))
            self._last_checkpoint = self._checkpoint.write(self._prefix("latest"))
            values = {**self._config.to_dict(), "epochs_trained": epoch}
            path = _config_path(self._model_dir, str(self._config.model_id))
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(values, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise CheckpointError(
                f"Cannot write checkpoint for epoch {epoch} in {self._model_dir!r}: {exc}"
            ) from exc

    @staticmethod
    def _saved_config(prefix: str) -> tuple[ModelConfig, str]:
        name = os.path.basename(prefix)
        match = _CHECKPOINT_NAME.match(name)
        if match is None:
            raise CheckpointError(
                "Checkpoint prefix must be named `<model_id>_epoch_<n>.ckpt` or "
                f"`<model_id>_latest.ckpt`. Received: {prefix!r}"
            )
        path = _config_path(os.path.dirname(prefix) or ".", match["model_id"])
        try:
            return _read_saved_config(path), path
        except _SAVED_CONFIG_ERRORS as exc:
            raise CheckpointError(
                f"Cannot read the config saved beside checkpoint {prefix!r} at {path!r}: {exc}"
            ) from exc

    def _check_checkpoint(self, checkpoint_prefix: Any) -> str:
        """The prefix, once its files exist and its saved config fits this model."""
        if checkpoint_prefix is None or not isinstance(checkpoint_prefix, str | os.PathLike):
            raise ConfigError(
                "A checkpoint must be given as a path prefix such as "
                f"'<model_dir>/<model_id>_latest.ckpt'. Received: {checkpoint_prefix!r}"
            )
        prefix = os.fspath(checkpoint_prefix)
        if not os.path.exists(prefix + ".index"):
            raise CheckpointError(f"No checkpoint found at prefix {prefix!r}")
        saved, config_path = self._saved_config(prefix)
        mismatched = [
            f"{name} (checkpoint: {getattr(saved, name)!r}, model: {getattr(self._config, name)!r})"
            for name in ARCHITECTURE_FIELDS
            if getattr(saved, name) != getattr(self._config, name)
        ]
        if mismatched:
            raise CheckpointError(
                f"Checkpoint {prefix!r} does not match this model; config {config_path!r} "
                f"differs in: {', '.join(mismatched)}"
            )
        return prefix

    def restore(self, checkpoint_prefix: str | os.PathLike[str]) -> None:
        """Loads weights, optimiser state and epoch count from a checkpoint.

        Args:
            checkpoint_prefix: Prefix such as `<model_dir>/<model_id>_latest.ckpt`;
                `<model_id>.config.json` must lie beside it.

        Raises:
            CheckpointError: If the checkpoint or its config is missing or
                unreadable, or the saved config differs from this model's in
                an architecture field (`ARCHITECTURE_FIELDS`).
        """
        import tensorflow as tf

        prefix = self._check_checkpoint(checkpoint_prefix)
        try:
            with self._placement():
                status = self._checkpoint.read(prefix)
                status.assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as exc:
            # IndexError: TensorFlow's reader on a truncated `.data` file. Some variables may
            # already hold the bad checkpoint's values: put the model back as it was.
            self._roll_back()
            raise CheckpointError(f"Cannot restore checkpoint {prefix!r}: {exc}") from exc
        self._trained = True
        self._last_checkpoint = prefix
        logger.info(
            "%s restored from %s (epoch %d)", self._config.model_id, prefix, self.epochs_trained
        )

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike[str],
        model_id: str,
        checkpoint: str | int = "latest",
        **overrides: Any,
    ) -> RecurrentModel:
        """Rebuilds a saved model from its config JSON and restores its weights.

        Args:
            model_dir: Folder holding `<model_id>.config.json` and the checkpoints.
            model_id: The saved model's id.
            checkpoint: `"latest"`, an epoch number, or a full checkpoint prefix.
                Defaults to `"latest"`.
            **overrides: Constructor arguments replacing saved values, e.g.
                `device="cpu"`, `model_dir=...`, `log_dir=...`,
                `strict_device=True`. `model_dir` defaults to the folder loaded from.

        Returns:
            An `LSTM`, `GRU` or `RNN`, as the saved config says.

        Raises:
            CheckpointError: If the config or checkpoint is missing or unreadable,
                or the saved cell type does not fit the class `load` was called on.
            ConfigError: If an override or `checkpoint` is unknown or invalid.
        """
        model_dir = os.fspath(model_dir)
        path = _config_path(model_dir, model_id)
        try:
            saved = _read_saved_config(path)
        except _SAVED_CONFIG_ERRORS as exc:
            raise CheckpointError(f"Cannot read saved model config {path!r}: {exc}") from exc

        model_class = _MODEL_CLASSES[saved.cell_type]
        if cls is not RecurrentModel and cls is not model_class:
            raise CheckpointError(
                f"{path!r} holds a {saved.cell_type!r} model; it cannot be loaded as "
                f"{cls.__name__}. Use RecurrentModel.load()."
            )
        extra = {"model_dir", "log_dir", "strict_device", "strategy", "mixed_precision"}
        fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"cell_type"}
        unknown = sorted(set(overrides) - fields - extra)
        if unknown:
            raise ConfigError(f"Unknown overrides for load(): {unknown}")
        if isinstance(checkpoint, str) and checkpoint == "latest":
            prefix = os.path.join(model_dir, f"{saved.model_id}_latest.ckpt")
        elif isinstance(checkpoint, numbers.Integral) and not isinstance(checkpoint, bool):
            prefix = os.path.join(model_dir, f"{saved.model_id}_epoch_{int(checkpoint)}.ckpt")
        elif isinstance(checkpoint, str | os.PathLike):
            prefix = os.fspath(checkpoint)
        else:
            raise ConfigError(
                '`checkpoint` must be "latest", an epoch number or a checkpoint prefix. '
                f"Received: checkpoint={checkpoint!r}"
            )
        kwargs = {**saved.to_dict(), "model_dir": model_dir, **overrides}
        kwargs.pop("cell_type")
        model = model_class(**kwargs)
        model.restore(prefix)
        return model

    # ----------------------------------------------------------------- inference

    def predict(
        self, batch_X: Any = None, data_feeder: DataFeeder | None = None
    ) -> np.ndarray | Iterator[np.ndarray]:
        """Predicts in inference mode (dropout off).

        Args:
            batch_X: Inputs, `(samples, n_time_steps, n_input_features)`.
            data_feeder: Instead of `batch_X`: a zero-argument callable returning
                batches `(X, y, y_mean, y_std, in_sample_size)`.

        Returns:
            With `batch_X`, predictions `(samples, n_output_features)` in the
            scale of the targets trained on. With `data_feeder`, a generator
            yielding each batch's predictions, descaled with `y_mean`/`y_std`.

        Raises:
            NotTrainedError: If the model was neither trained nor restored.
            DataError: If the input has the wrong shape or non-finite values.
            ConfigError: If neither or both of `batch_X` and `data_feeder` are given.
        """
        if not self._trained:
            raise NotTrainedError(
                f"{type(self).__name__} {self._config.model_id!r} must be trained or "
                "restored before predict()."
            )
        if (batch_X is None) == (data_feeder is None):
            raise ConfigError(
                "Pass exactly one of `batch_X` and `data_feeder`. Received: "
                f"{'both' if batch_X is not None else 'neither'}"
            )
        if data_feeder is not None:
            return self._predict_feeder(data_feeder)
        X = self._check_X(batch_X, "batch_X")
        return self._predict_array(X)

    def _predict_array(self, X: np.ndarray) -> np.ndarray:

        with self._placement():
            return np.asarray(self._predict_step(X).numpy())

    def _predict_feeder(self, data_feeder: DataFeeder) -> Iterator[np.ndarray]:
        for X, _y, mean, std, _n_is in self._batches(None, None, None, data_feeder)():
            yield self._predict_array(X).astype(np.float64) * std + mean

    # ---------------------------------------------------------------- reporting

    def show_status(self) -> dict[str, Any]:
        """Prints and returns config, device, epochs, last metrics and checkpoint paths.

        Returns:
            A dict with `config`, `device_used`, `fused_gpu_kernel`, `epochs_trained`, `trained`,
            `last_metrics`, `model_dir`, `latest_checkpoint`, `last_checkpoint`
            and `checkpoints` (epoch prefixes found in `model_dir`, oldest first).
        """
        found = self._epoch_checkpoints()
        status = {
            "config": self._config.to_dict(),
            "device_used": self._device_used,
            "fused_gpu_kernel": self.fused_gpu_kernel,
            "epochs_trained": self.epochs_trained,
            "trained": self._trained,
            "last_metrics": dict(self._last_metrics),
            "model_dir": self._model_dir,
            "latest_checkpoint": self.latest_checkpoint,
            "last_checkpoint": self._last_checkpoint,
            "checkpoints": [prefix for _, prefix in found],
        }
        print(json.dumps(status, indent=2, default=_json_default))
        return status

    def show_graph(self) -> ModelGraph:
        """Writes the model graph for TensorBoard to `log_dir` and returns its path.

        `log_dir` then holds `<model_id>_summary.txt` (the Keras summary) and a TensorBoard
        event file with the inference graph; `train()` adds per-epoch scalars there when
        `log_dir` was given (`tensorboard --logdir <log_dir>` shows both).

        Returns:
            The `log_dir` path, as a `ModelGraph`: a `str` that a notebook displays as the
            layer summary.
        """
        import tensorflow as tf

        cfg = self._config
        log_dir = self.log_dir
        os.makedirs(log_dir, exist_ok=True)
        lines: list[str] = []
        self._model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
        summary = "\n".join(lines) + "\n"
        with open(os.path.join(log_dir, f"{cfg.model_id}_summary.txt"), "w", encoding="utf-8") as f:
            f.write(summary)

        model = self._model

        @tf.function
        def inference(x: Any) -> Any:
            return model(x, training=False)

        # The graph of this one function. `tf.summary.trace_on` would collect every function
        # run in the process: TF 2.21's trace_export leaves that collection on, so the next
        # show_graph exported every model trained in between (40 MB for an 8-state LSTM).
        spec = tf.TensorSpec([None, cfg.n_time_steps, cfg.n_input_features], tf.float32)
        with self._placement():
            graph = inference.get_concrete_function(spec).graph
        writer = tf.summary.create_file_writer(log_dir)
        with writer.as_default():
            tf.summary.graph(graph)
        writer.flush()
        writer.close()
        return ModelGraph(log_dir, summary)

    def __repr__(self) -> str:
        cfg = self._config
        return (
            f"{type(self).__name__}(model_id={cfg.model_id!r}, n_layers={cfg.n_layers}, "
            f"n_states={cfg.n_states}, epochs_trained={self.epochs_trained}, "
            f"device_used={self._device_used!r})"
        )


class ModelGraph(str):
    """The `log_dir` path `show_graph` wrote to; a notebook renders it as the layer summary.

    Attributes:
        summary: The Keras layer summary as text.
    """

    summary: str

    def __new__(cls, path: str, summary: str) -> ModelGraph:
        value = super().__new__(cls, path)
        value.summary = summary
        return value

    def _repr_html_(self) -> str:
        return (
            f"<pre>{html.escape(self.summary)}</pre>"
            f"<p>TensorBoard graph and training scalars: "
            f"<code>tensorboard --logdir {html.escape(str(self))}</code></p>"
        )


_DROPOUT_CLASS: Any = None


def _stateless_dropout_class() -> Any:
    """Returns the `StatelessDropout` Keras layer class, defined on first use (imports Keras)."""
    global _DROPOUT_CLASS
    if _DROPOUT_CLASS is not None:
        return _DROPOUT_CLASS
    import keras
    import tensorflow as tf

    class StatelessDropout(keras.layers.Layer):
        """Dropout whose mask is drawn from `step_seed`, a `(2,)` int64 variable the train step
        sets before every optimiser step; the layer folds its own index into it."""

        def __init__(self, rate: float, step_seed: Any, layer_index: int, **kwargs: Any):
            super().__init__(**kwargs)
            self.rate = float(rate)
            self.layer_index = int(layer_index)
            # A plain callable, so Keras does not track the variable as a layer weight.
            self._read_seed = step_seed.read_value

        def call(self, inputs: Any, training: bool | None = None) -> Any:
            if not training or self.rate == 0.0:
                return inputs
            seed = tf.random.experimental.stateless_fold_in(self._read_seed(), self.layer_index)
            return tf.nn.experimental.stateless_dropout(inputs, rate=self.rate, seed=seed)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "rate": self.rate, "layer_index": self.layer_index}

    _DROPOUT_CLASS = StatelessDropout
    return StatelessDropout


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class LSTM(RecurrentModel):
    """Stacked LSTM layers; see `RecurrentModel` for arguments."""

    CELL_TYPE = "lstm"

    @staticmethod
    def _recurrent_layer_class(keras: Any) -> Any:
        return keras.layers.LSTM


class GRU(RecurrentModel):
    """Stacked GRU layers (`reset_after=True`, cuDNN-compatible); see `RecurrentModel`."""

    CELL_TYPE = "gru"

    @staticmethod
    def _recurrent_layer_class(keras: Any) -> Any:
        return keras.layers.GRU


class RNN(RecurrentModel):
    """Stacked plain (Elman) recurrent layers; see `RecurrentModel` for arguments."""

    CELL_TYPE = "rnn"

    @staticmethod
    def _recurrent_layer_class(keras: Any) -> Any:
        return keras.layers.SimpleRNN


_MODEL_CLASSES: dict[str, type[RecurrentModel]] = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def _batch_seed(tf: Any, base_seed: int, epoch: Any, batch: Any) -> Any:
    """The dropout seed of one (epoch, batch): stateless, so a resumed run draws the same masks."""
    return tf.random.experimental.stateless_fold_in(
        tf.stack([tf.constant(base_seed, tf.int64), epoch]), batch
    )


def _step_seed(tf: Any, batch_seed: Any, step: Any) -> Any:
    """The dropout seed of one optimizer step within a batch."""
    return tf.cast(
        tf.random.experimental.stateless_fold_in(batch_seed, tf.cast(step, tf.int64)), tf.int64
    )
