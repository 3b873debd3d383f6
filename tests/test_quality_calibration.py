"""The blur threshold against the ground truth it was calibrated on.

On the generated clips the waybill number is legible up to a Gaussian blur of
about 3 px (at 854x480) and not from 5 px; the policy's ``validity.blur_sharpness``
must sit between the two sharpness values measured at analysis resolution.
"""

from __future__ import annotations

import cv2
import pytest

from fixtures.generate import frames
from validator.detectors.quality import sharpness
from validator.media.source import ANALYSIS_LONG_SIDE
from validator.policy import load_policy


@pytest.fixture(scope="module")
def label_frame():
    for t, rgb in frames("clean"):
        if t >= 0.8:  # face 1, the label, held frontally
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    raise AssertionError("clean has no frame at 0.8 s")


def analysed(gray, sigma: float) -> float:
    img = cv2.GaussianBlur(gray, (0, 0), sigma) if sigma else gray
    h, w = img.shape
    small = cv2.resize(
        img, (ANALYSIS_LONG_SIDE, round(h * ANALYSIS_LONG_SIDE / w)), interpolation=cv2.INTER_AREA
    )
    return sharpness(small)


def test_threshold_separates_legible_from_illegible(label_frame):
    threshold = load_policy()["validity.blur_sharpness"]
    for sigma in (0, 1, 2, 3):
        assert analysed(label_frame, sigma) > threshold, sigma
    for sigma in (5, 7):
        assert analysed(label_frame, sigma) < threshold, sigma


def test_sharpness_falls_with_blur_on_a_real_scene(label_frame):
    values = [analysed(label_frame, s) for s in (0, 1, 2, 3, 4, 5, 7)]
    assert values == sorted(values, reverse=True)
