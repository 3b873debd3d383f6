"""Policy profiles: every threshold the verdicts use, read from a data file.

The settings are declared once here, as the fields of one frozen dataclass per
section (name with its unit, type, help in the field's metadata); their values and
the source of each value live in ``validator/policies/<name>.toml`` under the
dotted key ``"section.field"``. A user passes ``--policy NAME`` for a shipped
profile or ``--policy path/to/file.toml``. Code reads a threshold as an attribute
(``policy.completeness.min_faces``), so a type checker sees every use.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

from validator.errors import ConfigError

DEFAULT_POLICY = "taobao"


@dataclass(frozen=True, slots=True)
class Completeness:
    """完整性: one continuous take, of a sane length, showing the parcel before opening."""

    min_duration_s: float = field(metadata={"help": "Shorter videos fail completeness."})
    max_duration_s: float = field(metadata={"help": "Longer videos need review."})
    max_gap_s: float = field(metadata={"help": "A video or audio timestamp gap over this fails."})
    max_freeze_s: float = field(metadata={"help": "A freeze that hides time over this fails."})
    max_black_s: float = field(metadata={"help": "Black or covered lens over this needs review."})
    cut_score: float = field(metadata={"help": "Cut detector score at which a cut is reported."})
    min_faces: int = field(metadata={"help": "Fewer parcel faces shown before opening fail."})
    min_face_hold_s: float = field(metadata={"help": "A face must be held this long to count."})


@dataclass(frozen=True, slots=True)
class Validity:
    """有效性: the picture is large, lit, sharp and steady enough to read print."""

    min_short_side_px: int = field(metadata={"help": "Short side under this fails validity."})
    review_short_side_px: int = field(metadata={"help": "Short side under this needs review."})
    dark_luma: float = field(metadata={"help": "Seconds with mean luma under this are too dark."})
    bright_luma: float = field(
        metadata={"help": "Seconds with mean luma over this are over-exposed."}
    )
    max_blur_pct: float = field(
        metadata={
            "help": "Seconds whose edge spread (% of the long side) exceeds this are blurred."
        }
    )
    fail_fraction: float = field(metadata={"help": "Unreadable share of the video that fails."})
    review_fraction: float = field(
        metadata={"help": "Unreadable share of the video that needs review."}
    )
    shake_px: float = field(
        metadata={"help": "Median motion per frame (320 px) above this is shaky."}
    )


@dataclass(frozen=True, slots=True)
class Timeliness:
    """时效性: the recording starts close enough to the return's sign-for time."""

    max_before_signed_s: float = field(metadata={"help": "Recording may start this early."})
    pass_after_signed_s: float = field(metadata={"help": "Recording start within this passes."})
    review_after_signed_s: float = field(
        metadata={"help": "Within this needs review; later fails."}
    )


@dataclass(frozen=True, slots=True)
class Waybill:
    """一致性: how the barcode is sampled, and how sure another waybill must be to fail."""

    sample_hz: float = field(
        metadata={"help": "Barcode reads a second of video (plus reads on a change)."}
    )
    change_luma: float = field(
        metadata={"help": "Thumbnail luma change that triggers an extra read."}
    )
    fail_min_frames: int = field(
        metadata={"help": "Frames another waybill must be read on to fail."}
    )


@dataclass(frozen=True, slots=True)
class Decode:
    """The decode time budget (past it the check stops with ``analysis_timeout``)."""

    max_seconds_per_media_second: float = field(
        metadata={"help": "Decode time budget per media second."}
    )
    min_seconds_budget: float = field(metadata={"help": "Minimum decode time budget."})


@dataclass(frozen=True, slots=True)
class Media:
    """Limits past which a file is rejected as absurd before it is decoded."""

    max_duration_s: float = field(metadata={"help": "Longer files are rejected as absurd."})
    max_pixels: int = field(metadata={"help": "Larger frames are rejected as absurd."})
    max_decoded_pixels: int = field(
        metadata={
            "help": "Pixels a check may decode (width x height x frames, from the probe); "
            "past it the file is rejected as absurd before the analysis decodes it."
        }
    )
    max_pixels_per_byte: float = field(
        metadata={
            "help": "Decoded pixels per byte of the file; past it the file is rejected as "
            "absurd (a header that claims more pictures than its bytes can hold: a decode bomb)."
        }
    )


@dataclass(frozen=True)
class Policy:
    """A validated profile: ``policy.validity.dark_luma`` gives a threshold.

    ``sources`` holds each value's source by dotted key (``"validity.dark_luma"``),
    ``digest`` the sha256 of the profile file's bytes (the report cites it).
    """

    name: str
    version: str
    completeness: Completeness
    validity: Validity
    timeliness: Timeliness
    waybill: Waybill
    decode: Decode
    media: Media
    sources: dict[str, str] = field(default_factory=dict)
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.digest}


@dataclass(frozen=True, slots=True)
class Threshold:
    """One threshold as a profile file and the docs name it: ``section.key``, read from
    the section dataclass's field (its type, and the help in its metadata)."""

    section: str
    key: str
    type: type
    help: str

    @property
    def name(self) -> str:
        """The dotted key of the profile file (``"completeness.min_faces"``)."""
        return f"{self.section}.{self.key}"

    def value_in(self, policy: Policy) -> Any:
        """This setting's value in ``policy``: for code that walks every setting (the
        docs, the tests); code that uses one threshold reads its attribute."""
        return getattr(getattr(policy, self.section), self.key)


def _sections() -> dict[str, type]:
    """Policy's fields that are sections (dataclasses), by name, in declaration order."""
    hints = get_type_hints(Policy)
    return {f.name: hints[f.name] for f in fields(Policy) if is_dataclass(hints[f.name])}


SECTIONS: dict[str, type] = _sections()
THRESHOLDS: tuple[Threshold, ...] = tuple(
    Threshold(section, f.name, get_type_hints(cls)[f.name], f.metadata["help"])
    for section, cls in SECTIONS.items()
    for f in fields(cls)
)
THRESHOLDS_BY_NAME = {s.name: s for s in THRESHOLDS}


def _parse(text: bytes, origin: str) -> Policy:
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"policy {origin} is not valid TOML: {e}. Fix the file's syntax.") from e
    for key in ("name", "version", "thresholds"):
        if key not in data:
            raise ConfigError(
                f"policy {origin} has no {key!r}; copy validator/policies/taobao.toml"
            )
    raw = data["thresholds"]
    unknown = sorted(set(raw) - set(THRESHOLDS_BY_NAME))
    if unknown:
        raise ConfigError(
            f"policy {origin} has unknown thresholds {unknown}; "
            f"known: {sorted(THRESHOLDS_BY_NAME)}",
            details={"unknown": unknown},
        )
    missing = sorted(set(THRESHOLDS_BY_NAME) - set(raw))
    if missing:
        raise ConfigError(
            f"policy {origin} lacks thresholds {missing}; copy them from taobao.toml",
            details={"missing": missing},
        )
    # Each section's values by field name, filled in the file's order (so an error names
    # the first bad entry as before), then built into its dataclass.
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    sources: dict[str, str] = {}
    for name, entry in raw.items():
        setting = THRESHOLDS_BY_NAME[name]
        if not isinstance(entry, dict) or "value" not in entry or "source" not in entry:
            raise ConfigError(f"policy {origin}: {name} must be {{ value = ..., source = '...' }}")
        value = entry["value"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"policy {origin}: {name} must be a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"policy {origin}: {name} must not be negative, got {value!r}")
        values[setting.section][setting.key] = setting.type(value)
        sources[name] = str(entry["source"])
    return Policy(
        name=str(data["name"]),
        version=str(data["version"]),
        **{section: cls(**values[section]) for section, cls in SECTIONS.items()},
        sources=sources,
        digest=hashlib.sha256(text).hexdigest(),
    )


def load_policy(spec: str | Path | None = None) -> Policy:
    """Load a shipped profile by name, or a profile file by path."""
    spec = DEFAULT_POLICY if spec is None else spec
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read policy file {path}: {e.strerror}") from e
        return _parse(text, str(path))
    res = resources.files("validator.policies").joinpath(f"{spec}.toml")
    if not res.is_file():
        shipped = sorted(
            p.name.removesuffix(".toml")
            for p in resources.files("validator.policies").iterdir()
            if p.name.endswith(".toml")
        )
        raise ConfigError(f"no policy named {spec!r}; shipped: {shipped}, or pass a .toml path")
    return _parse(res.read_bytes(), f"{spec}.toml")
