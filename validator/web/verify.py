"""The verify page: a recording's file against its signed witness record, in a browser.

``GET /verify`` shows a form for the video and its report (report.json, the API's
check, or the witness record alone); ``POST /verify`` answers as ``appeal-validator
verify VIDEO REPORT --key <this service's key>`` does, with the same library calls
(``validator.witness.find_witness`` and ``verify``), in Chinese or English. No login:
whoever has the file and the report (the platform's reviewer, a colleague) may check
them; the form's rate limit and CSRF token guard the post (``form.guard_posts``).

The video is hashed as it streams from the upload's temporary file (an unnamed file in
DATA_DIR/tmp, ``uploads.UploadRequest``), never held in memory; the request's size is
bounded by the upload limit (MAX_UPLOAD_MB); the parts are closed, so deleted, when
the answer is made. The record is checked against this service's own public key: a
record signed by another key is named as such, not accepted.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from validator import witness
from validator.web.form import csrf_token, guard_posts
from validator.web.i18n import current_lang, labels

bp = Blueprint("verify", __name__)
bp.before_request(guard_posts)

# A witness record lists each chunk (about 130 bytes of JSON each, one a second): an
# hour's recording is under 0.5 MB, a case report with it a few MB more.
REPORT_MAX_BYTES = 16 << 20

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "verify_title": "Verify a witnessed recording",
        "verify_lead": "A video recorded with this service's record page carries a "
        "witness record in its report, signed by the service. Choose the video and its "
        "report (report.json) to check that the file is, byte for byte, the one the "
        "service received while it was being recorded, and that the record is unchanged.",
        "verify_video": "The video",
        "verify_report": "Its report (report.json) or witness record",
        "verify_limit": "The video and the report together up to {mb} MB; both are "
        "deleted once checked.",
        "verify_submit": "Verify",
        "verify_key": "Checked against this service's signing key",
        "verify_ok": "Verified: this is the recording the service witnessed.",
        "verify_ok_detail": "Recording {id}: {chunks} one-second parts received from "
        "{first} to {last} (server time, UTC), signed by key {key}.",
        "verify_bad": "Not verified: the file or its record differs from what the "
        "service witnessed.",
        "verify_why": "Why",
        "verify_again": "Verify another file",
        "verify_how_cli": "The same check offline, on your computer:",
        "verify_no_video": "Choose the video file.",
        "verify_no_report": "Choose the report (report.json) that came with the video.",
        "verify_not_json": "The report is not a JSON file: choose the report.json the "
        "service gave for this recording.",
        "verify_report_too_large": "The report is larger than {mb} MB: it is not a report "
        "of this service.",
        "verify_no_witness": "This report has no witness record. Only a video recorded "
        "with this service's record page has one; an uploaded video's report cannot be "
        "verified this way.",
        "vp_signature_missing": "The witness record has no signature.",
        "vp_signature_not_base64": "The witness record's signature is malformed.",
        "vp_untrusted_key": "The record was signed by key {signed_by}, not by this "
        "service's key {trusted}.",
        "vp_signature_mismatch": "The signature does not match the record: a field of "
        "the record was changed after the service signed it.",
        "vp_no_chunks": "The witness record lists no parts of the recording.",
        "vp_chunk_count_mismatch": "The record says {said} parts but lists {listed}.",
        "vp_chunks_not_numbered": "The record's parts are not numbered in order without a gap.",
        "vp_unreadable": "The video cannot be read.",
        "vp_bad_chunk_size": "A part's size in the record is not a whole number.",
        "vp_size_mismatch": "The file has {size_bytes} bytes but the witnessed parts add "
        "up to {expected_bytes}: a part was dropped or added, or bytes were cut or "
        "appended.",
        "vp_chunks_differ": "The bytes of part(s) {chunks} differ from what the service "
        "received ({count} of {of} parts).",
        "vp_chain_mismatch": "The chain of the parts' hashes does not end where the record says.",
        "vp_file_hash_mismatch": "The file's SHA-256 differs from the witnessed one.",
        "vp_file_size_mismatch": "The file's size differs from the witnessed size.",
    },
    "zh": {
        "verify_title": "核验见证录制的视频",
        "verify_lead": "用本服务录制页录制的视频，其报告中带有服务签名的见证记录。"
        "选择视频及其报告（report.json），即可核验该文件是否与录制时服务收到的逐字节一致，"
        "以及记录是否未被改动。",
        "verify_video": "视频文件",
        "verify_report": "该视频的报告（report.json）或见证记录",
        "verify_limit": "视频与报告合计不超过 {mb} MB；核验后两者都会被删除。",
        "verify_submit": "核验",
        "verify_key": "使用本服务的签名密钥核验",
        "verify_ok": "核验通过：这正是服务见证录制的视频。",
        "verify_ok_detail": "录制 {id}：服务于 {first} 至 {last}（服务器时间，UTC）"
        "收到 {chunks} 段（每段约一秒），由密钥 {key} 签名。",
        "verify_bad": "核验未通过：文件或其记录与服务见证的不一致。",
        "verify_why": "原因",
        "verify_again": "核验另一个文件",
        "verify_how_cli": "也可在自己的电脑上离线核验：",
        "verify_no_video": "请选择视频文件。",
        "verify_no_report": "请选择随视频提供的报告（report.json）。",
        "verify_not_json": "报告不是 JSON 文件：请选择服务为这段录制提供的 report.json。",
        "verify_report_too_large": "报告大于 {mb} MB，不是本服务的报告。",
        "verify_no_witness": "该报告没有见证记录。只有用本服务录制页录制的视频才有；"
        "上传的视频的报告无法这样核验。",
        "vp_signature_missing": "见证记录没有签名。",
        "vp_signature_not_base64": "见证记录的签名格式有误。",
        "vp_untrusted_key": "该记录由密钥 {signed_by} 签名，而不是本服务的密钥 {trusted}。",
        "vp_signature_mismatch": "签名与记录内容不符：服务签名后，记录中的某一项被改动过。",
        "vp_no_chunks": "见证记录没有列出录制的任何分段。",
        "vp_chunk_count_mismatch": "记录中写的是 {said} 段，但列出了 {listed} 段。",
        "vp_chunks_not_numbered": "记录中的分段没有按顺序连续编号。",
        "vp_unreadable": "无法读取该视频。",
        "vp_bad_chunk_size": "记录中某一段的大小不是整数。",
        "vp_size_mismatch": "文件有 {size_bytes} 字节，而见证的各段合计 {expected_bytes} "
        "字节：有分段被删除或添加，或字节被截去或追加。",
        "vp_chunks_differ": "第 {chunks} 段的字节与服务收到的不同（共 {of} 段中有 {count} 段）。",
        "vp_chain_mismatch": "各段哈希组成的链与记录中的终值不符。",
        "vp_file_hash_mismatch": "文件的 SHA-256 与见证的不同。",
        "vp_file_size_mismatch": "文件大小与见证的不同。",
    },
}


def problem_text(problem: witness.Problem, lang: str) -> str:
    """A problem in the reader's language, filled from its details (the CLI's English
    sentence when the page has no words for its kind)."""
    words = LABELS[lang].get(f"vp_{problem.code}")
    if words is None:
        return problem.message
    try:
        return words.format(**problem.details)
    except (KeyError, IndexError, ValueError):
        return problem.message


def _page(status: int = 200, **ctx: Any) -> Response:
    from validator.web.record import signing_key

    lang = current_lang()
    ctx.setdefault("key_id", witness.key_id(witness.public_key_bytes(signing_key())))
    html = render_template(
        "verify.html",
        lang=lang,
        t={**labels(lang), **LABELS[lang]},
        csrf_token=csrf_token(),
        max_mb=current_app.extensions["appeal"].settings.max_upload_mb,
        **ctx,
    )
    return Response(html, status=status, mimetype="text/html")


def _refused(key: str, **fmt: Any) -> Response:
    """The form again, saying what to send instead (422: the request was understood)."""
    return _page(422, error=LABELS[current_lang()][key].format(**fmt))


@bp.get("/verify")
def page() -> Response:
    return _page()


@bp.post("/verify")
def check() -> Response:
    """Checks the uploaded video against the witness record in the uploaded report."""
    from validator.web.record import signing_key

    # Parsed once: a body over the limit raises 413 here, its spooled parts closed by
    # the request (``UploadRequest.close``); touching ``request.files`` again would parse
    # it again.
    files = request.files
    try:
        video = files.get("video")
        report = files.get("report")
        if video is None or not video.filename:
            return _refused("verify_no_video")
        if report is None or not report.filename:
            return _refused("verify_no_report")
        raw = report.stream.read(REPORT_MAX_BYTES + 1)
        if len(raw) > REPORT_MAX_BYTES:
            return _refused("verify_report_too_large", mb=REPORT_MAX_BYTES >> 20)
        try:
            doc = json.loads(raw)
        except ValueError:  # UnicodeDecodeError too
            return _refused("verify_not_json")
        record = witness.find_witness(doc)
        if record is None:
            return _refused("verify_no_witness")
        own_key = witness.public_key_bytes(signing_key())
        result = witness.verify(video.stream, record, own_key)
    finally:
        for part in files.values():  # the unnamed temporary files go with them
            part.close()
    lang = current_lang()
    return _page(
        200 if result.ok else 422,
        result=result,
        record=record,
        problems=[problem_text(p, lang) for p in result.found],
        key_id=witness.key_id(own_key),
    )
