"""Codes read over time -> one consistency (一致性) verdict on the waybill.

``WaybillTracker`` collects the codes read on the frames the detector read and
sums them up per normalised text: on how many frames each was read, when first,
and when best seen (largest on screen). Two kinds of read are marked ``weak``
(they count for nothing on their own):

- a code read on one frame while another is read on ``strong_min_frames`` or more;
- a likely misread: a code within ``NEAR_EDITS`` edits of a code read at least
  ``MISREAD_RATIO`` times as often. A Code 128 misread that passes the check
  symbol (mod 103) has at least two wrong symbols, so it differs from the
  printed text in 2-4 characters (a symbol of code set C is two digits);
  dense reading of one label meets a few (devset and fixtures: 1 misread in
  20-40 reads of a thin-moduled label, 3-4 characters off).

``verdict(expected, codes)`` compares them with the return's tracking number:

- pass   ``waybill_match``        the expected number was read (on any frame:
                                   a Code 128 / QR checksum makes a chance read of
                                   exactly that number implausible)
- review ``waybill_embedded``     a code holds the expected number inside longer
                                   text (a URL, a JD package suffix): not exact
- review ``waybill_near_match``   a number within ``NEAR_EDITS`` edits of the
                                   expected one was read, never the number itself:
                                   a misread of it, or a neighbouring waybill
- fail   ``waybill_mismatch``     another number in a known carrier's format
                                   was read clearly (not weak, on at least
                                   ``fail_min_frames`` frames; its misreads
                                   count with it) and the expected number never was
- review ``waybill_ambiguous``    two or more such other numbers, none expected
- review ``waybill_not_matched``  codes were read, but none of the above (a code
                                   in no known carrier format never fails: it may
                                   be an order or product code)
- review ``waybill_unreadable``   nothing decoded, but 1-D code regions were seen
                                   on many whole-frame reads
- review ``waybill_not_found``    nothing decoded
- review ``waybill_no_expected``  no tracking number was given

Reason codes are stable; ``REASONS`` holds an English and a Simplified Chinese
message template for each.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from validator.models import Reason, Verdict
from validator.reasons import reason, shipped
from validator.waybill.carriers import identify, normalise
from validator.waybill.reader import CodeRead, Scan

if TYPE_CHECKING:
    from validator.policy import Policy

__all__ = [
    "NEAR_EDITS",
    "VERDICT_OF",
    "CodeSummary",
    "WaybillTracker",
    "make_reason",
    "near",
    "verdict",
    "verdict_from_metrics",
]

# "Nothing decoded but regions seen" needs regions on this share of sampled frames
# (and on 3 frames at least): the reader left an undecoded 1-D region on 4 of 44
# code-free photos (zxing-cpp falsepositives-1/2 at 1280 px), about 9 %.
_UNREAD_MIN_FRACTION = 0.2
_UNREAD_MIN_FRAMES = 3

# Reads of one code at most this far apart are one span in view: two sample
# periods at the default 3 Hz, so one missed read does not split a span.
SPAN_GAP_S = 0.7
MAX_SPANS = 100  # per code: bounded state on absurd inputs
MAX_PAIRS = 100  # codes read together, over the whole video: bounded likewise

# Two texts this many edits apart or fewer may be one printed number misread:
# a wrong read that passes Code 128's mod-103 check has >= 2 wrong symbols, and
# two symbols of code set C are up to 4 digits (measured misreads: 3-4 characters
# off, e.g. SF1094567820123 for SF1234567890123). Different waybills of one
# carrier differ in about 11 of 13 random digits; only numbers issued one after
# another come this close, and those never decide a fail (waybill_near_match).
NEAR_EDITS = 4
# A code read at most half as often as a near one is taken for its misread
# (measured: 1 misread against 20-40 reads of the printed number).
MISREAD_RATIO = 2
_NEAR_MIN_LEN = 8  # shorter texts are no waybill numbers; 4 edits would join anything

# The messages live in the one reason catalogue (validator/data/reasons.json).
# The waybill's reason codes and their verdicts: from the one reason catalogue
# (validator/data/reasons.json), like every other requirement's.
VERDICT_OF: dict[str, Verdict] = {
    code: cast("Verdict", e["verdict"])
    for code, e in shipped().items()
    if code.startswith("waybill_")
}


@dataclass(frozen=True, slots=True)
class CodeSummary:
    """One distinct code (by normalised text) over the whole video."""

    text: str
    raw: str
    format: str
    first_t_s: float
    last_t_s: float
    best_t_s: float
    frames: int
    weak: bool = False
    carriers: tuple[str, ...] = ()
    misread_of: str = ""  # the code this one is likely a misread of ("" if none)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "raw": self.raw,
            "format": self.format,
            "first_t_s": round(self.first_t_s, 3),
            "last_t_s": round(self.last_t_s, 3),
            "best_t_s": round(self.best_t_s, 3),
            "frames": self.frames,
            "weak": self.weak,
            "carriers": list(self.carriers),
            "misread_of": self.misread_of,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CodeSummary:
        text = str(d["text"])
        first = float(d.get("first_t_s", 0.0))
        return cls(
            text=text,
            raw=str(d.get("raw", text)),
            format=str(d.get("format", "")),
            first_t_s=first,
            last_t_s=float(d.get("last_t_s", first)),
            best_t_s=float(d.get("best_t_s", first)),
            frames=int(d.get("frames", 1)),
            weak=bool(d.get("weak", False)),
            carriers=tuple(d.get("carriers", ())),
            misread_of=str(d.get("misread_of", "")),
        )


@dataclass
class _Acc:
    raw: str
    first_t_s: float
    last_t_s: float
    best_t_s: float
    best_area: float
    frames: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    spans: list[list[float]] = field(default_factory=list)  # [first, last] read runs


@lru_cache(maxsize=4096)  # bounded: a service checks many videos in one process
def near(a: str, b: str) -> bool:
    """Whether two different normalised texts are within ``NEAR_EDITS`` edits (Levenshtein)."""
    if a == b or min(len(a), len(b)) < _NEAR_MIN_LEN or abs(len(a) - len(b)) > NEAR_EDITS:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > NEAR_EDITS:  # the distance only grows from here
            return False
        prev = cur
    return prev[-1] <= NEAR_EDITS


class WaybillTracker:
    """Collects ``(t_s, reads)`` per read frame; ``codes()`` sums them up."""

    def __init__(self, *, weak_max_frames: int = 1, strong_min_frames: int = 3) -> None:
        self.weak_max_frames = weak_max_frames
        self.strong_min_frames = strong_min_frames
        self.sampled_frames = 0  # frames read in any way
        self.whole_frames = 0  # of which read whole (they alone count undecoded regions)
        self.unread_frames = 0  # whole-frame reads with a 1-D region that did not decode
        self._acc: dict[str, _Acc] = {}
        self._together: set[tuple[str, str]] = set()  # codes read on one frame: one label

    def add(
        self,
        t_s: float,
        reads: Iterable[CodeRead],
        *,
        unread_regions: int = 0,
        whole: bool = True,
    ) -> None:
        """Record one read frame (call it for frames with no reads too).

        ``whole`` says the whole frame was read (not only regions of it):
        ``unread_regions`` then counts towards ``waybill_unreadable``.
        """
        self.sampled_frames += 1
        if whole:
            self.whole_frames += 1
            if unread_regions:
                self.unread_frames += 1
        per_text: dict[str, list[CodeRead]] = {}
        for r in reads:
            key = normalise(r.text)
            if key:
                per_text.setdefault(key, []).append(r)
        keys = sorted(per_text)
        for i, a in enumerate(keys):  # a label may carry several codes (number, order id)
            for b in keys[i + 1 :]:
                if len(self._together) < MAX_PAIRS:
                    self._together.add((a, b))
        # a label often prints its number twice: count each text once per frame
        for key, rs in per_text.items():
            area = max(r.area() for r in rs)
            acc = self._acc.get(key)
            if acc is None:
                acc = self._acc[key] = _Acc(rs[0].text, t_s, t_s, t_s, area)
            acc.frames += 1
            if acc.spans and t_s - acc.spans[-1][1] <= SPAN_GAP_S:
                acc.spans[-1][1] = max(acc.spans[-1][1], t_s)
            elif len(acc.spans) < MAX_SPANS:
                acc.spans.append([t_s, t_s])
            acc.last_t_s = max(acc.last_t_s, t_s)
            acc.first_t_s = min(acc.first_t_s, t_s)
            if area > acc.best_area:
                acc.best_area, acc.best_t_s = area, t_s
            acc.formats.update(r.format for r in rs)

    def add_scan(self, t_s: float, scan: Scan) -> None:
        """Record one sampled frame's ``reader.scan`` result."""
        self.add(t_s, scan.codes, unread_regions=scan.unread_regions)

    def spans(self) -> dict[str, list[list[float]]]:
        """When each code was in view: runs of reads no more than ``SPAN_GAP_S`` apart."""
        return {
            k: [[round(a, 3), round(b, 3)] for a, b in acc.spans] for k, acc in self._acc.items()
        }

    def read_together(self) -> list[list[str]]:
        """Pairs of codes read on one frame (sorted): parts of one label, or one face."""
        return [list(p) for p in sorted(self._together)]

    def codes(self) -> list[CodeSummary]:
        """Distinct codes, most frames first; rare reads and likely misreads marked weak."""
        out = []
        for key, a in self._acc.items():
            others = max((b.frames for k, b in self._acc.items() if k != key), default=0)
            source = max(
                (
                    k
                    for k, b in self._acc.items()
                    if b.frames >= MISREAD_RATIO * a.frames
                    and near(key, k)
                    and _overlap(a.spans, b.spans)
                ),
                key=lambda k: self._acc[k].frames,
                default="",
            )
            out.append(
                CodeSummary(
                    text=key,
                    raw=a.raw,
                    format=a.formats.most_common(1)[0][0],
                    first_t_s=a.first_t_s,
                    last_t_s=a.last_t_s,
                    best_t_s=a.best_t_s,
                    frames=a.frames,
                    weak=bool(source)
                    or (a.frames <= self.weak_max_frames and others >= self.strong_min_frames),
                    carriers=tuple(c.id for c in identify(key)),
                    misread_of=source,
                )
            )
        out.sort(key=lambda c: (-c.frames, c.first_t_s, c.text))
        return out


def _overlap(mine: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]]) -> bool:
    """Whether a code was read while the other was in view (within ``SPAN_GAP_S``).

    A misread happens while the printed label is in front of the camera: a near
    number read only while that label was not in view is another label (fixture
    ``two-labels``: YT... on face 3, SF... on face 1, same digits)."""
    return any(a <= d + SPAN_GAP_S and c <= b + SPAN_GAP_S for a, b in mine for c, d in theirs)


def _embeds(raw: str, expected: str) -> bool:
    """Whether ``raw`` holds ``expected`` as a token (bounded by non-alphanumerics)."""
    s = unicodedata.normalize("NFKC", raw).upper()
    return re.search(rf"(?<![0-9A-Z]){re.escape(expected)}(?![0-9A-Z])", s) is not None


def _as_summary(c: CodeSummary | Mapping[str, Any]) -> CodeSummary:
    return c if isinstance(c, CodeSummary) else CodeSummary.from_dict(c)


def _brief(c: CodeSummary) -> dict[str, Any]:
    return {
        "text": c.text,
        "frames": c.frames,
        "first_t_s": round(c.first_t_s, 3),
        "carriers": list(c.carriers),
    }


def _other(o: CodeSummary) -> dict[str, Any]:
    """The message fields of another number read (``waybill_mismatch``, ``_near_match``)."""
    return {
        "other": o.text,
        "other_frames": o.frames,
        "other_t_s": round(o.first_t_s, 1),
        "at_s": [o.first_t_s],
    }


def _groups(codes: Sequence[CodeSummary]) -> list[list[CodeSummary]]:
    """Codes joined when near each other (one printed number and its misreads), most read first."""
    groups: list[list[CodeSummary]] = []
    for c in sorted(codes, key=lambda c: (-c.frames, c.text)):
        home = [g for g in groups if any(near(c.text, o.text) for o in g)]
        if home:
            merged = [x for g in home for x in g] + [c]
            groups = [g for g in groups if g not in home] + [merged]
        else:
            groups.append([c])
    return [sorted(g, key=lambda c: (-c.frames, c.text)) for g in groups]


def verdict(
    expected: str | None,
    codes: Sequence[CodeSummary | Mapping[str, Any]],
    *,
    sampled_frames: int | None = None,
    unread_frames: int = 0,
    whole_frames: int | None = None,
    fail_min_frames: int,
) -> tuple[Verdict, str, dict[str, Any]]:
    """``(verdict, reason code, details)`` for the return's tracking number ``expected``.

    ``codes`` are ``CodeSummary`` objects or their dicts (the detector's
    ``WaybillMetrics.codes``). ``sampled_frames`` counts the frames read in any way,
    ``whole_frames`` those read whole (``unread_frames`` is out of these; it
    defaults to ``sampled_frames``). ``details`` holds the message fields and
    ``at_s``. ``fail_min_frames`` is the policy's ``waybill.fail_min_frames``.
    """
    cs = [_as_summary(c) for c in codes]
    n = len(cs)
    sampled = sampled_frames if sampled_frames is not None else 0
    whole = whole_frames if whole_frames is not None else sampled
    exp = normalise(expected) if expected else ""
    base: dict[str, Any] = {"sampled_frames": sampled, "n_codes": n, "at_s": []}

    if not exp:
        base["codes"] = [_brief(c) for c in cs if not c.weak]
        return "review", "waybill_no_expected", base
    base["expected"] = exp
    base["expected_carriers"] = [c.id for c in identify(exp)]

    matches = [c for c in cs if c.text == exp]
    if matches:
        m = max(matches, key=lambda c: c.frames)
        others = [_brief(c) for c in cs if c.text != exp and not c.weak]
        return (
            "pass",
            "waybill_match",
            base
            | {
                "frames": m.frames,
                "first_t_s": round(m.first_t_s, 1),
                "best_t_s": round(m.best_t_s, 3),
                "format": m.format,
                "others": others,
                "at_s": [m.first_t_s],
            },
        )

    embedded = [c for c in cs if _embeds(c.raw, exp)]
    if embedded:
        e = max(embedded, key=lambda c: c.frames)
        return (
            "review",
            "waybill_embedded",
            base | {"raw": _short(e.raw, 80), "frames": e.frames, "at_s": [e.first_t_s]},
        )

    # Never a fail on a number that may be the expected one misread, however often.
    close = [c for c in cs if near(c.text, exp)]
    if close:
        return "review", "waybill_near_match", base | _other(max(close, key=lambda c: c.frames))

    # A printed number and its misreads are one group; a group counts when its
    # most read member is clear: in a carrier's format, not weak, read often enough.
    clear = [
        g for g in _groups(cs) if g[0].carriers and not g[0].weak and g[0].frames >= fail_min_frames
    ]
    if len(clear) == 1:
        o = clear[0][0]
        return "fail", "waybill_mismatch", base | _other(o) | {"other_carriers": list(o.carriers)}
    if len(clear) > 1:
        heads = [g[0] for g in clear]
        return (
            "review",
            "waybill_ambiguous",
            base
            | {
                "others": ", ".join(c.text for c in heads),
                "codes": [_brief(c) for c in heads],
                "at_s": sorted(c.first_t_s for c in heads),
            },
        )
    if cs:
        return (
            "review",
            "waybill_not_matched",
            base
            | {
                "others": ", ".join(_short(c.text) for c in cs[:5]),
                "codes": [_brief(c) for c in cs],
                "at_s": sorted(c.first_t_s for c in cs)[:5],
            },
        )
    if unread_frames >= max(_UNREAD_MIN_FRAMES, math.ceil(_UNREAD_MIN_FRACTION * whole)):
        return (
            "review",
            "waybill_unreadable",
            base | {"unread_frames": unread_frames, "sampled_frames": whole},
        )
    return "review", "waybill_not_found", base | {"unread_frames": unread_frames}


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def verdict_from_metrics(
    expected: str | None, metrics: Mapping[str, Any], policy: Policy
) -> tuple[Verdict, str, dict[str, Any]]:
    """``verdict`` on the waybill metrics as a dict (``WaybillMetrics.to_dict()``, or read
    back from JSON), thresholds from ``policy``."""
    sampled = int(metrics.get("sampled_frames", 0))
    return verdict(
        expected,
        metrics.get("codes", []),
        sampled_frames=sampled,
        unread_frames=int(metrics.get("unread_frames", 0)),
        whole_frames=int(metrics.get("whole_frames", sampled)),
        fail_min_frames=policy.waybill.fail_min_frames,
    )


def make_reason(result: tuple[Verdict, str, Mapping[str, Any]]) -> Reason:
    """A ``validator.models.Reason`` for a ``verdict(...)`` result."""
    v, code, details = result
    fields = {
        k: (f"{x:.1f}" if isinstance(x, float) else x) for k, x in details.items() if k != "at_s"
    }
    made = reason(code, tuple(float(t) for t in details.get("at_s", ())), **fields)
    if made.verdict != v:
        raise ValueError(f"{code} is a {made.verdict} in the catalogue, not a {v}")
    return made
