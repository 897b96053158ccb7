"""Small randomly initialised generators saved in the released format (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models.tiny_weights import random_tiny_weights


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dso-tiny-format folder with small random models; the decoder fills about half the grid."""
    return random_tiny_weights(tmp_path_factory.mktemp("tiny"))
