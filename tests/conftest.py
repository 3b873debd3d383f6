"""Shared test fixtures: the real media and the development set, skipped when absent.

The paths themselves (and the generated fixture clips, built once per run) are in
``_media.py``, a plain module that test files import by name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _media import CACHE, DEVSET, REALDATA

# Test modules that check every generated variant: when a run collects them, all the
# clips are built first, on every core (the tests build one clip at a time, on one core).
EVERY_VARIANT = {"test_fixture_truth", "test_fixture_matrix", "test_fixtures"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the generated clips a whole-table run needs, in parallel, before it starts:
    on a fresh machine (CI) that halves the wall time of the first build on 2 cores.
    Built clips are reused (``fixtures.generate.build`` checks them), so a run with a
    filled cache pays nothing. ``--collect-only`` builds nothing: it runs no test."""
    if session.config.option.collectonly:
        return
    modules = {getattr(item.module, "__name__", "") for item in session.items}
    if not modules & EVERY_VARIANT:
        return
    from fixtures.generate import build_all

    build_all(CACHE, None, jobs=os.cpu_count() or 1)


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
