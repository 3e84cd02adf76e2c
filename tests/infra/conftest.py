"""Markers for the infra tests (registered here so pyproject needs no change)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register ``slow``: builds the Lambda zip with pip (needs the package index)."""
    config.addinivalue_line("markers", "slow: builds the Lambda zip with pip (package index)")
