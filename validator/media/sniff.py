"""What a file is, from its first bytes: the one magic-byte sniffer.

``probe`` uses the kind to refuse pictures and text before any decoder sees them and
to walk ISO boxes; the service uses the media type to refuse uploads that are no
video container it takes (``web/uploads.py``). The content decides, never the name.
"""

from __future__ import annotations

# ISO base media (MP4, MOV, 3GP): the first box is usually ``ftyp``; QuickTime files
# may start with another top-level box (a ``wide`` or ``free`` before ``moov``).
ISO_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
TS_PACKET = 188  # MPEG-TS packet; M2TS puts a 4-byte time code before each (192)


def _ts_sync(head: bytes, start: int, step: int) -> bool:
    """MPEG-TS's 0x47 sync byte at ``start`` and a packet (two, when the head has them)
    further on."""
    at = [start + k * step for k in range(3) if start + k * step < len(head)]
    return len(at) >= 2 and all(head[i] == 0x47 for i in at)


# The kinds ``sniff`` gives for video containers: a file of one of these that does not
# open is a damaged video, not some other file.
VIDEO_KINDS = frozenset({"isobmff", "matroska", "avi", "mpegts", "mpegps", "flv", "asf"})


def sniff(head: bytes) -> str:
    """A container kind (``isobmff``, ``matroska``, ``avi``, ``flv``, ``asf``, ``mpegts``,
    ``mpegps``), ``image:<x>``, ``text`` or ``unknown``."""
    if head[4:8] in ISO_FIRST_BOXES:
        return "isobmff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image:webp"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C"):
        return "asf"
    if _ts_sync(head, 0, TS_PACKET) or _ts_sync(head, 4, TS_PACKET + 4):
        return "mpegts"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpegps"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image:png"
    if head[:3] == b"\xff\xd8\xff":
        return "image:jpeg"
    if head[:4] in (b"GIF8",):
        return "image:gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image:tiff"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "image:bmp"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            # a multi-byte character cut at the end of the head is still text
            try:
                head[:-3].decode("utf-8")
            except UnicodeDecodeError:
                return "unknown"
        return "text"
    return "unknown"


# The containers the service takes, by kind (FLV, ASF and MPEG-PS it does not).
UPLOAD_TYPES = {
    "matroska": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
}


def media_type(head: bytes) -> str | None:
    """The media type of a video container the service takes, or None."""
    kind = sniff(head)
    if kind == "isobmff":
        brand = head[8:12] if head[4:8] == b"ftyp" else b""
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if head[4:8] == b"ftyp" and brand != b"qt  ":
            return "video/mp4"
        return "video/quicktime"
    if kind == "matroska" and b"webm" in head[:64]:
        return "video/webm"
    return UPLOAD_TYPES.get(kind)
