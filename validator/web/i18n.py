"""The pages' words in English and Chinese (the report's own reasons carry both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
        "record_now": "Record now in the browser",
        "record_now_help": "Film the unboxing here: the service witnesses the recording as it "
        "arrives and guides you to all six faces and the label.",
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
        "record_now": "在浏览器中直接录制",
        "record_now_help": "在此处拍摄拆包：服务实时见证录制过程，并提示您展示全部六个面和面单。",
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

# The report's player, its links and the advice under each finding (issue 12).
_PLAYER = {
    "en": {
        "look": "Look for yourself",
        "player_help": "Every time in the findings is a link: it shows that moment here.",
        "player_preview": "Your browser cannot play this file's format (such as HEVC from a "
        "phone), so this is a smaller copy made for viewing, with the same times. The check "
        "read your original file.",
        "preview_preparing": "Preparing a playable copy of the video. A long video can take a "
        "few minutes; the player starts by itself when it is ready.",
        "preview_reload": "Reload this page in a minute to play it.",
        "preview_ready": "The playable copy is ready.",
        "preview_failed": "A playable copy of this video could not be made. The check is not "
        "affected: it read your original file. Download the original to watch it:",
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
        "此处播放的是为观看生成的较小副本，时间与原文件一致。检查使用的是您的原始文件。",
        "preview_preparing": "正在生成可播放的视频副本。较长的视频可能需要几分钟，"
        "生成后播放器会自动加载。",
        "preview_reload": "请一分钟后刷新本页以播放。",
        "preview_ready": "可播放的副本已生成。",
        "preview_failed": "无法为此视频生成可播放的副本。检查结果不受影响："
        "检查使用的是您的原始文件。请下载原始文件观看：",
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

# History, share links and delete (issue 12): kept apart from _WEB so that other
# pages' words and these merge without touching each other.
_HISTORY = {
    "en": {
        "history": "My checks",
        "history_lead": "The checks made from this browser, newest first.",
        "history_empty": "No checks from this browser yet.",
        "checked_at": "Checked at",
        "file": "File",
        "result": "Result",
        "open": "Open",
        "status_queued": "Waiting",
        "status_running": "Analyzing",
        "status_failed": "Failed",
        "share": "Share",
        "share_title": "Share this check",
        "share_lead": "A share link opens a read-only copy of the report (verdict, pictures, "
        "JSON, PDF) on any device, without signing in. Anyone with the link can open it until "
        "it expires or you revoke it.",
        "share_video_note": "The link shows the video too: the original recording of each "
        "video of the check, with any faces and the waybill's name, phone and address in it.",
        "share_create": "Create a share link",
        "share_new": "Your new link (copy it now: it is shown only once):",
        "share_links": "Links of this check",
        "share_none": "No share links yet.",
        "share_created": "Created",
        "share_expires": "Open until",
        "share_state_live": "open",
        "share_state_revoked": "revoked",
        "share_state_expired": "expired",
        "share_revoke": "Revoke",
        "share_revoked": "The link was revoked: it no longer opens the report.",
        "share_ttl": "Links stay open for {hours} hours.",
        "shared_view": "Shared report (read-only). Whoever shared it can revoke the link.",
        "share_gone": "This share link is not valid: it expired, was revoked, or its check "
        "was deleted. Ask the merchant who shared it for a new link.",
        "delete_title": "Delete this check?",
        "delete_text": "The video, its report and pictures, and every share link of this check "
        "are deleted for good. This cannot be undone.",
        "delete_confirm": "Yes, delete",
        "cancel": "Cancel",
        "back_to_report": "Back to the report",
        "details": "Technical details",
        "timezone_note": "Times are China time (UTC+8).",
    },
    "zh": {
        "history": "我的检查记录",
        "history_lead": "在此浏览器中进行的检查，最新的在前。",
        "history_empty": "此浏览器中还没有检查记录。",
        "checked_at": "检查时间",
        "file": "文件",
        "result": "结果",
        "open": "查看",
        "status_queued": "等待中",
        "status_running": "分析中",
        "status_failed": "失败",
        "share": "分享",
        "share_title": "分享此检查",
        "share_lead": "分享链接可在任何设备上打开报告的只读副本（结论、截图、JSON、PDF），"
        "无需登录。在链接过期或被您撤销之前，任何拿到链接的人都能打开。",
        "share_video_note": "链接也会显示视频：此检查每个视频的原始录像，包括其中的人脸以及运单上的"
        "姓名、电话和地址。",
        "share_create": "生成分享链接",
        "share_new": "新的分享链接（请立即复制：只显示这一次）：",
        "share_links": "此检查的分享链接",
        "share_none": "还没有分享链接。",
        "share_created": "创建时间",
        "share_expires": "有效期至",
        "share_state_live": "有效",
        "share_state_revoked": "已撤销",
        "share_state_expired": "已过期",
        "share_revoke": "撤销",
        "share_revoked": "链接已撤销，无法再打开报告。",
        "share_ttl": "链接有效期为 {hours} 小时。",
        "shared_view": "分享的报告（只读）。分享者可随时撤销此链接。",
        "share_gone": "此分享链接无效：已过期、已被撤销，或对应的检查已删除。"
        "请联系分享的商家获取新链接。",
        "delete_title": "确定删除此检查吗？",
        "delete_text": "视频、报告、截图以及此检查的所有分享链接都将被永久删除，无法恢复。",
        "delete_confirm": "确定删除",
        "cancel": "取消",
        "back_to_report": "返回报告",
        "details": "技术细节",
        "timezone_note": "时间为北京时间（UTC+8）。",
    },
}

# What the merchant reads for each error code (issue 12, "Chinese throughout"): the fix in
# plain words, no reason codes, setting names or CLI commands. The code and the JSON's
# English message stay for support, behind the error page's details toggle. Fields in
# {braces} come from the error's details; "err_" + code is the key.
_ERRORS = {
    "en": {
        "err_error": "Something went wrong. Try again.",
        "err_bad_request": "The request was incomplete or not valid. Reload the page and "
        "submit the form again.",
        "err_usage": "The request was not valid. Reload the page and submit the form again.",
        "err_bad_case": "One of the case fields (tracking number, times, claim) is not valid. "
        "Check them and submit again; times are date and time, e.g. 2026-11-20 14:00.",
        "err_bad_config": "The service is not set up for this request. Try again later.",
        "err_csrf_failed": "The form expired or was not sent from this site. Reload the page "
        "and submit it again.",
        "err_unauthorized": "You are not signed in for this page.",
        "err_not_found": "This page or check does not exist (it may have been deleted).",
        "err_method_not_allowed": "This page cannot be used that way. Go back to the form.",
        "err_check_not_done": "The check has not finished yet. Wait for its report.",
        "err_payload_too_large": "The video is larger than this service accepts ({mb} MB). Do "
        "not trim or re-encode the evidence: either breaks completeness or timeliness, and the "
        "platform judges the original file. Ask the operator of this service to raise the limit.",
        "err_too_many_parts": "The form has too many fields or a field that is too long. "
        "Reload the page and submit the form again.",
        "err_unsupported_media_type": "The file is not a video container this service reads "
        "(MP4/MOV, MKV/WebM, AVI, MPEG-TS); the content decides, not the file name. Upload "
        "the phone's original recording.",
        "err_empty_file": "The file is empty (0 bytes): upload the recording itself.",
        "err_idempotency_conflict": "This request was already sent with different content.",
        "err_callback_url_blocked": "The callback address must be a public internet address.",
        "err_internal_error": "An internal error occurred; it was logged. Try again later.",
        "err_unavailable": "The service is unavailable for a moment. Try again in a few minutes.",
        "err_recording_not_found": "This recording link is not valid, or the recording was "
        "removed. Ask for a new link.",
        "err_chunk_out_of_range": "A piece of the recording is out of order. Stop and start a "
        "new recording.",
        "err_chunk_hash_mismatch": "A piece of the recording was damaged on the way; the page "
        "sends it again.",
        "err_chunk_conflict": "A piece of the recording arrived twice with different contents. "
        "Start a new recording.",
        "err_chunks_missing": "Some pieces of the recording have not arrived yet; the page "
        "sends them, then stops again.",
        "err_recording_closed": "This recording has already been stopped.",
        "err_recording_too_large": "The recording is longer than this service accepts. Stop "
        "and start a new recording.",
        "err_too_many_recordings": "Too many recordings are open. Finish or close one, then "
        "try again.",
        "err_upload_conflict": "The upload got out of step with the server; it continues "
        "from what the server has.",
        "err_upload_missing": "A video's upload is no longer on the server (it was "
        "checked already, cancelled, or left unfinished too long). Choose the video again.",
        "err_upload_busy": "A video is still being sent, or another submission is using it. "
        "Wait a moment and submit again.",
        "err_upload_duplicate": "The same video was added twice to this case. Remove the copy "
        "and submit again.",
        "err_too_many_uploads": "Too many videos are uploading from this browser at once. "
        "Wait for one to finish or remove one, then add this video again.",
        "err_chunk_too_large": "A piece of the upload was larger than this service accepts. "
        "Reload the page and add the video again; the page sends pieces of the right size.",
        "err_past_length": "The upload sent more bytes than the size it announced for the "
        "video. Remove the video and add it again.",
        "err_no_room": "The service has no room for another video right now. Try again "
        "later; keep the phone's original file until the check is done.",
        "err_font_missing": "The PDF cannot be made: the service has no font with Chinese "
        "characters installed. Ask its operator to install one; the printable page works.",
        "err_bad_input": "The file is not a video this service can read. Upload the phone's "
        "original recording.",
        "err_video_missing": "The uploaded video is no longer on the server. Upload it again.",
        "err_unreadable_file": "The uploaded file could not be read. Upload it again.",
        "err_not_a_video": "The file is not a video container this service reads (MP4/MOV, "
        "MKV/WebM, AVI, MPEG-TS). Upload the phone's original recording.",
        "err_no_video_stream": "The file has no video picture (sound or metadata only). "
        "Upload the recording itself.",
        "err_undecodable": "The video could not be decoded: the file is cut short or damaged. "
        "Upload the phone's original file again (a transfer may have stopped early).",
        "err_absurd_media": "The file's size, duration or picture size is outside what this "
        "service can check. Upload the phone's original recording.",
        "err_analysis_timeout": "The analysis took too long and was stopped. Try again later; "
        "if it happens again, the file may be damaged.",
        "err_job_timeout": "The analysis took too long and was stopped. Try again later; if it "
        "happens again, the file may be damaged.",
        "err_job_crashed": "The analysis stopped unexpectedly. Try again later, with the "
        "phone's original file.",
        "err_job_abandoned": "The analysis was interrupted several times and was given up. "
        "Try again later, with the phone's original file.",
        "err_job_out_of_memory": "The video needs more memory than this service allows. Ask "
        "the operator of this service, or try again later.",
    },
    "zh": {
        "err_error": "出现错误，请重试。",
        "err_bad_request": "请求不完整或无效，请刷新页面后重新提交表单。",
        "err_usage": "请求无效，请刷新页面后重新提交表单。",
        "err_bad_case": "案件信息（运单号、时间、申诉主张）中有一项填写有误，请检查后重新提交；"
        "时间须为日期加时刻，例如 2026-11-20 14:00。",
        "err_bad_config": "服务尚未针对此请求完成配置，请稍后重试。",
        "err_csrf_failed": "表单已过期，或不是从本网站提交的。请刷新页面后重新提交。",
        "err_unauthorized": "您尚未登录，无法访问此页面。",
        "err_not_found": "页面或检查不存在（可能已被删除）。",
        "err_method_not_allowed": "无法以这种方式使用此页面，请返回表单。",
        "err_check_not_done": "检查尚未完成，请等待报告生成。",
        "err_payload_too_large": "视频超过本服务可接受的大小（{mb} MB）。请勿剪辑或重新编码证据："
        "两者都会破坏完整性或时效性，平台以原始文件为准。请联系本服务的管理员提高上限。",
        "err_too_many_parts": "表单字段过多或某个字段过长，请刷新页面后重新提交。",
        "err_unsupported_media_type": "该文件不是本服务能读取的视频格式（MP4/MOV、MKV/WebM、AVI、"
        "MPEG-TS）；以文件内容为准，而非文件名。请上传手机拍摄的原始视频。",
        "err_empty_file": "文件为空（0 字节），请上传录制的视频本身。",
        "err_idempotency_conflict": "此请求已以不同的内容提交过。",
        "err_callback_url_blocked": "回调地址必须是公网地址。",
        "err_internal_error": "服务器内部错误，已记录。请稍后重试。",
        "err_unavailable": "服务暂时不可用，请几分钟后重试。",
        "err_recording_not_found": "录制链接无效，或录制已被删除。请索取新的链接。",
        "err_chunk_out_of_range": "录制的一段数据顺序有误。请停止并重新开始录制。",
        "err_chunk_hash_mismatch": "录制的一段数据在传输中损坏，页面会重新发送。",
        "err_chunk_conflict": "录制的同一段数据两次到达且内容不同。请重新开始录制。",
        "err_chunks_missing": "录制的部分数据尚未送达，页面会补发后再次停止。",
        "err_recording_closed": "此录制已经停止。",
        "err_recording_too_large": "录制超过了本服务接受的长度。请停止并重新开始录制。",
        "err_too_many_recordings": "打开的录制过多。请先完成或关闭一个，再重试。",
        "err_upload_conflict": "上传与服务器记录的进度不一致，将从服务器已收到的位置继续。",
        "err_upload_missing": "某个视频的上传已不在服务器上（已提交检查、已取消，或长时间未完成）。"
        "请重新选择该视频。",
        "err_upload_busy": "某个视频仍在上传，或正被另一次提交使用。请稍候再提交。",
        "err_upload_duplicate": "同一个视频在此案件中添加了两次。请删除重复的一个后重新提交。",
        "err_too_many_uploads": "此浏览器同时上传的视频过多。请等待其中一个上传完成或删除一个，"
        "然后再添加此视频。",
        "err_chunk_too_large": "上传的一段数据超过了本服务接受的大小。请刷新页面后重新添加视频；"
        "页面会按正确的大小分段发送。",
        "err_past_length": "上传发送的数据超过了该视频声明的大小。请删除该视频后重新添加。",
        "err_no_room": "服务暂时没有空间接收更多视频，请稍后重试；"
        "检查完成前请保留手机中的原始文件。",
        "err_font_missing": "无法生成 PDF：服务未安装含中文字符的字体。请联系服务管理员安装；"
        "可打印页面仍可使用。",
        "err_bad_input": "该文件不是本服务能读取的视频，请上传手机拍摄的原始视频。",
        "err_video_missing": "上传的视频已不在服务器上，请重新上传。",
        "err_unreadable_file": "无法读取上传的文件，请重新上传。",
        "err_not_a_video": "该文件不是本服务能读取的视频格式（MP4/MOV、MKV/WebM、AVI、MPEG-TS），"
        "请上传手机拍摄的原始视频。",
        "err_no_video_stream": "文件中没有视频画面（只有声音或元数据），请上传录制的视频本身。",
        "err_undecodable": "视频无法解码：文件不完整或已损坏。请重新上传手机中的原始文件"
        "（传输可能中途停止）。",
        "err_absurd_media": "文件的大小、时长或画面尺寸超出本服务可检查的范围，"
        "请上传手机拍摄的原始视频。",
        "err_analysis_timeout": "分析耗时过长，已停止。请稍后重试；如果再次发生，文件可能已损坏。",
        "err_job_timeout": "分析耗时过长，已停止。请稍后重试；如果再次发生，文件可能已损坏。",
        "err_job_crashed": "分析意外中止，请稍后使用手机中的原始文件重试。",
        "err_job_abandoned": "分析多次中断，已放弃。请稍后使用手机中的原始文件重试。",
        "err_job_out_of_memory": "该视频需要的内存超出本服务的限制，"
        "请联系本服务的管理员或稍后重试。",
    },
}

# The analysis's stages as the progress page names them (runner, analyze, check_case).
_STAGES = {
    "en": {
        "stage_queued": "waiting",
        "stage_starting": "starting",
        "stage_probing": "reading the file",
        "stage_decoding": "decoding the video",
        "stage_thumbnails": "saving pictures",
        "stage_done": "done",
        "stage_failed": "failed",
    },
    "zh": {
        "stage_queued": "排队中",
        "stage_starting": "正在启动",
        "stage_probing": "正在读取文件",
        "stage_decoding": "正在解码并分析视频",
        "stage_thumbnails": "正在保存截图",
        "stage_done": "已完成",
        "stage_failed": "失败",
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
    return {
        **REPORT_LABELS[lang],
        **kinds,
        **_WEB[lang],
        **_HISTORY[lang],
        **_ERRORS[lang],
        **_STAGES[lang],
        **evidence,
        **_PLAYER[lang],
    }


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


def error_text(error: Mapping[str, Any], lang: str) -> str:
    """What the merchant reads for an error object (``{"code", "message", "details"}``),
    in ``lang``: the code's words, filled from its details; never the code itself."""
    words = labels(lang)
    code = str(error.get("code") or "error")
    details = error.get("details") or {}
    if not isinstance(details, Mapping):
        details = {}
    if details.get("reason") == "share_invalid":
        return words["share_gone"]
    if details.get("reason") == "preview_failed":
        return words["preview_failed"]
    # A reason of its own (an upload gone, named twice, ...) has words of its own.
    reason = details.get("reason")
    if isinstance(reason, str) and "{" not in words.get(f"err_{reason}", "{"):
        return words[f"err_{reason}"]
    if code == "rate_limited":
        return words["too_many_requests_help"].format(s=details.get("retry_after_s", 60))
    if code == "payload_too_large":
        if "max_parts" in details:
            return words["err_too_many_parts"]
        max_bytes = details.get("max_bytes")
        if isinstance(max_bytes, int) and max_bytes > 0:
            return words["err_payload_too_large"].format(mb=f"{max_bytes / (1 << 20):g}")
    text = words.get(f"err_{code}", words["err_error"])
    return text if "{" not in text else words["err_error"]  # a field its details lack
