"""Policy profiles: shipped defaults, user files, and clear errors."""

from __future__ import annotations

import pytest

from validator.errors import ConfigError
from validator.policy import THRESHOLDS, load_policy


def test_default_profile_has_every_setting_with_a_source():
    p = load_policy()
    assert p.name == "taobao"
    for s in THRESHOLDS:
        assert isinstance(s.value_in(p), s.type)
        assert len(p.sources[s.name]) > 10, f"{s.name} needs a source"


def test_brief_defaults():
    p = load_policy("taobao")
    assert p.completeness.max_gap_s == 0.5
    assert p.completeness.max_freeze_s == 1.0
    assert p.completeness.min_duration_s == 15
    assert p.completeness.max_duration_s == 30 * 60
    assert p.validity.min_short_side_px == 360
    assert p.timeliness.max_before_signed_s == 15 * 60
    assert p.timeliness.pass_after_signed_s == 72 * 3600
    assert p.timeliness.review_after_signed_s == 7 * 24 * 3600


def test_user_file_overrides(tmp_path):
    from importlib import resources

    text = resources.files("validator.policies").joinpath("taobao.toml").read_text("utf-8")
    text = text.replace('name = "taobao"', 'name = "strict"').replace(
        '"completeness.min_duration_s" = { value = 15.0',
        '"completeness.min_duration_s" = { value = 30.0',
    )
    f = tmp_path / "strict.toml"
    f.write_text(text, "utf-8")
    p = load_policy(f)
    assert (p.name, p.completeness.min_duration_s) == ("strict", 30.0)
    assert p.digest != load_policy().digest


def _shipped_with(old: str, new: str) -> str:
    """The shipped profile with ``completeness.min_duration_s``'s entry edited."""
    from importlib import resources

    text = resources.files("validator.policies").joinpath("taobao.toml").read_text("utf-8")
    key = '"completeness.min_duration_s" = '
    start = text.index(key)
    end = text.index("\n", start)
    return text[:start] + text[start:end].replace(old, new, 1) + text[end:]


@pytest.mark.parametrize(
    "content, needle",
    [
        pytest.param("name = ", "not valid TOML", id="syntax"),
        pytest.param(
            'name = "x"\nversion = "1"\n[thresholds]\n"nope" = { value = 1, source = "s" }',
            "unknown",
            id="unknown-key",
        ),
        pytest.param('name = "x"\nversion = "1"\n[thresholds]\n', "lacks", id="missing-keys"),
        pytest.param('version = "1"\n[thresholds]\n', "no 'name'", id="no-name"),
        pytest.param(_shipped_with("15.0", '"15"'), "must be a number", id="not-a-number"),
        pytest.param(_shipped_with("15.0", "true"), "must be a number", id="boolean"),
        pytest.param(_shipped_with("15.0", "-1.0"), "must not be negative", id="negative"),
        pytest.param(
            _shipped_with("{ value = 15.0", "{ amount = 15.0"), "must be {", id="no-value"
        ),
    ],
)
def test_bad_policy_files_say_what_to_fix(tmp_path, content, needle):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_policy(f)


def test_sections_are_typed_and_frozen():
    import dataclasses
    import hashlib
    import tomllib
    from importlib import resources

    raw = resources.files("validator.policies").joinpath("taobao.toml").read_bytes()
    p = load_policy()
    # The report cites the profile by the sha256 of its file's bytes, as before the typing.
    assert p.to_dict() == {"name": "taobao", "version": "2026.11.1", "sha256": p.digest}
    assert p.digest == hashlib.sha256(raw).hexdigest()
    # Every dotted key of the file is one field of one section, and nothing else is.
    assert set(tomllib.loads(raw.decode())["thresholds"]) == {s.name for s in THRESHOLDS}
    assert type(p.completeness.min_faces) is int and type(p.validity.dark_luma) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.completeness.min_faces = 1  # type: ignore[misc]


def test_values_take_their_settings_type(tmp_path):
    # A float setting written as an integer (15) loads as 15.0, so the report's number
    # and every comparison see the declared type.
    f = tmp_path / "int.toml"
    f.write_text(_shipped_with("15.0", "15"), "utf-8")
    assert type(load_policy(f).completeness.min_duration_s) is float


def test_unknown_profile_name_lists_shipped():
    with pytest.raises(ConfigError, match="taobao"):
        load_policy("no-such-profile")


def test_docs_list_every_setting():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "reasons.md").read_text("utf-8")
    missing = [s.name for s in THRESHOLDS if f"`{s.name}`" not in doc]
    assert not missing, f"document these settings in docs/reasons.md: {missing}"
