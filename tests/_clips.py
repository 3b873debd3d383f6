"""Small clips and bad inputs made here, for the tests of probe, the CLI and the box walker.

A plain module imported by name (``from _clips import make_input``), so no test module
imports another.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def encode(out: av.container.OutputContainer, vs: av.VideoStream, images) -> None:
    """Encode BGR ``images`` into stream ``vs`` at one frame a tick, and flush it."""
    for i, img in enumerate(images):
        fr = av.VideoFrame.from_ndarray(img, format="bgr24")
        fr.pts, fr.time_base = i, Fraction(1, 30)
        for pkt in vs.encode(fr):
            out.mux(pkt)
    for pkt in vs.encode(None):
        out.mux(pkt)


def write_clip(path: Path, frames: int = 30, *, faststart: bool = False) -> Path:
    """A 64x48 H.264 MP4 of ``frames`` noise frames at 30 fps."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        encode(out, vs, (rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(frames)))
    return path


def write_two_streams(path: Path) -> Path:
    """An MP4 whose first video stream is a short red clip (5 frames, like a preview
    track) and whose second, the default, is the recording: 60 green frames."""
    with av.open(str(path), "w") as out:
        streams = []
        for _ in range(2):
            vs = out.add_stream("libx264", rate=30)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
            streams.append(vs)
        # The recording is the default track (as a phone's main track is).
        streams[0].disposition = av.stream.Disposition(0)
        streams[1].disposition = av.stream.Disposition.default
        for vs, n, bgr in ((streams[0], 5, (0, 0, 255)), (streams[1], 60, (0, 255, 0))):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:] = bgr
            encode(out, vs, [img] * n)
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        aus = out.add_stream("aac", rate=44100)
        for i in range(30):
            af = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            af.sample_rate, af.pts, af.time_base = 44100, i * 1024, Fraction(1, 44100)
            for pkt in aus.encode(af):
                out.mux(pkt)
        for pkt in aus.encode(None):
            out.mux(pkt)
    return path


def image_bytes(ext: str) -> bytes:
    img = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def mdat_end(data: bytes) -> int:
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"mdat":
            return pos + size
        pos += size
    raise AssertionError("no mdat")


def make_input(kind: str, tmp_path: Path) -> Path:
    """A file of ``kind`` that is no readable video (empty, a picture, cut short, ...)."""
    p = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("这不是视频 / this is not a video\n" * 40, encoding="utf-8")
    elif kind == "png":
        p.write_bytes(image_bytes(".png"))
    elif kind == "jpeg":
        p.write_bytes(image_bytes(".jpg"))
    elif kind == "ppm":  # no magic the sniffer knows: ffmpeg's ppm_pipe reads it
        p.write_bytes(image_bytes(".ppm"))
    elif kind in ("truncated-moov-at-end", "truncated-faststart", "moov-missing"):
        full = write_clip(tmp_path / "full.mp4", faststart=kind == "truncated-faststart")
        data = full.read_bytes()
        cut = mdat_end(data) if kind == "moov-missing" else len(data) // 2
        p.write_bytes(data[:cut])
    elif kind == "media-zeroed":  # container intact, every packet's bytes zeroed
        data = bytearray(write_clip(tmp_path / "full.mp4").read_bytes())
        end = mdat_end(bytes(data))
        start = bytes(data).index(b"mdat") + 4
        data[start:end] = bytes(end - start)
        p.write_bytes(bytes(data))
    elif kind == "audio-only":
        write_audio_only(p)
    elif kind == "single-frame":
        write_clip(p, frames=1)
    elif kind == "random":
        p.write_bytes(np.random.default_rng(11).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    else:
        raise AssertionError(kind)
    return p
