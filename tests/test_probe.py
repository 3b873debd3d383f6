"""The probe: real phone files against their published metadata, bad input made here.

Expected creation times and rotations come from metadata-extractor's own
expected-output files (``*/metadata/java/<file>.txt``) where they list them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from _clips import encode, make_input, write_clip
from _media import ANDROIDX, EXIFTOOL, MEI

from validator.errors import (
    AbsurdMedia,
    EmptyFile,
    InputError,
    NotAVideo,
    NoVideoStream,
    UndecodableVideo,
)
from validator.media.probe import MediaInfo, probe
from validator.policy import Policy, load_policy


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def policy_with(policy: Policy, **media: float) -> Policy:
    """``policy`` with the ``media`` section's settings changed."""
    return dataclasses.replace(policy, media=dataclasses.replace(policy.media, **media))


# ------------------------------------------------- published truth (metadata-extractor)

_ZONES = {"AEDT": "+11:00", "AEST": "+10:00"}


def published(realdata: Path, rel: Path) -> dict[str, str]:
    """``"[Directory - 0xTAG] Name = value"`` lines of the expected-output file."""
    txt = realdata / rel.parent / "metadata" / "java" / f"{rel.name}.txt"
    if not txt.exists():
        pytest.skip(f"{txt} is absent")
    out: dict[str, str] = {}
    for line in txt.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\[(.+?) - 0x[0-9a-f]+\] (.+?) = (.*)$", line)
        if m:
            out.setdefault(f"{m.group(1)}/{m.group(2)}", m.group(3))
    return out


def java_date(text: str) -> datetime:
    """metadata-extractor prints ``Wed Jul 24 18:25:57 +10:00 2019`` or ``... AEDT 2020``."""
    for zone, offset in _ZONES.items():
        text = text.replace(f" {zone} ", f" {offset} ")
    return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")


def time_of(info: MediaInfo, source: str) -> datetime:
    value = next(c.value for c in info.creation_times if c.source == source)
    assert value is not None
    return value


@pytest.mark.realdata
def test_iphone_creation_times(realdata: Path, policy: Policy) -> None:
    rel = MEI / "mov/with-gps.mov"
    truth = published(realdata, rel)
    info = probe(realdata / rel, policy)
    camera = datetime.strptime(truth["QuickTime Metadata/Creation Date"], "%Y-%m-%dT%H:%M:%S%z")
    assert info.recorded_at == camera
    assert info.recorded_at.utcoffset() == timedelta(hours=3)  # keeps its offset
    assert info.recorded_at_source == "format:com.apple.quicktime.creationdate"
    assert time_of(info, "format:creation_time") == java_date(truth["QuickTime/Creation Time"])
    assert time_of(info, "format:creation_time") == datetime(2019, 7, 24, 8, 25, 57, tzinfo=UTC)
    assert "camera" in info.recorded_at_why


@pytest.mark.realdata
def test_samsung_creation_time(realdata: Path, policy: Policy) -> None:
    rel = MEI / "mp4/with-gps.mp4"
    truth = published(realdata, rel)
    info = probe(realdata / rel, policy)
    assert info.recorded_at == java_date(truth["MP4/Creation Time"])
    assert info.recorded_at_source == "format:creation_time"
    assert info.tags["format:com.android.version"] == "6.0.1"
    assert info.tags["udta:SDLN"] == "SEQ_PLAY"  # Samsung atom PyAV does not expose


@pytest.mark.realdata
def test_apple_export_date_atom_beats_mvhd(realdata: Path, policy: Policy) -> None:
    rel = MEI / "mp4/Issue 515 (java).mp4"
    truth = published(realdata, rel)
    info = probe(realdata / rel, policy)
    assert info.recorded_at == datetime(2020, 11, 20, 15, 4, 2, tzinfo=timezone(timedelta(hours=1)))
    assert info.recorded_at_source == "udta:date"
    assert time_of(info, "format:creation_time") == java_date(truth["MP4/Creation Time"])
    assert time_of(info, "format:creation_time") == datetime(2020, 11, 20, 14, 4, 36, tzinfo=UTC)


@pytest.mark.realdata
def test_zero_creation_time_counts_as_missing(realdata: Path, policy: Policy) -> None:
    info = probe(realdata / ANDROIDX / "sample_android_slow_motion.mp4", policy)
    assert info.recorded_at is None and info.creation_times == ()
    (rejected,) = info.rejected_times
    assert rejected.source == "box:mvhd" and "before 1990" in rejected.why
    assert "No creation time" in info.recorded_at_why


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("rel", "coded", "shown"),
    [
        pytest.param(MEI / "mov/with-gps.mov", (568, 320), (320, 568), id="iphone"),
        pytest.param(MEI / "mp4/ftyp3gp5.mp4", (1280, 720), (720, 1280), id="3gp5"),
        pytest.param(ANDROIDX / "dolbyVision-hdr.MOV", (1280, 720), (720, 1280), id="dolby-vision"),
    ],
)
def test_rotation_and_displayed_size(
    realdata: Path, policy: Policy, rel: Path, coded: tuple[int, int], shown: tuple[int, int]
) -> None:
    info = probe(realdata / rel, policy)
    assert info.rotation == 90
    assert (info.coded_width, info.coded_height) == coded
    assert (info.width, info.height) == shown
    if (realdata / rel.parent / "metadata").exists():
        # metadata-extractor prints the matrix angle counter-clockwise: -90
        truth = published(realdata, rel)
        rot = truth.get("QuickTime/Rotation") or truth["MP4/Rotation"]
        assert info.rotation == -int(rot) % 360


@pytest.mark.realdata
def test_iphone_basics(realdata: Path, policy: Policy) -> None:
    info = probe(realdata / MEI / "mov/with-gps.mov", policy)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.fps_measured == pytest.approx(30, rel=0.01)
    assert info.has_audio and info.frame_count == 120
    assert info.duration_s == pytest.approx(4.0, abs=0.01)
    assert info.provenance == ()
    json.dumps(info.to_dict())


@pytest.mark.realdata
def test_ten_bit_hevc(realdata: Path, policy: Policy) -> None:
    info = probe(realdata / ANDROIDX / "dolbyVision-hdr.MOV", policy)
    assert info.codec == "hevc" and info.bit_depth == 10


@pytest.mark.realdata
def test_pixel_motion_photo_primary_stream(realdata: Path, policy: Policy) -> None:
    info = probe(realdata / ANDROIDX / "pixel-motion-photo-2-hevc-tracks.mp4", policy)
    # stream 0: the 58-frame motion clip; stream 1: one 2048x1536 still
    assert info.video_stream_index == 0
    assert info.frame_count == 58
    assert (info.coded_width, info.coded_height) == (1024, 768)


@pytest.mark.realdata
def test_metadata_track_is_not_the_video(realdata: Path, policy: Policy) -> None:
    info = probe(realdata / ANDROIDX / "h265_with_metadata_track.mp4", policy)
    assert info.video_stream_index == 2 and info.codec == "hevc"


@pytest.mark.realdata
def test_every_androidx_clip_probes(realdata: Path, policy: Policy) -> None:
    folder = realdata / ANDROIDX
    clips = sorted(p for p in folder.iterdir() if p.is_file())
    assert clips
    for clip in clips:
        info = probe(clip, policy)
        assert info.frame_count >= 2 and info.duration_s > 0, clip.name
        json.dumps(info.to_dict())


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "error"),
    [
        # metadata only: a moov with sample tables but an 8-byte (empty) mdat
        pytest.param("QuickTime.mov", UndecodableVideo, id="mov-metadata-only"),
        # audio plus two cover pictures: the pictures are not video -> NoVideoStream
        pytest.param("QuickTime.m4a", NoVideoStream, id="m4a-audio-only"),
        pytest.param("QuickTime.heic", NotAVideo, id="heic-image"),
        # a Matroska header and tags, no clusters: ffmpeg hits the end while opening
        pytest.param("Matroska.mkv", UndecodableVideo, id="mkv-metadata-only"),
    ],
)
def test_exiftool_metadata_only_files(
    realdata: Path, policy: Policy, name: str, error: type[InputError]
) -> None:
    with pytest.raises(error) as exc:
        probe(realdata / EXIFTOOL / name, policy)
    assert exc.value.code == error.code
    assert type(exc.value) is error


# -------------------------------------------------------------- bad input made here


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        pytest.param("empty", EmptyFile, id="empty"),
        pytest.param("text", NotAVideo, id="text-renamed-mp4"),
        pytest.param("png", NotAVideo, id="png"),
        pytest.param("jpeg", NotAVideo, id="jpeg"),
        pytest.param("ppm", NotAVideo, id="ppm-read-by-ffmpeg"),
        pytest.param("truncated-moov-at-end", UndecodableVideo, id="cut-in-half-moov-lost"),
        pytest.param("truncated-faststart", UndecodableVideo, id="cut-in-half-mdat-cut"),
        pytest.param("moov-missing", UndecodableVideo, id="cut-after-mdat"),
        pytest.param("media-zeroed", UndecodableVideo, id="first-frame-does-not-decode"),
        pytest.param("audio-only", NoVideoStream, id="aac-only-mp4"),
        pytest.param("single-frame", NotAVideo, id="one-frame"),
        pytest.param("random", NotAVideo, id="random-bytes"),
    ],
)
def test_bad_input_raises_the_right_error(
    tmp_path: Path, policy: Policy, kind: str, error: type[InputError]
) -> None:
    path = make_input(kind, tmp_path)
    with pytest.raises(error) as exc:
        probe(path, policy)
    assert type(exc.value) is error
    assert exc.value.code == error.code
    assert exc.value.to_dict()["code"] == error.code
    # the message says what to do about it
    assert re.search(r"(?i)upload|copy|pass", exc.value.message)


def test_missing_file_is_an_input_error(tmp_path: Path, policy: Policy) -> None:
    with pytest.raises(InputError) as exc:
        probe(tmp_path / "nope.mp4", policy)
    # A documented code (bad_input is a base, never sent), the name and not the folder.
    assert exc.value.code == "video_missing"
    assert "nope.mp4" in exc.value.message and str(tmp_path) not in str(exc.value.to_dict())


def test_a_fifo_named_like_a_video_is_refused_without_blocking(
    tmp_path: Path, policy: Policy
) -> None:
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(InputError) as exc:
        probe(fifo, policy)
    assert exc.value.code == "unreadable_file" and str(tmp_path) not in exc.value.message


def test_a_folder_named_like_a_video_is_an_input_error(tmp_path: Path, policy: Policy) -> None:
    """Phone backups hold folders named ``*.MOV`` (../shared/realdata has two); the
    library's check() raised IsADirectoryError on them, outside the error tree."""
    folder = tmp_path / "clip.MOV"
    folder.mkdir()
    with pytest.raises(InputError) as exc:
        probe(folder, policy)
    assert exc.value.code == "unreadable_file" and str(tmp_path) not in exc.value.message


def test_good_clip(tmp_path: Path, policy: Policy) -> None:
    info = probe(write_clip(tmp_path / "ok.mp4", frames=45), policy)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.frame_count == 45 and info.codec == "h264"
    assert info.fps_nominal == pytest.approx(30) and info.fps_measured == pytest.approx(30)
    assert not info.vfr and not info.has_audio
    assert info.duration_s == pytest.approx(1.5, abs=0.05)
    assert info.provenance == ()  # made by ffmpeg alone: not an edit
    d = json.loads(json.dumps(info.to_dict()))
    for key in ("creation_times", "rejected_times", "recorded_at", "tags", "timeline"):
        assert key in d


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        pytest.param({"max_pixels": 1000}, "dimensions", id="too-many-pixels"),
        pytest.param({"max_duration_s": 0.5}, "duration", id="too-long"),
    ],
)
def test_absurd_media(tmp_path: Path, policy: Policy, limits: dict, reason: str) -> None:
    path = write_clip(tmp_path / "clip.mp4")
    with pytest.raises(AbsurdMedia) as exc:
        probe(path, policy_with(policy, **limits))
    assert exc.value.code == "absurd_media" and exc.value.details["reason"] == reason


def write_moving_clip(path: Path, width: int, height: int, frames: int = 45) -> Path:
    """A smooth texture panning a pixel a frame: motion, so the faces detector's optical
    flow runs (as it does on a turning parcel)."""
    rng = np.random.default_rng(3)
    big = cv2.GaussianBlur(rng.integers(0, 255, (height, width + frames, 3), np.uint8), (0, 0), 2)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        encode(out, vs, (np.ascontiguousarray(big[:, i : i + width]) for i in range(frames)))
    return path


def test_a_raw_stream_without_timestamps_is_named_so(tmp_path: Path, policy: Policy) -> None:
    """A raw H.264 stream (Annex B, as some dashcams write) holds frames but no times: it
    was refused as "a single picture", which it is not."""
    path = tmp_path / "clip.h264"
    with av.open(str(path), "w", format="h264") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        encode(out, vs, (rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(20)))
    with pytest.raises(UndecodableVideo) as exc:
        probe(path, policy)
    assert exc.value.details == {"reason": "no_timestamps", "packets": 20}
    assert "no timestamps" in exc.value.message and "single picture" not in exc.value.message


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(8, 8, id="8x8"),  # crashed the cut detector's block grid (exit 70)
        pytest.param(128, 16, id="128x16"),  # crashed OpenCV's DIS flow (segfault)
        pytest.param(192, 32, id="6-to-1"),
        pytest.param(32, 192, id="1-to-6"),
    ],
)
def test_pictures_too_small_or_too_narrow_to_analyse_are_refused(
    tmp_path: Path, policy: Policy, width: int, height: int
) -> None:
    path = write_moving_clip(tmp_path / "tiny.mp4", width, height, frames=5)
    with pytest.raises(AbsurdMedia) as exc:
        probe(path, policy)
    assert exc.value.details == {
        "reason": "dimensions", "width": width, "height": height,
        "max_pixels": policy.media.max_pixels,
    }  # fmt: skip
    assert f"{width}x{height}" in exc.value.message and "sides 32-" in exc.value.message


@pytest.mark.parametrize(("width", "height"), [(32, 32), (160, 32), (32, 160), (800, 160)])
def test_the_smallest_and_narrowest_pictures_taken_are_analysed(
    tmp_path: Path, width: int, height: int
) -> None:
    """The bounds' corners go through every detector (in this process: a native crash
    would take the test run down with it) and end in a verdict, not an error."""
    from validator import check

    report = check(write_moving_clip(tmp_path / "small.mp4", width, height)).to_dict()
    assert report["media"]["width"] == width and report["media"]["height"] == height
    assert report["requirements"]["validity"]["verdict"] == "fail"  # under 360p


def write_flat_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """A clip of one flat grey picture repeated: huge frames, a few bytes each after the
    first (the shape of a decode bomb). The same yuv420p frame is re-sent, so no colour
    conversion costs time: 240 frames at 3840x2160 take about 3 s."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([100]) * plane.buffer_size)
        for i in range(frames):
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    return path


def test_a_decode_bomb_is_rejected_before_the_analysis(tmp_path: Path, policy: Policy) -> None:
    # The bomb: 49 s of 8K in 610 KB, 8e4 pixels a byte. This one is 4K for 8 s
    # in about 33 KB: within media.max_pixels, media.max_duration_s and the decode budget,
    # but no camera writes that many pictures into so few bytes.
    path = write_flat_clip(tmp_path / "bomb.mp4", 3840, 2160, 240)
    with pytest.raises(AbsurdMedia) as exc:
        probe(path, policy)
    d = exc.value.details
    assert exc.value.code == "absurd_media" and d["reason"] == "pixels_per_byte"
    assert (d["width"], d["height"], d["frames"]) == (3840, 2160, 240)
    assert d["fps"] == pytest.approx(30) and d["duration_s"] == pytest.approx(8, abs=0.1)
    assert d["decoded_pixels"] == 3840 * 2160 * 240
    assert d["pixels_per_byte"] > d["limit"] == policy.media.max_pixels_per_byte
    for number in ("3840x2160", "240 frames", "media.max_pixels_per_byte", "original"):
        assert number in exc.value.message, number


def test_the_decode_budget_bounds_the_pictures_a_check_decodes(
    tmp_path: Path, policy: Policy
) -> None:
    path = write_clip(tmp_path / "clip.mp4", frames=45)  # 64x48 x 45 frames = 138240 pixels
    probe(path, policy_with(policy, max_decoded_pixels=64 * 48 * 45))  # at the budget: fine
    with pytest.raises(AbsurdMedia) as exc:
        probe(path, policy_with(policy, max_decoded_pixels=100_000))
    d = exc.value.details
    assert d["reason"] == "decode_budget" and d["budget"] == 100_000
    assert (d["width"], d["height"], d["frames"], d["decoded_pixels"]) == (64, 48, 45, 138240)
    assert d["fps"] == pytest.approx(30) and d["duration_s"] == pytest.approx(1.5, abs=0.05)
    assert "media.max_decoded_pixels" in exc.value.message and "138240" in exc.value.message


def test_naive_and_odd_time_tags() -> None:
    from validator.media.creation_times import parse_time_tag

    value, note = parse_time_tag("2020-01-05 15:04:00", naive_utc=True)
    assert value == datetime(2020, 1, 5, 15, 4, tzinfo=UTC) and "UTC" in note
    value, note = parse_time_tag("2019:07:24 11:25:40", naive_utc=False)
    assert value is not None and value.utcoffset() == timedelta(hours=8) and "China" in note
    assert parse_time_tag("2024", naive_utc=False)[0] is None
    assert parse_time_tag("yesterday", naive_utc=False)[0] is None
