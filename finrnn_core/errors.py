"""The exceptions finrnn raises on bad input, bad configuration and bad checkpoints."""

from __future__ import annotations


class FinRNNError(Exception):
    """Base class of every error finrnn raises on purpose."""


class ConfigError(FinRNNError, ValueError):
    """A configuration value breaks a rule; the message names the field and the value."""


class DataError(FinRNNError, ValueError):
    """Input data is unusable; the message names the file, ticker, date and column."""


class CheckpointError(FinRNNError):
    """A checkpoint is missing, unreadable or does not match the model it is loaded into."""


class DeviceError(FinRNNError):
    """The requested compute device is not available and fallback is disabled."""


class NotTrainedError(FinRNNError):
    """A model was asked to predict before it was trained or restored."""


class TrainingDivergedError(FinRNNError, FloatingPointError):
    """The training loss became NaN or infinite; the model was rolled back to its last good state."""
