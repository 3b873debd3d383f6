"""Who wrote this file: editing-software signatures in tags and boxes.

``detect_provenance(tags, boxes)`` matches the signatures listed in
``validator/data/editing_signatures.json`` (id, software, key regex, value regex,
meaning, source) against the tags and the findings of the box walker
(``validator.media.boxes.scan_boxes``: udta items, XMP properties, edit lists).

A plain phone recording gives no hit, and neither does a plain ffmpeg-made file
(``Lavf`` encoder, no phone tags): only ``Lavf`` on a file whose other tags say
a phone made it counts as a remux.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from validator.media.boxes import BoxInfo

MEANINGS: tuple[str, ...] = ("edited", "re-encoded", "remuxed")


@dataclass(frozen=True, slots=True)
class ProvenanceHit:
    """One signature that matched: which software, what it means, and the evidence."""

    signature_id: str
    software: str
    meaning: str
    evidence: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature_id": self.signature_id,
            "software": self.software,
            "meaning": self.meaning,
            "evidence": self.evidence,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class _Pattern:
    key: re.Pattern[str]
    value: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Signature:
    id: str
    software: str
    meaning: str
    source: str
    pattern: _Pattern | None = None
    check: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    requires_any: str | None = None
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class SignatureSet:
    signatures: tuple[Signature, ...]
    groups: Mapping[str, tuple[_Pattern, ...]]


_CHECKS = ("elst_multiple_edits", "elst_trim")


@lru_cache(maxsize=1)
def load_signatures() -> SignatureSet:
    """Read and validate ``validator/data/editing_signatures.json`` (cached)."""
    raw = json.loads(
        resources.files("validator.data").joinpath("editing_signatures.json").read_text("utf-8")
    )
    return parse_signatures(raw)


def parse_signatures(raw: Mapping[str, Any]) -> SignatureSet:
    """Build a ``SignatureSet`` from the JSON document; ValueError names a bad entry."""
    key_sets: dict[str, str] = dict(raw.get("key_sets", {}))

    def pattern(spec: Mapping[str, str], where: str) -> _Pattern:
        key = spec.get("key")
        if key is None and "keys" in spec:
            if spec["keys"] not in key_sets:
                raise ValueError(f"{where}: unknown key set {spec['keys']!r}")
            key = key_sets[spec["keys"]]
        if key is None or "value" not in spec:
            raise ValueError(f"{where}: a match needs 'key' (or 'keys') and 'value'")
        try:
            return _Pattern(re.compile(key), re.compile(spec["value"]))
        except re.error as e:
            raise ValueError(f"{where}: bad regex: {e}") from e

    groups = {
        name: tuple(pattern(p, f"group {name}") for p in pats)
        for name, pats in raw.get("groups", {}).items()
    }
    sigs: list[Signature] = []
    seen: set[str] = set()
    for entry in raw["signatures"]:
        sid = entry.get("id", "?")
        for k in ("id", "software", "meaning", "source"):
            if not entry.get(k):
                raise ValueError(f"signature {sid}: missing {k!r}")
        if sid in seen:
            raise ValueError(f"signature id {sid!r} twice")
        seen.add(sid)
        if entry["meaning"] not in MEANINGS:
            raise ValueError(f"signature {sid}: meaning must be one of {MEANINGS}")
        req = entry.get("requires_any")
        if req is not None and req not in groups:
            raise ValueError(f"signature {sid}: unknown group {req!r}")
        check = entry.get("check")
        if check is not None and check not in _CHECKS:
            raise ValueError(f"signature {sid}: unknown check {check!r}; known {_CHECKS}")
        if check is None and "match" not in entry:
            raise ValueError(f"signature {sid}: needs 'match' or 'check'")
        sigs.append(
            Signature(
                id=sid,
                software=entry["software"],
                meaning=entry["meaning"],
                source=entry["source"],
                pattern=None if check else pattern(entry["match"], f"signature {sid}"),
                check=check,
                params=dict(entry.get("params", {})),
                requires_any=req,
                fallback=bool(entry.get("fallback", False)),
            )
        )
    return SignatureSet(tuple(sigs), groups)


def detect_provenance(
    tags: Mapping[str, str],
    boxes: BoxInfo | None = None,
    signatures: SignatureSet | None = None,
) -> list[ProvenanceHit]:
    """Match the editing-software signatures against tags and box findings.

    ``tags`` are flat ``"format:encoder" -> "Lavf58.29.100"`` strings (as in
    ``MediaInfo.tags``); ``boxes`` adds udta items, XMP properties and edit
    lists. At most one hit per signature; a ``fallback`` signature (e.g. "some
    XMP CreatorTool") is dropped when a specific one matched the same key.
    """
    sigset = signatures or load_signatures()
    items: dict[str, str] = {str(k): str(v) for k, v in tags.items()}
    if boxes is not None:
        for k, v in boxes.evidence().items():
            items.setdefault(k, v)
    ordered = sorted(items.items())

    def first_match(p: _Pattern) -> tuple[str, str] | None:
        for k, v in ordered:
            if p.key.search(k) and p.value.search(v):
                return k, v
        return None

    group_hit: dict[str, tuple[str, str] | None] = {
        name: next((m for p in pats if (m := first_match(p))), None)
        for name, pats in sigset.groups.items()
    }

    hits: list[ProvenanceHit] = []
    used_keys: set[str] = set()
    deferred: list[tuple[Signature, str, str]] = []
    for sig in sigset.signatures:
        if sig.check is not None:
            if boxes is not None:
                ev = _run_check(sig, boxes)
                if ev:
                    hits.append(ProvenanceHit(sig.id, sig.software, sig.meaning, ev, sig.source))
            continue
        assert sig.pattern is not None
        m = first_match(sig.pattern)
        if m is None:
            continue
        evidence = f"{m[0]}={_short(m[1])}"
        if sig.requires_any is not None:
            why = group_hit.get(sig.requires_any)
            if why is None:
                continue
            evidence += f" on a file with {why[0]}={_short(why[1])}"
        if sig.fallback:
            deferred.append((sig, m[0], evidence))
            continue
        used_keys.add(m[0])
        hits.append(ProvenanceHit(sig.id, sig.software, sig.meaning, evidence, sig.source))
    for sig, key, evidence in deferred:
        if key not in used_keys:
            hits.append(ProvenanceHit(sig.id, sig.software, sig.meaning, evidence, sig.source))
    return hits


def _short(v: str, n: int = 120) -> str:
    return v if len(v) <= n else v[: n - 3] + "..."


def _run_check(sig: Signature, boxes: BoxInfo) -> str | None:
    av_tracks = [t for t in boxes.tracks if t.handler_type in ("vide", "soun")]
    if sig.check == "elst_multiple_edits":
        for t in av_tracks:
            real = [e for e in t.edits if e.media_time_s is not None]
            if len(real) > 1:
                parts = ", ".join(
                    f"{e.media_time_s:.3f}s+{e.segment_duration_s:.3f}s" for e in real[:6]
                )
                return (
                    f"track {t.track_id} ({t.handler_type}) edit list plays {len(real)} "
                    f"pieces of its media: {parts}"
                )
        return None
    if sig.check == "elst_trim":
        min_cut = float(sig.params.get("min_cut_s", 0.5))
        for t in av_tracks:
            real = [e for e in t.edits if e.media_time_s is not None]
            # several pieces are the other check's business; one piece may be trimmed
            if len(real) != 1 or math.isnan(real[0].segment_duration_s):
                continue
            start = real[0].media_time_s or 0.0
            if start > min_cut:
                return (
                    f"track {t.track_id} ({t.handler_type}) edit list starts {start:.3f} s "
                    f"into its media: the first {start:.3f} s are hidden"
                )
            media = t.media_duration_s
            shown = sum(e.segment_duration_s * (e.rate or 1.0) for e in real)
            # a zero segment duration means "the whole media" (fragmented files)
            whole = any(e.segment_duration_s == 0 for e in real)
            if media is not None and not whole and media - start - shown > min_cut:
                cut = media - start - shown
                return (
                    f"track {t.track_id} ({t.handler_type}) edit list stops {cut:.3f} s "
                    f"before its media ends ({shown:.3f} s of {media:.3f} s shown)"
                )
        return None
    return None
