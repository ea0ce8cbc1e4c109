"""ModelConfig validation, dict / JSON round trips, and the pearson metric."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from finrnn_core.config import ModelConfig
from finrnn_core.errors import ConfigError
from finrnn_core.metrics import pearson


def test_defaults_are_the_original_frameworks() -> None:
    cfg = ModelConfig(cell_type="lstm")
    assert cfg.to_dict() == {
        "cell_type": "lstm",
        "n_input_features": 10,
        "n_output_features": 1,
        "batch_size": None,
        "n_states": 50,
        "n_layers": 2,
        "n_time_steps": 100,
        "l1_reg": 0.05,
        "l2_reg": 0.01,
        "start_learning_rate": 0.001,
        "decay_steps": 1,
        "decay_rate": 0.3,
        "inner_iteration": 10,
        "forward_step": 1,
        "device": "gpu",
        "device_num": 0,
        "activation": "tanh",
        "keep_prob": 0.5,
        "seed": None,
        "model_id": "lstm",
    }


def test_model_id_defaults_to_cell_type_and_can_be_set() -> None:
    assert ModelConfig(cell_type="gru").model_id == "gru"
    assert ModelConfig(cell_type="gru", model_id="gru_fast").model_id == "gru_fast"


def test_frozen() -> None:
    cfg = ModelConfig(cell_type="rnn")
    with pytest.raises(AttributeError):
        cfg.n_states = 3  # type: ignore[misc]


def test_device_is_case_insensitive() -> None:
    assert ModelConfig(cell_type="rnn", device="CPU").device == "cpu"


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        (
            "cell_type",
            "transformer",
            r"`cell_type` must be one of .*Received: cell_type='transformer'",
        ),
        ("cell_type", 3, r"`cell_type` must be one of .*Received: cell_type=3"),
        ("n_input_features", 0, r"`n_input_features` must be > 0\. Received: n_input_features=0"),
        (
            "n_output_features",
            -1,
            r"`n_output_features` must be > 0\. Received: n_output_features=-1",
        ),
        ("n_states", 0, r"`n_states` must be > 0\. Received: n_states=0"),
        ("n_states", 2.5, r"`n_states` must be an integer\. Received: n_states=2\.5"),
        ("n_layers", 0, r"`n_layers` must be > 0\. Received: n_layers=0"),
        ("n_layers", True, r"`n_layers` must be an integer\. Received: n_layers=True"),
        ("n_time_steps", 0, r"`n_time_steps` must be > 0\. Received: n_time_steps=0"),
        (
            "n_time_steps",
            "100",
            r"`n_time_steps` must be an integer\. Received: n_time_steps='100'",
        ),
        ("inner_iteration", 0, r"`inner_iteration` must be > 0\. Received: inner_iteration=0"),
        ("forward_step", 0, r"`forward_step` must be > 0\. Received: forward_step=0"),
        ("batch_size", 0, r"`batch_size` must be > 0\. Received: batch_size=0"),
        ("batch_size", 1.5, r"`batch_size` must be an integer or None\. Received: batch_size=1\.5"),
        ("l1_reg", -0.1, r"`l1_reg` must be >= 0\. Received: l1_reg=-0\.1"),
        ("l1_reg", "0.1", r"`l1_reg` must be a finite number\. Received: l1_reg='0\.1'"),
        ("l2_reg", -1, r"`l2_reg` must be >= 0\. Received: l2_reg=-1"),
        ("l2_reg", math.inf, r"`l2_reg` must be a finite number\. Received: l2_reg=inf"),
        (
            "start_learning_rate",
            0,
            r"`start_learning_rate` must be > 0\. Received: start_learning_rate=0",
        ),
        (
            "start_learning_rate",
            math.nan,
            r"`start_learning_rate` must be a finite number\. Received: start_learning_rate=nan",
        ),
        ("decay_steps", 0, r"`decay_steps` must be > 0\. Received: decay_steps=0"),
        ("decay_rate", 0, r"`decay_rate` must be in \(0, 1\]\. Received: decay_rate=0"),
        ("decay_rate", 1.5, r"`decay_rate` must be in \(0, 1\]\. Received: decay_rate=1\.5"),
        ("keep_prob", 0.0, r"`keep_prob` must be in \(0, 1\]\. Received: keep_prob=0\.0"),
        ("keep_prob", 1.01, r"`keep_prob` must be in \(0, 1\]\. Received: keep_prob=1\.01"),
        ("keep_prob", None, r"`keep_prob` must be a finite number\. Received: keep_prob=None"),
        ("device", "tpu", r"`device` must be one of \('cpu', 'gpu'\)\. Received: device='tpu'"),
        ("device", 0, r"`device` must be one of .*Received: device=0"),
        ("device_num", -1, r"`device_num` must be >= 0\. Received: device_num=-1"),
        ("device_num", "0", r"`device_num` must be an integer\. Received: device_num='0'"),
        ("activation", "swish2", r"`activation` must be one of .*Received: activation='swish2'"),
        ("seed", -1, r"`seed` must be between 0 and 4294967295 .*Received: seed=-1"),
        ("seed", 2**32, r"`seed` must be between 0 and 4294967295 .*Received: seed=4294967296"),
        ("seed", 1.0, r"`seed` must be an integer or None\. Received: seed=1\.0"),
        ("model_id", "", r"`model_id` must be a non-empty string or None\. Received: model_id=''"),
        (
            "model_id",
            "a/b",
            r"`model_id` must not contain a path separator\. Received: model_id='a/b'",
        ),
    ],
)
def test_invalid_values_raise_config_error(field: str, value: object, match: str) -> None:
    kwargs: dict[str, object] = {"cell_type": "lstm", field: value}
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**kwargs)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="n_layers"):
        ModelConfig(cell_type="lstm", n_layers=0)


def test_numpy_scalars_are_taken_as_the_numbers_they_hold(tmp_path) -> None:
    cfg = ModelConfig(
        cell_type="lstm", n_states=np.int64(8), l2_reg=np.float32(0.25), seed=np.uint32(3)
    )
    assert (cfg.n_states, cfg.l2_reg, cfg.seed) == (8, 0.25, 3)
    assert type(cfg.n_states) is int and type(cfg.l2_reg) is float
    cfg.to_json(tmp_path / "c.json")  # plain JSON numbers
    assert json.loads((tmp_path / "c.json").read_text())["n_states"] == 8
    with pytest.raises(
        ConfigError, match=r"`n_states` must be an integer\. Received: n_states=8\.0"
    ):
        ModelConfig(cell_type="lstm", n_states=np.float64(8.0))


def test_dict_round_trip() -> None:
    cfg = ModelConfig(cell_type="gru", n_states=7, seed=3, device="cpu", model_id="g1")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_from_dict_fills_defaults() -> None:
    assert ModelConfig.from_dict({"cell_type": "rnn"}) == ModelConfig(cell_type="rnn")


def test_from_dict_rejects_unknown_keys_by_name() -> None:
    with pytest.raises(ConfigError, match=r"Unknown ModelConfig fields: \['learning_rate', 'zz'\]"):
        ModelConfig.from_dict({"cell_type": "lstm", "learning_rate": 0.1, "zz": 1})


def test_from_dict_requires_cell_type() -> None:
    with pytest.raises(ConfigError, match="`cell_type` is required"):
        ModelConfig.from_dict({"n_states": 4})


def test_from_dict_rejects_non_dict() -> None:
    with pytest.raises(ConfigError, match=r"`values` must be a dict\. Received: values=\['lstm'\]"):
        ModelConfig.from_dict(["lstm"])  # type: ignore[arg-type]


def test_from_dict_validates_values() -> None:
    with pytest.raises(ConfigError, match=r"Received: keep_prob=2"):
        ModelConfig.from_dict({"cell_type": "lstm", "keep_prob": 2})


def test_json_round_trip(tmp_path) -> None:
    cfg = ModelConfig(cell_type="lstm", n_states=4, l1_reg=0.0, seed=11)
    path = tmp_path / "lstm.config.json"
    cfg.to_json(path)
    assert json.loads(path.read_text())["n_states"] == 4
    assert ModelConfig.from_json(path) == cfg


def test_from_json_names_a_missing_file(tmp_path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=r"Cannot read model config from .*nope\.json"):
        ModelConfig.from_json(missing)


def test_from_json_rejects_unknown_keys(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"cell_type": "gru", "n_hidden": 3}))
    with pytest.raises(ConfigError, match=r"\['n_hidden'\]"):
        ModelConfig.from_json(path)


def test_config_module_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = "import sys, finrnn_core.config; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------- pearson


def test_pearson_known_values() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert pearson(a, a[::-1].copy()) == pytest.approx(-1.0)


def test_pearson_matches_numpy_and_flattens_columns() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 1)), rng.normal(size=50)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.ravel(), b)[0, 1])


@pytest.mark.parametrize(
    ("a", "b"),
    [([], []), ([1.0], [2.0]), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), ([1.0, 2.0], [5.0, 5.0])],
)
def test_pearson_is_nan_without_two_points_or_variance(a, b) -> None:
    assert math.isnan(pearson(a, b))


def test_pearson_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="same number of elements. Received: 3 and 2"):
        pearson([1, 2, 3], [1, 2])
