"""The pages' words in English and Chinese (the report's own reasons carry both)."""

from __future__ import annotations

from flask import request, session

from validator.detectors import event_kinds
from validator.report.evidence import WORDS as EVIDENCE_WORDS
from validator.report.text import LABELS as REPORT_LABELS

LANGS = ("en", "zh")

_WEB = {
    "en": {
        "title": "Unboxing video check",
        "lead": "Check a return-dispute unboxing video (拆包视频) against the platform's "
        "four requirements before you appeal.",
        "video": "Video",
        "video_help": "MP4, MOV, MKV/WebM, AVI or MPEG-TS; up to {mb} MB.",
        "tracking_number": "Return tracking number",
        "return_signed_at": "Return signed for at",
        "evidence_deadline": "Evidence deadline",
        "times_help": "Local time in China (UTC+8).",
        "tracking_help": "Needed for consistency: the waybill read on camera is compared "
        "with this number. Without it, consistency needs a person.",
        "signed_help": "Needed for timeliness: the recording must start after the return "
        "was signed for (up to 15 min before). Without it, timeliness needs a person.",
        "deadline_help": "Optional: when the evidence is due, for the predicted outcome.",
        "claim_type": "Your claim",
        "claim_statement": "Your appeal statement (optional)",
        "claim_none": "(not given)",
        "submit": "Check the video",
        "uploading": "Uploading…",
        "analyzing": "Analyzing…",
        "queued": "Waiting for a free worker…",
        "failed": "The check failed",
        "try_again": "Check another video",
        "report": "Report",
        "verdict": "Verdict",
        "timeline": "Timeline",
        "thumbnails": "Pictures",
        "no_thumbnails": "No pictures were saved for this video.",
        "prediction": "Predicted appeal outcome",
        "score": "score",
        "advice": "What to do next",
        "no_prediction": "Fill in the case facts on the form to get a prediction.",
        "download": "Download the JSON report",
        "delete": "Delete the video and report",
        "deleted": "The video and its report were deleted.",
        "duration": "duration",
        "error": "Error",
        "not_found": "Not found",
        "too_many_requests": "Too many attempts",
        "too_many_requests_help": "Too many attempts from your address. Try again in {s} seconds.",
        "lang_switch": "中文",
        "js_needed": "Without JavaScript the page reloads itself while the check runs.",
        "file_too_large": "The file is larger than {mb} MB.",
        "network_error": "The upload failed (network error). Try again.",
        "upload_keep_open": "Keep this page open until the upload is done.",
        "poll_offline": "The connection was lost. The check keeps running on the server; "
        "this page tries again on its own.",
        "poll_server_error": "The server did not answer (HTTP {status}). The check keeps "
        "running; this page tries again on its own.",
        "poll_gone": "This check no longer exists (it was deleted). Check the video again "
        "from the form.",
        "poll_refused": "The check's status could not be read (HTTP {status}). Reload the page.",
        "swapped_item": "Item swapped (调包)",
        "used_or_damaged_by_buyer": "Used or damaged by the buyer",
        "missing_parts": "Parts missing",
        "empty_parcel": "Empty parcel",
        "not_returned": "Item not returned",
        "other": "Other",
        "likely_upheld": "Likely upheld",
        "likely_rejected": "Likely rejected",
        "uncertain": "Uncertain",
        "kind_waybill": "Waybill",
        "kind_face": "Face",
        "kind_opening": "Opening",
        "kind_contact_sheet": "All pictures",
    },
    "zh": {
        "title": "拆包视频检查",
        "lead": "在申诉前按平台的四项要求检查退货纠纷的拆包视频。",
        "video": "视频",
        "video_help": "MP4、MOV、MKV/WebM、AVI 或 MPEG-TS，不超过 {mb} MB。",
        "tracking_number": "退货运单号",
        "return_signed_at": "退货签收时间",
        "evidence_deadline": "举证截止时间",
        "times_help": "北京时间（UTC+8）。",
        "tracking_help": "一致性需要：视频中读到的面单号将与此单号比对。不填则一致性需人工判断。",
        "signed_help": "时效性需要：录制须在退货签收之后开始（最多可早 15 分钟）。"
        "不填则时效性需人工判断。",
        "deadline_help": "选填：举证截止时间，用于预测申诉结果。",
        "claim_type": "申诉主张",
        "claim_statement": "申诉说明（可选）",
        "claim_none": "（未填写）",
        "submit": "检查视频",
        "uploading": "上传中…",
        "analyzing": "分析中…",
        "queued": "等待空闲的分析进程…",
        "failed": "检查失败",
        "try_again": "检查另一个视频",
        "report": "报告",
        "verdict": "结论",
        "timeline": "时间轴",
        "thumbnails": "截图",
        "no_thumbnails": "此视频没有保存截图。",
        "prediction": "申诉结果预测",
        "score": "得分",
        "advice": "下一步建议",
        "no_prediction": "在表单中填写案件信息即可获得预测。",
        "download": "下载 JSON 报告",
        "delete": "删除视频和报告",
        "deleted": "视频及其报告已删除。",
        "duration": "时长",
        "error": "错误",
        "not_found": "未找到",
        "too_many_requests": "尝试次数过多",
        "too_many_requests_help": "您的地址请求过于频繁，请在 {s} 秒后重试。",
        "lang_switch": "English",
        "js_needed": "未启用 JavaScript 时，页面会在检查期间自动刷新。",
        "file_too_large": "文件超过 {mb} MB。",
        "network_error": "上传失败（网络错误），请重试。",
        "upload_keep_open": "上传完成前请勿关闭或离开本页面。",
        "poll_offline": "网络连接已断开。检查仍在服务器上进行，本页面会自动重试。",
        "poll_server_error": "服务器没有响应（HTTP {status}）。检查仍在进行，本页面会自动重试。",
        "poll_gone": "此检查已不存在（已被删除）。请在表单中重新检查视频。",
        "poll_refused": "无法读取检查状态（HTTP {status}），请刷新页面。",
        "swapped_item": "调包",
        "used_or_damaged_by_buyer": "买家使用或损坏",
        "missing_parts": "缺少配件",
        "empty_parcel": "空包",
        "not_returned": "未退回商品",
        "other": "其他",
        "likely_upheld": "申诉很可能成功",
        "likely_rejected": "申诉很可能被驳回",
        "uncertain": "结果不确定",
        "kind_waybill": "运单",
        "kind_face": "包裹面",
        "kind_opening": "开箱",
        "kind_contact_sheet": "全部截图",
    },
}

# The report's player, its links and the advice under each finding (issue 12).
_PLAYER = {
    "en": {
        "look": "Look for yourself",
        "player_help": "Every time in the findings is a link: it shows that moment here.",
        "player_preview": "Your browser cannot play this file's format (such as HEVC from a "
        "phone), so this is a smaller copy made for viewing, with the same times. The check "
        "read your original file. The copy is made when first played: a long video can take "
        "a few minutes.",
        "player_fallback": "Your browser cannot play this video.",
        "download_video": "the uploaded video",
        "sec": "s",
        "seek_to": "Show {t} s in the player",
        "mark_at": "{what} at {t} s: show in the player",
        "no_cited": "No finding points to a moment in the video.",
        "other_events": "Other events the check noticed but did not count ({n})",
        "enlarge": "Enlarge: {what}",
        "close": "Close",
        "what_now": "What now",
        "fixable_yes": "This clip can still pass:",
        "fixable_no": "This clip cannot be fixed:",
        "fixable_review": "A person should look:",
        "instead": "Other evidence the platform accepts:",
        "never_change": "Never trim, compress or re-encode the video before you appeal: "
        "that breaks its completeness and its recording time. Submit the phone's original file.",
        "score_scale": "Score {score} of 100. It starts at {base}; {upheld} or more: likely "
        "upheld; {rejected} or less: likely rejected.",
        "score_behind": "What moved the score",
        "points": "{n} points",
        "hold_points": "The video lifts the score to {n} at most:",
        "cap_block": "A finding decides the appeal alone: the score is capped at {n}.",
        "cap_hold": "A video requirement is still under review: the score is capped at {n}.",
        "cap_clamp": "Kept within 0 to 100.",
    },
    "zh": {
        "look": "自己查看",
        "player_help": "结论中的每个时间都可点击，点击后在此处显示该时刻。",
        "player_preview": "您的浏览器无法播放此文件的格式（如手机录制的 HEVC），"
        "此处播放的是为观看生成的较小副本，时间与原文件一致。检查使用的是您的原始文件。"
        "副本在首次播放时生成，较长的视频可能需要几分钟。",
        "player_fallback": "您的浏览器无法播放此视频。",
        "download_video": "上传的视频",
        "sec": "秒",
        "seek_to": "在播放器中查看第 {t} 秒",
        "mark_at": "{what}，第 {t} 秒：在播放器中查看",
        "no_cited": "没有结论指向视频中的具体时刻。",
        "other_events": "检查时注意到但未计入结论的其他事件（{n} 个）",
        "enlarge": "放大：{what}",
        "close": "关闭",
        "what_now": "怎么办",
        "fixable_yes": "此视频仍可通过：",
        "fixable_no": "此视频无法补救：",
        "fixable_review": "需人工查看：",
        "instead": "平台也接受的其他凭证：",
        "never_change": "申诉前请勿剪辑、压缩或转码视频：这会破坏视频的完整性和录制时间。"
        "请提交手机里的原始文件。",
        "score_scale": "得分 {score}（满分 100）。起始分 {base}；{upheld} 分及以上："
        "申诉很可能成功；{rejected} 分及以下：申诉很可能失败。",
        "score_behind": "影响得分的依据",
        "points": "{n} 分",
        "hold_points": "视频最多把得分提高到 {n} 分：",
        "cap_block": "有一项问题单独决定申诉结果：得分封顶 {n} 分。",
        "cap_hold": "视频要素尚待人工确认：得分封顶 {n} 分。",
        "cap_clamp": "限定在 0 至 100 分之间。",
    },
}

CLAIMS = ("swapped_item", "used_or_damaged_by_buyer", "missing_parts", "empty_parcel",
          "not_returned", "other")  # fmt: skip


def labels(lang: str) -> dict[str, str]:
    """All labels of ``lang``: the report's (requirements, verdicts), the event kinds'
    (``kind_<kind>``, as their finders declare them) and the pages'."""
    kinds = {
        f"kind_{k.kind}": k.label_zh if lang == "zh" else k.label_en for k in event_kinds().values()
    }
    # The evidence report's words (validator/report/evidence.py), prefixed ``ev_``.
    evidence = {f"ev_{k}": v for k, v in EVIDENCE_WORDS[lang].items()}
    return {**REPORT_LABELS[lang], **kinds, **evidence, **_WEB[lang], **_PLAYER[lang]}


def current_lang() -> str:
    """``?lang=`` (remembered in the session), else the session's, else Accept-Language."""
    asked = request.args.get("lang")
    if asked in LANGS:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGS:
        return session["lang"]
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-TW"], default="en")
    return "zh" if best.startswith("zh") else "en"
