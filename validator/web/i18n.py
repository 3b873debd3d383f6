"""The pages' words in English and Chinese (the report's own reasons carry both)."""

from __future__ import annotations

from flask import request, session

from validator.detectors import event_kinds
from validator.report.text import LABELS as REPORT_LABELS

LANGS = ("en", "zh")

_WEB = {
    "en": {
        "title": "Unboxing video check",
        "lead": "Check a return-dispute unboxing video (拆包视频) against the platform's "
        "four requirements before you appeal.",
        "video": "Video",
        "video_help": "MP4, MOV, MKV/WebM, AVI or MPEG-TS; up to {mb} MB each. Choose "
        "several if this return has more than one recording.",
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
        "upload_resuming": "The connection dropped; the upload goes on from where it stopped…",
        "upload_file_of": "video {i} of {n}",
        "case_videos": "Videos of this return",
        "case_overall": "Case:",
        "case_video_unreadable": "Not readable",
        "case_download": "Download the case's JSON report (every video)",
        "guide_title": "How to record an unboxing video the platform accepts",
        "guide_lead": "Read this before you open the return. The pictures are from the sample "
        "take below.",
        "guide_one_take": "One take, from the sealed parcel.",
        "guide_one_take_help": "Start recording while the parcel is still sealed and keep "
        "going, without stopping or pausing, until the item is out. Never join or cut clips.",
        "guide_faces": "All six faces, each held a moment.",
        "guide_faces_help": "Turn the parcel slowly and hold each face still to the camera "
        "for about two seconds.",
        "guide_waybill": "The waybill close to the camera.",
        "guide_waybill_help": "Bring the label near until the barcode and the tracking "
        "number fill much of the picture and are sharp.",
        "guide_light": "Good light.",
        "guide_light_help": "Bright, even light, no strong light behind the parcel. In a dark "
        "video the parcel cannot be recognised.",
        "guide_start": "Start right after you sign for the return.",
        "guide_start_help": "The recording must begin after the sign-for time (at most "
        "15 minutes before it is accepted). Note the sign-for time for the form.",
        "guide_original": "Keep the phone's original file.",
        "guide_original_help": "Upload the file as the phone recorded it. Do not trim, "
        "compress, re-encode or send it through a chat app first: each changes the file and "
        "breaks completeness or timeliness.",
        "guide_alt_sealed": "Start: the sealed parcel, waybill face up",
        "guide_alt_opened": "End of the same take: the parcel opened, the item shown",
        "guide_alt_faces": "The six faces of the parcel, each held to the camera",
        "guide_alt_waybill": "The waybill close up: barcode and number sharp",
        "guide_alt_light": "Left: good light. Right: too dark",
        "guide_sample": "A good take (sample, 19 s)",
        "guide_sample_help": "A generated sample: it passes all four checks of this tool.",
        "guide_no_video": "Your browser cannot play this video.",
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
        "video_help": "MP4、MOV、MKV/WebM、AVI 或 MPEG-TS，每个不超过 {mb} MB。"
        "同一退货有多段录像时可一次选择多个。",
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
        "upload_resuming": "连接中断，正在从中断处继续上传…",
        "upload_file_of": "第 {i} 个视频，共 {n} 个",
        "case_videos": "本次退货的视频",
        "case_overall": "整体：",
        "case_video_unreadable": "无法读取",
        "case_download": "下载整案 JSON 报告（含每个视频）",
        "guide_title": "如何录制平台认可的拆包视频",
        "guide_lead": "拆开退货前请先阅读。图片取自下方的示例视频。",
        "guide_one_take": "一镜到底，从未拆封的包裹开始。",
        "guide_one_take_help": "在包裹仍密封时开始录制，中途不停止、不暂停，直到取出商品。"
        "切勿拼接或剪辑视频。",
        "guide_faces": "包裹六个面都要拍到，每面停留片刻。",
        "guide_faces_help": "慢慢转动包裹，每个面正对镜头静止约两秒。",
        "guide_waybill": "运单靠近镜头。",
        "guide_waybill_help": "把面单移近镜头，直到条形码和运单号占据画面较大部分且清晰可读。",
        "guide_light": "光线充足。",
        "guide_light_help": "光线明亮均匀，避免包裹背后有强光。画面过暗时无法辨认包裹。",
        "guide_start": "签收后立即开始录制。",
        "guide_start_help": "录制必须在签收时间之后开始（最多可早于签收 15 分钟）。"
        "请记下签收时间，填写在表单中。",
        "guide_original": "保留手机拍摄的原始文件。",
        "guide_original_help": "上传手机录制的原始文件。不要先剪辑、压缩、转码或通过聊天软件发送："
        "这些操作都会改变文件，破坏完整性或时效性。",
        "guide_alt_sealed": "开始：未拆封的包裹，运单面朝上",
        "guide_alt_opened": "同一段视频的结尾：包裹已打开，展示商品",
        "guide_alt_faces": "包裹的六个面，每面都正对镜头",
        "guide_alt_waybill": "运单特写：条形码和单号清晰",
        "guide_alt_light": "左：光线充足。右：过暗",
        "guide_sample": "合格拆包视频（示例，19 秒）",
        "guide_sample_help": "生成的示例视频：本工具的四项检查全部通过。",
        "guide_no_video": "您的浏览器无法播放此视频。",
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

CLAIMS = ("swapped_item", "used_or_damaged_by_buyer", "missing_parts", "empty_parcel",
          "not_returned", "other")  # fmt: skip


def labels(lang: str) -> dict[str, str]:
    """All labels of ``lang``: the report's (requirements, verdicts), the event kinds'
    (``kind_<kind>``, as their finders declare them) and the pages'."""
    kinds = {
        f"kind_{k.kind}": k.label_zh if lang == "zh" else k.label_en for k in event_kinds().values()
    }
    return {**REPORT_LABELS[lang], **kinds, **_WEB[lang]}


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
