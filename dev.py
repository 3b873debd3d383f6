#!/usr/bin/env python3
"""One entry point for the project's tasks; needs only Python 3.11+ (stdlib).

    python3 dev.py run     # set up .venv, build the demo clips, check one (text report)
    python3 dev.py test    # set up .venv with test tools, ruff, then the whole test suite
    python3 dev.py bench   # the benchmark (benchmarks/bench_check.py)

Extra arguments after ``test`` go to pytest (e.g. ``python3 dev.py test -m "not slow"``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
DEMO = ROOT / "fixtures" / "demo"


def sh(*args: str | Path, **kw) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kw)


def setup(extra: str) -> None:
    """Create .venv and install the project with ``extra``; skip when nothing changed."""
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra}"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extra}]")
    stamp.write_text(want)


def run(argv: list[str]) -> int:
    setup("test")
    sh(PY, "-m", "fixtures.generate", "--demo", "--out", DEMO)
    video = DEMO / "spliced-take.mp4"
    print(f"\nChecking {video.relative_to(ROOT)} (a demo clip with a second take spliced in):\n")
    code = subprocess.run(
        [
            str(PY),
            "-m",
            "validator",
            "check",
            str(video),
            "--return-signed-at",
            "2026-11-20T14:00",
            *argv,
        ],
        cwd=ROOT,
    ).returncode
    print(f"(exit code {code}: 0 pass, 1 fail, 3 review)")
    return 0


def test(argv: list[str]) -> int:
    setup("dev")
    sh(PY, "-m", "ruff", "check", ".")
    sh(PY, "-m", "ruff", "format", "--check", ".")
    env = dict(os.environ, FIXTURE_CACHE=str(ROOT / ".cache" / "fixtures"))
    return subprocess.run([str(PY), "-m", "pytest", *argv], cwd=ROOT, env=env).returncode


def bench(argv: list[str]) -> int:
    setup("dev")
    return subprocess.run([str(PY), "benchmarks/bench_check.py", *argv], cwd=ROOT).returncode


def main() -> int:
    tasks = {"run": run, "test": test, "bench": bench}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        print(__doc__)
        return 2
    try:
        return tasks[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as e:
        return e.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
