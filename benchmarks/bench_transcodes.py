"""Benchmark: do the verdicts survive the re-encodes a phone or a chat app makes?

Merchants' clips reach us as a phone wrote them (1080p, HEVC on recent iPhones) or after a
chat app or a platform re-compressed them. Nothing in a verdict should follow from that: a
clean take must not fail for it. This re-encodes clips whose truth is known and checks each
copy against the same truth:

* the independent renderer's development set (``../shared/devset``, 960x540 H.264 CRF 26:
  each requirement's verdicts from its ``truth.json``), and
* the real webcam clip (``../shared/realdata/opencv-doc/box.mp4``: continuous, so no
  ``cut``, ``possible_cut``, ``gap`` or ``freeze`` may be found in any copy; too short and
  fewer than six faces, so completeness never passes);

each as ``1080p`` (scaled up to 1920x1080 with bicubic interpolation, H.264 CRF 23),
``hevc`` (libx265 CRF 26), ``crf35`` (H.264 at CRF 35, a chat app's bitrate) and
``flicker`` (the rolling bands of 50 Hz lighting, +-5 %, H.264 CRF 23). Frame
times, the audio and the container's ``creation_time`` are kept, so timeliness and the
timeline see what they saw in the original.

A copy's requirement verdict is scored as the dev set's ``score.py`` scores it: *exact*
when the truth allows it, a *false fail* when the truth allows only ``pass``, a *false pass*
when the truth does not allow ``pass``; other differences are a ``review`` where the
truth says ``fail`` (*missed*: the merchant is sent to look, no harm), a ``review`` where it
says ``pass`` (*needless review*: good evidence sent to a person) or a ``fail`` where it
says ``review`` (*stricter*). False fails and false passes are the ones that matter. The
copies are made once into ``--cache``; the checks run every time (the detectors change).

    python benchmarks/bench_transcodes.py                    # 13 clips x 4 copies, ~5 min
    python benchmarks/bench_transcodes.py --transforms hevc --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
DEVSET = SHARED / "devset"
BOX = SHARED / "realdata" / "opencv-doc" / "box.mp4"
TRACKING = "SF1402837716254"  # the return's number in every devset case (its README)
CONTINUITY = {"cut", "possible_cut", "zoom_step", "gap", "short_gaps", "freeze"}

# name -> (codec, encoder options, long side in px or None to keep the original's)
TRANSFORMS: dict[str, tuple[str, dict[str, str], int | None]] = {
    "1080p": ("libx264", {"crf": "23", "preset": "veryfast"}, 1920),
    "hevc": (
        "libx265",
        {"crf": "26", "preset": "ultrafast", "x265-params": "log-level=none"},
        None,
    ),
    "crf35": ("libx264", {"crf": "35", "preset": "veryfast"}, None),
    "flicker": ("libx264", {"crf": "23", "preset": "veryfast"}, None),
}
# ``flicker``: a room lit by lamps on 50 Hz mains (China's), which flicker at 100 Hz. A
# phone's rolling shutter reads the rows over about 25 ms, so the picture carries about
# 2.5 bright and dark bands that move a third of their spacing each frame at 30 fps.
# Brightness varies by FLICKER_SHARE either way: mild (anti-banding exposure on phones
# removes most of it; cheap LED drivers and older phones leave this much and more).
FLICKER_HZ = 100.0
FLICKER_BANDS = 2.5
FLICKER_SHARE = 0.05


def flicker(img: np.ndarray, t_s: float) -> np.ndarray:
    """``img`` (BGR) under mains flicker at time ``t_s``, as a rolling shutter sees it."""
    rows = np.arange(img.shape[0], dtype=np.float32)[:, None, None] / img.shape[0]
    gain = 1.0 + FLICKER_SHARE * np.sin(2 * np.pi * (FLICKER_HZ * t_s + FLICKER_BANDS * rows))
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def transcode(src: Path, dst: Path, transform: str) -> Path:
    """Re-encode ``src`` to ``dst`` as ``transform`` says, frame for frame at the source's
    own times, with its audio and its container metadata (``creation_time``); made once."""
    if dst.exists():
        return dst
    codec, options, long_side = TRANSFORMS[transform]
    part = dst.with_suffix(".part" + dst.suffix)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tb = Fraction(1, 90000)
    with av.open(str(src)) as inp, av.open(str(part), "w", format="mp4") as out:
        out.metadata.update(inp.metadata)
        vin = inp.streams.video[0]
        w, h = vin.codec_context.width, vin.codec_context.height
        if long_side is not None and max(w, h) != long_side:
            s = long_side / max(w, h)
            w, h = round(w * s / 2) * 2, round(h * s / 2) * 2
        vout = out.add_stream(codec, rate=vin.average_rate or 30)
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        vout.options = options
        vout.codec_context.time_base = tb
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = None
        if ain is not None:
            aout = out.add_stream("aac", rate=ain.rate)
            aout.layout = ain.layout.name
        last = -1
        for frame in inp.decode(vin):
            img = frame.to_ndarray(format="bgr24")
            # Strictly increasing for the encoder: box.mp4's times run back by 30 ms in
            # places (realdata README), moved here to one tick after the frame before.
            last = max(last + 1, round(frame.time / tb))
            if (img.shape[1], img.shape[0]) != (w, h):
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
            if transform == "flicker":
                img = flicker(img, float(frame.time))
            copy = av.VideoFrame.from_ndarray(img, format="bgr24")
            copy.pts, copy.time_base = last, tb
            out.mux(vout.encode(copy))
        out.mux(vout.encode(None))
        if ain is not None and aout is not None:
            inp.seek(0)
            for af in inp.decode(ain):
                af.pts = None  # the encoder counts samples from 0, as the source's did
                out.mux(aout.encode(af))
            out.mux(aout.encode(None))
    part.replace(dst)
    return dst


def score(verdict: str, want: str | Sequence[str]) -> str:
    """A verdict against the truth's ``expect`` entry (a verdict, or a list of them)."""
    allowed = [want] if isinstance(want, str) else list(want)
    if verdict in allowed:
        return "exact"
    if verdict == "fail" and allowed == ["pass"]:
        return "false fail"
    if verdict == "pass":
        return "false pass"
    if verdict == "review":
        return "needless review" if allowed == ["pass"] else "missed"
    return "stricter"


def _check(job: tuple[str, str, str | None]) -> dict:
    """One copy, checked as score.py checks the originals (a worker process)."""
    path, name, signed = job
    from datetime import datetime

    from validator import check
    from validator.requirements import CheckFacts

    facts = None
    if signed:
        facts = CheckFacts(
            tracking_number=TRACKING, return_signed_at=datetime.fromisoformat(signed)
        )
    report = check(path, facts=facts).to_dict()
    verdicts = {k: v["verdict"] for k, v in report["requirements"].items()}
    kinds = sorted({e["kind"] for e in report["events"]} & CONTINUITY)
    return {"clip": name, "verdicts": verdicts, "continuity": kinds, "faces": report.get("faces")}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transforms", nargs="+", choices=sorted(TRANSFORMS), default=list(TRANSFORMS))
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench_transcodes")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write every copy's result here")
    a = ap.parse_args(argv)
    if not DEVSET.is_dir():
        print(f"no development set at {DEVSET}", file=sys.stderr)
        return 2
    truth = json.loads((DEVSET / "truth.json").read_text("utf-8"))
    signed = truth["return_signed_at"]
    sources = [
        (DEVSET / f"{n}.mp4", n, truth["cases"][n]["expect"]) for n in sorted(truth["cases"])
    ]
    if BOX.is_file():
        sources.append((BOX, "box", None))
    jobs, expects = [], {}
    for src, name, expect in sources:
        for t in a.transforms:
            copy = transcode(src, a.cache / f"{name}.{t}.mp4", t)
            jobs.append((str(copy), f"{name}.{t}", signed if expect else None))
            expects[f"{name}.{t}"] = expect
    with ProcessPoolExecutor(a.jobs) as pool:
        results = list(pool.map(_check, jobs))
    tally: Counter[str] = Counter()
    for r in results:
        expect = expects[r["clip"]]
        if expect is None:  # the webcam clip: continuous, too short, fewer than six faces
            r["scores"] = {
                "continuity": "exact" if not r["continuity"] else "false fail",
                "completeness": score(r["verdicts"]["completeness"], ["fail", "review"]),
            }
        else:
            # A requirement the truth leaves out is a pass (as score.py reads it).
            r["scores"] = {k: score(v, expect.get(k, "pass")) for k, v in r["verdicts"].items()}
        tally.update(r["scores"].values())
        bad = {k: v for k, v in r["scores"].items() if v != "exact"}
        verdicts = " ".join(f"{k[:4]}={v}" for k, v in r["verdicts"].items())
        print(f"{r['clip']:<34} {verdicts}  {','.join(r['continuity']) or '-'}  {bad or ''}")
    print("requirement verdicts:", dict(tally))
    if a.json:
        a.json.write_text(json.dumps(results, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
