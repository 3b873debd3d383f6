"""Shared test fixtures: the real media and the development set, skipped when absent.

The paths themselves (and the generated fixture clips, built once per run) are in
``_media.py``, a plain module that test files import by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _media import DEVSET, REALDATA


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real-media folder; skips the test when it is not beside the checkout."""
    if not REALDATA.is_dir():
        pytest.skip(f"real media folder {REALDATA} is absent (expected ../shared/realdata)")
    return REALDATA


@pytest.fixture(scope="session")
def devset() -> Path:
    """The independent renderer's clips; skips the test when they are not beside the checkout."""
    if not DEVSET.is_dir():
        pytest.skip(f"development set {DEVSET} is absent (expected ../shared/devset)")
    return DEVSET
