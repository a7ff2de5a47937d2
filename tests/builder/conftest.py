"""Fixtures for the card, check and publish tests: mutable build copies and the loopback Hub server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hub_server import hub_server_fixture  # noqa: F401


@pytest.fixture
def build(synthetic_build: Path, tmp_path: Path) -> Path:
    """A private, mutable copy of the session's synthetic build."""
    return Path(shutil.copytree(synthetic_build, tmp_path / "build"))
