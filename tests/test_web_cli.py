"""``appeal-validator keys`` and ``serve``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from _service import Server

from validator import cli
from validator.jobs.store import Store, hash_key


@pytest.fixture(autouse=True)
def commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Until cli.py lists them (the lead adds "serve" and "keys" to COMMANDS).
    if "keys" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "serve", "keys"))
    monkeypatch.setenv("APPEAL_VALIDATOR_DATA_DIR", str(tmp_path / "data"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_list_revoke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "keys", "create", "acme", "--callback-url", "https://t.example/h")
    assert code == 0
    # docs/api.md: KEY=$(appeal-validator keys create acme) captures the key alone.
    key = out.removesuffix("\n")
    assert key.startswith("av_") and key.isprintable() and " " not in key
    assert "webhook secret: whsec_" in err and "callback url: https://t.example/h" in err
    assert key not in err
    key_id = next(line.split(": ")[1] for line in err.splitlines() if line.startswith("key id"))
    store = Store(f"sqlite:///{tmp_path / 'data' / 'appeal.db'}")
    try:
        assert store.authenticate(key) is not None
        assert key not in json.dumps([k.key_hash for k, _ in store.api_keys()])
        assert [k.key_hash for k, _ in store.api_keys()] == [hash_key(key)]
    finally:
        store.close()
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and key_id in out and "acme" in out and key not in out
    assert run(capsys, "keys", "revoke", key_id)[0] == 0
    code, out, _ = run(capsys, "keys", "list", "acme")
    assert key_id in out and "-  " not in out.splitlines()[1].split("acme")[1][:40]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("keys", "create", "_web"), id="reserved-tenant"),
        pytest.param(("keys", "create", "a b"), id="space-in-name"),
        pytest.param(("keys", "create", "acme", "--callback-url", "file:///etc"), id="bad-url"),
        pytest.param(("keys", "revoke", "key_nope"), id="unknown-key"),
        pytest.param(("keys",), id="no-action"),
    ],
)
def test_keys_usage_errors(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith(("error:", "usage:")) and "Traceback" not in err


def test_bad_settings_fail_at_start(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEAL_VALIDATOR_MAX_UPLOAD_MB", "-5")
    code, _, err = run(capsys, "serve", "--port", "0")
    assert code == 2 and "APPEAL_VALIDATOR_MAX_UPLOAD_MB" in err


def _worker_children(pid: int) -> list[int]:
    """Children of ``pid`` that run ``appeal-validator worker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"worker" in argv:
            found.append(int(entry.name))
    return found


def test_serve_prints_the_url_and_serves(tmp_path: Path) -> None:
    with Server(tmp_path / "srv") as server:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "/api/v1/health", timeout=10) as resp:
            assert json.loads(resp.read())["broker"] == "embedded"
        workers = _worker_children(server.proc.pid)
        assert workers  # serve started a worker beside it
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.url + "/api/v1/checks/x", timeout=10)
        assert e.value.code == 401
        assert json.loads(e.value.read())["error"]["code"] == "unauthorized"
        e.value.close()
    assert server.proc.returncode == 0  # SIGTERM: a clean stop, its worker with it
    assert not [p for p in workers if Path(f"/proc/{p}").exists()]
