"""Findings -> the four requirement verdicts, with reasons and times.

Every threshold comes from the policy profile; every message from the reason
catalogue (``validator.reasons``: stable codes, English and Chinese). The event
kinds' reasons are declared with the kinds (``validator.detectors.event_kinds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from validator.detectors import event_kinds
from validator.media.creation_times import source_label
from validator.models import Event, Reason, Requirement, combine
from validator.policy import Policy
from validator.reasons import reason
from validator.timeutil import SHANGHAI, parse_time

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from validator.detectors.cuts import CutMetrics
    from validator.detectors.faces import FaceMetrics
    from validator.detectors.quality import QualityMetrics
    from validator.detectors.waybill import WaybillMetrics
    from validator.media.creation_times import CreationTime


@dataclass(frozen=True, slots=True)
class CheckFacts:
    """The facts of the return that the video verdicts need (all optional)."""

    tracking_number: str | None = None
    return_signed_at: datetime | None = None
    submitted_at: datetime | None = None
    evidence_deadline: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        def t(d: datetime | None) -> str | None:
            return None if d is None else d.isoformat()

        return {
            "tracking_number": self.tracking_number,
            "return_signed_at": t(self.return_signed_at),
            "submitted_at": t(self.submitted_at),
            "evidence_deadline": t(self.evidence_deadline),
        }


# Where the length's reasons (too_short, too_long) stand among the event kinds'
# (``EventKind.rank``): after the picture's continuity, before editing traces and black.
DURATION_RANK = 40


def _secs(seconds: list[int]) -> str:
    shown = ", ".join(str(s) for s in seconds[:12])
    return shown + (" ..." if len(seconds) > 12 else "")


def _verdict(name: str, reasons: list[Reason]) -> Requirement:
    return Requirement(name, combine([r.verdict for r in reasons]), tuple(reasons))


def consistency(
    tracking_number: str | None, waybill: WaybillMetrics | None, policy: Policy
) -> Requirement:
    """The waybill read on camera against the return's tracking number."""
    if waybill is None:  # the waybill detector did not run
        return _verdict("consistency", [reason("not_checked")])
    from validator.waybill.aggregate import make_reason, verdict

    found = verdict(
        tracking_number,
        waybill.codes,
        sampled_frames=waybill.sampled_frames,
        unread_frames=waybill.unread_frames,
        whole_frames=waybill.whole_frames,
        fail_min_frames=policy.waybill.fail_min_frames,
    )
    return _verdict("consistency", [make_reason(found)])


def _faces(faces: FaceMetrics, label_first_s: float | None, policy: Policy) -> list[Reason]:
    """Six faces before the opening, a sealed start, the label before the opening."""
    rs: list[Reason] = []
    opened = faces.opened_at_s
    if faces.starts_open:
        seen = faces.opening_t_s or 0.0
        rs.append(reason("starts_opened", [seen], seen_at_s=seen))
    elif opened is None:
        rs.append(reason("opening_not_seen"))
    shown = faces.shown or []
    times = [float(f["t_s"]) for f in shown]
    count, need = int(faces.count or 0), policy.completeness.min_faces
    hold_s = policy.completeness.min_face_hold_s
    poses = [
        h
        for h in faces.holds or []
        if h["end_s"] - h["start_s"] >= hold_s and (opened is None or h["end_s"] <= opened)
    ]
    # The faces detector says whether it established the count (its turns followed,
    # the look of the holds agreeing); metrics without that say are trusted as counted,
    # but for a plain carton's alike poses (many poses, few distinct looks).
    established = faces.established
    if established is None:
        established = not (count < need and count <= need // 2 and len(poses) >= need)
        why: str | None = "looks_conflict"
    else:
        why = faces.why
    if not established:
        # A count it could not establish is never a fail: a person must count.
        at = [h["start_s"] for h in poses]
        if why == "looks_conflict":  # the faces look alike where the turns say otherwise
            rs.append(reason("faces_indistinct", at, poses=len(poses)))
        elif why == "one_pose" and faces.holds:  # no turn at all before the opening
            first = faces.holds[0]
            end = first["end_s"] if opened is None else min(first["end_s"], opened)
            span = {"start": _secs_f([first["start_s"]]), "end": _secs_f([end])}
            rs.append(reason("faces_one_pose", [first["start_s"]], **span))
        else:  # turns not followed, the view lost or jumped, too dark to follow
            rs.append(reason("faces_uncertain", at, poses=len(poses), count=count, min_faces=need))
    elif count < need:
        rs.append(
            reason(
                "faces_missing",
                times,
                count=count,
                min_faces=need,
                min_hold_s=policy.completeness.min_face_hold_s,
                times=_secs_f(times) or "-",
            )
        )
    else:
        rs.append(reason("faces_all_shown", times, count=count, times=_secs_f(times)))
    if opened is not None and label_first_s is not None and label_first_s > opened:
        rs.append(
            reason(
                "label_after_opening",
                [label_first_s],
                label_t_s=round(label_first_s, 1),
                opened_at_s=round(opened, 1),
            )
        )
    return rs


def _secs_f(times: list[float]) -> str:
    return ", ".join(f"{t:.1f} s" for t in times)


def completeness(
    duration_s: float,
    events: list[Event],
    policy: Policy,
    decode_errors: int = 0,
    faces: FaceMetrics | None = None,
    label_first_s: float | None = None,
    witness: Mapping[str, Any] | None = None,
) -> Requirement:
    """Continuity (cuts, gaps, freezes, black), length, and, when the faces
    detector ran (``faces`` = its metrics), six faces shown before a seen opening;
    with a ``witness`` record (a recording made through the service), whether the
    file was produced live in one session (``witnessed``)."""
    # Each event kind raises the reason it declares (``EventKind.reason``), in the kinds'
    # rank; the length's reasons stand between them at ``DURATION_RANK``.
    ranked: list[tuple[int, Reason]] = []
    for kind in event_kinds().values():
        r = kind.reason
        if r is None:
            continue
        found = [
            e
            for e in events
            if e.kind == kind.kind and (r.over is None or (e.length_s or 0) > r.over(policy))
        ]
        if found:
            at = [e.t_s for e in found] if r.timed else []
            ranked.append((kind.rank, reason(r.code, at, **r.fields(found))))
    d = round(duration_s, 1)
    if duration_s < policy.completeness.min_duration_s:
        too = reason("too_short", [0.0], duration_s=d, min_s=policy.completeness.min_duration_s)
        ranked.append((DURATION_RANK, too))
    elif duration_s > policy.completeness.max_duration_s:
        too = reason("too_long", [], duration_s=d, max_s=policy.completeness.max_duration_s)
        ranked.append((DURATION_RANK, too))
    rs = [r for _, r in sorted(ranked, key=lambda rr: rr[0])]
    if decode_errors:
        rs.append(reason("decode_errors", [], count=decode_errors))
    if not rs:
        rs.append(reason("continuous_take", [], duration_s=d))
    if faces is not None:
        rs.extend(_faces(faces, label_first_s, policy))
    if witness is not None:
        rs.append(witnessed(witness, duration_s))
    return _verdict("completeness", rs)


def witnessed(record: Mapping[str, Any], duration_s: float) -> Reason:
    """What the witness record of a recording adds to completeness.

    Live: a camera films one second per second, so the video cannot hold more than
    the session's time from its first chunk to its last, plus the first chunk's
    interval (filmed before it arrived) and one more for the encoder's buffering. Past
    that, part of it existed before the session (``witnessed_faster_than_live``).
    Pauses in arrival longer than twice the interval (a dropped connection: the page
    queues and resends) are said, with the longest; the picture's own continuity is
    judged by the detectors as for any video.
    """
    first = parse_time(record["first_chunk_at"])
    last = parse_time(record["last_chunk_at"])
    interval = float(record["chunk_interval_s"])
    span = (last - first).total_seconds()
    key = (record.get("signature") or {}).get("key_id", "?")
    common = {"chunks": record["chunk_count"], "first": _clock(first), "last": _clock(last),
              "key_id": key, "duration_s": round(duration_s, 1)}  # fmt: skip
    if duration_s > span + 2 * interval + LIVE_SLACK_S:
        return reason("witnessed_faster_than_live", span_s=round(span, 1), **common)
    gaps = record.get("gaps") or []
    if gaps:
        longest = max(g["length_s"] for g in gaps)
        return reason("witnessed_with_delay", gaps=len(gaps), longest_s=round(longest, 1), **common)
    return reason("witnessed_live", interval_s=f"{interval:g}", max_gap_s=f"{2 * interval:g}",
                  **common)  # fmt: skip


# MediaRecorder's timestamps start at its first frame and its last chunk is flushed at
# stop: measured on Chromium 120-131 with a fake camera, the WebM's duration exceeds
# the first-to-last chunk span by 0.9-1.3 s at a 1 s interval.
LIVE_SLACK_S = 1.0


def _clock(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S %z")


def validity(
    width: int,
    height: int,
    quality: QualityMetrics | None,
    motion: CutMetrics | None,
    policy: Policy,
) -> Requirement:
    """Resolution, light, focus and shake against the policy.

    Light is judged on every second. Focus only on the lit seconds whose edge spread is
    known (the quality detector measures it on the step edges a frame has; a plain or
    featureless second is ``None``): the blurred share is of those seconds, and when too
    few are known to judge, the verdict is ``review`` (``sharpness_unknown``), never
    ``fail``. Below the minimum resolution focus is not judged: print is unreadable anyway.
    """
    rs: list[Reason] = []
    short = min(width, height)
    too_small = short < policy.validity.min_short_side_px
    if too_small:
        rs.append(
            reason(
                "resolution_too_low",
                [],
                short_side=short,
                min_px=policy.validity.min_short_side_px,
            )
        )
    elif short < policy.validity.review_short_side_px:
        rs.append(
            reason(
                "resolution_low",
                [],
                short_side=short,
                review_px=policy.validity.review_short_side_px,
            )
        )
    profile = (quality.profile if quality is not None else None) or []
    dark, bright = policy.validity.dark_luma, policy.validity.bright_luma

    def share(code: str, secs: list[int], of: int) -> None:
        frac = len(secs) / of
        if secs and frac >= policy.validity.review_fraction:
            r = reason(
                code, [float(s) for s in secs[:50]], percent=round(100 * frac), times=_secs(secs)
            )
            if frac < policy.validity.fail_fraction:
                r = Reason(r.code, "review", r.message_en, r.message_zh, r.at_s)
            rs.append(r)

    if profile:
        share("too_dark", [int(s["t_s"]) for s in profile if s["luma"] < dark], len(profile))
        share("overexposed", [int(s["t_s"]) for s in profile if s["luma"] > bright], len(profile))
    # A dark or washed-out second is already counted as such; focus is judged where there
    # is light, and only where the picture has edges to judge it by.
    lit = [s for s in profile if dark <= s["luma"] <= bright]
    known = [s for s in lit if s.get("blur_pct") is not None]
    if lit and not too_small:
        if len(known) < max(1.0, policy.validity.review_fraction * len(lit)):
            rs.append(reason("sharpness_unknown", [], percent=round(100 * len(known) / len(lit))))
        else:
            limit = policy.validity.max_blur_pct
            share("blurred", [int(s["t_s"]) for s in known if s["blur_pct"] > limit], len(known))
    med = None if motion is None else motion.median_motion_px
    if med is not None and med > policy.validity.shake_px:
        rs.append(reason("shaky", [], motion_px=med))
    if not rs:
        rs.append(reason("quality_ok", [], width=width, height=height))
    return _verdict("validity", rs)


def _local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M %z")


def timeliness(
    recorded_at: datetime | None,
    source: str | None,
    facts: CheckFacts,
    policy: Policy,
    rejected: Sequence[CreationTime] = (),
) -> Requirement:
    """``rejected``: the creation times the probe did not trust, best-ranked first; the
    first one's cause is said when no time is trusted (a time in the future, ...)."""
    rs: list[Reason] = []
    signed = facts.return_signed_at
    if recorded_at is None:
        why_en = why_zh = ""
        if rejected:
            en, zh = rejected[0].rejected_because()
            why_en, why_zh = f" ({en})", f"（{zh}）"
        rs.append(reason("no_creation_time", why_en=why_en, why_zh=why_zh))
    elif signed is None:
        rs.append(reason("no_signed_time", recorded_at=_local(recorded_at)))
    else:
        delta = (recorded_at - signed).total_seconds()
        hours = round(abs(delta) / 3600, 1)
        if delta < -policy.timeliness.max_before_signed_s:
            rs.append(
                reason(
                    "recorded_before_signed",
                    [0.0],
                    recorded_at=_local(recorded_at),
                    hours=hours,
                    signed_at=_local(signed),
                )
            )
        elif delta <= policy.timeliness.pass_after_signed_s:
            label_en, label_zh = source_label(source)
            rs.append(
                reason(
                    "recorded_in_window",
                    [0.0],
                    recorded_at=_local(recorded_at),
                    # In words: the tag's name (format:creation_time) stays in the
                    # report's media.recorded_at_source, for reviewers.
                    source_en=label_en,
                    source_zh=label_zh,
                    hours=round(delta / 3600, 1),
                )
            )
        elif delta <= policy.timeliness.review_after_signed_s:
            rs.append(reason("recorded_late", [0.0], hours=hours))
        else:
            rs.append(reason("recorded_too_late", [0.0], hours=hours))
    if facts.submitted_at is not None and facts.evidence_deadline is not None:
        code = (
            "submitted_late"
            if facts.submitted_at > facts.evidence_deadline
            else "submitted_in_time"
        )
        rs.append(
            reason(
                code,
                submitted_at=_local(facts.submitted_at),
                deadline=_local(facts.evidence_deadline),
            )
        )
    return _verdict("timeliness", rs)
