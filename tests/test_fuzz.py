"""Fuzzing the parsers of hostile input (hardening issue): the ISO-BMFF box walker, the
probe, the case parser and the multipart upload path, driven by hypothesis.

atheris is not available offline; hypothesis generates and shrinks bytes and structures
just as well for parsers written in Python, and its example database keeps what it found.

* In the normal test suite each fuzzer replays ``tests/fuzz_corpus/`` and runs a short
  pass of ``FUZZ_EXAMPLES`` (40) random examples, a few seconds in all.
* ``FUZZ_SECONDS=60`` (``python3 dev.py fuzz``, run by CI) runs each for that long, in
  rounds with fresh random seeds.
* ``FUZZ_SAVE=1`` writes what a run found (the failing inputs, shrunk) to
  ``tests/fuzz_corpus/``, to be committed with the fix; without it the corpus is only
  read, so a test run never leaves new files in the work tree.

Run one: ``FUZZ_SECONDS=60 FUZZ_SAVE=1 pytest -m fuzz tests/test_fuzz.py -k boxes``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from _clips import write_clip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

from validator.errors import CaseError, InputError
from validator.media.boxes import MAX_BOXES, scan_boxes
from validator.media.probe import probe
from validator.policy import load_policy

pytestmark = pytest.mark.fuzz

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS") or 0)
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 40)
SAVE = os.environ.get("FUZZ_SAVE") == "1"
ROUND_EXAMPLES = 500  # examples a round of the long run (each round a new seed)


class Blob(bytes):
    """Bytes that a failure report shows by size and digest: hypothesis would print a
    whole clip (and warn, an error here); the printed blob reproduces the input."""

    def __repr__(self) -> str:
        import hashlib

        return f"Blob({len(self)} bytes, sha256 {hashlib.sha256(self).hexdigest()[:16]})"


def fuzzer(*strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Any]:
    """``@given(*strategies)`` with the fuzzers' settings: the corpus replayed first,
    then fresh random examples (hypothesis's default; a fixed ``@seed`` would turn the
    database off, replay included); only FUZZ_SAVE=1 writes to the corpus."""
    database = DirectoryBasedExampleDatabase(CORPUS)
    config = settings(
        max_examples=ROUND_EXAMPLES if FUZZ_SECONDS else FUZZ_EXAMPLES,
        database=database if SAVE else ReadOnlyDatabase(database),
        deadline=None,  # a loaded CI machine is no bug; the timing is not the property
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,  # each example overwrites the same file
        ],
        print_blob=True,  # a failure prints the line that reproduces it
    )

    def wrap(test: Callable[..., None]) -> Any:
        return config(given(*strategies)(test))

    return wrap


def fuzz(test: Callable[[], None]) -> None:
    """Run the hypothesis test ``test`` once, or in rounds for FUZZ_SECONDS."""
    end = time.monotonic() + FUZZ_SECONDS
    test()
    while time.monotonic() < end:
        test()


# -- the ISO-BMFF box walker ----------------------------------------------------------------

# Box types the walker opens or reads, and a few it does not know.
_TYPES = [b"ftyp", b"moov", b"mvhd", b"trak", b"tkhd", b"mdia", b"mdhd", b"hdlr", b"edts",
          b"elst", b"udta", b"meta", b"ilst", b"uuid", b"XMP_", b"mdat", b"free", b"SDLN",
          b"smrd", b"date", b"\xa9too", b"titl", b"covr", b"zzzz"]  # fmt: skip
_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


def _box(typ: bytes, payload: bytes, size_kind: str) -> bytes:
    """A box whose size field is right, too large, 0 (to the end), 1 (64-bit) or tiny."""
    n = 8 + len(payload)
    if size_kind == "large":
        return struct.pack(">I4sQ", 1, typ, n + 8) + payload
    size = {"right": n, "over": n + 1000, "zero": 0, "tiny": 3, "huge": 0xFFFFFFFF}[size_kind]
    return struct.pack(">I4s", size, typ) + payload


_SIZE_KINDS = st.sampled_from(["right"] * 6 + ["over", "zero", "tiny", "huge", "large"])


def _payload(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64),
        st.lists(children, max_size=4).map(b"".join),
        st.builds(lambda b: b"\0\0\0\0" + b, st.lists(children, max_size=3).map(b"".join)),
        st.just(_XMP_UUID + b'<x:xmpmeta xmp:CreatorTool="Adobe Premiere"/>'),
    )


boxes_strategy: st.SearchStrategy[bytes] = st.recursive(
    st.builds(_box, st.sampled_from(_TYPES), st.binary(max_size=48), _SIZE_KINDS),
    lambda children: st.builds(_box, st.sampled_from(_TYPES), _payload(children), _SIZE_KINDS),
    max_leaves=24,
)


def _leaf(typ: bytes) -> st.SearchStrategy[bytes]:
    return st.builds(_box, st.just(typ), st.binary(max_size=120), _SIZE_KINDS)


def _parent(typ: bytes, *children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """``typ`` holding ``children`` in their usual order, some left out or repeated."""
    kids = st.tuples(*(st.lists(c, max_size=2) for c in children)).map(
        lambda groups: b"".join(b"".join(g) for g in groups)
    )
    return st.builds(_box, st.just(typ), kids, _SIZE_KINDS)


# The layout a phone writes (moov > trak > edts > elst, mdia > mdhd/hdlr, udta leaves), with
# random payloads: random box types alone seldom nest deep enough to reach those parsers.
skeleton = st.tuples(
    _parent(
        b"moov",
        _leaf(b"mvhd"),
        _parent(
            b"trak",
            _leaf(b"tkhd"),
            _parent(b"edts", _leaf(b"elst")),
            _parent(b"mdia", _leaf(b"mdhd"), _leaf(b"hdlr")),
        ),
        _parent(b"udta", _leaf(b"\xa9too"), _leaf(b"date"), _leaf(b"titl"), _leaf(b"XMP_")),
        _parent(b"meta", _leaf(b"hdlr"), _leaf(b"ilst")),
    ),
    st.lists(boxes_strategy, max_size=2).map(b"".join),
).map(b"".join)
mp4_like = st.one_of(
    st.binary(max_size=2048),
    st.lists(st.one_of(boxes_strategy, skeleton), min_size=1, max_size=4).map(
        lambda boxes: _box(b"ftyp", b"isom\0\0\0\0isommp42", "right") + b"".join(boxes)
    ),
)


def test_fuzz_box_walker(tmp_path: Path) -> None:
    path = tmp_path / "boxes.mp4"

    @fuzzer(mp4_like)
    def walk(data: bytes) -> None:
        path.write_bytes(data)
        info = scan_boxes(path)  # documented: never raises for a malformed file
        assert len(info.top_level) <= MAX_BOXES
        json.dumps(info.to_dict())  # the report carries it

    fuzz(walk)


# -- the probe -------------------------------------------------------------------------------


@cache
def _seed_clip() -> bytes:
    """A real 64x48 H.264 MP4 of 12 frames, its moov first (faststart): mutations of
    it, a cut or a hole in the media data above all, reach past the demuxer."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return write_clip(Path(tmp) / "seed.mp4", frames=12, faststart=True).read_bytes()


@st.composite
def mutated_clip(draw: st.DrawFn) -> bytes:
    data = bytearray(_seed_clip())
    for _ in range(draw(st.integers(1, 3))):  # more and the demuxer gives up at once
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return Blob(data)


def test_fuzz_probe(tmp_path: Path) -> None:
    policy = load_policy()
    path = tmp_path / "upload.mp4"

    @fuzzer(st.one_of(mutated_clip(), mp4_like))
    def probe_any(data: bytes) -> None:
        path.write_bytes(data)
        try:
            info = probe(path, policy)
        except InputError as e:  # the documented answer to a bad file: nothing else
            assert e.code and e.message
            json.dumps(e.to_dict())
            assert str(tmp_path) not in e.message  # the file by its name, never the folder
            return
        assert info.frame_count >= 2 and info.duration_s > 0
        json.dumps(info.to_dict())

    fuzz(probe_any)


# -- the case parser ---------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "cases"
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["2026-11-15T08:00:00+08:00", "2026-02-30T25:61", "", "empty_parcel"]),
)
json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


@cache
def _example_cases() -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]


@st.composite
def mutated_case(draw: st.DrawFn) -> dict[str, Any]:
    """A shipped example case with some of its values replaced by any JSON."""
    case = json.loads(json.dumps(draw(st.sampled_from(_example_cases()))))
    for _ in range(draw(st.integers(1, 4))):
        node: Any = case
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], dict | list) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict):
            node[draw(st.sampled_from([*node, "extra"]))] = draw(json_values)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
    return case


def test_fuzz_case_parser() -> None:
    from validator.predict import load_case

    @fuzzer(
        st.one_of(
            mutated_case(),
            st.dictionaries(st.text(max_size=12), json_values, max_size=6),
            st.text(max_size=300).map(lambda t: "{" + t),  # JSON text (never a path)
            st.binary(max_size=200).map(lambda b: "{" + b.decode("latin-1")),
        )
    )
    def parse(source: dict[str, Any] | str) -> None:
        try:
            case = load_case(source)
        except CaseError as e:  # the one documented answer, naming the field
            assert e.message
            json.dumps(e.to_dict())
            return
        assert isinstance(case, dict) and case["platform"]
        json.dumps(case)

    fuzz(parse)


# -- the multipart upload path ------------------------------------------------------------------

_FIELDS = ["video", "case", "policy", "callback_url", "video", "x", "", 'a"b', "vidéo"]
_FILENAMES = [None, "clip.mp4", "../../etc/passwd", "a\\b.mov", "", "名字.mp4", "x" * 300, "a\x00b"]


@st.composite
def multipart_body(draw: st.DrawFn) -> tuple[bytes, str]:
    """A multipart body, well-formed or not: (body, content type)."""
    boundary = draw(st.sampled_from(["b0undary", "x" * 70, "a b", "-"]))
    parts = []
    for i in range(draw(st.integers(0, 4))):
        # mostly a video part first: the rest of the path is reached only past it
        first = i == 0 and draw(st.integers(0, 3)) > 0
        name = "video" if first else draw(st.sampled_from(_FIELDS))
        filename = draw(st.sampled_from(_FILENAMES))
        disposition = f'form-data; name="{name}"' + (
            "" if filename is None else f'; filename="{filename}"'
        )
        headers = [f"Content-Disposition: {disposition}"]
        if draw(st.booleans()):
            headers.append(
                "Content-Type: "
                + draw(st.sampled_from(["video/mp4", "application/json", "text/plain", "x"]))
            )
        content = _seed_clip() if first else b""
        content = content or draw(
            st.one_of(
                st.binary(max_size=256),
                st.just(_seed_clip()),
                st.sampled_from([b"{}", b'{"claim": {"type": "empty_parcel"}}', b"taobao"]),
                json_values.map(lambda v: json.dumps(v).encode()),
            )
        )
        part = "\r\n".join(headers).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + content
        parts.append(part)
    sep = f"--{boundary}".encode()
    body = b"".join(sep + b"\r\n" + p + b"\r\n" for p in parts)
    if draw(st.booleans()):
        body += sep + b"--\r\n"  # else: a body cut short
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.binary(max_size=512))  # not multipart at all
    ctype = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                "application/json",
                "multipart/form-data; boundary=",
            ]
        )
    )
    return Blob(body), ctype


@pytest.fixture
def upload_app(tmp_path: Path) -> Iterator[Any]:
    from _service import app_config

    from validator.web import create_app

    app = create_app(app_config(tmp_path / "data", RUN_POOL=False, MAX_UPLOAD_MB=1))
    try:
        yield app
    finally:
        app.extensions["appeal"].close()


def test_fuzz_multipart_upload(upload_app: Any) -> None:
    from validator.web.errors import codes

    client = upload_app.test_client()
    services = upload_app.extensions["appeal"]
    _, key = services.store.create_key("acme")
    headers = {"Authorization": f"Bearer {key}"}
    files = services.storage.root
    known = set(codes())

    @fuzzer(multipart_body(), st.sampled_from([None, "k1", "k2", "x" * 300]))
    def post(body_ctype: tuple[bytes, str], idempotency_key: str | None) -> None:
        body, ctype = body_ctype
        extra = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        resp = client.post(
            "/api/v1/checks",
            headers={**headers, **extra},
            data=io.BytesIO(body),
            content_type=ctype,
        )
        text = resp.get_data(as_text=True)
        assert resp.status_code in (202, 400, 409, 413, 415, 422), text
        assert resp.mimetype == "application/json" and "Traceback" not in text
        if resp.status_code == 202:
            assert resp.json["status"] == "queued"
        else:
            assert set(resp.json) == {"error"} and resp.json["error"]["code"] in known, text
        assert str(files) not in text
        # a refused upload leaves no file behind: every folder belongs to a check
        folders = [p.name for p in files.glob("*/*")]
        assert set(folders) <= services.store.existing(folders), folders

    fuzz(post)
