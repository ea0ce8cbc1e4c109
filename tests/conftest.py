"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "finrnn_pipeline" / "sample_data"


@pytest.fixture
def sample_dir() -> Path:
    """The bundled real price sample shipped inside the package."""
    return SAMPLE_DIR


SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real price files in ../shared/data (CI lays shared/ beside the clone)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"Real price files expected in {SHARED_DATA}; the test suite needs them.")
    return SHARED_DATA
