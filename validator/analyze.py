"""``check()``: one video and the facts of the return -> a ``Report``.

probe (container + packet timeline) -> one decode pass feeding every detector
-> events -> requirement verdicts -> report. The file's sha256 is computed in a
second thread while the decode runs, so it costs no wall time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from validator import requirements as req
from validator.clock import Clock, default
from validator.detectors import REGISTRY, Detector, Findings, event_kinds
from validator.errors import CaseError
from validator.media.probe import MediaInfo, probe
from validator.media.source import VideoSource, size_change_events
from validator.media.timeline import find_gaps
from validator.models import Event, combine
from validator.policy import Policy, load_policy
from validator.report.build import Report, build_report
from validator.timeutil import parse_deadline, parse_time

Progress = Callable[[float, str], None]
EDIT_MEANINGS = ("edited", "re-encoded", "remuxed", "trimmed")
SKIP_LOOP_FILTER = True


# A cut found this close (s) outside a black run's ramps still belongs to them: the cut
# detector dates a change by the pair it stands out in, a frame or two off the ramp's
# own end (its spike is judged against two pairs on each side, cuts.py).
BLACK_EDGE_MARGIN_S = 0.1
# s: an abrupt change this close to a change of picture size is that change (the cut
# detector dates a change to the first frame after it: the size change's own frame).
SIZE_EDGE_S = 0.1


def _black_span(e: Event) -> tuple[float, float]:
    """A black run with its ramps in and out (``black.py``); the run alone without them."""
    d = e.details or {}
    return (
        min(e.t_s, d.get("ramp_start_s", e.t_s)),
        max(e.t_s + (e.length_s or 0), d.get("ramp_end_s", e.t_s + (e.length_s or 0))),
    )


def absorb_black_edges(events: list[Event], max_black_s: float) -> list[Event]:
    """A covered lens, not two cuts: the abrupt changes (the event kinds declared
    ``abrupt``) where a long black run comes and goes (its dimming and brightening ramps)
    are that run's edges, noted in its details.

    Only for runs longer than ``max_black_s``, which get a review of their own
    (black_segment). A shorter run between two different pictures is a fade through
    black, an editing transition: its cut stays a cut.
    """
    spans = [
        (b, start - BLACK_EDGE_MARGIN_S, end + BLACK_EDGE_MARGIN_S)
        for b in events
        if b.kind == "black" and (b.length_s or 0) > max_black_s
        for start, end in [_black_span(b)]
    ]
    return _absorb_abrupt(events, spans)


def absorb_size_changes(events: list[Event]) -> list[Event]:
    """A change of picture size, not a cut: the abrupt change the detectors see where the
    picture changes size (the frames there are fitted to the first size, a turned phone's
    picture squeezed) is the size change itself, judged once as that (a review)."""
    spans = [
        (e, e.t_s - SIZE_EDGE_S, e.t_s + SIZE_EDGE_S) for e in events if e.kind == "size_change"
    ]
    return _absorb_abrupt(events, spans)


def _absorb_abrupt(events: list[Event], spans: list[tuple[Event, float, float]]) -> list[Event]:
    """The abrupt events inside a span (its event, start, end) go into that event's
    details (``absorbed``) instead of the list."""
    if not spans:
        return events
    abrupt = {k.kind for k in event_kinds().values() if k.abrupt}
    absorbed: dict[int, list[dict[str, Any]]] = {}
    kept: list[Event] = []
    for e in events:
        owner = next(
            (i for i, (_, a, z) in enumerate(spans) if e.kind in abrupt and a <= e.t_s <= z),
            None,
        )
        if owner is None:
            kept.append(e)
        else:
            absorbed.setdefault(owner, []).append({"kind": e.kind, "t_s": round(e.t_s, 3)})
    for i, edges in absorbed.items():
        b = spans[i][0]
        j = kept.index(b)
        kept[j] = replace(b, details={**(b.details or {}), "absorbed": edges})
    return kept


def drop_freezes_inside_black(events: list[Event]) -> list[Event]:
    """Black frames are identical too: report a black span once, as black, not also as freeze."""
    blacks = [_black_span(e) for e in events if e.kind == "black"]

    def covered(e: Event) -> bool:
        end = e.t_s + (e.length_s or 0)
        overlap = sum(max(0.0, min(end, b1) - max(e.t_s, b0)) for b0, b1 in blacks)
        return overlap >= 0.5 * (e.length_s or 0)

    return [e for e in events if not (e.kind == "freeze" and blacks and covered(e))]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def facts_from_case(case: Mapping[str, Any] | None, **overrides: Any) -> req.CheckFacts:
    """Pick the video-relevant facts from a case dict; explicit overrides win."""
    case = case or {}

    def get(path: str) -> Any:
        node: Any = case
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    def when(value: Any, field: str) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise CaseError(f"{field}: expected an ISO 8601 time, got {value!r}")
        return parse_time(value, field=field)

    def deadline(value: Any, field: str) -> datetime | None:
        if isinstance(value, str):
            return parse_deadline(value, field=field)[0]
        return when(value, field)

    tn = overrides.get("tracking_number") or get("return.tracking_number")
    return req.CheckFacts(
        tracking_number=str(tn) if tn else None,
        return_signed_at=when(
            overrides.get("return_signed_at") or get("return.signed_at"), "return.signed_at"
        ),
        submitted_at=when(
            overrides.get("submitted_at") or get("evidence.submitted_at"), "evidence.submitted_at"
        ),
        # A date-only deadline is the end of that day, as the predictor reads it.
        evidence_deadline=overrides.get("evidence_deadline")
        or deadline(get("evidence.deadline"), "evidence.deadline"),
    )


def label_first_s(findings: dict[str, Findings], tracking_number: str | None) -> float | None:
    """When the waybill was first read: the return's number if given and read, else any code."""
    if "waybill" not in findings:
        return None
    codes = findings["waybill"].metrics.codes
    mine = [c for c in codes if tracking_number and c.get("text") == tracking_number]
    times = [c["first_t_s"] for c in (mine or codes) if c.get("first_t_s") is not None]
    return min(times) if times else None


def run_detectors(
    source: VideoSource,
    detectors: list[Detector],
    *,
    duration_s: float,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
    counter: Callable[[], float] = time.perf_counter,
) -> dict[str, Findings]:
    """Feed every frame of ``source`` to every detector once; return their findings.

    ``timings``, when given, receives each detector's own time (``process`` and
    ``finish``, seconds, read from ``counter``) so the benchmark can show where a
    check's time goes.
    """
    last = 0.0
    spent = dict.fromkeys((d.name for d in detectors), 0.0)
    for frame in source:
        for d in detectors:
            t0 = counter()
            d.process(frame)
            spent[d.name] += counter() - t0
        if progress is not None and duration_s > 0 and frame.t_s - last >= 1.0:
            last = frame.t_s
            progress(min(0.99, frame.t_s / duration_s), "decoding")
    if timings is not None:
        timings.update(spent)
    return finish_all(detectors, timings, counter)


def finish_all(
    detectors: list[Detector],
    timings: dict[str, float] | None = None,
    counter: Callable[[], float] = time.perf_counter,
) -> dict[str, Findings]:
    """Each detector's findings, in input order; one that ``uses`` others finishes after them."""
    names = {d.name for d in detectors}
    done: dict[str, Findings] = {}
    pending = list(detectors)
    while pending:
        ready = [d for d in pending if all(n in done or n not in names for n in d.uses)]
        if not ready:
            raise ValueError(f"detectors use each other in a cycle: {[d.name for d in pending]}")
        for d in ready:
            t0 = counter()
            done[d.name] = (
                d.finish({n: done[n] for n in d.uses if n in done}) if d.uses else d.finish()
            )
            if timings is not None:
                timings[d.name] = timings.get(d.name, 0.0) + counter() - t0
        pending = [d for d in pending if d.name not in done]
    return {d.name: done[d.name] for d in detectors}


def _witnessed_media(media: MediaInfo, witness: Mapping[str, Any], sha256: str) -> MediaInfo:
    """The probe's facts with the recording time taken from the witness: the server's
    clock at the first chunk's arrival, which no editing of the file can move (the file's
    own tags stay in ``creation_times``)."""
    from validator.errors import UsageError

    if witness.get("file_sha256") != sha256:
        raise UsageError(
            "the witness record given is not this file's (its file_sha256 differs); "
            "check the recording with its own witness, or without one",
            details={"field": "witness"},
        )
    first = parse_time(str(witness["first_chunk_at"]), field="witness.first_chunk_at")
    return replace(
        media,
        recorded_at=first,
        recorded_at_source="witness",
        recorded_at_why="the server's clock when the recording's first chunk arrived "
        "(signed witness record)",
    )


def check(
    path: str | Path,
    *,
    facts: req.CheckFacts | Mapping[str, Any] | None = None,
    policy: Policy | str | Path | None = None,
    progress: Progress | None = None,
    detectors: list[str] | None = None,
    clock: Clock | None = None,
    witness: Mapping[str, Any] | None = None,
) -> Report:
    """Check one video against the four requirements.

    ``facts`` is a ``CheckFacts`` or a case dict (``case.json``'s shape);
    ``policy`` a ``Policy``, a shipped profile's name or a profile file;
    ``clock`` measures the durations in ``analysis`` (``validator.clock``);
    ``witness`` is the signed witness record of a recording made through the service
    (``validator.witness``): its first chunk's arrival on the server's clock is then
    the recording time, and completeness says whether it was filmed live.
    Writes nothing: ``validator.check_case`` adds the evidence pictures, the
    prediction and ``report.json``.
    Raises ``InputError`` subclasses for files that are not readable videos.
    """
    counter = (clock or default()).counter
    started = counter()
    path = Path(path)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    f = facts if isinstance(facts, req.CheckFacts) else facts_from_case(facts)
    if progress:
        progress(0.0, "probing")
    media: MediaInfo = probe(path, pol)

    digest: dict[str, str] = {}
    hasher = threading.Thread(target=lambda: digest.update(sha256=sha256_file(path)), daemon=True)
    hasher.start()

    names = detectors if detectors is not None else list(REGISTRY)
    active = [REGISTRY[n](media, pol) for n in names]
    budget = max(
        pol.decode.min_seconds_budget,
        pol.decode.max_seconds_per_media_second * media.duration_s,
    )
    decode_started = counter()
    with VideoSource(
        path,
        stream_index=media.video_stream_index,
        deadline_s=budget,
        # The in-loop deblocking filter is skipped on non-key frames of H.264 and HEVC:
        # about 6% of the decode; its drift stays below what the 320 px analysis
        # measures there (``source.SKIP_LOOP_FILTER_CODECS``).
        skip_loop_filter=SKIP_LOOP_FILTER,
        retime=media.pts_in_decode_order,
    ) as source:
        spent: dict[str, float] = {}
        findings = run_detectors(
            source,
            active,
            duration_s=media.duration_s,
            progress=progress,
            timings=spent,
            counter=counter,
        )
        decode_errors = source.decode_errors
        size_changes = size_change_events(source)
        frames = source.frames_decoded
    decode_s = counter() - decode_started
    hasher.join()
    if witness is not None:
        media = _witnessed_media(media, witness, digest.get("sha256", ""))

    events: list[Event] = [*find_gaps(media.timeline, pol), *size_changes]
    edits = [h for h in media.provenance if h.meaning in EDIT_MEANINGS]
    if edits:
        events.append(
            Event(
                "edit_software",
                0.0,
                detector="provenance",
                details={
                    "software": sorted({h.software for h in edits}),
                    "evidence": [h.evidence for h in edits],
                },
            )
        )
    for fd in findings.values():
        events.extend(fd.events)
    events = absorb_black_edges(drop_freezes_inside_black(events), pol.completeness.max_black_s)
    events = absorb_size_changes(events)
    events.sort(key=lambda e: (e.t_s, e.kind))

    def metrics(name: str) -> Any:
        return findings[name].metrics if name in findings else None

    requirements = {
        "consistency": req.consistency(f.tracking_number, metrics("waybill"), pol),
        "completeness": req.completeness(
            media.duration_s,
            events,
            pol,
            decode_errors,
            faces=metrics("faces"),
            label_first_s=label_first_s(findings, f.tracking_number),
            witness=witness,
        ),
        "validity": req.validity(
            media.width, media.height, metrics("quality"), metrics("cuts"), pol
        ),
        "timeliness": req.timeliness(
            media.recorded_at, media.recorded_at_source, f, pol, media.rejected_times
        ),
    }
    verdict = combine([r.verdict for r in requirements.values()])
    report = build_report(
        path=path,
        sha256=digest.get("sha256", ""),
        media=media,
        verdict=verdict,
        requirements=requirements,
        events=events,
        findings=findings,
        facts=f,
        policy=pol,
        witness=witness,
        analysis={
            "frames": frames,
            "decode_errors": decode_errors,
            "decode_s": round(decode_s, 3),
            "total_s": round(counter() - started, 3),
            "detectors": names,
            "detector_s": {k: round(v, 3) for k, v in spent.items()},
        },
    )
    if progress:
        progress(1.0, "done")
    return report
