"""``_once.computed_once``: two processes asking for the same value compute it once."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from _once import computed_once


def _ask(folder: str, log: str, key: str) -> None:
    def compute() -> dict:
        with open(log, "a") as f:
            f.write(f"{key}\n")
        time.sleep(0.5)  # long enough that the other process asks meanwhile
        return {"key": key, "values": list(range(5))}

    assert computed_once(Path(folder), key, compute) == {"key": key, "values": list(range(5))}


def test_two_processes_compute_a_value_once_and_both_read_it(tmp_path):
    log = tmp_path / "computed.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_ask, args=(str(tmp_path / "cache"), str(log), key))
        for key in ("a", "a", "b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(log.read_text().split()) == ["a", "b"]  # "a" once, though asked twice


def test_a_failed_compute_leaves_nothing_and_the_next_ask_computes(tmp_path):
    def broken() -> int:
        raise RuntimeError("decoder crashed")

    with pytest.raises(RuntimeError):
        computed_once(tmp_path, "k", broken)
    assert [p.suffix for p in tmp_path.iterdir()] == [".lock"]  # no value, no temporary
    assert computed_once(tmp_path, "k", lambda: 7) == 7
    assert computed_once(tmp_path, "k", lambda: 8) == 7  # kept from the first success
