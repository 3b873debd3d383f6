"""The blur threshold against the ground truth it was calibrated on: the generated label.

On the generated clips the waybill number is legible up to a Gaussian blur of about
3 px (at 854x480) and not from 4-5 px; the policy's ``validity.max_blur_pct`` (edge
spread as a percentage of the long side) must call the legible ones sharp and the
illegible ones blurred. tests/test_quality_generality.py holds the same threshold
against real frames and the independent renderer.
"""

from __future__ import annotations

import cv2
import pytest

from fixtures.generate import frames
from validator.detectors.quality import edge_spread
from validator.media.source import ANALYSIS_LONG_SIDE
from validator.policy import load_policy

LIMIT = load_policy().validity.max_blur_pct


@pytest.fixture(scope="module")
def label_frame():
    for t, rgb in frames("clean"):
        if t >= 0.8:  # face 1, the label, held frontally
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    raise AssertionError("clean has no frame at 0.8 s")


def analysed(gray, sigma: float) -> float:
    """Edge spread in % of the long side, measured as the detector does (320 px)."""
    img = cv2.GaussianBlur(gray, (0, 0), sigma) if sigma else gray
    h, w = img.shape
    small = cv2.resize(
        img, (ANALYSIS_LONG_SIDE, round(h * ANALYSIS_LONG_SIDE / w)), interpolation=cv2.INTER_AREA
    )
    spread = edge_spread(small)
    assert spread is not None, sigma
    return 100 * spread / ANALYSIS_LONG_SIDE


def test_threshold_separates_legible_from_illegible(label_frame):
    for sigma in (0, 1, 2, 3):
        assert analysed(label_frame, sigma) < LIMIT, sigma
    for sigma in (5, 7):
        assert analysed(label_frame, sigma) > LIMIT, sigma


def test_spread_grows_with_blur_on_the_generated_scene(label_frame):
    values = [analysed(label_frame, s) for s in (0, 1, 2, 3, 4, 5, 7)]
    assert values == sorted(values)
