"""End-to-end tests: the real server driven by a real browser.

Registers the ``e2e`` marker here too, so ``--strict-markers`` accepts it even before
pyproject.toml lists it.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the real server in headless Chromium")
