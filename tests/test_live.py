"""Live guidance (issue 15): the check's detectors fed frame by frame say what the page
shows while recording. Judged against the fixture clips' truth: a clean take reaches six
faces and the matched label, and only then offers to stop; a take with a face missing
never reaches six and asks for the last one."""

from __future__ import annotations

from typing import Any

import pytest
from _media import clip

from validator.live import LiveAnalysis
from validator.media.probe import probe
from validator.media.source import VideoSource
from validator.policy import load_policy


def per_second(name: str) -> tuple[list[dict[str, Any]], dict]:
    path, truth = clip(name)
    live = LiveAnalysis(tracking_number=truth["case"]["return"].get("tracking_number"))
    info = probe(path, load_policy(None))
    states, last = [], -1
    with VideoSource(path, stream_index=info.video_stream_index) as source:
        for frame in source:
            live.feed(frame)
            if int(frame.t_s) != last:
                last = int(frame.t_s)
                states.append(live.state())
    states.append(live.state())
    return states, truth


def test_a_clean_take_reaches_six_faces_and_the_label_then_may_stop() -> None:
    states, truth = per_second("clean")
    faces = [s["faces_shown"] for s in states]
    assert faces[0] < 6 and faces[-1] == len(truth["faces"]) == 6
    assert faces == sorted(faces), faces  # the count rises as faces are shown
    end = states[-1]
    assert end["label_matched"] is True and end["can_stop"]
    assert [p["code"] for p in end["prompts"]] == ["can_stop"]
    # Stop is offered only once six faces and the label are seen.
    assert all(s["faces_shown"] == 6 for s in states if s["can_stop"])
    assert all(p["zh"] and p["en"] for s in states for p in s["prompts"])


@pytest.mark.parametrize("name", ["five-faces", "four-faces"])
def test_a_face_missing_is_asked_for(name: str) -> None:
    states, truth = per_second(name)
    shown = len(truth["faces"])
    assert max(s["faces_shown"] for s in states) <= shown < 6
    assert not any(s["can_stop"] for s in states)
    codes = [p["code"] for p in states[-1]["prompts"]]
    assert ("show_bottom" if shown == 5 else "show_faces") in codes
    zh = [p["zh"] for p in states[-1]["prompts"]]
    assert any("面" in text for text in zh)


def test_the_chunk_stream_reads_in_order_and_ends_when_left(tmp_path) -> None:
    from validator.live import ChunkStream

    for seq, data in enumerate([b"abc", b"de"]):
        (tmp_path / f"{seq:06d}").write_bytes(data)
        (tmp_path / f"{seq:06d}.json").write_text("{}")
    stream = ChunkStream(tmp_path, lambda: False, poll_s=0.01, idle_s=0.2)
    assert stream.read(2) + stream.read(5) + stream.read(5) == b"abcde"
    assert stream.read(5) == b""  # no chunk 2 within idle_s: the page is gone
    closed = ChunkStream(tmp_path / "none", lambda: True)
    assert closed.read() == b""  # stopped: ends at once


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        pytest.param("dark", "too_dark", id="dark"),
        pytest.param("blurred", "blurred", id="blurred"),
    ],
)
def test_a_poor_picture_is_prompted_for_and_a_good_one_is_not(name: str, prompt: str) -> None:
    states, truth = per_second(name)
    assert truth["expected"]["validity"] != "pass"
    said = [any(p["code"] == prompt for p in s["prompts"]) for s in states]
    assert sum(said) >= len(states) // 2, said  # most of the take, as the check finds it
    clean, _ = per_second("clean")
    assert not any(p["code"] == prompt for s in clean for p in s["prompts"])
