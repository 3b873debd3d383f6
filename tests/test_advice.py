"""What the product tells a merchant never breaks their evidence (issue 12: "Never
advise trimming or re-encoding the evidence: both break completeness or timeliness")."""

from __future__ import annotations

import re

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
