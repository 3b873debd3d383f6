"""Edited clips with known truth, cut into real or generated footage as an editing app does.

An editing app (CapCut/JianYing, iMovie, Premiere) decodes the takes, lays the kept frames on
a timeline, renders transitions in the picture, and exports one new H.264 file: every frame
re-encoded (libx264 at CRF ~20 here), new timestamps on a regular frame grid, so a removed
segment leaves no timestamp gap behind; only the picture shows the edit. This module does
the same in-process with PyAV:

* a *plan* is the list of output frames, each a ``Pick`` (one source frame), a ``Mix`` (a
  cross-dissolve: ``(1 - w) * a + w * b`` in 8-bit RGB, as editors blend by default) or a
  ``Gain`` (a fade through black), with the list of ``Edit`` s it contains, in output frames;
* the plan makers (``remove``, ``splice``, ``dissolve``, ``fade_black``, ``freeze``,
  ``reencode``) are pure functions of frame counts, so their truth is exact by construction;
* ``render`` decodes the sources lazily (a forward decoder per lane, a few frames cached: a
  clip is never held whole), ``encode`` writes the MP4, ``make_clip`` caches both with a
  ``.truth.json`` beside the video.

Truth times are in the output's time: ``t_s`` = first output frame of the edit / fps,
``length_s`` its extent (0 for a hard cut).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

VERSION = "1"  # bump whenever a plan, the rendering or the encoding changes (cache key)
CRF = 20  # editing apps' "high quality" export sits near x264 CRF 18-23
PRESET = "veryfast"  # CRF sets the quality; the preset trades encode time (phone and editor
# hardware encoders are closer to veryfast than to slow)
GOP_S = 2  # a keyframe at least every 2 s, as phone and editor exports use; scene-cut keyframes
# stay on (x264's default), as in a real export
MIN_SHORT_SIDE = 480  # editors' smallest export preset (CapCut 480p): tiny sources are scaled up
CACHE_FRAMES = 8  # decoded frames kept per lane: enough for a freeze and a one-frame step back


@dataclass(frozen=True)
class Pick:
    """Source frame ``index`` of ``lane``, shown as is."""

    lane: str
    index: int


@dataclass(frozen=True)
class Mix:
    """Cross-dissolve frame: ``(1 - w) * a + w * b``."""

    a: Pick
    b: Pick
    w: float


@dataclass(frozen=True)
class Gain:
    """Fade frame: ``g * a`` (``g = 0`` is black)."""

    a: Pick
    g: float


Recipe = Pick | Mix | Gain


@dataclass(frozen=True)
class Edit:
    """One edit in output frames: ``kind`` is cut, dissolve, fade or freeze; ``start`` the first
    output frame after a cut or inside a transition/frozen run, ``length`` its frames (0 for
    a cut); ``hidden`` the source frames it takes out of the clip."""

    kind: str
    start: int
    length: int = 0
    hidden: int = 0
    note: str = ""

    def truth(self, fps: float) -> dict:
        return {
            "kind": self.kind,
            "t_s": round(self.start / fps, 4),
            "length_s": round(self.length / fps, 4),
            "hidden_s": round(self.hidden / fps, 4),
            "note": self.note,
        }


@dataclass
class Plan:
    recipes: list[Recipe]
    edits: list[Edit] = field(default_factory=list)


def _run(lane: str, start: int, stop: int) -> list[Recipe]:
    return [Pick(lane, i) for i in range(start, stop)]


def reencode(n: int) -> Plan:
    """The whole clip, unedited (the negative: any event found here is a false alarm)."""
    return Plan(_run("a", 0, n))


def remove(n: int, at: int, k: int) -> Plan:
    """Source frames ``at .. at+k-1`` taken out, the rest closed up: a hard cut at ``at``."""
    _check_fits(n, at + k, at)
    return Plan(
        _run("a", 0, at) + _run("a", at + k, n),
        [Edit("cut", at, hidden=k, note=f"{k} frames removed")],
    )


def splice(n_a: int, at: int, n_b: int, b_from: int, b_frames: int | None = None) -> Plan:
    """Lane ``a`` up to ``at``, then lane ``b`` (another take) from ``b_from``: a hard cut.

    Lane ``b`` may be the same source as ``a`` (a retake of the same scene, e.g. jumping back)
    or another clip, fitted to the output's size.
    """
    b_stop = n_b if b_frames is None else min(n_b, b_from + b_frames)
    _check_fits(n_a, at, at)
    _check_fits(n_b, b_stop, b_from)
    return Plan(
        _run("a", 0, at) + _run("b", b_from, b_stop),
        [Edit("cut", at, note=f"second take from its frame {b_from}")],
    )


def dissolve(n: int, at: int, skip: int, k: int) -> Plan:
    """A cross-dissolve of ``k`` frames bridging a jump of ``skip`` frames.

    Output frame ``at + j`` (``j < k``) mixes source frames ``at + j`` and ``at + skip + j``
    with weight ``w = (j + 1) / (k + 1)`` on the later one, so neither end of the dissolve
    repeats a plain frame; after it, lane ``a`` runs on from ``at + skip + k``. Lane ``a2``
    reads the later point (its own decoder, so the two never make each other seek).
    """
    _check_fits(n, at + skip + k)
    mixed: list[Recipe] = [
        Mix(Pick("a", at + j), Pick("a2", at + skip + j), (j + 1) / (k + 1)) for j in range(k)
    ]
    return Plan(
        _run("a", 0, at) + mixed + _run("a2", at + skip + k, n),
        [
            Edit(
                "dissolve",
                at,
                k,
                hidden=max(0, skip - k),
                note=f"{k}-frame dissolve across a {skip}-frame jump",
            )
        ],
    )


def fade_black(n: int, at: int, skip: int, k: int) -> Plan:
    """A fade through black: ``k`` frames out to black, then ``k`` in, across a jump of ``skip``.

    Fade-out gains ``1 - (j + 1) / k`` (the last frame black), fade-in gains ``j / k`` (the
    first frame black), applied to the source frames of each side as they run on.
    """
    _check_fits(n, at + skip + k)
    out: list[Recipe] = [Gain(Pick("a", at + j), 1 - (j + 1) / k) for j in range(k)]
    inn: list[Recipe] = [Gain(Pick("a2", at + skip + j), j / k) for j in range(k)]
    return Plan(
        _run("a", 0, at) + out + inn + _run("a2", at + skip + k, n),
        [Edit("fade", at, 2 * k, hidden=skip - k, note=f"fade through black, {k}+{k} frames")],
    )


def freeze(n: int, at: int, k: int, *, hide: bool) -> Plan:
    """Source frame ``at`` repeated ``k`` more times (a freeze frame of ``k + 1`` frames).

    ``hide=False`` inserts the pad (the clip grows by ``k`` frames: a hold added in the edit);
    ``hide=True`` lays it over the next ``k`` source frames (time hidden behind a still).
    """
    resume = at + 1 + (k if hide else 0)
    _check_fits(n, resume)
    how = "over" if hide else "inserted"
    return Plan(
        _run("a", 0, at + 1) + [Pick("a", at)] * k + _run("a", resume, n),
        [Edit("freeze", at, k + 1, hidden=k if hide else 0, note=f"{k} repeats {how}")],
    )


def _check_fits(n: int, stop: int, start: int = 0) -> None:
    if start < 0:
        raise ValueError(f"the edit starts before the source ({start})")
    if stop > n:
        raise ValueError(f"the edit needs source frames up to {stop}, the source has {n}")


# --- sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A clip to cut: its display size (rotation applied), frame count and frame rate."""

    name: str
    path: Path
    frames: int
    fps: int
    width: int
    height: int
    rotation_k: int  # np.rot90 turns that show the stored picture upright

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def probe_source(path: Path, name: str | None = None) -> Source:
    """Count the decodable frames (container counts lie on edit lists) and read the size."""
    path = Path(path)
    frames, rot, w, h = 0, 0, 0, 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        rate = float(s.average_rate or s.guessed_rate or 30)
        for f in c.decode(s):
            if frames == 0:
                rot = round((getattr(f, "rotation", 0) or 0) / 90) % 4
                w, h = (f.height, f.width) if rot % 2 else (f.width, f.height)
            frames += 1
    # An export runs on a standard grid: 29.97 or 30.1 (a phone's average) becomes 30.
    fps = min((24, 25, 30, 50, 60), key=lambda r: abs(r - rate))
    return Source(name or path.stem, path, frames, fps, w, h, rot)


def output_size(src: Source) -> tuple[int, int]:
    """The export size: the source's, scaled up to ``MIN_SHORT_SIDE``, even (4:2:0)."""
    scale = max(1.0, MIN_SHORT_SIDE / min(src.width, src.height))
    return (
        round(src.width * scale / 2) * 2,
        round(src.height * scale / 2) * 2,
    )


def _fit(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover ``size`` (w, h) and crop the centre, as an editor's "fill" does."""
    w, h = size
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        return img
    s = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    x, y = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(img[y : y + h, x : x + w])


class _Lane:
    """Random access to a source's frames by forward decoding, reopening to go back."""

    def __init__(self, src: Source, size: tuple[int, int]) -> None:
        self.src, self.size = src, size
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._it: Iterator[av.VideoFrame] | None = None
        self._c: av.container.InputContainer | None = None
        self.pos = -1

    def _open(self) -> None:
        self.close()
        self._c = av.open(str(self.src.path))
        s = self._c.streams.video[0]
        s.thread_type = "AUTO"
        self._it = self._c.decode(s)
        self.pos = -1

    def get(self, i: int) -> np.ndarray:
        if i in self.cache:
            return self.cache[i]
        if self._it is None or i <= self.pos:
            self._open()
        assert self._it is not None
        while self.pos < i:
            f = next(self._it)
            self.pos += 1
            if self.pos >= i - CACHE_FRAMES:
                img = f.to_ndarray(format="rgb24")
                if self.src.rotation_k:
                    img = np.ascontiguousarray(np.rot90(img, self.src.rotation_k))
                self.cache[self.pos] = _fit(img, self.size)
                while len(self.cache) > CACHE_FRAMES:
                    self.cache.popitem(last=False)
        return self.cache[i]

    def close(self) -> None:
        if self._c is not None:
            self._c.close()
            self._c = None
            self._it = None


def render(plan: Plan, lanes: dict[str, Source], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The plan's output frames (RGB, ``size`` = (w, h)), decoded on demand."""
    readers = {k: _Lane(s, size) for k, s in lanes.items()}
    try:
        for r in plan.recipes:
            if isinstance(r, Pick):
                yield readers[r.lane].get(r.index)
            elif isinstance(r, Mix):
                a = readers[r.a.lane].get(r.a.index).astype(np.float32)
                b = readers[r.b.lane].get(r.b.index).astype(np.float32)
                yield np.clip(np.rint((1 - r.w) * a + r.w * b), 0, 255).astype(np.uint8)
            else:
                a = readers[r.a.lane].get(r.a.index).astype(np.float32)
                yield np.clip(np.rint(r.g * a), 0, 255).astype(np.uint8)
    finally:
        for rd in readers.values():
            rd.close()


def encode(frames: Iterable[np.ndarray], path: Path, fps: int, *, crf: int = CRF) -> int:
    """Write ``frames`` (RGB) as H.264 MP4 at a regular ``fps``; returns the frame count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.part.mp4")
    n = 0
    try:
        with av.open(str(tmp), "w") as out:
            st = out.add_stream("libx264", rate=fps)
            st.pix_fmt = "yuv420p"
            st.options = {"crf": str(crf), "preset": PRESET, "g": str(GOP_S * fps)}
            st.codec_context.time_base = Fraction(1, fps)
            for img in frames:
                if n == 0:
                    st.height, st.width = img.shape[:2]
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = n
                n += 1
                out.mux(st.encode(frame))
            out.mux(st.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


@dataclass(frozen=True)
class ClipSpec:
    """One clip to make: its name, the sources of its lanes and its plan."""

    name: str
    lanes: dict[str, Source]
    plan: Plan

    @property
    def main(self) -> Source:
        return self.lanes["a"]

    def key(self) -> str:
        """What the cached clip depends on (a plan change or a new source remakes it)."""
        return json.dumps(
            {
                "version": VERSION,
                "lanes": {k: [str(s.path), s.frames] for k, s in sorted(self.lanes.items())},
                "recipes": [asdict(r) for r in self.plan.recipes],
            },
            sort_keys=True,
        )


def truth_of(spec: ClipSpec) -> dict:
    fps = spec.main.fps
    n = len(spec.plan.recipes)
    return {
        "clip": f"{spec.name}.mp4",
        "sources": {k: str(s.path) for k, s in spec.lanes.items()},
        "fps": fps,
        "frames": n,
        "duration_s": round(n / fps, 4),
        "edits": [e.truth(fps) for e in spec.plan.edits],
    }


def make_clip(spec: ClipSpec, out_dir: Path) -> tuple[Path, dict]:
    """Render and encode ``spec`` into ``out_dir`` once; later calls reuse the cached clip."""
    import hashlib

    out_dir = Path(out_dir)
    video = out_dir / f"{spec.name}.mp4"
    truth_path = out_dir / f"{spec.name}.truth.json"
    digest = hashlib.sha256(spec.key().encode()).hexdigest()[:16]
    if video.exists() and truth_path.exists():
        try:
            cached = json.loads(truth_path.read_text())
        except ValueError:
            cached = {}
        if cached.get("key") == digest:
            return video, cached
    size = output_size(spec.main)
    n = encode(render(spec.plan, spec.lanes, size), video, spec.main.fps)
    truth = {**truth_of(spec), "key": digest, "size": list(size)}
    assert n == truth["frames"], (n, truth["frames"])
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return video, truth


JUMP_WIDTH = 160  # px: jumps are measured on small gray frames, as a cut detector sees them
JUMP_FLOOR = 0.1  # gray levels: a still scene's neighbour difference, so a ratio stays finite


def jump_ratios(path: Path, marks: Sequence[dict], fps: float) -> list[float | None]:
    """How visible each edit is in the exported picture: the mean absolute gray difference
    across it (the frame before vs the frame after it; for a freeze, the step at its end)
    over the median difference of neighbouring frames in the second before and after it.

    About 1: nothing in the picture tells the edit from the footage around it. The issue's
    missed 1 s removal had 8. ``None`` where the edit touches the clip's ends.
    """
    small: list[np.ndarray] = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            g = f.to_ndarray(format="gray")
            h = max(1, round(g.shape[0] * JUMP_WIDTH / g.shape[1]))
            small.append(cv2.resize(g, (JUMP_WIDTH, h), interpolation=cv2.INTER_AREA))

    def diff(i: int, j: int) -> float:
        return float(cv2.absdiff(small[i], small[j]).mean())

    n, w = len(small), round(fps)
    out: list[float | None] = []
    for m in marks:
        start = round(m["t_s"] * fps)
        end = start + round((m.get("length_s") or 0.0) * fps)
        a, b = (end - 1, end) if m["kind"] == "freeze" else (start - 1, end)
        if a < 0 or b >= n:
            out.append(None)
            continue
        around = [*range(max(0, start - 1 - w), start - 1), *range(end, min(n - 1, end + w))]
        base = float(np.median([diff(i, i + 1) for i in around])) if around else 0.0
        out.append(round(diff(a, b) / max(base, JUMP_FLOOR), 1))
    return out


# --- the catalogue of edits cut into one source -------------------------------------------

MARGIN_S = 1.0  # footage kept before and after an edit: a detector needs context on each side
DISSOLVE_JUMP_S = 2.0  # footage a dissolve/fade bridges: a jump cut smoothed by the transition
FADE_FRAMES = 12  # 0.4 s out and 0.4 s in at 30 fps: editors' default fade (0.3-0.5 s)
BACK_S = 3.0  # a retake of the same scene: the edit jumps back to 3 s earlier (same light)


def catalogue(
    a: Source, other: Source | None, kinds: Sequence[str] | None = None
) -> list[ClipSpec]:
    """The edits of the benchmark cut into ``a`` (``other`` is the second take of a splice).

    Each edit sits at its own share of the clip (0.3-0.6 of it), so edits land at different
    moments of the action; an edit that does not leave ``MARGIN_S`` of footage on each side
    of it is skipped for this source.
    """
    n, fps = a.frames, a.fps
    m = round(MARGIN_S * fps)

    def at(frac: float) -> int:
        return round(frac * n)

    def s(sec: float) -> int:
        return round(sec * fps)

    makers: dict[str, Callable[[], Plan]] = {
        "reencode": lambda: reencode(n),
        "remove-0.5s": lambda: remove(n, at(0.30), s(0.5)),
        "remove-1s": lambda: remove(n, at(0.40), s(1)),
        "remove-2s": lambda: remove(n, at(0.50), s(2)),
        "remove-6s": lambda: remove(n, (n - s(6)) // 2, s(6)),
        "retake-back": lambda: splice(n, at(0.6), n, at(0.6) - s(BACK_S)),
        "dissolve-3f": lambda: dissolve(n, at(0.35), s(DISSOLVE_JUMP_S), 3),
        "dissolve-10f": lambda: dissolve(n, at(0.45), s(DISSOLVE_JUMP_S), 10),
        "dissolve-30f": lambda: dissolve(n, at(0.40), s(DISSOLVE_JUMP_S), 30),
        "fade-black": lambda: fade_black(n, at(0.50), s(DISSOLVE_JUMP_S), FADE_FRAMES),
        "freeze-1s": lambda: freeze(n, at(0.40), s(1), hide=False),
        "freeze-2s-over": lambda: freeze(n, at(0.55), s(2), hide=True),
    }
    if other is not None:
        makers["splice-other"] = lambda: splice(
            n, at(0.5), other.frames, other.frames // 4, n - at(0.5)
        )
    out = []
    for kind in kinds or list(makers):
        if kind not in makers:
            continue
        try:
            plan = makers[kind]()
        except ValueError:  # the source is too short for this edit
            continue
        # Keep MARGIN_S of footage before the first edit and after the last.
        if plan.edits:
            first = min(e.start for e in plan.edits)
            last = max(e.start + e.length for e in plan.edits)
            if first < m or len(plan.recipes) - last < m:
                continue
        lanes = {"a": a, "a2": a} if kind.startswith(("dissolve", "fade")) else {"a": a}
        if kind == "retake-back":
            lanes = {"a": a, "b": a}
        elif kind == "splice-other" and other is not None:
            lanes = {"a": a, "b": other}
        out.append(ClipSpec(f"{a.name}--{kind}", lanes, plan))
    return out
