"""Evidence thumbnails: the pictures ``check_case`` writes beside a case's ``report.json``.

The decode pass keeps no frames. Afterwards the few moments the report talks
about (each counted face, the best waybill frame, the opening, each visual
event) are decoded again with a seek each (PyAV, from the keyframe before the
moment) and written as small JPEGs into the output folder: ``LONG_SIDE`` px on
the long side, quality ``QUALITY`` (a few tens of kB), upright (the stream's
display rotation applied, as the decode pass does). On the waybill frame the
code is re-read at ``WAYBILL_READ_LONG_SIDE`` and its outline drawn. One
``contact_sheet.jpg`` shows them all with captions. The report refers to each
by its name in the folder (where ``report.json`` is): the names are flat, with a
prefix per video of the case (``v0-face-1.jpg``), because the service serves a
check's pictures by bare name.

A picture is never worth failing a check for: errors are logged and the report
keeps ``thumbnail: null``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from validator.detectors import event_kinds
from validator.files import write_bytes

log = logging.getLogger(__name__)

LONG_SIDE = 320
QUALITY = 80
WAYBILL_READ_LONG_SIDE = 1280
MAX_EVENTS = 20  # thumbnails of events (the first ones); the rest keep thumbnail null
RESEEK_S = 2.0  # decode forward instead of seeking when the next moment is this close
SHEET_COLUMNS = 4
CAPTION_PX = 18


@dataclass(slots=True)
class Moment:
    name: str  # file name, e.g. "face-2.jpg"
    caption: str
    t_s: float
    target: dict[str, Any]  # the report object whose "thumbnail" gets the path
    outline: bool = False  # draw the waybill code's outline


def moments(report: dict[str, Any]) -> list[Moment]:
    """The moments worth a picture, with the report objects they belong to."""
    out: list[Moment] = []
    for f in (report.get("faces") or {}).get("shown") or []:
        out.append(
            Moment(f"face-{f['face']}.jpg", f"face {f['face']} {f['t_s']:.1f}s", f["t_s"], f)
        )
    wb = report.get("waybill") or {}
    codes = wb.get("codes") or []
    mine = [c for c in codes if wb.get("expected") and c.get("text") == wb.get("expected")]
    best = (mine or codes)[:1]
    if best:
        c = best[0]
        t = c.get("best_t_s", c.get("first_t_s"))
        if isinstance(t, int | float):
            out.append(Moment("waybill.jpg", f"waybill {t:.1f}s", float(t), wb, outline=True))
    op = report.get("opening") or {}
    t = op.get("seen_at_s", op.get("opened_at_s"))
    if isinstance(t, int | float):
        out.append(Moment("opening.jpg", f"opened {t:.1f}s", float(t), op))
    n = 0
    # The kinds worth a picture declare its caption (``EventKind.caption``).
    captions = {k.kind: k.caption for k in event_kinds().values() if k.caption}
    for e in report.get("events") or []:
        caption = captions.get(e.get("kind"))
        if caption is None or not isinstance(e.get("t_s"), int | float):
            continue
        if n >= MAX_EVENTS:
            break
        n += 1
        # Just after a cut or gap shows the new content; the middle of an extent.
        t = float(e["t_s"]) + (float(e.get("length_s") or 0.0) / 2 or 0.05)
        name = f"{e['kind']}-{n}.jpg"
        out.append(Moment(name, f"{caption} {e['t_s']:.1f}s", t, e))
    return out


def write_thumbnails(
    video: str | Path,
    report: dict[str, Any],
    out_dir: str | Path,
    prefix: str = "",
    *,
    stream_index: int | None = None,
) -> list[str]:
    """Write the thumbnails and the contact sheet into ``out_dir``, each name after
    ``prefix``; put their names into ``report``. ``stream_index`` is the video stream the
    check analyzed (``MediaInfo.video_stream_index``; default: the first).

    Returns the written names; on any failure, logs it and returns what was written
    (the report keeps ``thumbnail: null`` elsewhere).
    """
    out_dir = Path(out_dir)
    wanted = moments(report)
    written: list[str] = []
    if not wanted:
        return written
    try:
        pictures = _decode(Path(video), [m.t_s for m in wanted], stream_index)
        sheet: list[tuple[np.ndarray, str]] = []
        for m, img in zip(wanted, pictures, strict=True):
            if img is None:
                continue
            small = _outlined(img) if m.outline else _resize(img)
            rel = f"{prefix}{m.name}"
            _write_jpeg(out_dir / rel, small)
            m.target["thumbnail"] = rel
            written.append(rel)
            sheet.append((small, m.caption))
        if sheet:
            rel = f"{prefix}contact_sheet.jpg"
            _write_jpeg(out_dir / rel, contact_sheet(sheet))
            written.append(rel)
            report["thumbnails"] = {"dir": "", "contact_sheet": rel, "files": written}
    except Exception:  # the pictures are extra; the verdicts stand without them
        log.warning("thumbnails of %s failed", video, exc_info=True)
    return written


def _decode(
    video: Path, times: list[float], stream_index: int | None = None
) -> list[np.ndarray | None]:
    """Upright BGR frames at ``times`` (the first frame at or after each), by seeking."""
    from validator.media.container import open_input
    from validator.media.source import configure_decoder, rotation_k

    out: list[np.ndarray | None] = [None] * len(times)
    order = sorted(range(len(times)), key=lambda i: times[i])
    with open_input(video) as container:
        videos = container.streams.video
        # The stream the check analyzed: a file may hold a cover or a second angle first.
        stream = next((s for s in videos if s.index == stream_index), videos[0])
        configure_decoder(stream, skip_loop_filter=False)  # pictures for people: deblocked
        if stream.time_base is None:
            return out
        tb = float(stream.time_base)
        start = float(stream.start_time or 0) * tb
        frames = None
        last: Any = None
        for i in order:
            target = start + max(0.0, times[i])
            last_t = None if last is None else float(last.pts) * tb
            if frames is None or last_t is None or not (last_t <= target <= last_t + RESEEK_S):
                container.seek(int(target / tb), stream=stream, backward=True)
                frames = container.decode(stream)
                last = None
            if last is None or float(last.pts) * tb < target - 1e-3:
                for frame in frames:
                    if frame.pts is None:
                        continue
                    last = frame
                    if float(frame.pts) * tb >= target - 1e-3:
                        break
            if last is None:
                continue
            img = last.to_ndarray(format="bgr24")
            k = rotation_k(getattr(last, "rotation", 0) or 0)
            out[i] = img if k == 0 else np.ascontiguousarray(np.rot90(img, k))
    return out


def _resize(img: np.ndarray, long_side: int = LONG_SIDE) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s == 1.0:
        return img.copy()
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def _outlined(img: np.ndarray) -> np.ndarray:
    """The frame small, with the outline of every code read on it (re-read at 1280 px)."""
    from validator.waybill.reader import read_codes

    big = _resize(img, WAYBILL_READ_LONG_SIDE)
    small = _resize(img)
    scale = small.shape[1] / big.shape[1]
    try:
        codes = read_codes(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY))
    except Exception:  # no outline is better than no picture
        log.warning("re-reading the waybill frame failed", exc_info=True)
        codes = []
    for c in codes:
        pts = np.array(c.position, np.float32) * scale
        cv2.polylines(small, [np.round(pts).astype(np.int32)], True, (0, 255, 0), 2, cv2.LINE_AA)
    return small


def _write_jpeg(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise ValueError(f"JPEG encoding failed for {path.name}")
    write_bytes(path, buf.tobytes())


def contact_sheet(items: list[tuple[np.ndarray, str]], cell: int = 200) -> np.ndarray:
    """A grid of the pictures (each fitted into ``cell`` px) with a caption under each."""
    cols = min(SHEET_COLUMNS, len(items))
    rows = math.ceil(len(items) / cols)
    ch = cell + CAPTION_PX
    sheet = np.full((rows * ch, cols * cell, 3), 32, np.uint8)
    for n, (img, caption) in enumerate(items):
        r, c = divmod(n, cols)
        small = _resize(img, cell)
        h, w = small.shape[:2]
        y0, x0 = r * ch + (cell - h) // 2, c * cell + (cell - w) // 2
        sheet[y0 : y0 + h, x0 : x0 + w] = small
        cv2.putText(
            sheet,
            caption,
            (c * cell + 4, r * ch + cell + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            (235, 235, 235),
            1,
            cv2.LINE_AA,
        )
    return sheet
