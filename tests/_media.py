"""Where the tests' media lives, and the generated fixture clips, built once per run.

One place for every test file and for ``conftest.py``'s fixtures (``realdata``,
``devset``, which skip with a clear reason when the folder is absent). Import it by name
(``from _media import CACHE, clip``), never through ``conftest``: pytest may import
``tests/e2e/conftest.py`` under the module name ``conftest``, and ``from conftest import``
then finds the wrong file (that broke collection in CI).

* ``SHARED``: ``../shared`` beside the checkout (CI has it there), holding
  ``REALDATA`` (real media with published metadata) and ``DEVSET`` (the independent
  renderer's clips and their ``truth.json``);
* ``MEI``, ``ANDROIDX``, ``EXIFTOOL``: the real-data collections, relative to ``REALDATA``;
* ``CACHE``: where ``fixtures.generate`` keeps its clips, ``$FIXTURE_CACHE`` or the
  user's cache by generator and libraries (``fixtures.generate.default_cache``).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REALDATA = SHARED / "realdata"
DEVSET = SHARED / "devset"


def _cache() -> Path:
    from fixtures.generate import default_cache  # numpy, OpenCV, PyAV

    return default_cache()


CACHE = _cache()

MEI = Path("metadata-extractor-images")
ANDROIDX = Path("androidx-media/libraries/test_data/src/test/assets/media/mp4")
EXIFTOOL = Path("exiftool/t/images")

# Edits no detector can see, as strict expected failures in the truth tables
# (test_fixture_truth, test_fixture_matrix): each says why, and fails the day it is found.
# A 2x speed ramp leaves a continuous picture whose motion runs twice as fast for 0.8 s;
# nothing here measures speed (issue 10's closing note).
UNSEEN_EDITS = {
    "tr-speed-ramp": "a speed ramp keeps the picture continuous: no detector measures speed",
}


@cache
def _built(name: str) -> tuple[Path, dict]:
    from fixtures.generate import build  # numpy, OpenCV, PyAV: only for tests that build

    return build(name, CACHE)


def clip(name: str) -> tuple[Path, dict]:
    """The generated clip ``name`` and its truth, built into ``CACHE`` once per run.

    Each call gets its own copy of the truth, so a test that changes it cannot change
    what another test reads.
    """
    path, truth = _built(name)
    return path, copy.deepcopy(truth)
