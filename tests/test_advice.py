"""What the product tells a merchant never breaks their evidence (issue 12: "Never
advise trimming or re-encoding the evidence: both break completeness or timeliness")."""

from __future__ import annotations

import re
import unicodedata

from _media import ROOT

# Advice to change the evidence file, in the words a message would use.
ADVICE = re.compile(
    r"(?i)\b(trim|compress|re-?encode|transcode)\b (it|the (video|file|upload|"
    r"recording))|(trim|re-?encode|compress) (it|the video) (at|to) a lower|"
    r"压缩(视频|文件)|剪短|重新编码(视频|文件)|转码后"
)


def test_no_message_advises_changing_the_evidence() -> None:
    found = []
    for path in (ROOT / "validator").rglob("*"):
        if path.suffix not in (".py", ".json", ".toml", ".html", ".js", ".txt"):
            continue
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            m = ADVICE.search(line)
            if m and not re.search(r"(?i)\b(do not|never|don't)\b|不要|请勿", line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


# What a "what now" text must never ask for: changing the video file (imperatives).
CHANGE_THE_FILE = re.compile(
    r"(?i)\b(trim|shorten|cut|crop|splice|re-?encode|transcode|compress|convert|edit|"
    r"re-?record|re-?film)\b (it|the|this|your|a)\b|"
    r"请(?!勿)[^。；：]{0,8}(剪|截短|压缩|转码|重新编码|裁|编辑|转换|重新录制|重拍)"
)


def test_the_rule_catches_advice_to_change_the_file() -> None:
    for bad in ("Trim the video to the opening.", "Re-encode it at 720p.",
                "请压缩视频后上传。", "请把视频剪短再上传。"):  # fmt: skip
        assert CHANGE_THE_FILE.search(bad), bad
    for good in ("A cut stays a cut: watch the moment shown.", "请上传手机里的原始文件。"):
        assert not CHANGE_THE_FILE.search(good), good


def test_every_finding_that_is_no_pass_says_what_now() -> None:
    """Issue 12, 'What now, per finding': whether this clip can be fixed (and how) or
    not, and what other evidence the seed accepts; both languages; never a change to
    the file: the only file it may ask for is the phone's original."""
    from validator.reasons import _advice, advice, catalogue

    evidence = _advice()["_evidence"]
    missing, bad = [], []
    for code, entry in catalogue().items():
        if entry["verdict"] == "pass":
            continue
        en, zh = advice(code, "en"), advice(code, "zh")
        if en is None or zh is None:
            missing.append(code)
            continue
        assert en["fixable"] in ("yes", "no", "review"), code
        assert en["now"] and zh["now"] and len(en["instead"]) == len(zh["instead"]), code
        for text in (en["now"], zh["now"]):
            if CHANGE_THE_FILE.search(text) or ADVICE.search(text):
                bad.append(f"{code}: {text}")
        if re.search(r"(?i)\bupload\b", en["now"]):  # an upload is always the original
            assert "original" in en["now"] and "原始文件" in zh["now"], code
        if en["fixable"] == "no":  # a recording's flaw: never promised to pass
            assert "can still" not in en["now"], code
    for key, item in evidence.items():
        assert item["en"] and item["zh"] and item["seed"], key
        # Each names the seed's words it rests on (checked against the seed's lines).
        for quote in re.findall(r"[\u4e00-\u9fff、,，]{4,}", item["seed"]):
            assert nfkc(quote) in SEED_TEXT, (key, quote)
    assert not missing, f"no advice for {missing}"
    assert not bad, "\n".join(bad)


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# The seed's lines the project keeps (tests/test_predict_rules.py checks them against
# the seed where the checkout has it).
SEED_TEXT = nfkc((ROOT / "validator/predict/seed_lines.txt").read_text("utf-8"))
