"""Benchmark: edits found by this project and by PySceneDetect on the same edited clips.

Edits are cut into real footage (``../shared/realdata``: a webcam clip of a hand turning a
box, an iPhone clip, a Samsung slow-motion clip) and into the generated fixtures, as an
editing app exports them (``edits.py``: decoded, re-timed on a regular grid, re-encoded with
libx264 CRF 20): segments of 0.5, 1, 2 and 6 s removed, a retake jumping back 3 s, a second
take spliced in, cross-dissolves of 3, 10 and 30 frames, a fade through black, a freeze pad
inserted (1 s) or laid over the footage (2 s), and a plain re-encode (no edit). The fixtures
that the generator already edits (spliced-take, removed-segment, freeze-padding) come with
their own truth. Matrix fixtures (``.cache/fixtures/m-*``) are used when they are built.

Each clip is scored for

* this project: ``validator.check(path)``, events of kind cut, possible_cut, gap and freeze
  (``possible_cut`` only asks for a review: it is counted, and also shown apart);
* PySceneDetect 0.7 with default settings: ``ContentDetector`` and ``AdaptiveDetector``
  (``scenedetect.detect``; a cut = the start of every scene after the first).

An edit is found when an event lies within ``TOL_S`` of it: of a cut's time, of a dissolve's
or fade's span; for a freeze pad, inside its frozen span (``FREEZE_SLACK_S`` of rounding).
Every event that matches no edit is a false alarm (on the plain re-encodes, every event is).
Each edit's *jump* says how visible it is: the gray difference across it over the median
difference of neighbouring frames (``edits.jump_ratios``; about 1 = nothing to see).
The clips are made once into ``--cache`` and reused; the peers' answers and the jumps are
cached there by the clip's size and time, ours never (the detectors change).

    python benchmarks/bench_edits.py                       # every clip, about 90
    python benchmarks/bench_edits.py --quick               # six clips, a smoke run
    python benchmarks/bench_edits.py --sources realdata --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

import edits  # noqa: E402  (beside this file)

REALDATA = ROOT.parent / "shared" / "realdata"
AX = "androidx-media/libraries/test_data/src/test/assets/media/mp4"
# The real camera clips of ../shared/realdata long enough to cut (>= 4 s of moving footage).
# Left out: edit_list_positive_shift.mp4 (9 s, but one still picture: no edit is visible in
# it), sample_mpeg4.mp4 (an animated logo, not camera footage), silent-black-10s.mp4 (black)
# and the clips of 2 s or less.
REAL_CLIPS = {
    "box": "opencv-doc/box.mp4",  # webcam, hand turning a printed box, 15.2 s 640x480
    "iphone": "metadata-extractor-images/mov/with-gps.mov",  # handheld, a game case, 4 s
    "slowmo": f"{AX}/sample_sef_super_slow_motion.mp4",  # Samsung, floor panned, 14.5 s 160x120
}
SECOND_TAKE = {"box": "slowmo", "iphone": "box", "slowmo": "box"}
FIXTURE_SOURCES = ("clean", "slow-turning", "fast-turning")
FIXTURE_TAKES = {"clean": "slow-turning", "slow-turning": "fast-turning", "fast-turning": "clean"}
FIXTURE_EDITED = ("spliced-take", "removed-segment", "freeze-padding")
MATRIX_KINDS = ("reencode", "remove-1s", "dissolve-10f")  # a few edits per matrix variant
QUICK = (
    "box--reencode",
    "box--remove-1s",
    "box--dissolve-10f",
    "iphone--remove-0.5s",
    "clean--splice-other",
    "spliced-take",
)

OUR_KINDS = ("cut", "possible_cut", "zoom_step", "gap", "short_gaps", "freeze")
STRICT_KINDS = ("cut", "gap", "freeze")  # the kinds that fail completeness (not a review)
TRUTH_KINDS = ("cut", "gap", "freeze")  # continuity edits in a fixture's own truth
TOL_S = 0.5  # an event within 0.5 s of an edit is on it (the "found within 0.5 s")
FREEZE_SLACK_S = 0.1  # 3 frames at 30 fps: a frozen run's ends, rounded by either side
PEERS = ("content", "adaptive")
TOOLS = ("ours", *PEERS)


@dataclass
class Case:
    """One clip with its truth: ``edits`` are dicts with kind, t_s, length_s."""

    name: str
    path: Path
    source: str  # "realdata" or "fixtures"
    edit: str  # the kind of edit made (e.g. "remove-1s"), or the fixture's name
    edits: list[dict]
    jump: list[float | None] = field(default_factory=list)  # per edit: ``edits.jump_ratios``


@dataclass
class Score:
    found: list[int] = field(default_factory=list)  # indices of the edits found
    false: list[dict] = field(default_factory=list)  # events on no edit
    events: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


# --- clips --------------------------------------------------------------------------------


def real_cases(clips_dir: Path, cache: Path, quick: bool) -> list[Case]:
    if not REALDATA.is_dir():
        print(f"skip realdata: {REALDATA} is absent", file=sys.stderr)
        return []
    srcs = {k: probe(REALDATA / rel, cache, k) for k, rel in REAL_CLIPS.items()}
    specs = [s for k, a in srcs.items() for s in edits.catalogue(a, srcs[SECOND_TAKE[k]])]
    return _make(specs, clips_dir, "realdata", quick)


def fixture_cases(clips_dir: Path, cache: Path, quick: bool) -> list[Case]:
    from fixtures.generate import build

    fx = ROOT / ".cache" / "fixtures"
    out: list[Case] = []
    for name in FIXTURE_EDITED:
        if quick and name not in QUICK:
            continue
        path, truth = build(name, fx)
        marks = [
            {"kind": e["kind"], "t_s": e["t_s"], "length_s": e.get("length_s") or 0.0}
            for e in truth["events"]
            if e["kind"] in TRUTH_KINDS
        ]
        out.append(Case(name, path, "fixtures", name, marks))
    srcs = {}
    for name in FIXTURE_SOURCES:
        path, _ = build(name, fx)
        srcs[name] = probe(path, cache, name)
    specs = [s for k, a in srcs.items() for s in edits.catalogue(a, srcs[FIXTURE_TAKES[k]])]
    # The matrix variants (rendered by the test suite when it ran): a few edits each.
    for path in sorted(fx.glob("m-*.mp4")):
        if path.with_suffix(".truth.json").exists():
            specs += edits.catalogue(probe(path, cache), None, MATRIX_KINDS)
    return out + _make(specs, clips_dir, "fixtures", quick)


def probe(path: Path, cache: Path, name: str | None = None) -> edits.Source:
    """``edits.probe_source``, kept in ``cache`` (it decodes the whole clip to count frames)."""

    def read() -> list:
        src = edits.probe_source(path, name)
        return [src.frames, src.fps, src.width, src.height, src.rotation_k]

    frames, fps, w, h, rot = memo(cache, path, f"probe.{name}", edits.VERSION, read)
    return edits.Source(name or path.stem, path, frames, fps, w, h, rot)


def _make(specs: list[edits.ClipSpec], clips_dir: Path, source: str, quick: bool) -> list[Case]:
    out = []
    for spec in specs:
        if quick and spec.name not in QUICK:
            continue
        path, truth = edits.make_clip(spec, clips_dir)
        kind = spec.name.split("--", 1)[1]
        out.append(Case(spec.name, path, source, kind, truth["edits"]))
    return out


# --- tools --------------------------------------------------------------------------------


def run_ours(path: Path) -> list[dict]:
    from validator import check

    return [
        {"kind": e["kind"], "t_s": e["t_s"], "length_s": e.get("length_s") or 0.0}
        for e in check(path).to_dict()["events"]
    ]


def memo(cache: Path, path: Path, tag: str, version: str, fn: Callable[[], list]) -> list:
    """``fn()``'s answer for the clip at ``path``, kept in ``cache`` by the clip's size and
    time and by ``version`` (what else the answer depends on)."""
    st = path.stat()
    key = f"{version}:{st.st_size}:{st.st_mtime_ns}"
    file = cache / f"{path.stem}.{tag}.json"
    if file.exists():
        got = json.loads(file.read_text())
        if got.get("key") == key and "value" in got:
            return got["value"]
    value = fn()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"key": key, "value": value}))
    return value


def run_peer(path: Path, which: str, cache: Path) -> list[dict]:
    """PySceneDetect's cuts with default settings (cached: the peer does not change)."""
    import scenedetect
    from scenedetect import AdaptiveDetector, ContentDetector

    def detect() -> list[dict]:
        det = ContentDetector() if which == "content" else AdaptiveDetector()
        scenes = scenedetect.detect(str(path), det)
        return [{"kind": "cut", "t_s": round(s.seconds, 4), "length_s": 0.0} for s, _ in scenes[1:]]

    return memo(cache, path, which, scenedetect.__version__, detect)


def jumps(case: Case, cache: Path) -> list[float | None]:
    """Each edit's jump ratio (``edits.jump_ratios``): how visible it is in the picture."""
    import av

    with av.open(str(case.path)) as c:
        fps = float(c.streams.video[0].average_rate or 30)
    return memo(
        cache,
        case.path,
        "jump",
        f"{edits.VERSION}:{edits.JUMP_WIDTH}:{json.dumps(case.edits)}",
        lambda: edits.jump_ratios(case.path, case.edits, fps),
    )


def window(edit: dict) -> tuple[float, float]:
    """The times an event may take to be on ``edit``."""
    t0, t1 = edit["t_s"], edit["t_s"] + (edit.get("length_s") or 0.0)
    if edit["kind"] == "freeze":
        return t0 - FREEZE_SLACK_S, t1 + FREEZE_SLACK_S
    return t0 - TOL_S, t1 + TOL_S


def score(truth: Sequence[dict], events: Sequence[dict], kinds: Iterable[str]) -> Score:
    """Which edits the events find, and the events that find none (false alarms)."""
    kinds = set(kinds)
    evs = [e for e in events if e["kind"] in kinds]
    wins = [window(ed) for ed in truth]

    def on(e: dict, w: tuple[float, float]) -> bool:
        return e["t_s"] <= w[1] and e["t_s"] + (e.get("length_s") or 0.0) >= w[0]

    found = [i for i, w in enumerate(wins) if any(on(e, w) for e in evs)]
    false = [e for e in evs if not any(on(e, w) for w in wins)]
    return Score(found, false, evs)


def timed(fn: Callable[[], list[dict]]) -> tuple[list[dict], float, str | None]:
    t = time.perf_counter()
    try:
        return fn(), time.perf_counter() - t, None
    except Exception as exc:  # a tool that fails on a clip scores nothing there, said so
        return [], time.perf_counter() - t, f"{type(exc).__name__}: {exc}"


def evaluate(case: Case, cache: Path) -> dict[str, Score]:
    case.jump = jumps(case, cache)
    out = {}
    events, secs, err = timed(lambda: run_ours(case.path))
    out["ours"] = score(case.edits, events, OUR_KINDS)
    out["ours"].seconds, out["ours"].error = secs, err
    out["ours_strict"] = score(case.edits, events, STRICT_KINDS)
    out["ours_all_events"] = Score(events=events)
    for peer in PEERS:
        ev, secs, err = timed(lambda p=peer: run_peer(case.path, p, cache))
        out[peer] = score(case.edits, ev, ("cut",))
        out[peer].seconds, out[peer].error = secs, err
    return out


# --- report -------------------------------------------------------------------------------


def _edit_label(case: Case, i: int) -> str:
    e = case.edits[i]
    j = case.jump[i] if i < len(case.jump) else None
    return f"{case.name} {e['kind']}@{e['t_s']:.2f}s" + (f" (jump {j}x)" if j is not None else "")


def _cell(n_found: int, n_edits: int) -> str:
    return f"{n_found}/{n_edits}" if n_edits else "-"


def table(rows: list[tuple[Case, dict[str, Score]]], by: str) -> list[str]:
    """Markdown table: one row per clip (``by="clip"``) or per edit kind (``by="edit"``)."""
    groups: dict[str, list[tuple[Case, dict[str, Score]]]] = {}
    for case, sc in rows:
        groups.setdefault(case.name if by == "clip" else case.edit, []).append((case, sc))
    head = (
        f"| {by} | edits | jump (median) | ours found (by possible_cut only) "
        "| ours false (possible_cut) | content found | content false | adaptive found "
        "| adaptive false |"
    )
    lines = [head, "|" + " --- |" * 9]

    def line(label: str, grp: list[tuple[Case, dict[str, Score]]]) -> str:
        n = sum(len(c.edits) for c, _ in grp)
        js = [j for c, _ in grp for j in c.jump if j is not None]
        ours = sum(len(s["ours"].found) for _, s in grp)
        only_pc = ours - sum(len(s["ours_strict"].found) for _, s in grp)
        fa = sum(len(s["ours"].false) for _, s in grp)
        fa_pc = sum(1 for _, s in grp for e in s["ours"].false if e["kind"] == "possible_cut")
        jump = f"{statistics.median(js):.1f}" if js else "-"
        cells = [label, str(n), jump, f"{_cell(ours, n)} ({only_pc})", f"{fa} ({fa_pc})"]
        for p in PEERS:
            cells += [
                _cell(sum(len(s[p].found) for _, s in grp), n),
                str(sum(len(s[p].false) for _, s in grp)),
            ]
        return "| " + " | ".join(cells) + " |"

    for label, grp in groups.items():
        lines.append(line(label, grp))
    for src in sorted({c.source for c, _ in rows}):
        lines.append(line(f"**{src}**", [r for r in rows if r[0].source == src]))
    lines.append(line("**total**", rows))
    return lines


def verdict(rows: list[tuple[Case, dict[str, Score]]]) -> list[str]:
    missing = [
        _edit_label(c, i)
        for c, s in rows
        for i in sorted(set(s["content"].found) | set(s["adaptive"].found))
        if i not in s["ours"].found
    ]
    missing_strict = [
        _edit_label(c, i)
        for c, s in rows
        for i in sorted(set(s["content"].found) | set(s["adaptive"].found))
        if i not in s["ours_strict"].found
    ]
    ours_fa = sum(len(s["ours"].false) for _, s in rows)
    pc_fa = sum(1 for _, s in rows for e in s["ours"].false if e["kind"] == "possible_cut")
    peer_fa = {p: sum(len(s[p].false) for _, s in rows) for p in PEERS}
    missed_all = [
        _edit_label(c, i) for c, s in rows for i in range(len(c.edits)) if i not in s["ours"].found
    ]
    return [
        "this project finds every edit the peer finds: "
        + ("yes" if not missing else f"no (missing: {', '.join(missing)})"),
        "  counting only cut/gap/freeze (fail-level, no possible_cut): "
        + ("yes" if not missing_strict else f"no (missing: {', '.join(missing_strict)})"),
        f"false alarms: ours {ours_fa} (of them possible_cut {pc_fa}) vs peer "
        f"{min(peer_fa.values())} (ContentDetector {peer_fa['content']}, "
        f"AdaptiveDetector {peer_fa['adaptive']})",
        "edits this project misses: " + (", ".join(missed_all) or "none"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--sources", nargs="+", default=["realdata", "fixtures"], choices=["realdata", "fixtures"]
    )
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench_edits")
    ap.add_argument("--json", type=Path, help="also write every clip's truth, events and score")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--clips", nargs="+", help="only the clips with these names")
    a = ap.parse_args(argv)
    started = time.perf_counter()
    clips_dir = a.cache / "clips"
    cases: list[Case] = []
    if "realdata" in a.sources:
        cases += real_cases(clips_dir, a.cache / "memo", a.quick)
    if "fixtures" in a.sources:
        cases += fixture_cases(clips_dir, a.cache / "memo", a.quick)
    if a.clips:
        cases = [c for c in cases if c.name in a.clips]
    made_s = time.perf_counter() - started
    print(f"{len(cases)} clips ready in {made_s:.0f} s", file=sys.stderr)

    rows: list[tuple[Case, dict[str, Score]]] = []
    for case in cases:
        sc = evaluate(case, a.cache / "memo")
        rows.append((case, sc))
        ours = sc["ours_all_events"].events
        print(
            f"{case.name}: truth {[(e['kind'], e['t_s']) for e in case.edits]} | ours "
            f"{[(e['kind'], e['t_s']) for e in ours if e['kind'] in OUR_KINDS]} | content "
            f"{[e['t_s'] for e in sc['content'].events]} | adaptive "
            f"{[e['t_s'] for e in sc['adaptive'].events]}"
            + "".join(f" | {t} error: {sc[t].error}" for t in TOOLS if sc[t].error),
            file=sys.stderr,
        )
    total_s = time.perf_counter() - started
    tool_s = {t: round(sum(s[t].seconds for _, s in rows), 1) for t in TOOLS}

    out = [*table(rows, "clip"), "", *table(rows, "edit"), "", *verdict(rows)]
    out.append(
        f"run time {total_s:.0f} s ({made_s:.0f} s making clips; tools (peers: clips not "
        "yet in the cache only): " + ", ".join(f"{t} {s} s" for t, s in tool_s.items()) + ")"
    )
    print("\n".join(out))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(
            json.dumps(
                {
                    "tolerance_s": TOL_S,
                    "run_s": round(total_s, 1),
                    "tool_s": tool_s,
                    "clips": [
                        {
                            "clip": c.name,
                            "source": c.source,
                            "edit": c.edit,
                            "path": str(c.path),
                            "truth": c.edits,
                            "jump": c.jump,
                            "events": s["ours_all_events"].events,
                            **{
                                t: {
                                    "found": s[t].found,
                                    "false": s[t].false,
                                    "error": s[t].error,
                                    "cuts": [e["t_s"] for e in s[t].events] if t in PEERS else None,
                                }
                                for t in (*TOOLS, "ours_strict")
                            },
                        }
                        for c, s in rows
                    ],
                    "verdict": verdict(rows),
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
