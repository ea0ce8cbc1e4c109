"""finrnn_core: deep recurrent (LSTM / GRU / basic RNN) prediction of financial time series.

A plain library (numpy, pandas, pyarrow; TensorFlow is imported only when a model is built).
It never imports Dagster.
"""

from finrnn_core.config import ModelConfig
from finrnn_core.devices import resolve_device
from finrnn_core.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DeviceError,
    FinRNNError,
    NotTrainedError,
    TrainingDivergedError,
)
from finrnn_core.features import FEATURE_COLUMNS, compute_features
from finrnn_core.metrics import pearson
from finrnn_core.models import GRU, LSTM, RNN, RecurrentModel
from finrnn_core.predictions import predict_dates
from finrnn_core.prices import PriceIngest, read_prices
from finrnn_core.storage import read_table, write_partition
from finrnn_core.training import TrainedCheckpoint, TrainingSpec, list_checkpoints, train_checkpoint
from finrnn_core.windows import (
    Scaling,
    TrainingSet,
    build_training_set,
    stored_window,
    ticker_windows,
)

__version__ = "0.1.0"

__all__ = [
    "FEATURE_COLUMNS",
    "GRU",
    "LSTM",
    "RNN",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DeviceError",
    "FinRNNError",
    "ModelConfig",
    "NotTrainedError",
    "PriceIngest",
    "RecurrentModel",
    "Scaling",
    "TrainedCheckpoint",
    "TrainingDivergedError",
    "TrainingSet",
    "TrainingSpec",
    "build_training_set",
    "compute_features",
    "list_checkpoints",
    "pearson",
    "predict_dates",
    "read_prices",
    "read_table",
    "resolve_device",
    "stored_window",
    "ticker_windows",
    "train_checkpoint",
    "write_partition",
]
