"""Tiny real training runs of the LSTM / GRU / RNN containers: train, checkpoint, load, predict."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from finrnn_core.devices import resolve_device
from finrnn_core.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DeviceError,
    NotTrainedError,
)
from finrnn_core.models import GRU, LSTM, RNN, RecurrentModel, TrainingDivergedError

N_SAMPLES, N_TIME_STEPS, N_FEATURES = 64, 5, 3
TINY = {
    "n_input_features": N_FEATURES,
    "n_time_steps": N_TIME_STEPS,
    "n_states": 4,
    "n_layers": 2,
    "device": "cpu",
    "inner_iteration": 2,
    "seed": 7,
}
# Settings that learn the synthetic signal quickly and reliably.
LEARNABLE = {
    **TINY,
    "inner_iteration": 10,
    "start_learning_rate": 0.05,
    "l1_reg": 0.0,
    "l2_reg": 0.0,
    "keep_prob": 1.0,
}


def make_data(n: int = N_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows whose target is the mean of the last step's features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_TIME_STEPS, N_FEATURES)).astype(np.float32)
    y = X[:, -1, :].mean(axis=1, keepdims=True)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def trained_lstm(tmp_path_factory, data) -> tuple[LSTM, dict]:
    """An LSTM trained to epoch 10 that other tests only read from."""
    X, y = data
    model = LSTM(model_dir=tmp_path_factory.mktemp("lstm"), **TINY)
    history = model.train(X, y, in_sample_size=48, epoch_end=10, return_weights=True)
    return model, history


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_each_cell_type_trains_and_predicts(cls, data, tmp_path) -> None:
    X, y = data
    model = cls(model_dir=tmp_path, **TINY)
    history = model.train(X, y, in_sample_size=48, epoch_end=2)

    assert history["all_epochs"] == [1, 2]
    assert len(history["all_losses_per_epoch"]) == 2
    assert all(math.isfinite(v) for v in history["all_losses_per_epoch"])
    assert history["all_actual_is"][0].shape == (48, 1)
    assert history["all_predicted_oos"][0].shape == (16, 1)
    np.testing.assert_allclose(history["all_actual_oos"][0], y[48:], rtol=1e-6)
    assert model.epochs_trained == 2
    assert model.device_used == "/CPU:0"
    assert model.config.cell_type == cls.CELL_TYPE

    predicted = model.predict(X[:10])
    assert predicted.shape == (10, 1)
    assert np.isfinite(predicted).all()


@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_learnable_signal_gets_high_in_sample_correlation(cls, data, tmp_path) -> None:
    X, y = data
    model = cls(model_dir=tmp_path, **LEARNABLE)
    history = model.train(X, y, in_sample_size=48, epoch_end=5)

    assert history["all_corr_is"][0] > 0.8
    assert history["all_corr_oos_per_epoch"][-1] > 0.5
    assert history["all_losses_per_epoch"][-1] < history["all_losses_per_epoch"][0]


def test_same_seed_same_data_same_weights(data, tmp_path) -> None:
    X, y = data
    kwargs = {**TINY, "keep_prob": 0.5}
    first = GRU(model_dir=tmp_path / "a", **kwargs)
    first_history = first.train(X, y, in_sample_size=48, epoch_end=2)
    second = GRU(model_dir=tmp_path / "b", **kwargs)
    second_history = second.train(X, y, in_sample_size=48, epoch_end=2)
    other_seed = GRU(model_dir=tmp_path / "c", **{**kwargs, "seed": 8})
    other_seed.train(X, y, in_sample_size=48, epoch_end=2)

    for a, b in zip(first.keras_model.get_weights(), second.keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first_history["all_losses_per_epoch"] == second_history["all_losses_per_epoch"]
    assert not np.array_equal(
        first.weights()["output_weights"], other_seed.weights()["output_weights"]
    )


def test_loss_sees_only_in_sample_rows(data, tmp_path) -> None:
    X, y = data
    changed = y.copy()
    changed[48:] = 100.0 + 5.0 * changed[48:]
    kwargs = {**TINY, "keep_prob": 0.5}
    original = RNN(model_dir=tmp_path / "a", **kwargs)
    original.train(X, y, in_sample_size=48, epoch_end=2)
    other_oos = RNN(model_dir=tmp_path / "b", **kwargs)
    history = other_oos.train(X, changed, in_sample_size=48, epoch_end=2)

    for a, b in zip(
        original.keras_model.get_weights(), other_oos.keras_model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(history["all_actual_oos"][0], changed[48:], rtol=1e-6)
    # The in-sample boundary matters: one more row in the loss changes the weights.
    wider = RNN(model_dir=tmp_path / "c", **kwargs)
    wider.train(X, changed, in_sample_size=49, epoch_end=2)
    assert not np.array_equal(
        wider.weights()["output_weights"], original.weights()["output_weights"]
    )


def test_loss_is_in_sample_squared_error_plus_l1_and_l2_on_every_weight(data, tmp_path) -> None:
    X, y = data
    kwargs = {**TINY, "inner_iteration": 1, "keep_prob": 1.0, "l1_reg": 0.05, "l2_reg": 0.01}
    model = GRU(model_dir=tmp_path, **kwargs)
    weights = [w.numpy() for w in model.keras_model.trainable_weights]
    assert len(weights) == 8  # 2 GRU layers x (kernel, recurrent kernel, bias) + dense (2)
    predicted = model.keras_model(X[:40], training=False).numpy()
    expected = (
        np.mean((predicted - y[:40]) ** 2)
        + 0.05 * sum(np.abs(w).sum() for w in weights)
        + 0.01 * sum((w**2).sum() for w in weights)
    )
    # one step: the reported loss is the one computed with the weights before that step
    history = model.train(X, y, in_sample_size=40, epoch_end=1)
    assert history["all_losses_per_epoch"][0] == pytest.approx(expected, rel=1e-5)
    penalty_only = expected - np.mean((predicted - y[:40]) ** 2)
    assert penalty_only > 0.1 * expected  # the penalties are a visible part of the number


def test_each_batch_gets_inner_iteration_optimizer_steps(data, tmp_path) -> None:
    X, y = data

    def feeder():
        yield X[:32], y[:32], 0.0, 1.0, 24
        yield X[32:], y[32:], 0.0, 1.0, 24

    model = RNN(model_dir=tmp_path, **{**TINY, "inner_iteration": 3})
    model.train(data_feeder=feeder, epoch_end=2)
    assert int(model._optimizer.iterations.numpy()) == 2 * 2 * 3  # epochs x batches x steps


def test_dropout_keeps_half_the_units_in_training_only(tmp_path) -> None:
    import tensorflow as tf

    model = RNN(model_dir=tmp_path, **TINY)  # keep_prob defaults to 0.5
    layer = model.keras_model.get_layer("dropout_0")
    ones = tf.ones([200, 50])
    dropped = layer(ones, training=True).numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}  # kept units scaled by 1 / keep_prob
    assert 0.4 < (dropped == 0).mean() < 0.6
    np.testing.assert_array_equal(layer(ones, training=False).numpy(), ones.numpy())


def test_return_weights_shapes(trained_lstm) -> None:
    _, history = trained_lstm
    n_states = TINY["n_states"]
    assert history["last_layer_kernel"].shape == (n_states, 4 * n_states)
    assert history["last_layer_recurrent_kernel"].shape == (n_states, 4 * n_states)
    assert history["last_layer_bias"].shape == (4 * n_states,)
    assert history["output_weights"].shape == (n_states, 1)
    assert history["output_bias"].shape == (1,)


def test_no_out_of_sample_rows_gives_nan_oos_correlation(data, tmp_path) -> None:
    X, y = data
    history = RNN(model_dir=tmp_path, **TINY).train(X, y, epoch_end=1)
    assert math.isnan(history["all_corr_oos"][0])
    assert math.isnan(history["all_corr_oos_per_epoch"][0])
    assert history["all_actual_oos"][0].shape == (0, 1)
    assert history["all_actual_is"][0].shape == (N_SAMPLES, 1)


def test_callback_gets_metrics_and_decayed_learning_rate(data, tmp_path) -> None:
    X, y = data
    calls: list[tuple[int, dict]] = []
    RNN(model_dir=tmp_path, **TINY, start_learning_rate=0.01, decay_rate=0.5).train(
        X, y, in_sample_size=48, epoch_end=2, callback=lambda e, m: calls.append((e, m))
    )
    assert [e for e, _ in calls] == [1, 2]
    assert set(calls[0][1]) == {"loss", "corr_is", "corr_oos", "learning_rate", "seconds"}
    assert calls[0][1]["learning_rate"] == pytest.approx(0.01 * 0.5**0.5)
    assert calls[1][1]["learning_rate"] == pytest.approx(0.01 * 0.5)


def test_learning_rate_schedule_values_and_optimizer_uses_them(data, tmp_path) -> None:
    X, y = data
    model = RNN(
        model_dir=tmp_path,
        **{**TINY, "start_learning_rate": 0.02, "decay_rate": 0.25},
        decay_steps=2,
    )
    # start_learning_rate * decay_rate ** ((epoch / epoch_end) / decay_steps)
    assert model.learning_rate(1, 4) == pytest.approx(0.02 * 0.25 ** (0.25 / 2))
    assert model.learning_rate(2, 4) == pytest.approx(0.02 * 0.25**0.25)
    assert model.learning_rate(4, 4) == pytest.approx(0.01)
    assert model.learning_rate(20, 20) == pytest.approx(0.01)

    applied: list[float] = []
    model.train(
        X,
        y,
        in_sample_size=48,
        epoch_end=4,
        callback=lambda e, m: applied.append(float(model._optimizer.learning_rate)),
    )
    np.testing.assert_allclose(applied, [model.learning_rate(e, 4) for e in range(1, 5)], rtol=1e-6)


def test_progress_is_logged_every_display_step(data, tmp_path, caplog) -> None:
    X, y = data
    with caplog.at_level(logging.INFO, logger="finrnn_core"):
        RNN(model_dir=tmp_path, **TINY).train(X, y, in_sample_size=48, epoch_end=4, display_step=2)
    lines = [r.getMessage() for r in caplog.records if "epoch" in r.getMessage()]
    assert [line.split()[2] for line in lines] == ["2/4", "4/4"]
    assert all("loss=" in ln and "corr_oos=" in ln and "eta=" in ln for ln in lines)


# ----------------------------------------------------- epochs and continuation


def test_continue_training_runs_epochs_11_to_20(data, tmp_path) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    assert model.train(X, y, in_sample_size=48, epoch_end=10)["all_epochs"] == list(range(1, 11))
    before = model.predict(X)

    lrs: list[float] = []
    history = model.train(
        X, y, in_sample_size=48, epoch_end=20, callback=lambda e, m: lrs.append(m["learning_rate"])
    )

    assert history["all_epochs"] == list(range(11, 21))
    assert model.epochs_trained == 20
    assert lrs[0] == pytest.approx(model.config.start_learning_rate * 0.3 ** (11 / 20))
    assert not np.array_equal(before, model.predict(X))
    assert os.path.exists(tmp_path / "rnn_epoch_20.ckpt.index")
    saved = json.loads((tmp_path / "rnn.config.json").read_text())
    assert saved["epochs_trained"] == 20


def test_continuing_starts_from_current_weights(data, tmp_path) -> None:
    # Epochs 1..2 then 3..4 with the same learning rates give the run 1..4.
    X, y = data
    kwargs = {**TINY, "decay_rate": 1.0}
    split = RNN(model_dir=tmp_path / "split", **kwargs)
    split.train(X, y, in_sample_size=48, epoch_end=2)
    split.train(X, y, in_sample_size=48, epoch_end=4)
    whole = RNN(model_dir=tmp_path / "whole", **kwargs)
    whole.train(X, y, in_sample_size=48, epoch_end=4)
    np.testing.assert_allclose(split.predict(X), whole.predict(X), rtol=1e-5, atol=1e-6)


def test_restore_model_false_trains_from_scratch(data, tmp_path) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    first = model.train(X, y, in_sample_size=48, epoch_end=3)
    again = model.train(X, y, in_sample_size=48, epoch_end=3, restore_model=False)
    assert again["all_epochs"] == [1, 2, 3]
    assert model.epochs_trained == 3
    # Same seed, fresh weights: the same run again.
    np.testing.assert_allclose(
        again["all_predicted_oos"][0], first["all_predicted_oos"][0], rtol=1e-5
    )


def test_pre_trained_model_restores_then_continues(trained_lstm, data, tmp_path) -> None:
    X, y = data
    source, _ = trained_lstm
    prefix = os.path.join(source.model_dir, "lstm_epoch_10.ckpt")
    model = LSTM(model_dir=tmp_path, **TINY)
    history = model.train(X, y, in_sample_size=48, epoch_end=12, pre_trained_model=prefix)
    assert history["all_epochs"] == [11, 12]


class _Stop(Exception):
    pass


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(data, tmp_path) -> None:
    # Dropout is on (keep_prob=0.5), so the dropout masks and Adam's state must resume too.
    X, y = data
    kwargs = {**TINY, "keep_prob": 0.5}

    def stop_after_10(epoch: int, metrics: dict) -> None:
        if epoch == 10:
            raise _Stop

    stopped = LSTM(model_dir=tmp_path / "stopped", **kwargs)
    with pytest.raises(_Stop):
        stopped.train(X, y, in_sample_size=48, epoch_end=20, callback=stop_after_10)
    resumed = LSTM(model_dir=tmp_path / "resumed", **kwargs)
    history = resumed.train(
        X,
        y,
        in_sample_size=48,
        pre_trained_model=str(tmp_path / "stopped" / "lstm_epoch_10.ckpt"),
        epoch_prev=10,
        epoch_end=20,
    )
    whole = LSTM(model_dir=tmp_path / "whole", **kwargs)
    whole.train(X, y, in_sample_size=48, epoch_end=20)

    assert history["all_epochs"] == list(range(11, 21))
    for a, b in zip(
        resumed.keras_model.get_weights(), whole.keras_model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Without the restore the run differs: the comparison above can fail.
    assert not np.allclose(stopped.weights()["output_weights"], whole.weights()["output_weights"])


_KILLED_RUN = """
import os, signal, sys
import numpy as np
from finrnn_core.models import RNN
X = np.load(sys.argv[2]); y = np.load(sys.argv[3])

def die(epoch, metrics):
    if epoch == 3:
        os.kill(os.getpid(), signal.SIGKILL)

RNN(model_dir=sys.argv[1], **{kwargs!r}).train(X, y, in_sample_size=48, epoch_end=6, callback=die)
"""


def test_new_instance_resumes_from_model_dir_skipping_a_half_written_checkpoint(
    data, tmp_path, caplog
) -> None:
    X, y = data
    kwargs = {**TINY, "keep_prob": 0.5}

    def stop_after_3(epoch: int, metrics: dict) -> None:
        if epoch == 3:
            raise _Stop

    with pytest.raises(_Stop):
        RNN(model_dir=tmp_path / "run", **kwargs).train(
            X, y, in_sample_size=48, epoch_end=5, callback=stop_after_3
        )
    # As if the process had died while writing epoch 4's checkpoint.
    (tmp_path / "run" / "rnn_epoch_4.ckpt.index").write_bytes(b"half-written")

    with caplog.at_level(logging.INFO, logger="finrnn_core"):
        again = RNN(model_dir=tmp_path / "run", **kwargs)
        history = again.train(X, y, in_sample_size=48, epoch_end=5)
    whole = RNN(model_dir=tmp_path / "whole", **kwargs)
    whole.train(X, y, in_sample_size=48, epoch_end=5)

    assert history["all_epochs"] == [4, 5]
    assert "Skipping unreadable checkpoint" in caplog.text and "rnn_epoch_4.ckpt" in caplog.text
    for a, b in zip(again.keras_model.get_weights(), whole.keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_killed_training_resumes_after_its_last_completed_epoch(data, tmp_path, caplog) -> None:
    X, y = data
    kwargs = {**TINY, "keep_prob": 0.5}
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    run_dir = tmp_path / "run"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLED_RUN.format(kwargs=kwargs),
            str(run_dir),
            str(tmp_path / "X.npy"),
            str(tmp_path / "y.npy"),
        ],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert os.path.exists(run_dir / "rnn_epoch_3.ckpt.index")
    # As if the process had died while writing epoch 4's checkpoint.
    (run_dir / "rnn_epoch_4.ckpt.index").write_bytes(b"half-written")

    with caplog.at_level(logging.INFO, logger="finrnn_core"):
        again = RNN(model_dir=run_dir, **kwargs)
        history = again.train(X, y, in_sample_size=48, epoch_end=6)
    whole = RNN(model_dir=tmp_path / "whole", **kwargs)
    whole.train(X, y, in_sample_size=48, epoch_end=6)

    assert history["all_epochs"] == [4, 5, 6]
    assert "Skipping unreadable checkpoint" in caplog.text and "rnn_epoch_4.ckpt" in caplog.text
    for a, b in zip(again.keras_model.get_weights(), whole.keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_resuming_into_a_model_dir_of_another_model_names_the_fields(data, tmp_path) -> None:
    X, y = data
    RNN(model_dir=tmp_path, **TINY).train(X, y, epoch_end=1)
    other = RNN(model_dir=tmp_path, **{**TINY, "n_states": 6})
    with pytest.raises(
        CheckpointError, match=r"n_states \(checkpoint: 4, model: 6\).*restore_model=False"
    ):
        other.train(X, y, epoch_end=2)
    # restore_model=False starts over and overwrites them.
    assert other.train(X, y, epoch_end=1, restore_model=False)["all_epochs"] == [1]


def test_epoch_end_must_be_after_epoch_prev(data, tmp_path) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(
        ConfigError, match=r"`epoch_end` must be > epoch_prev=3\. Received: epoch_end=3"
    ):
        model.train(X, y, epoch_end=3, epoch_prev=3)


# ------------------------------------------------------------- data feeder


def test_data_feeder_two_batches_descales_targets(tmp_path) -> None:
    X1, y1 = make_data(40, seed=1)
    X2, y2 = make_data(30, seed=2)
    batches = [(X1, y1, 2.0, 3.0, 30), (X2, y2, -1.0, 0.5, 20)]
    model = GRU(model_dir=tmp_path, **TINY)

    history = model.train(data_feeder=lambda: iter(batches), epoch_end=2)

    assert len(history["all_corr_is"]) == 2
    np.testing.assert_allclose(history["all_actual_is"][0], y1[:30] * 3.0 + 2.0, rtol=1e-6)
    np.testing.assert_allclose(history["all_actual_oos"][0], y1[30:] * 3.0 + 2.0, rtol=1e-6)
    np.testing.assert_allclose(history["all_actual_is"][1], y2[:20] * 0.5 - 1.0, rtol=1e-6)
    np.testing.assert_allclose(history["all_actual_oos"][1], y2[20:] * 0.5 - 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        history["all_predicted_oos"][1], model.predict(X2)[20:] * 0.5 - 1.0, rtol=1e-5
    )

    predicted = list(model.predict(data_feeder=lambda: iter(batches)))
    assert [p.shape for p in predicted] == [(40, 1), (30, 1)]
    np.testing.assert_allclose(predicted[0], model.predict(X1) * 3.0 + 2.0, rtol=1e-5)


def test_data_feeder_with_no_batches_raises(tmp_path) -> None:
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(DataError, match="`data_feeder` yielded no batches"):
        model.train(data_feeder=lambda: [], epoch_end=1)


def test_data_feeder_returning_no_iterable_raises(tmp_path) -> None:
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(DataError, match=r"`data_feeder\(\)` must return an iterable .*NoneType"):
        model.train(data_feeder=lambda: None, epoch_end=1)


def test_data_feeder_bad_batch_is_named(tmp_path, data) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(DataError, match=r"data_feeder batch 0: y_std` must be finite and > 0"):
        model.train(data_feeder=lambda: [(X, y, 0.0, 0.0, 10)], epoch_end=1)


def test_non_finite_inputs_are_named_by_row_time_step_and_feature(tmp_path, data) -> None:
    X, y = data
    X = X.copy()
    X[5, 2, 1] = np.nan
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(
        DataError,
        match=r"`batch_X` must hold only finite values\. Received: nan at row 5, "
        r"time step 2, feature 1 \(1 non-finite",
    ):
        model.train(X, y, epoch_end=1)


def test_non_finite_targets_are_named_by_row(tmp_path, data) -> None:
    X, y = data
    y = y.copy()
    y[3, 0] = np.inf
    with pytest.raises(
        DataError, match=r"`batch_y` must hold only finite values\. Received: inf at row 3"
    ):
        RNN(model_dir=tmp_path, **TINY).train(X, y, epoch_end=1)


def test_bad_feeder_batch_is_rejected_before_any_training(tmp_path, data) -> None:
    X, y = data
    bad_y = y.copy()
    bad_y[7, 0] = np.nan
    batches = [(X, y, 0.0, 1.0, 48), (X, y, 0.0, 1.0, 48), (X, bad_y, 0.0, 1.0, 48)]
    model = RNN(model_dir=tmp_path, **TINY)
    before = model.keras_model.get_weights()
    with pytest.raises(DataError, match=r"data_feeder batch 2: y` must hold .* nan at row 7"):
        model.train(data_feeder=lambda: iter(batches), epoch_end=3)
    assert model.epochs_trained == 0
    assert not [f for f in os.listdir(tmp_path) if ".ckpt" in f]
    for a, b in zip(before, model.keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_loss_becoming_infinite_stops_training_and_keeps_the_last_good_checkpoint(
    tmp_path, data
) -> None:
    X, y = data
    state = {"explode": False, "weights": None}

    def feeder():
        # Finite targets whose squared error overflows float32 once they are switched on.
        yield X, (y * 1e20 if state["explode"] else y), 0.0, 1.0, 48

    def after_epoch(epoch: int, metrics: dict) -> None:
        state["weights"] = model.keras_model.get_weights()
        state["explode"] = True

    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(TrainingDivergedError, match=r"loss became inf in epoch 2, batch 0"):
        model.train(data_feeder=feeder, epoch_end=3, callback=after_epoch)

    assert os.path.exists(tmp_path / "rnn_epoch_1.ckpt.index")
    assert not os.path.exists(tmp_path / "rnn_epoch_2.ckpt.index")
    assert model.epochs_trained == 1
    for a, b in zip(state["weights"], model.keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded = RecurrentModel.load(tmp_path, "rnn")
    assert loaded.epochs_trained == 1
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_loss_infinite_in_the_first_epoch_leaves_an_untrained_model(tmp_path, data) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 0"):
        model.train(X, y * 1e20, epoch_end=2)
    assert model.epochs_trained == 0
    assert model.latest_checkpoint is None
    with pytest.raises(NotTrainedError):
        model.predict(X)


# -------------------------------------------------------------- validation


def test_train_rejects_wrong_X_shape(tmp_path, data) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(
        DataError, match=r"\(samples>0, 5, 3\)\. Received: batch_X\.shape=\(64, 5, 2\)"
    ):
        model.train(X[:, :, :2], y, epoch_end=1)


def test_train_rejects_wrong_y_shape(tmp_path, data) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(DataError, match=r"\(64, 1\)\. Received: batch_y\.shape=\(63, 1\)"):
        model.train(X, y[:-1], epoch_end=1)


@pytest.mark.parametrize(
    ("in_sample_size", "match"),
    [
        (0, r"`in_sample_size` must be in \[1, samples=64\]\. Received: in_sample_size=0"),
        (65, r"`in_sample_size` must be in \[1, samples=64\]\. Received: in_sample_size=65"),
        (1.5, r"`in_sample_size` must be an integer or None\. Received: in_sample_size=1\.5"),
    ],
)
def test_train_rejects_bad_in_sample_size(tmp_path, data, in_sample_size, match) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(ConfigError, match=match):
        model.train(X, y, in_sample_size=in_sample_size, epoch_end=1)


def test_train_needs_exactly_one_data_source(tmp_path, data) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(ConfigError, match="not both"):
        model.train(X, y, data_feeder=lambda: [], epoch_end=1)
    with pytest.raises(ConfigError, match=r"Received: batch_X=None, batch_y=None"):
        model.train(epoch_end=1)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"n_time_steps": 0}, r"`n_time_steps` must be > 0\. Received: n_time_steps=0"),
        ({"keep_prob": 0.0}, r"`keep_prob` must be in \(0, 1\]\. Received: keep_prob=0\.0"),
        ({"activation": "swish"}, r"`activation` must be one of .*Received: activation='swish'"),
        (
            {"seed": -1},
            r"`seed` must be between 0 and 4294967295 \(2\*\*32 - 1\)\. Received: seed=-1",
        ),
        (
            {"seed": 2**60},
            r"`seed` must be between 0 and 4294967295 .*Received: seed=1152921504606846976",
        ),
        ({"model_dir": 3}, r"`model_dir` must be a path or None\. Received: model_dir=3"),
        ({"strict_device": "yes"}, r"`strict_device` must be True or False\. Received: "),
    ],
)
def test_constructor_rejects_invalid_values_by_name(tmp_path, override, match) -> None:
    kwargs = {"model_dir": tmp_path, **TINY, **override}
    with pytest.raises(ConfigError, match=match):
        LSTM(**kwargs)


def test_a_refused_constructor_leaves_no_folder(tmp_path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for bad in ({"mixed_precision": "fp16"}, {"strategy": object()}, {"strict_device": 1}):
        with pytest.raises(ConfigError):
            LSTM(**TINY, **bad)
    assert os.listdir(tmp_path) == []
    LSTM(**TINY)  # the default model_dir is made once the arguments are accepted
    assert [p.name[: len("finrnn_lstm_")] for p in tmp_path.iterdir()] == ["finrnn_lstm_"]


def test_base_class_is_abstract(tmp_path) -> None:
    with pytest.raises(TypeError, match="RecurrentModel is abstract"):
        RecurrentModel(model_dir=tmp_path)


# ------------------------------------------------------------- prediction


def test_predict_before_training_raises(tmp_path, data) -> None:
    X, _ = data
    model = GRU(model_dir=tmp_path, **TINY)
    with pytest.raises(NotTrainedError, match="must be trained or restored before predict"):
        model.predict(X)
    with pytest.raises(NotTrainedError):
        model.predict(data_feeder=lambda: [])


def test_predict_rejects_wrong_shape(trained_lstm, data) -> None:
    model, _ = trained_lstm
    X, _ = data
    with pytest.raises(
        DataError, match=r"\(samples>0, 5, 3\)\. Received: batch_X\.shape=\(64, 4, 3\)"
    ):
        model.predict(X[:, 1:, :])


def test_predict_is_deterministic_inference(trained_lstm, data) -> None:
    # Dropout (keep_prob=0.5) must be off when predicting.
    model, _ = trained_lstm
    X, _ = data
    np.testing.assert_array_equal(model.predict(X), model.predict(X))


# ------------------------------------------------------------- checkpoints


def test_checkpoint_files_are_written_every_epoch(trained_lstm) -> None:
    model, _ = trained_lstm
    files = set(os.listdir(model.model_dir))
    for epoch in range(1, 11):
        assert f"lstm_epoch_{epoch}.ckpt.index" in files
    assert "lstm_latest.ckpt.index" in files
    assert model.latest_checkpoint == os.path.join(model.model_dir, "lstm_latest.ckpt")
    saved = json.loads(open(os.path.join(model.model_dir, "lstm.config.json")).read())
    assert saved == {**model.config.to_dict(), "epochs_trained": 10}


def test_latest_checkpoint_is_none_before_training(tmp_path) -> None:
    assert RNN(model_dir=tmp_path, **TINY).latest_checkpoint is None


@pytest.mark.parametrize("cls", [GRU, RNN])
def test_save_load_predict_gives_identical_numbers(cls, data, tmp_path) -> None:
    X, y = data
    model = cls(model_dir=tmp_path, **TINY)
    model.train(X, y, in_sample_size=48, epoch_end=2)

    loaded = RecurrentModel.load(tmp_path, cls.CELL_TYPE)

    assert type(loaded) is cls
    assert loaded.epochs_trained == 2
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_load_lstm_latest_and_by_epoch(trained_lstm, data) -> None:
    model, _ = trained_lstm
    X, _ = data
    latest = LSTM.load(model.model_dir, "lstm", device="cpu")
    np.testing.assert_array_equal(latest.predict(X), model.predict(X))
    early = RecurrentModel.load(model.model_dir, "lstm", checkpoint=3)
    assert early.epochs_trained == 3
    assert not np.array_equal(early.predict(X), model.predict(X))


def test_load_as_wrong_class_raises(trained_lstm) -> None:
    model, _ = trained_lstm
    with pytest.raises(CheckpointError, match="holds a 'lstm' model; it cannot be loaded as GRU"):
        GRU.load(model.model_dir, "lstm")


def test_load_missing_config_names_the_path(tmp_path) -> None:
    with pytest.raises(
        CheckpointError, match=r"Cannot read saved model config .*ghost\.config\.json"
    ):
        RecurrentModel.load(tmp_path, "ghost")


def test_restore_mismatched_config_names_the_field(trained_lstm, tmp_path) -> None:
    source, _ = trained_lstm
    model = LSTM(model_dir=tmp_path, **{**TINY, "n_states": 5})
    with pytest.raises(CheckpointError, match=r"n_states \(checkpoint: 4, model: 5\)"):
        model.restore(source.latest_checkpoint)


def test_restore_mismatched_cell_type_names_the_field(trained_lstm, tmp_path) -> None:
    source, _ = trained_lstm
    model = GRU(model_dir=tmp_path, **TINY)
    with pytest.raises(CheckpointError, match=r"cell_type \(checkpoint: 'lstm', model: 'gru'\)"):
        model.restore(source.latest_checkpoint)


def test_restore_missing_checkpoint_names_the_path(tmp_path) -> None:
    model = LSTM(model_dir=tmp_path, **TINY)
    missing = str(tmp_path / "lstm_epoch_99.ckpt")
    with pytest.raises(
        CheckpointError, match=r"No checkpoint found at prefix .*lstm_epoch_99\.ckpt"
    ):
        model.restore(missing)


def test_restore_unreadable_checkpoint_names_the_path(trained_lstm, tmp_path) -> None:
    source, _ = trained_lstm
    prefix = tmp_path / "lstm_latest.ckpt"
    (tmp_path / "lstm_latest.ckpt.index").write_bytes(b"not a checkpoint")
    (tmp_path / "lstm.config.json").write_text(
        json.dumps({**source.config.to_dict(), "epochs_trained": 1})
    )
    model = LSTM(model_dir=tmp_path / "m", **TINY)
    with pytest.raises(CheckpointError, match=r"Cannot restore checkpoint .*lstm_latest\.ckpt"):
        model.restore(prefix)


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_restore_of_a_truncated_data_file_names_the_path_and_keeps_the_model(
    data, tmp_path
) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, **TINY)
    model.train(X, y, in_sample_size=48, epoch_end=2)
    before = model.predict(X)
    [shard] = tmp_path.glob("rnn_epoch_1.ckpt.data-*")
    _truncate(shard)  # a copy cut short, a full disk
    with pytest.raises(CheckpointError, match=r"Cannot restore checkpoint .*rnn_epoch_1\.ckpt"):
        model.restore(tmp_path / "rnn_epoch_1.ckpt")
    # no half-restored weights: the model is as it was (epoch 2)
    assert model.epochs_trained == 2
    np.testing.assert_array_equal(model.predict(X), before)


def test_resume_skips_a_truncated_data_file_for_the_epoch_before(data, tmp_path, caplog) -> None:
    X, y = data
    RNN(model_dir=tmp_path / "run", **TINY).train(X, y, in_sample_size=48, epoch_end=3)
    [shard] = (tmp_path / "run").glob("rnn_epoch_3.ckpt.data-*")
    _truncate(shard)
    with caplog.at_level(logging.INFO, logger="finrnn_core"):
        history = RNN(model_dir=tmp_path / "run", **TINY).train(
            X, y, in_sample_size=48, epoch_end=4
        )
    assert history["all_epochs"] == [3, 4]
    assert "Skipping unreadable checkpoint" in caplog.text and "rnn_epoch_3.ckpt" in caplog.text


def test_a_saved_config_that_is_not_an_object_names_the_file(trained_lstm, tmp_path) -> None:
    (tmp_path / "lstm.config.json").write_text("[1, 2]")
    with pytest.raises(
        CheckpointError,
        match=r"Cannot read saved model config .*lstm\.config\.json.*must be a dict",
    ):
        RecurrentModel.load(tmp_path, "lstm")


def test_restore_model_false_deletes_the_earlier_runs_checkpoints(data, tmp_path, caplog) -> None:
    X, y = data
    RNN(model_dir=tmp_path, **TINY).train(X, y, in_sample_size=48, epoch_end=5)
    # not this model's checkpoints: a user's file named like one, and a prefix's own name
    kept = ["rnn_latest", "rnn_epoch_9.ckpt", "rnn_epoch_9.txt", "rnnx_epoch_1.ckpt.index"]
    for name in kept:
        (tmp_path / name).write_text("not a checkpoint of model rnn")
    other = {**TINY, "activation": "relu"}  # not an architecture field: restore would allow it
    with caplog.at_level(logging.WARNING, logger="finrnn_core"):
        RNN(model_dir=tmp_path, **other).train(
            X, y, in_sample_size=48, epoch_end=2, restore_model=False
        )
    assert "deleted" in caplog.text and "restore_model=False" in caplog.text
    assert all((tmp_path / name).exists() for name in kept)
    assert sorted(p.name.split(".")[0] for p in tmp_path.glob("rnn_*.ckpt.index")) == [
        "rnn_epoch_1",
        "rnn_epoch_2",
        "rnn_latest",
    ]
    # a re-run continues the new run (after epoch 2), never the old run's epoch 5
    again = RNN(model_dir=tmp_path, **other).train(X, y, in_sample_size=48, epoch_end=3)
    assert again["all_epochs"] == [3]


def test_restore_allows_other_training_settings(trained_lstm, data, tmp_path) -> None:
    source, _ = trained_lstm
    X, _ = data
    model = LSTM(model_dir=tmp_path, **{**TINY, "start_learning_rate": 0.5, "keep_prob": 1.0})
    model.restore(source.latest_checkpoint)
    assert model.epochs_trained == 10
    np.testing.assert_array_equal(model.predict(X), source.predict(X))


# ---------------------------------------------------------------- devices


def test_gpu_request_falls_back_to_cpu_with_warning(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="finrnn_core"):
        model = RNN(model_dir=tmp_path, **{**TINY, "device": "gpu", "device_num": 99})
    assert model.device_used == "/CPU:0"
    assert "GPU 99 was requested" in caplog.text
    assert "falling back to /CPU:0" in caplog.text


def test_strict_device_raises(tmp_path) -> None:
    with pytest.raises(DeviceError, match=r"GPU 99 was requested.*device_num=99"):
        RNN(model_dir=tmp_path, strict_device=True, **{**TINY, "device": "gpu", "device_num": 99})


def test_two_instances_train_concurrently_in_threads(data, tmp_path) -> None:
    X, y = data
    settings = [{**TINY, "keep_prob": 0.5, "seed": seed} for seed in (7, 8)]
    expected = []
    for i, kwargs in enumerate(settings):
        alone = RNN(model_dir=tmp_path / f"alone_{i}", **kwargs)
        alone.train(X, y, in_sample_size=48, epoch_end=3)
        expected.append(alone.keras_model.get_weights())

    models = [RNN(model_dir=tmp_path / f"thread_{i}", **kw) for i, kw in enumerate(settings)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(models))

    def work(model: RecurrentModel) -> None:
        try:
            start.wait()
            model.train(X, y, in_sample_size=48, epoch_end=3)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for model, weights in zip(models, expected, strict=True):
        assert model.epochs_trained == 3
        assert model.device_used == "/CPU:0"
        for a, b in zip(model.keras_model.get_weights(), weights, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # The two runs differ, so each thread really trained its own model.
    assert not np.allclose(expected[0][-2], expected[1][-2])


def test_resolve_device_gpu_zero_matches_what_tensorflow_sees(caplog) -> None:
    import tensorflow as tf

    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    with caplog.at_level(logging.WARNING, logger="finrnn_core"):
        resolved = resolve_device("gpu", 0)
    assert resolved == ("/GPU:0" if has_gpu else "/CPU:0")
    assert ("falling back" in caplog.text) is not has_gpu
    if not has_gpu:
        with pytest.raises(DeviceError, match="GPU 0 was requested but 0 GPU"):
            resolve_device("gpu", 0, strict=True)


def test_resolve_device_cpu_and_bad_values() -> None:
    assert resolve_device("cpu", 3) == "/CPU:0"
    assert resolve_device("CPU") == "/CPU:0"
    with pytest.raises(
        ConfigError, match=r"`device` must be 'cpu' or 'gpu'\. Received: device='tpu'"
    ):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match=r"Received: device_num=-1"):
        resolve_device("gpu", -1)


# ---------------------------------------------------------------- reporting


def test_show_status(trained_lstm, capsys) -> None:
    model, _ = trained_lstm
    status = model.show_status()
    assert status["epochs_trained"] == 10
    assert status["device_used"] == "/CPU:0"
    assert status["config"]["n_states"] == 4
    assert status["last_metrics"]["epoch"] == 10
    assert len(status["checkpoints"]) == 10
    assert status["latest_checkpoint"] == model.latest_checkpoint
    assert status["fused_gpu_kernel"] is False  # no fused kernel on the CPU
    assert '"epochs_trained": 10' in capsys.readouterr().out


def _graph_events(log_dir) -> list:
    """The GraphDefs in `log_dir`'s event files, as TensorBoard's Graphs tab reads them."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    graphs = []
    for name in sorted(os.listdir(log_dir)):
        if name.startswith("events.out.tfevents"):
            for record in tf.data.TFRecordDataset(os.path.join(log_dir, name)):
                event = event_pb2.Event.FromString(record.numpy())
                if event.graph_def:
                    graphs.append(tf.compat.v1.GraphDef.FromString(event.graph_def))
    return graphs


def _graph_text(graph) -> str:
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return " ".join(f"{n.op} {n.name}" for n in nodes)


def test_show_graph_writes_summary_and_graph_event(tmp_path) -> None:
    model = RNN(model_dir=tmp_path, log_dir=tmp_path / "logs", **TINY)
    log_dir = model.show_graph()

    assert log_dir == str(tmp_path / "logs")
    summary = (tmp_path / "logs" / "rnn_summary.txt").read_text()
    assert "rnn_0 (SimpleRNN)" in summary and "output (Dense)" in summary
    event_files = [f for f in os.listdir(log_dir) if f.startswith("events.out.tfevents")]
    assert len(event_files) == 1
    (graph,) = _graph_events(log_dir)
    text = _graph_text(graph)
    assert "MatMul" in text and "rnn_0" in text and "output" in text
    # What a notebook shows for the returned path.
    assert "rnn_0 (SimpleRNN)" in log_dir._repr_html_()
    assert "tensorboard --logdir" in log_dir._repr_html_()


def test_show_graph_holds_only_its_own_model(tmp_path, data) -> None:
    """A second show_graph in a process does not also export what ran since the first.

    Written with tf.summary.trace_on/trace_export, the second graph event carried the GRU's
    training functions too: 3.5 MB here, 40 MB after a test session.
    """
    X, y = data
    RNN(model_dir=tmp_path / "rnn", **TINY).show_graph()
    gru = GRU(model_dir=tmp_path / "gru", **TINY)
    gru.train(batch_X=X, batch_y=y, epoch_end=2)
    log_dir = LSTM(model_dir=tmp_path / "lstm", **TINY).show_graph()

    size = sum(
        os.path.getsize(os.path.join(log_dir, f))
        for f in os.listdir(log_dir)
        if f.startswith("events.out.tfevents")
    )
    assert size < 500_000, size
    (graph,) = _graph_events(log_dir)
    text = _graph_text(graph)
    assert "lstm_0" in text
    assert "gru" not in text.lower() and "rnn_0" not in text


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    found: dict[str, list[tuple[int, float]]] = {}
    for name in sorted(os.listdir(log_dir)):
        if not name.startswith("events.out.tfevents"):
            continue
        for record in tf.data.TFRecordDataset(os.path.join(log_dir, name)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = tf.make_ndarray(value.tensor).item()
                found.setdefault(value.tag, []).append((event.step, number))
    return found


def test_training_writes_tensorboard_scalars_per_epoch(data, tmp_path) -> None:
    X, y = data
    model = RNN(model_dir=tmp_path, log_dir=tmp_path / "logs", **TINY)
    history = model.train(X, y, in_sample_size=48, epoch_end=2)
    scalars = _scalars(tmp_path / "logs")

    assert set(scalars) == {"rnn/loss", "rnn/corr_is", "rnn/corr_oos", "rnn/learning_rate"}
    assert [step for step, _ in scalars["rnn/loss"]] == [1, 2]
    np.testing.assert_allclose(
        [v for _, v in scalars["rnn/loss"]], history["all_losses_per_epoch"], rtol=1e-6
    )
    np.testing.assert_allclose(
        [v for _, v in scalars["rnn/learning_rate"]],
        [model.learning_rate(1, 2), model.learning_rate(2, 2)],
        rtol=1e-6,
    )


def test_no_scalars_without_log_dir(data, tmp_path) -> None:
    X, y = data
    RNN(model_dir=tmp_path, **TINY).train(X, y, epoch_end=1)
    assert not os.path.exists(tmp_path / "logs")


# ---------------------------------------------------------------- imports


def test_importing_models_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "import finrnn_core.models\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
        "assert 'keras' not in sys.modules, 'keras imported'\n"
        "assert 'dagster' not in sys.modules, 'dagster imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------- refused calls and checkpoints left by other runs


def _ckpt_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".ckpt." in p.name)


def test_a_refused_fresh_start_keeps_the_checkpoints_and_the_model(data, tmp_path) -> None:
    X, y = data
    model = LSTM(model_dir=tmp_path, **TINY)
    model.train(X, y, in_sample_size=48, epoch_end=3)
    files, before = _ckpt_files(tmp_path), model.predict(X)

    with pytest.raises(ConfigError, match=r"`epoch_end` must be > epoch_prev=3"):
        model.train(X, y, epoch_end=3, epoch_prev=3, restore_model=False)
    with pytest.raises(CheckpointError, match=r"No checkpoint found at prefix .*typo\.ckpt"):
        model.train(
            X, y, epoch_end=5, restore_model=False, pre_trained_model=tmp_path / "typo.ckpt"
        )

    assert _ckpt_files(tmp_path) == files
    assert model.epochs_trained == 3
    np.testing.assert_array_equal(model.predict(X), before)


def test_a_pre_trained_checkpoint_too_new_for_epoch_end_changes_nothing(data, tmp_path) -> None:
    X, y = data
    RNN(model_dir=tmp_path / "a", **TINY).train(X, y, epoch_end=4)
    model = RNN(model_dir=tmp_path / "b", **TINY)
    model.train(X, y, epoch_end=2)
    before = model.predict(X)
    with pytest.raises(ConfigError, match=r"epoch_prev=4"):
        model.train(X, y, epoch_end=3, pre_trained_model=tmp_path / "a" / "rnn_latest.ckpt")
    assert model.epochs_trained == 2
    np.testing.assert_array_equal(model.predict(X), before)


@pytest.mark.parametrize(
    "override, match",
    [
        (
            {"restore_model": None},
            r"`restore_model` must be True or False\. Received: restore_model=None",
        ),
        (
            {"restore_model": "False"},
            r"`restore_model` must be True or False\. Received: restore_model='False'",
        ),
        ({"return_weights": "no"}, r"`return_weights` must be True or False"),
        (
            {"pre_trained_model": 5},
            r"`pre_trained_model` must be a path or None\. Received: pre_trained_model=5",
        ),
    ],
)
def test_train_flags_of_the_wrong_type_are_refused_by_name(
    trained_lstm, data, override, match
) -> None:
    model, _ = trained_lstm
    X, y = data
    files = _ckpt_files(Path(model.model_dir))
    with pytest.raises(ConfigError, match=match):
        model.train(X, y, epoch_end=12, **override)
    assert model.epochs_trained == 10
    assert _ckpt_files(Path(model.model_dir)) == files


def test_training_on_from_an_earlier_epoch_drops_the_later_ones(data, tmp_path, caplog) -> None:
    X, y = data
    LSTM(model_dir=tmp_path, **TINY).train(X, y, epoch_end=6)
    tuned = LSTM(model_dir=tmp_path, **{**TINY, "start_learning_rate": 0.01})
    with caplog.at_level(logging.WARNING, logger="finrnn_core"):
        tuned.train(X, y, epoch_end=4, pre_trained_model=tmp_path / "lstm_epoch_2.ckpt")
    assert "deleted the checkpoints of epoch(s) 4, 5, 6" in caplog.text
    assert not list(tmp_path.glob("lstm_epoch_[56].ckpt*"))

    # resume and load now agree on the tuned run's epoch 4
    resumed = LSTM(model_dir=tmp_path, **{**TINY, "start_learning_rate": 0.01})
    assert resumed.train(X, y, epoch_end=5)["all_epochs"] == [5]
    loaded = RecurrentModel.load(tmp_path, "lstm", checkpoint=4)
    np.testing.assert_array_equal(loaded.predict(X), tuned.predict(X))


def test_checkpoints_without_their_config_stop_a_resume_instead_of_being_overwritten(
    data, tmp_path
) -> None:
    X, y = data
    RNN(model_dir=tmp_path, **TINY).train(X, y, epoch_end=3)
    (tmp_path / "rnn.config.json").unlink()
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    model = RNN(model_dir=tmp_path, **TINY)
    with pytest.raises(
        CheckpointError,
        match=r"holds 3 checkpoint\(s\) of this model and none can be restored .*rnn\.config\.json",
    ):
        model.train(X, y, epoch_end=5)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
    assert model.epochs_trained == 0
    # the way out the message names
    assert model.train(X, y, epoch_end=1, restore_model=False)["all_epochs"] == [1]


def test_a_saved_config_lacking_a_field_names_it(data, tmp_path) -> None:
    X, y = data
    LSTM(model_dir=tmp_path, **TINY).train(X, y, epoch_end=1)
    path = tmp_path / "lstm.config.json"
    values = json.loads(path.read_text())
    del values["n_states"]
    path.write_text(json.dumps(values))
    with pytest.raises(
        CheckpointError, match=r"lstm\.config\.json.*lacks the field\(s\) \['n_states'\]"
    ):
        RecurrentModel.load(tmp_path, "lstm")
    with pytest.raises(CheckpointError, match=r"lacks the field\(s\) \['n_states'\]"):
        LSTM(model_dir=tmp_path / "b", **TINY).train(
            X, y, epoch_end=2, pre_trained_model=tmp_path / "lstm_latest.ckpt"
        )


def test_paths_and_checkpoints_of_the_wrong_kind_are_refused_by_name(
    trained_lstm, tmp_path
) -> None:
    model, _ = trained_lstm
    with pytest.raises(ConfigError, match=r'`checkpoint` must be "latest", an epoch number .*2\.0'):
        RecurrentModel.load(model.model_dir, "lstm", checkpoint=2.0)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(
        ConfigError, match=r"`model_dir` must be a folder that can be created.*file"
    ):
        LSTM(model_dir=a_file, **TINY)
    with pytest.raises(ConfigError, match=r"A checkpoint must be given as a path prefix"):
        model.restore(None)


def test_many_models_in_one_process_do_not_warn_of_retracing(data, tmp_path) -> None:
    """Predicting from several cut-offs loads a model each; each traces its steps once."""
    import tensorflow as tf

    X, y = data
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    keep = Keep()
    tf.get_logger().addHandler(keep)
    try:
        for i in range(7):
            model = RNN(model_dir=tmp_path / str(i), **TINY)
            model.train(X, y, in_sample_size=48, epoch_end=1)
            model.predict(X)
    finally:
        tf.get_logger().removeHandler(keep)
    assert not [m for m in messages if "retracing" in m], messages
