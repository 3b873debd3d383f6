#!/usr/bin/env python3
"""One entry point for the project's tasks; needs only Python 3.11+ (stdlib).

    python3 dev.py run     # set up .venv, start the service (upload form + API), print its URL
    python3 dev.py test    # set up .venv with test tools, ruff, mypy, then the whole test suite
    python3 dev.py bench   # the benchmark (benchmarks/bench_check.py)
    python3 dev.py fuzz    # each fuzzer of tests/test_fuzz.py for FUZZ_SECONDS (60) s

Extra arguments after ``test`` go to pytest (e.g. ``python3 dev.py test -m "not slow"``).
``fuzz`` keeps what it finds in tests/fuzz_corpus/ (FUZZ_SAVE=1; commit it with the fix).
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
    """The service on embedded defaults (SQLite in ./data, in-process workers)."""
    setup("test")
    # Prints "Serving on http://127.0.0.1:8000/"; Ctrl-C stops it.
    try:
        return subprocess.run([str(PY), "-m", "validator", "serve", *argv], cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


def test(argv: list[str]) -> int:
    setup("dev")
    sh(PY, "-m", "ruff", "check", ".")
    sh(PY, "-m", "ruff", "format", "--check", ".")
    sh(PY, "-m", "mypy")  # the library (pyproject [tool.mypy]): the stage contracts hold
    # The generated clips are kept in the user's cache, by generator (fixtures.generate.
    # default_cache): a second run, or another checkout, renders none of them again.
    # Two pytest-xdist workers, a test file each at a time (--dist loadfile keeps a
    # file's module fixtures and servers in one process): measured on this 2-core
    # machine, the whole suite takes 11.4 min instead of 16.4 min in one process (many
    # tests wait on browsers, servers and subprocesses). Options given replace these.
    if argv:
        return subprocess.run([str(PY), "-m", "pytest", *argv], cwd=ROOT).returncode
    parallel = ["-n", str(min(2, os.cpu_count() or 1)), "--dist", "loadfile"]
    rest = subprocess.run([str(PY), "-m", "pytest", *parallel, "-m", "not alone"], cwd=ROOT)
    # Then the latency tests, with nothing else running: issue 15 bounds the live
    # guidance's lag "with one recording running on this machine"; beside another test
    # worker it grew past 2 s (2-7 s measured here), which is that worker's doing.
    alone = subprocess.run([str(PY), "-m", "pytest", "-p", "no:xdist", "-m", "alone"], cwd=ROOT)
    # pytest's 5: no test selected (a checkout without them) is no failure
    return rest.returncode or (0 if alone.returncode == 5 else alone.returncode)


def fuzz(argv: list[str]) -> int:
    """The fuzzers' long run (the test suite runs them briefly): FUZZ_SECONDS each."""
    setup("dev")
    env = dict(os.environ)
    env.setdefault("FUZZ_SECONDS", "60")
    env.setdefault("FUZZ_SAVE", "1")
    # pytest-timeout's limit per test: the run, plus a round that ends past it
    limit = int(float(env["FUZZ_SECONDS"]) * 2 + 120)
    cmd = [str(PY), "-m", "pytest", "-m", "fuzz", f"--timeout={limit}", "tests/test_fuzz.py"]
    # Two at a time, one per core: the four 60 s runs take two minutes, not four.
    halves = ["box_walker or case_parser", "probe or multipart_upload"]
    runs = [subprocess.Popen([*cmd, "-k", k, *argv], cwd=ROOT, env=env) for k in halves]
    return max(p.wait() for p in runs)


def bench(argv: list[str]) -> int:
    setup("dev")
    return subprocess.run([str(PY), "benchmarks/bench_check.py", *argv], cwd=ROOT).returncode


def main() -> int:
    tasks = {"run": run, "test": test, "bench": bench, "fuzz": fuzz}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        print(__doc__)
        return 2
    try:
        return tasks[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as e:
        return e.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
