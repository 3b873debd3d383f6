"""Shared test fixtures, as Flask's tutorial keeps them: one place, named by what they give.

* media: ``realdata``, ``devset`` (skipped with a clear reason when the folder is absent),
  ``fixture_cache`` (where the generated clips are built), ``fixture_clip(name)`` (a
  generated clip and its truth);
* checks and metrics, computed once per session whichever modules ask for them:
  ``checked_report(path, facts)`` (``validator.check``), ``fixture_report(name)`` (that,
  on a generated clip, with the case of its truth), ``face_metrics(name)`` (the faces
  detector on a generated clip);
* the web: ``app`` (a test app with its own ``DATA_DIR`` under ``tmp_path`` and a worker
  running the fake analysis) and ``client``.

Decoding is almost all of a test's cost, so the fixtures that decode are session-scoped
factories with a cache: two modules that need the same clip's report or metrics decode it
once per run (``test_faces`` and ``test_opening`` share ``face_metrics``,
``test_fixture_truth`` and ``test_fixture_matrix`` share ``fixture_report``), even when
pytest-xdist runs them in two processes (``once_per_run``). What they return is shared
between tests: read it, do not change it (the truths are copies).
A cache that only one module reads stays in it as a module fixture (``test_cuts_generality``'s
``box``, ``test_quality_generality``'s ``analyzed``, ``test_waybill_conformance``'s ``gray``).

Test modules never ``from conftest import``: pytest may import ``tests/e2e/conftest.py``
under the module name ``conftest``, and the import then finds the wrong file (that broke
collection in CI). Plain helpers and paths are in ``_media.py`` and ``_clips.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _media import CACHE, DEVSET, REALDATA, clip
from _once import computed_once

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from validator.detectors.faces import FaceMetrics
    from validator.models import Report

# Test modules that check every generated variant: when a run collects them, all the
# clips are built first, on every core (the tests build one clip at a time, on one core).
EVERY_VARIANT = {"test_fixture_truth", "test_fixture_matrix", "test_fixtures"}
# The fake analysis of ``_service``: the web tests test the plumbing.
FAKE_ANALYSIS = "_service:fake_analysis"


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
    import fcntl

    from fixtures.generate import build_all

    # Under pytest-xdist each worker collects and comes here: one builds on every core,
    # the others wait on the lock and then find every clip built.
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.with_name(CACHE.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build_all(CACHE, None, jobs=os.cpu_count() or 1)


# ------------------------------------------------------------------------------ media


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


@pytest.fixture(scope="session")
def fixture_cache() -> Path:
    """The folder of the generated clips (``fixtures.generate.default_cache``),
    created if absent; ``fixture_clip`` builds into it what is not there yet."""
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


@pytest.fixture(scope="session")
def fixture_clip(fixture_cache: Path) -> Callable[[str], tuple[Path, dict]]:
    """``fixture_clip(name)``: the generated variant ``name`` and a copy of its truth,
    built once per run (an unknown name is an error that lists the known ones)."""

    def get(name: str) -> tuple[Path, dict]:
        return clip(name)  # _media's build cache, shared with the tests that import it

    return get


# ------------------------------------------------------------ checks and metrics, cached


@pytest.fixture(scope="session")
def once_per_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``once_per_run(key, compute)``: ``compute()``'s value, computed by one process of
    this run and read by the others (``_once.computed_once`` says why). The folder is the
    one the pytest-xdist workers of this run share (the parent of each worker's temporary
    folder): a run never reads another run's values. Without pytest-xdist the session
    caches already compute each value once."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return lambda key, compute: compute()
    folder = tmp_path_factory.getbasetemp().parent / "once-per-run"
    return lambda key, compute: computed_once(folder, key, compute)


@pytest.fixture(scope="session")
def checked_report(
    once_per_run: Callable[..., Any],
) -> Callable[[Path, Mapping[str, Any] | None], Report]:
    """``checked_report(path, facts)``: ``validator.check`` on a clip with a case, once per
    run for each clip and case."""
    from validator import check

    reports: dict[tuple[str, str], Report] = {}

    def get(path: Path, facts: Mapping[str, Any] | None) -> Report:
        key = (str(path), json.dumps(facts, sort_keys=True))
        if key not in reports:
            reports[key] = once_per_run(("check", *key), lambda: check(path, facts=facts))
        return reports[key]

    return get


@pytest.fixture(scope="session")
def fixture_report(
    fixture_clip: Callable[[str], tuple[Path, dict]],
    checked_report: Callable[[Path, Mapping[str, Any] | None], Report],
) -> Callable[[str], tuple[Report, dict]]:
    """``fixture_report(name)``: the check of a generated variant with the case of its
    truth, and a copy of the truth."""

    def get(name: str) -> tuple[Report, dict]:
        path, truth = fixture_clip(name)
        return checked_report(path, truth["case"]), truth

    return get


@pytest.fixture(scope="session")
def face_metrics(
    fixture_clip: Callable[[str], tuple[Path, dict]],
    once_per_run: Callable[..., Any],
) -> Callable[[str], tuple[FaceMetrics, dict]]:
    """``face_metrics(name)``: the faces detector's metrics on a generated variant (run
    with the waybill detector, whose reads tell labelled faces apart), and a copy of the
    variant's truth; skips the test when this checkout's generator has no such variant."""
    from fixtures.generate import VARIANTS
    from validator.analyze import run_detectors
    from validator.detectors.faces import FaceDetector
    from validator.detectors.waybill import WaybillDetector
    from validator.media.probe import probe
    from validator.media.source import VideoSource
    from validator.policy import load_policy

    policy = load_policy()

    def measure(path: Path) -> FaceMetrics:
        media = probe(path, policy)
        with VideoSource(path, stream_index=media.video_stream_index) as source:
            detectors = [FaceDetector(media, policy), WaybillDetector(media, policy)]
            found = run_detectors(source, detectors, duration_s=media.duration_s)
        return found["faces"].metrics

    @cache
    def decoded(path: Path) -> FaceMetrics:
        return once_per_run(("faces", str(path)), lambda: measure(path))

    def get(name: str) -> tuple[FaceMetrics, dict]:
        if name not in VARIANTS:
            pytest.skip(f"fixture variant {name!r} is not in this checkout's fixtures")
        path, truth = fixture_clip(name)
        return decoded(path), truth

    return get


# -------------------------------------------------------------------------------- web


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """A test app with its own ``DATA_DIR`` under ``tmp_path`` and, beside it, a worker
    running the fake analysis (the web only enqueues); closed after the test."""
    from _service import app_config, worker

    from validator.web import create_app

    app = create_app(app_config(tmp_path / "data", ANALYSIS_TARGET=FAKE_ANALYSIS))
    try:
        with worker(app):
            yield app
    finally:
        app.extensions["appeal"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()
