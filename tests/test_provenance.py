"""Editing-software signatures and the bounded box walker.

Real files with published metadata (metadata-extractor, androidx) say what must
be flagged; tables of tags say what must not (a plain phone or plain ffmpeg file).
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from validator.media.boxes import BoxInfo, EditListEntry, TrackBoxes, parse_xmp, scan_boxes
from validator.media.provenance import (
    MEANINGS,
    detect_provenance,
    load_signatures,
    parse_signatures,
)

MEI = Path("metadata-extractor-images")
ANDROIDX = Path("androidx-media/libraries/test_data/src/test/assets/media/mp4")

IPHONE_TAGS = {
    "format:major_brand": "qt  ",
    "format:com.apple.quicktime.make": "Apple",
    "format:com.apple.quicktime.model": "iPhone 6",
    "format:com.apple.quicktime.creationdate": "2019-07-24T11:25:40+0300",
    "stream0:handler_name": "Core Media Audio",
    "stream1:handler_name": "Core Media Video",
    "stream1:encoder": "H.264",
}
ANDROID_TAGS = {
    "format:com.android.version": "10",
    "stream0:handler_name": "VideoHandle",
    "stream1:handler_name": "SoundHandle",
}
FFMPEG_TAGS = {
    "format:encoder": "Lavf61.7.100",
    "stream0:handler_name": "VideoHandler",
    "stream0:encoder": "Lavc60.31.102 libx264",
    "stream1:handler_name": "SoundHandler",
}
CAPCUT_TAGS = {  # shape of a CapCut export as public exiftool/ffprobe dumps show it
    "format:encoder": "Lavf57.71.100",
    "format:software": '{"publicMode":"1","TEEditor":"2","isFastImport":"0","te_is_reencode":"1"}',
    "format:te_is_reencode": "1",
    "format:comment": '{"source_type":"vicut","data":{"editType":"edit","os":"ios"}}',
    "stream0:handler_name": "VideoHandler",
}


def ids(hits: list) -> set[str]:
    return {h.signature_id for h in hits}


# --------------------------------------------------------------------- tag tables


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param(IPHONE_TAGS, set(), id="plain-iphone"),
        pytest.param(ANDROID_TAGS, set(), id="plain-android"),
        pytest.param(FFMPEG_TAGS, set(), id="plain-ffmpeg-is-not-an-edit"),
        pytest.param(
            {**IPHONE_TAGS, "format:encoder": "Lavf58.76.100"},
            {"ffmpeg-remux-of-phone-file"},
            id="iphone-remuxed-by-ffmpeg",
        ),
        pytest.param(
            {
                **ANDROID_TAGS,
                "format:encoder": "Lavf58.29.100",
                "stream0:encoder": "Lavc58 libx264",
            },
            {"ffmpeg-remux-of-phone-file", "ffmpeg-reencode-of-phone-file"},
            id="android-reencoded-by-ffmpeg",
        ),
        pytest.param(
            {"udta:SDLN": "SEQ_PLAY", "format:encoder": "Lavf60.3.100"},
            {"ffmpeg-remux-of-phone-file"},
            id="samsung-remuxed",
        ),
        pytest.param(
            CAPCUT_TAGS,
            {"capcut-teeditor", "capcut-te-is-reencode", "capcut-vicut-comment"},
            id="capcut-export",
        ),
        pytest.param(
            {"format:encoder": "HandBrake 1.6.1 2023012300"}, {"handbrake"}, id="handbrake"
        ),
        pytest.param(
            {"format:comment": "vid:v0d00fg10000abc"}, {"douyin-vid-comment"}, id="douyin"
        ),
        pytest.param(
            {"format:com.apple.quicktime.software": "InShot"}, {"inshot"}, id="inshot-software"
        ),
        pytest.param({"format:encoder": "KineMaster"}, {"kinemaster"}, id="kinemaster"),
        pytest.param(
            {"xmp:CreatorTool": "SomeEditor 3.1"}, {"xmp-creator-other"}, id="unknown-xmp-tool"
        ),
        pytest.param(
            {"xmp:CreatorTool": "Adobe Premiere Pro 2024.0 (Windows)"},
            {"adobe-xmp-creatortool", "premiere-rush-or-pro-name"},
            id="premiere-no-fallback-duplicate",
        ),
        pytest.param(
            {"format:title": "My trip with kwai friends", "format:artist": "Final Cut"},
            set(),
            id="app-names-outside-software-tags-ignored",
        ),
    ],
)
def test_tag_signatures(tags: dict[str, str], expected: set[str]) -> None:
    hits = detect_provenance(tags)
    assert ids(hits) == expected
    for h in hits:
        assert h.meaning in MEANINGS and h.source and "=" in h.evidence


def test_remux_evidence_names_the_phone_tag() -> None:
    (hit,) = detect_provenance({**IPHONE_TAGS, "format:encoder": "Lavf56.1.0"})
    assert hit.meaning == "remuxed"
    assert "format:encoder=Lavf56.1.0" in hit.evidence and "Core Media" in hit.evidence


# --------------------------------------------------------------------- edit lists


def _boxes(*edits: EditListEntry, media_s: float = 10.0, handler: str = "vide") -> BoxInfo:
    track = TrackBoxes(
        track_id=1,
        handler_type=handler,
        media_timescale=1000,
        media_duration=int(media_s * 1000),
        edits=list(edits),
    )
    return BoxInfo(is_isobmff=True, tracks=[track])


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        pytest.param(_boxes(EditListEntry(10.0, 0.0, 1.0)), set(), id="camera-one-edit"),
        pytest.param(
            _boxes(EditListEntry(1.0, None, 1.0), EditListEntry(10.0, 0.0, 1.0)),
            set(),
            id="empty-edit-is-a-delay",
        ),
        pytest.param(
            _boxes(EditListEntry(9.95, 0.048, 1.0), handler="soun"),
            set(),
            id="aac-priming",
        ),
        pytest.param(
            _boxes(EditListEntry(3.0, 0.0, 1.0), EditListEntry(4.0, 5.0, 1.0)),
            {"edit-list-pieces"},
            id="two-pieces",
        ),
        pytest.param(_boxes(EditListEntry(7.0, 3.0, 1.0)), {"edit-list-trim"}, id="start-trimmed"),
        pytest.param(_boxes(EditListEntry(6.0, 0.0, 1.0)), {"edit-list-trim"}, id="end-trimmed"),
        pytest.param(_boxes(EditListEntry(0.0, 0.0, 1.0)), set(), id="zero-duration-means-all"),
        pytest.param(
            _boxes(EditListEntry(3.0, 0.0, 1.0), EditListEntry(4.0, 5.0, 1.0), handler="meta"),
            set(),
            id="metadata-track-ignored",
        ),
    ],
)
def test_edit_list_checks(boxes: BoxInfo, expected: set[str]) -> None:
    assert ids(detect_provenance({}, boxes)) == expected


# ------------------------------------------------------------- signature data file


def test_signature_file_is_valid_and_sourced() -> None:
    sigset = load_signatures()
    assert len(sigset.signatures) >= 20
    assert len({s.id for s in sigset.signatures}) == len(sigset.signatures)
    for s in sigset.signatures:
        assert s.meaning in MEANINGS
        assert len(s.source) > 20, f"{s.id} needs a real source"
    wanted = ("capcut", "adobe", "ffmpeg", "handbrake", "imovie", "final-cut", "davinci")
    for prefix in (*wanted, "kinemaster", "inshot", "vn-", "kwai", "bilibili", "edit-list"):
        assert any(s.id.startswith(prefix) for s in sigset.signatures), prefix


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            {"id": "x", "software": "s", "meaning": "deleted", "source": "s"}, id="meaning"
        ),
        pytest.param(
            {
                "id": "x",
                "software": "s",
                "meaning": "edited",
                "source": "s",
                "match": {"key": "(", "value": "."},
            },
            id="regex",
        ),
        pytest.param(
            {"id": "x", "software": "s", "meaning": "edited", "source": "s", "check": "nope"},
            id="check",
        ),
        pytest.param({"id": "x", "meaning": "edited", "source": "s"}, id="no-software"),
    ],
)
def test_bad_signature_entries_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        parse_signatures({"signatures": [bad]})


def test_parse_xmp_attribute_and_element_forms() -> None:
    text = (
        '<rdf:Description xmp:CreatorTool="Tool A" xmp:CreateDate="2020-01-05T15:04Z">'
        "<xmpMM:History><rdf:Seq><rdf:li stEvt:softwareAgent='Agent 1'/>"
        "<rdf:li><stEvt:softwareAgent>Agent 2</stEvt:softwareAgent></rdf:li>"
        "</rdf:Seq></xmpMM:History></rdf:Description>"
    )
    got = parse_xmp(text)
    assert got["xmp:CreatorTool"] == "Tool A"
    assert got["xmp:CreateDate"] == "2020-01-05T15:04Z"
    assert {got["xmp:softwareAgent[1]"], got["xmp:softwareAgent[2]"]} == {"Agent 1", "Agent 2"}


# ------------------------------------------------------------------ the box walker


def _box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


def _small_mp4(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(15):
            img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts, fr.time_base = i, Fraction(1, 30)
            for pkt in vs.encode(fr):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    return path


def test_xmp_uuid_box_appended_to_a_clip_is_found(tmp_path: Path) -> None:
    from validator.media.boxes import XMP_UUID

    path = _small_mp4(tmp_path / "x.mp4")
    xmp = b'<x:xmpmeta><rdf:Description xmp:CreatorTool="Adobe Premiere Pro 2024.0 (Windows)"/>'
    with open(path, "ab") as f:
        f.write(_box(b"uuid", XMP_UUID + xmp + b"</x:xmpmeta>"))
    boxes = scan_boxes(path)
    assert boxes.xmp["xmp:CreatorTool"].startswith("Adobe Premiere Pro")
    assert "adobe-xmp-creatortool" in ids(detect_provenance({}, boxes))


def test_walker_survives_hostile_boxes(tmp_path: Path) -> None:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    cases = {
        "huge-largesize": ftyp + struct.pack(">I4sQ", 1, b"mdat", 2**62) + b"\x00" * 32,
        "size-below-header": ftyp + struct.pack(">I4s", 3, b"moov") + b"\x00" * 32,
        "child-overruns": ftyp + _box(b"moov", _box(b"udta", struct.pack(">I4s", 999, b"SDLN"))),
        "deep-nesting": ftyp + _nest(60),
        "not-mp4": b"\x1a\x45\xdf\xa3" + b"\x00" * 64,
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.mp4"
        p.write_bytes(data)
        info = scan_boxes(p)  # must not raise
        if name == "huge-largesize":
            assert info.truncated == ["mdat"]
        if name == "size-below-header":
            assert info.warnings
        if name == "not-mp4":
            assert not info.is_isobmff


def _nest(depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = _box(b"udta", inner)
    return _box(b"moov", inner)


# ------------------------------------------------------------------------ real files


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("rel", "signature", "text"),
    [
        pytest.param(
            MEI / "mov/xmp480qt.mov",
            "adobe-xmp-creatortool",
            "Adobe After Effects 2020 (Macintosh)",
            id="xmp480qt-creatortool",
        ),
        pytest.param(
            MEI / "mp4/uuid540.mp4",
            "adobe-xmp-software-agent",
            "Adobe Bridge 2020 (Macintosh)",
            id="uuid540-softwareagent",
        ),
        pytest.param(
            ANDROIDX / "bt601.mov", "ffmpeg-remux-of-phone-file", "Lavf56.1.0", id="bt601"
        ),
    ],
)
def test_real_edited_files_are_flagged(
    realdata: Path, rel: Path, signature: str, text: str
) -> None:
    path = realdata / rel
    boxes = scan_boxes(path)
    with av.open(str(path)) as c:
        tags = {f"format:{k}": v for k, v in c.metadata.items()}
        for s in c.streams:
            tags.update({f"stream{s.index}:{k}": v for k, v in s.metadata.items()})
    hits = {h.signature_id: h for h in detect_provenance(tags, boxes)}
    assert signature in hits
    assert text in hits[signature].evidence


@pytest.mark.realdata
def test_xmp_values_match_published_dumps(realdata: Path) -> None:
    # metadata-extractor's expected output lists the same XMP values
    for rel, key, prop in [
        (MEI / "mov/xmp480qt.mov", "xmp:CreatorTool", "xmp:CreatorTool"),
        (MEI / "mp4/uuid540.mp4", "xmp:softwareAgent[1]", "stEvt:softwareAgent"),
    ]:
        txt = (realdata / rel.parent / "metadata/java" / f"{rel.name}.txt").read_text()
        published = {
            line.split("] ", 1)[1].split(" = ", 1)[1]
            for line in txt.splitlines()
            if f"{prop} = " in line
        }
        assert scan_boxes(realdata / rel).xmp[key] in published


@pytest.mark.realdata
@pytest.mark.parametrize(
    "rel",
    [
        pytest.param(MEI / "mov/with-gps.mov", id="plain-iphone"),
        pytest.param(MEI / "mp4/with-gps.mp4", id="plain-samsung"),
        pytest.param(ANDROIDX / "dolbyVision-hdr.MOV", id="plain-iphone-hevc"),
        pytest.param(ANDROIDX / "h265_with_metadata_track.mp4", id="plain-android"),
        pytest.param(ANDROIDX / "silent-black-10s.mp4", id="ffmpeg-made"),
        pytest.param(ANDROIDX / "h265_bframes.mp4", id="ffmpeg-made-bframes"),
        pytest.param(ANDROIDX / "edit_list_positive_shift.mp4", id="ffmpeg-edit-list"),
    ],
)
def test_real_unedited_files_are_not_flagged(realdata: Path, rel: Path) -> None:
    from validator.media.probe import probe
    from validator.policy import load_policy

    info = probe(realdata / rel, load_policy())
    assert info.provenance == (), [h.to_dict() for h in info.provenance]


@pytest.mark.realdata
def test_walker_reads_what_pyav_hides(realdata: Path) -> None:
    samsung = scan_boxes(realdata / MEI / "mp4/with-gps.mp4")
    assert samsung.items["udta:SDLN"] == "SEQ_PLAY" and samsung.items["udta:smrd"] == "TRUEBLUE"
    apple = scan_boxes(realdata / MEI / "mp4/Issue 515 (java).mp4")
    assert apple.items["udta:date"] == "2020-11-20T15:04:02+0100"
    slowmo = scan_boxes(realdata / ANDROIDX / "sample_android_slow_motion.mp4")
    assert slowmo.mvhd_created_raw == 0
    iphone = scan_boxes(realdata / MEI / "mov/with-gps.mov")
    video = next(t for t in iphone.tracks if t.handler_type == "vide")
    assert video.handler_name == "Core Media Video" and video.rotation_cw == 90
    shift = scan_boxes(realdata / ANDROIDX / "edit_list_positive_shift.mp4")
    vtrack = next(t for t in shift.tracks if t.handler_type == "vide")
    assert vtrack.edits[0].media_time_s is None  # the 1 s empty edit
    assert vtrack.edits[0].segment_duration_s == pytest.approx(1.0)
    assert vtrack.edits[1].media_time_s == 0.0
