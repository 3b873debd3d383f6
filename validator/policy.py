"""Policy profiles: every threshold the verdicts use, read from a data file.

The settings are declared once here (name, type, help); their values and the
source of each value live in ``validator/policies/<name>.toml``. A user passes
``--policy NAME`` for a shipped profile or ``--policy path/to/file.toml``.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from validator.errors import ConfigError

DEFAULT_POLICY = "taobao"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: type
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("completeness.min_duration_s", float, "Shorter videos fail completeness."),
    Setting("completeness.max_duration_s", float, "Longer videos need review."),
    Setting("completeness.max_gap_s", float, "A video or audio timestamp gap over this fails."),
    Setting("completeness.max_freeze_s", float, "A freeze that hides time over this fails."),
    Setting("completeness.max_black_s", float, "Black or covered lens over this needs review."),
    Setting("completeness.cut_score", float, "Cut detector score at which a cut is reported."),
    Setting("completeness.min_faces", int, "Fewer parcel faces shown before opening fail."),
    Setting("completeness.min_face_hold_s", float, "A face must be held this long to count."),
    Setting("validity.min_short_side_px", int, "Short side under this fails validity."),
    Setting("validity.review_short_side_px", int, "Short side under this needs review."),
    Setting("validity.dark_luma", float, "Seconds with mean luma under this are too dark."),
    Setting("validity.bright_luma", float, "Seconds with mean luma over this are over-exposed."),
    Setting(
        "validity.max_blur_pct",
        float,
        "Seconds whose edge spread (% of the long side) exceeds this are blurred.",
    ),
    Setting("validity.fail_fraction", float, "Unreadable share of the video that fails."),
    Setting("validity.review_fraction", float, "Unreadable share of the video that needs review."),
    Setting("validity.shake_px", float, "Median motion per frame (320 px) above this is shaky."),
    Setting("timeliness.max_before_signed_s", float, "Recording may start this early."),
    Setting("timeliness.pass_after_signed_s", float, "Recording start within this passes."),
    Setting("timeliness.review_after_signed_s", float, "Within this needs review; later fails."),
    Setting(
        "waybill.sample_hz", float, "Barcode reads a second of video (plus reads on a change)."
    ),
    Setting("waybill.change_luma", float, "Thumbnail luma change that triggers an extra read."),
    Setting("waybill.fail_min_frames", int, "Frames another waybill must be read on to fail."),
    Setting("decode.max_seconds_per_media_second", float, "Decode time budget per media second."),
    Setting("decode.min_seconds_budget", float, "Minimum decode time budget."),
    Setting("media.max_duration_s", float, "Longer files are rejected as absurd."),
    Setting("media.max_pixels", int, "Larger frames are rejected as absurd."),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Policy:
    """A validated profile: ``policy["validity.dark_luma"]`` gives a threshold."""

    name: str
    version: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    digest: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.digest}


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
    unknown = sorted(set(raw) - set(SETTINGS_BY_NAME))
    if unknown:
        raise ConfigError(
            f"policy {origin} has unknown thresholds {unknown}; known: {sorted(SETTINGS_BY_NAME)}",
            details={"unknown": unknown},
        )
    missing = sorted(set(SETTINGS_BY_NAME) - set(raw))
    if missing:
        raise ConfigError(
            f"policy {origin} lacks thresholds {missing}; copy them from taobao.toml",
            details={"missing": missing},
        )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, entry in raw.items():
        setting = SETTINGS_BY_NAME[name]
        if not isinstance(entry, dict) or "value" not in entry or "source" not in entry:
            raise ConfigError(f"policy {origin}: {name} must be {{ value = ..., source = '...' }}")
        value = entry["value"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"policy {origin}: {name} must be a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"policy {origin}: {name} must not be negative, got {value!r}")
        values[name] = setting.type(value)
        sources[name] = str(entry["source"])
    return Policy(
        name=str(data["name"]),
        version=str(data["version"]),
        values=values,
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
