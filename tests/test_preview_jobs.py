"""The player's preview as a job (issue 12): the web asks (``previews.request``), a
worker makes it (``previews.make``, the Celery task's logic, run here in-process as
test_celery_execute.py runs ``execute``), at most one per video at a time, bounded in
time, and a check deleted during the encode keeps nothing."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from test_preview import hevc_clip

from validator.jobs import previews
from validator.jobs.settings import Settings, resolve
from validator.jobs.storage import LocalStorage, local_storage
from validator.jobs.store import Store
from validator.jobs.tables import Check


@pytest.fixture(scope="module")
def hevc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hevc_clip(tmp_path_factory.mktemp("hevc") / "IMG_0001.MOV", width=320, height=180)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Settings, Store, LocalStorage]]:
    cfg = resolve({"DATA_DIR": str(tmp_path / "data")})
    cfg.data_dir.mkdir()
    store = Store(cfg.database_url)
    try:
        yield cfg, store, local_storage(cfg.data_dir)
    finally:
        store.close()


def a_check(store: Store, storage: LocalStorage, video: Path) -> Check:
    """A finished check of ``video`` with its derived folder, as the runner leaves one."""
    tenant = store.tenant("acme")
    assert tenant is not None
    check_id = str(uuid.uuid4())
    copy = shutil.copyfile(video, storage.root.parent / f"{check_id}.MOV")  # put_file moves it
    stored = storage.put_file(str(tenant.id), check_id, Path(copy))
    store.create_check(id=check_id, tenant_id=tenant.id, size_bytes=stored.size,
                       sha256=stored.sha256, case=None, facts_hash="x", policy="taobao",
                       policy_digest="d")  # fmt: skip
    storage.derived_dir(str(tenant.id), check_id).mkdir()
    row = store.get(check_id)
    assert row is not None
    return row


class Sent(list[tuple[str, int, str]]):
    """A ``send`` that keeps what it was given (the broker's part is Celery's)."""

    def __call__(self, check_id: str, index: int, task_id: str) -> None:
        self.append((check_id, index, task_id))


def delete(store: Store, storage: LocalStorage, row: Check) -> None:
    """What the form's delete does (``Services.delete``): the row, then the files."""
    store.delete_check(row.id)
    storage.delete_check(str(row.tenant_id), row.id)


def leftovers(cfg: Settings, row: Check) -> list[Path]:
    """Every file of the check still on disk, and any temporary file anywhere."""
    files = cfg.data_dir / "files"
    mine = [p for p in files.rglob("*") if row.id in str(p)]
    return mine + list(files.rglob("*.part"))


def test_asked_once_made_once_by_the_worker(env, hevc: Path) -> None:
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    # The page asks (several times, several viewers): one task is sent.
    assert previews.request(store, storage, row, 0, sent).state == "preparing"
    assert previews.request(store, storage, row, 0, sent).state == "preparing"
    assert len(sent) == 1 and sent[0][:2] == (row.id, 0)
    target = previews.preview_path(storage, row, 0)
    assert not target.exists()  # asking makes nothing: the worker does
    # A task that is not the row's owner (a stray duplicate) does nothing.
    assert previews.make(row.id, 0, "someone-else", cfg)["status"] == "skipped"
    assert not target.exists()

    assert previews.make(row.id, 0, sent[0][2], cfg) == {"status": "ready"}
    status = previews.request(store, storage, row, 0, sent)
    assert status.state == "ready" and status.path == target and len(sent) == 1
    with av.open(str(target)) as out, av.open(str(hevc)) as src:
        assert out.streams.video[0].codec_context.name == "h264"
        assert out.streams.video[0].frames == src.streams.video[0].frames
    assert not list(target.parent.glob("*.part"))
    # Done: the same message delivered again, or another task, does not make it twice.
    before = target.stat().st_mtime_ns
    assert previews.make(row.id, 0, sent[0][2], cfg)["status"] == "skipped"
    assert target.stat().st_mtime_ns == before


def test_one_task_per_video_across_processes(env, hevc: Path) -> None:
    """Several web processes (each its own Store, as its own engine) ask at once: the
    row's insert lets exactly one of them send the task; the other video gets its own."""
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    stores = [Store(cfg.database_url) for _ in range(6)]
    sent = Sent()
    start = threading.Barrier(len(stores))

    def ask(s: Store) -> None:
        start.wait()
        previews.request(s, storage, row, 0, sent)

    try:
        threads = [threading.Thread(target=ask, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in stores:
            s.close()
    assert len(sent) == 1
    rec = store.preview(row.id, 0)
    assert rec is not None and rec.owner == sent[0][2] and rec.state == "queued"
    previews.request(store, storage, row, 1, sent)
    assert len(sent) == 2 and sent[1][1] == 1


def test_a_lost_message_is_sent_again_and_the_old_one_does_nothing(env, hevc: Path) -> None:
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    previews.request(store, storage, row, 0, sent)
    later = datetime.now(UTC) + timedelta(seconds=previews.RESEND_AFTER_S + 1)
    previews.request(store, storage, row, 0, sent, now=later)
    assert len(sent) == 2 and sent[0][2] != sent[1][2]
    assert previews.make(row.id, 0, sent[0][2], cfg)["status"] == "skipped"
    assert previews.make(row.id, 0, sent[1][2], cfg)["status"] == "ready"


def test_past_its_time_the_preview_fails_and_stays_failed(env, hevc: Path) -> None:
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    previews.request(store, storage, row, 0, sent)
    result = previews.make(row.id, 0, sent[0][2], cfg, timeout_s=0.0)
    assert result["status"] == "failed" and result["error"]["code"] == "analysis_timeout"
    status = previews.request(store, storage, row, 0, sent)
    assert status.state == "failed" and status.error and status.error["code"] == "analysis_timeout"
    assert len(sent) == 1  # not retried: it would fail again
    assert not list((cfg.data_dir / "files").rglob("*.part"))  # nothing half-written
    assert not previews.preview_path(storage, row, 0).exists()


def test_a_task_killed_at_its_hard_limit_reads_as_failed(env, hevc: Path) -> None:
    """The hard limit kills the process: nothing ends the row, so its age does."""
    _cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    previews.request(store, storage, row, 0, sent)
    assert store.start_preview(row.id, 0, sent[0][2], now=datetime.now(UTC))  # then killed
    target = previews.preview_path(storage, row, 0)
    half = target.with_name(f".{target.name}.k1ll3d.part")  # what the killed one left
    half.write_bytes(b"\0" * 100)
    assert previews.request(store, storage, row, 0, sent).state == "preparing"
    assert half.exists()  # still being written, as far as anyone can tell
    later = datetime.now(UTC) + timedelta(seconds=previews.MAKING_DEADLINE_S + 1)
    status = previews.request(store, storage, row, 0, sent, now=later)
    assert status.state == "failed" and len(sent) == 1
    assert not half.exists() and not target.exists()


def test_a_check_deleted_during_the_encode_keeps_nothing(
    env, hevc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    previews.request(store, storage, row, 0, sent)
    from validator.report import preview as preview_mod

    real = preview_mod._scaled_upright
    frames = [0]

    def deleting(*args, **kwargs):  # the merchant deletes the check at the 10th frame
        frames[0] += 1
        if frames[0] == 10:
            assert list(previews.preview_path(storage, row, 0).parent.glob("*.part"))
            delete(store, storage, row)
        return real(*args, **kwargs)

    monkeypatch.setattr(preview_mod, "_scaled_upright", deleting)
    assert previews.make(row.id, 0, sent[0][2], cfg) == {"status": "deleted"}
    assert frames[0] > 10  # the encode went on after the deletion
    assert leftovers(cfg, row) == []
    assert store.preview(row.id, 0) is None


def test_a_check_deleted_as_the_preview_lands_keeps_nothing(
    env, hevc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted between the rename into the folder and the look at the row: the task
    removes the check's folder again (as the analysis job does)."""
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    previews.request(store, storage, row, 0, sent)
    real = previews.make_preview

    def then_deleted(src, dst, **kw):
        out = real(src, dst, **kw)
        assert Path(dst).is_file()
        store.delete_check(row.id)  # the row only: the files' removal has not run yet
        return out

    monkeypatch.setattr(previews, "make_preview", then_deleted)
    assert previews.make(row.id, 0, sent[0][2], cfg) == {"status": "deleted"}
    assert leftovers(cfg, row) == []


def test_a_deleted_check_is_not_made(env, hevc: Path) -> None:
    cfg, store, storage = env
    row = a_check(store, storage, hevc)
    sent = Sent()
    previews.request(store, storage, row, 0, sent)
    delete(store, storage, row)
    assert previews.make(row.id, 0, sent[0][2], cfg) == {"status": "deleted"}
    assert leftovers(cfg, row) == []
