"""Pictures of the moments a report talks about: the waybill read, faces, each event.

The report page shows them; ``GET /checks/{id}/thumbnails/{name}`` serves them. One
JPEG per moment (at most ``MAX_THUMBNAILS``), 320 px wide, upright (the stream's
display rotation applied), named ``<kind>-<t_s>.jpg`` so a page can label it without
the report. Made after the analysis from a few seeks (decoding from the keyframe
before each moment); a failure here never fails the check, the pictures are extra.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_THUMBNAILS = 8
WIDTH = 320
# Events with a picture worth showing (not audio gaps, not tags found at t=0).
VISUAL_EVENTS = ("cut", "gap", "freeze", "black")
NAME = re.compile(r"^(?P<kind>[a-z_]+)-(?P<t>\d+\.\d{2})\.jpg$")


def moments(report: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(kind, t_s) of the report's moments: waybill, faces, then events; deduplicated."""
    found: list[tuple[str, float]] = []
    for code in (report.get("waybill") or {}).get("codes") or []:
        t = code.get("best_t_s", code.get("first_t_s"))
        if isinstance(t, int | float):
            found.append(("waybill", float(t)))
    for face in (report.get("faces") or {}).get("shown") or []:
        t = face.get("t_s", face.get("first_t_s"))
        if isinstance(t, int | float):
            found.append(("face", float(t)))
    for event in report.get("events") or []:
        if event.get("kind") in VISUAL_EVENTS and isinstance(event.get("t_s"), int | float):
            # Just after a cut or gap shows the new content; mid-way for an extent.
            t = float(event["t_s"]) + (float(event.get("length_s") or 0.0) / 2 or 0.05)
            found.append((event["kind"], t))
    out: list[tuple[str, float]] = []
    for kind, t in found:
        if all(abs(t - u) > 0.3 or kind != k for k, u in out):
            out.append((kind, max(0.0, t)))
    return out[:MAX_THUMBNAILS]


def label(name: str) -> tuple[str, float] | None:
    """``cut-7.70.jpg`` -> ("cut", 7.7); None for other names."""
    m = NAME.match(name)
    return (m["kind"], float(m["t"])) if m else None


def make_thumbnails(video: str | Path, report: Mapping[str, Any], out_dir: str | Path) -> list[str]:
    """Write the moments' JPEGs into ``out_dir``; their names (empty on any failure)."""
    wanted = moments(report)
    if not wanted:
        return []
    try:
        return _extract(
            Path(video), wanted, Path(out_dir), int(report.get("media", {}).get("rotation") or 0)
        )
    except Exception:  # a picture is never worth failing the check for
        log.warning("thumbnails of %s failed", video, exc_info=True)
        return []


def _extract(
    video: Path, wanted: list[tuple[str, float]], out_dir: Path, rotation: int
) -> list[str]:
    import av
    import cv2
    import numpy as np

    names: list[str] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base or Fraction(1, 90000))
        start = float(stream.start_time or 0) * tb
        for kind, t in sorted(wanted, key=lambda m: m[1]):
            target = start + t
            container.seek(int(target / tb), stream=stream, backward=True)
            picked = None
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                picked = frame
                if frame.pts * tb >= target - 1e-3:
                    break
            if picked is None:
                continue
            img: Any = picked.to_ndarray(format="bgr24")
            if rotation % 360:
                img = np.ascontiguousarray(np.rot90(img, k=-(rotation // 90)))  # clockwise
            h, w = img.shape[:2]
            img = cv2.resize(
                img, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA
            )
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 82])
            if not ok:
                continue
            name = f"{kind}-{t:.2f}.jpg"
            tmp = out_dir / f".{name}.part"
            tmp.write_bytes(buf.tobytes())
            tmp.replace(out_dir / name)
            names.append(name)
    return names
