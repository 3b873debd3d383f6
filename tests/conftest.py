"""Shared test helpers: where the real media lives.

``REALDATA`` is ``../shared/realdata`` beside the checkout (CI has it there). Tests
that need it take the ``realdata`` fixture, which skips with a clear reason when
the folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    """The real-media folder; skips the test when it is not beside the checkout."""
    if not REALDATA.is_dir():
        pytest.skip(f"real media folder {REALDATA} is absent (expected ../shared/realdata)")
    return REALDATA
