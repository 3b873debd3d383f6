"""The report's shape, defined once: pydantic models from which its JSON Schema and the
API's OpenAPI components are generated (``report_schema()``, ``openapi_components()``).

``build_report`` (and ``check_case``, which adds the thumbnails and the prediction)
produce the JSON document; ``validate_report`` checks it against these models before
anything is written or served, so a field the code adds, renames or drops without
changing the model is a test failure, never a schema that says something else.
Models forbid unknown keys for the same reason; the open objects (an event's
``details``, a prediction) say so.

``schemas/report.schema.json`` is the generated schema for readers; a test keeps it equal
to ``report_schema()``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from validator.errors import ValidatorError
from validator.models import Verdict

SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://github.com/appeal-evidence-validator/schemas/report-1.0.json"

Seconds = Annotated[float, Field(description="seconds from the first displayed frame")]
Thumbnail = Annotated[
    str | None,
    Field(
        description="relative path (from report.json's folder) of a JPEG thumbnail; null "
        "without an output folder"
    ),
]


class _Model(BaseModel):
    # Unknown keys are an error: the report may not carry what its schema does not say.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(_Model):
    """Why a requirement got its verdict: a stable code, two languages, the times."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="stable reason code")
    verdict: Verdict
    message_en: str = Field(min_length=1)
    message_zh: str = Field(min_length=1)
    at_s: list[float | None] = Field(description="the times (s) that prove it")


class Requirement(_Model):
    verdict: Verdict
    reasons: list[Reason] = Field(min_length=1)


class Requirements(_Model):
    consistency: Requirement
    completeness: Requirement
    validity: Requirement
    timeliness: Requirement


class Tool(_Model):
    name: str
    version: str


class CreationTime(_Model):
    """One creation time found in the file, and whether the verdict trusted it."""

    source: str = Field(description="where it was read, e.g. format:creation_time")
    raw: str
    value: str | None = Field(description="ISO 8601 with the offset as written")
    utc: str | None = Field(description="ISO 8601 UTC")
    why: str | None = Field(default=None, description="why it was ranked as it was")


class Media(_Model):
    duration_s: float = Field(gt=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    fps: float = Field(ge=0, description="measured frame rate (nominal when not measured)")
    fps_nominal: float | None
    vfr: bool
    rotation: Literal[0, 90, 180, 270]
    codec: str | None
    pix_fmt: str | None
    has_audio: bool
    recorded_at: str | None = Field(description="the trusted recording start, ISO 8601 UTC")
    recorded_at_source: str | None = Field(description="which tag it came from")
    recorded_at_why: str | None = Field(description="why that time was (or was not) trusted")
    creation_times: list[CreationTime]


class Event(_Model):
    """Something a detector found at a time in the video."""

    kind: str = Field(
        description="an event kind; report_schema() fills in the enum of the declared "
        "kinds (docs/reasons.md lists them)"
    )
    t_s: Seconds
    length_s: float | None = Field(default=None, ge=0)
    score: float | None = None
    detector: str | None = None
    details: dict[str, Any] | None = Field(default=None, description="detector-specific facts")
    thumbnail: Thumbnail = None

    @field_validator("kind")
    @classmethod
    def _declared(cls, kind: str) -> str:
        from validator.detectors import event_kinds

        if kind not in event_kinds():
            raise ValueError(f"{kind!r} is not a declared event kind")
        return kind


class File(_Model):
    name: str
    size_bytes: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Provenance(_Model):
    """An editing-software signature found in the tags or boxes."""

    signature_id: str
    software: str
    meaning: str
    evidence: str
    source: str


class QualitySecond(_Model):
    t_s: int
    luma: float = Field(description="mean luma 0-255")
    blur_pct: float | None = Field(
        description="edge spread of the sharpest step edges, % of the long side; null where "
        "the picture has no edges to judge"
    )
    overexposed: float = Field(ge=0, le=1, description="share of clipped pixels")


class Quality(_Model):
    """Per-second profile of light and focus, and their medians (detectors/quality.py)."""

    seconds: int = Field(ge=0)
    seconds_focus_known: int = Field(ge=0)
    median_luma: float | None
    median_blur_pct: float | None
    profile: list[QualitySecond]


class MotionSecond(_Model):
    t_s: int
    motion_px: float | None


class Motion(_Model):
    """The cut detector's motion: max cut score, median camera motion, per second."""

    max_score: float
    candidates_verified: int = Field(ge=0)
    transitions_verified: int = Field(ge=0)
    median_motion_px: float | None
    motion_profile: list[MotionSecond]


class WaybillCode(_Model):
    text: str
    format: str
    first_t_s: float
    frames: int = Field(ge=1)
    best_t_s: float | None = None
    carriers: list[str] | None = None


class Waybill(_Model):
    expected: str | None = Field(description="the return tracking number given")
    codes: list[WaybillCode]
    match: bool | None = Field(
        description="true: expected number read; false: another waybill read clearly; "
        "null: cannot tell"
    )
    checked: bool = Field(description="false: the waybill detector did not run")
    sampled_frames: int | None = Field(default=None, ge=0)
    thumbnail: Thumbnail = None


class FaceShown(_Model):
    face: int = Field(ge=1, description="1-based index in the order first shown")
    t_s: float = Field(description="middle of the face's first steady hold")
    held_s: float | None = Field(ge=0)
    thumbnail: Thumbnail = None


class Faces(_Model):
    """Distinct parcel faces held to the camera before the opening (detectors/faces.py)."""

    count: int = Field(ge=0)
    shown: list[FaceShown]
    checked: bool = Field(description="false: the faces detector did not run")


class Opening(_Model):
    opened_at_s: float | None
    seen_at_s: float | None = Field(description="when the inside was first seen")
    starts_open: bool
    thumbnail: Thumbnail = None


class Facts(_Model):
    """The case facts the verdicts used (``--tracking-number``, ``--signed-at``, ...)."""

    tracking_number: str | None
    return_signed_at: str | None
    submitted_at: str | None
    evidence_deadline: str | None


class Policy(_Model):
    name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Analysis(_Model):
    """What the check cost: frames, decode and detector seconds."""

    frames: int = Field(ge=0)
    decode_errors: int = Field(ge=0)
    decode_s: float = Field(ge=0)
    total_s: float = Field(ge=0)
    detectors: list[str]
    detector_s: dict[str, float]
    thumbnails_s: float | None = Field(default=None, ge=0)


class Thumbnails(_Model):
    """The evidence pictures written beside report.json."""

    dir: str
    contact_sheet: Thumbnail
    files: list[str]


class WitnessGap(_Model):
    """A pause in the chunks' arrival longer than twice the chunk interval."""

    after_seq: int = Field(ge=0, description="the chunk that arrived last before the pause")
    from_: str = Field(alias="from", description="ISO 8601 UTC, server clock")
    to: str = Field(description="ISO 8601 UTC, server clock")
    length_s: float = Field(ge=0)


class WitnessChunk(_Model):
    seq: int = Field(ge=0)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    received_at: str = Field(description="ISO 8601 UTC, server clock")


class WitnessSignature(_Model):
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="the raw 32-byte public key, base64")
    key_id: str = Field(description="the first 16 hex digits of the public key's SHA-256")
    value: str = Field(
        description="the signature (base64) of the record's canonical JSON "
        "without this field: keys sorted, no spaces, UTF-8"
    )


class Witness(_Model):
    """The service's signed record of a recording it received chunk by chunk
    (``validator.witness``; ``appeal-validator verify VIDEO REPORT`` checks it)."""

    model_config = ConfigDict(populate_by_name=True)

    version: Literal["1"]
    recording_id: str
    created_at: str = Field(description="the session's creation, ISO 8601 UTC, server clock")
    first_chunk_at: str = Field(description="ISO 8601 UTC, server clock")
    last_chunk_at: str = Field(description="ISO 8601 UTC, server clock")
    chunk_count: int = Field(ge=1)
    chunk_interval_s: float = Field(gt=0)
    longest_gap_s: float | None = Field(description="the longest pause listed in gaps")
    gaps: list[WitnessGap]
    chunks: list[WitnessChunk] = Field(min_length=1)
    chain_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 chain over the chunks' hashes in order, seeded by the recording id",
    )
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_size_bytes: int = Field(ge=0)
    signature: WitnessSignature


class Report(_Model):
    """One checked video: the four verdicts, the events that prove them, the facts."""

    model_config = ConfigDict(
        title="appeal-evidence-validator check report",
        json_schema_extra={
            "$id": SCHEMA_ID,
            "description": "One checked video, as in report.json's videos[] and the API's "
            "report. schema_version follows semver: additive changes bump the minor version.",
        },
    )

    schema_version: Literal["1.0"]
    tool: Tool
    verdict: Verdict = Field(
        description="fail if any requirement fails, else review if any is review, else pass"
    )
    requirements: Requirements
    media: Media
    events: list[Event]
    file: File
    provenance: list[Provenance]
    quality: Quality | None = Field(description="null: the quality detector did not run")
    motion: Motion | None = Field(description="null: the cut detector did not run")
    waybill: Waybill
    faces: Faces
    opened_at_s: float | None = Field(description="when the parcel was opened; null: not seen")
    starts_open: bool = Field(description="the parcel already looked open when the video started")
    opening: Opening
    facts: Facts
    policy: Policy
    analysis: Analysis
    thumbnails: Thumbnails | None = Field(default=None, description="written with --out")
    prediction: dict[str, Any] | None = Field(
        default=None,
        description="the predicted appeal outcome when a case was given (docs/predict.md); "
        "the API's report carries it",
    )
    witness: Witness | None = Field(
        default=None,
        description="present when the video was recorded through the service's record "
        "page: the signed witness record of its chunks",
    )


class Unreadable(_Model):
    """A video of the case that could not be checked, and why."""

    model_config = ConfigDict(extra="allow")  # the error's details vary by error code

    video: str
    code: str
    message: str


class CaseReport(_Model):
    """``report.json`` as ``check --out`` and ``batch`` write it: a case's videos."""

    model_config = ConfigDict(title="appeal-evidence-validator case report")

    verdict: Verdict | None
    status: str
    videos: list[Report]
    unreadable: list[Unreadable]
    prediction: dict[str, Any] | None = None


class ReportInvalid(ValidatorError):
    """The report the code built does not match its model: a bug, never the input's fault."""


def _validate(model: type[_Model], data: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        model.model_validate(data)
    except ValidationError as e:
        raise ReportInvalid(f"the {what} does not match its schema: {e}") from e
    return data


def validate_report(data: dict[str, Any]) -> dict[str, Any]:
    """Check one video's report against the model; returns it unchanged."""
    return _validate(Report, data, "report")


def validate_case_report(data: dict[str, Any]) -> dict[str, Any]:
    """Check a case's ``report.json`` against the model; returns it unchanged."""
    return _validate(CaseReport, data, "case report")


def _with_kinds(doc: dict[str, Any]) -> dict[str, Any]:
    from validator.detectors import event_kinds

    event = doc["$defs"]["Event"]["properties"]["kind"]
    event["enum"] = list(event_kinds())
    return doc


def report_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one video's report, with the declared event kinds."""
    doc = Report.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **_with_kinds(doc)}


def openapi_components() -> dict[str, Any]:
    """The report's models as OpenAPI 3.1 ``components.schemas`` entries (``Report``
    and the models it uses), references pointing into ``#/components/schemas``."""
    doc = Report.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = doc.pop("$defs")
    doc.pop("$id", None)
    _with_kinds({"$defs": defs})
    return {**defs, "Report": doc}


if __name__ == "__main__":  # python -m validator.report.model > schemas/report.schema.json
    import json

    print(json.dumps(report_schema(), ensure_ascii=False, indent=2))
