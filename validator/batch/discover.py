"""Find the cases in a folder tree, and the key that says whether a case changed.

A case is a folder holding one or more videos and an optional ``case.json``; a video
lying loose in the top folder is a case of its own. Hidden folders (``.appeal-validator``,
``.git``) and the output folder are skipped.

Finding a case never opens a file that could stop the run: a fifo or device named like
a video, a link to nothing or to a place outside the tree (never followed), a file it may
not read. Each is kept as the case's ``refused`` entry (name, why), listed with the
case as unreadable, while the other cases go on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".m4v", ".3gp", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".flv"}
)
CASE_FILE = "case.json"


@dataclass(frozen=True, slots=True)
class Case:
    """One case: its id (the path relative to the batch root), videos, case file, and
    the entries found but not read (``refused``: name and why)."""

    id: str
    videos: tuple[Path, ...]
    case_file: Path | None = None
    slug: str = field(default="")
    refused: tuple[tuple[str, str], ...] = ()


def slugify(case_id: str) -> str:
    """A folder name for a case id: readable, unique (a short hash of the id)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", case_id).strip("._")[:60] or "case"
    return f"{base}-{hashlib.sha256(case_id.encode('utf-8')).hexdigest()[:8]}"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def refusal(path: Path, root: Path) -> str | None:
    """Why the file ``path`` under ``root`` is not to be read, or None; never opens it."""
    try:
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            return "a link that leaves the folder tree (not followed)"
        st = path.stat()
    except FileNotFoundError:
        return "a link to nothing (its target is gone)"
    except (OSError, RuntimeError) as e:  # a link loop, a name too long, ...
        return f"cannot be read ({getattr(e, 'strerror', None) or type(e).__name__})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a fifo, device or socket named like one)"
    if not os.access(path, os.R_OK):
        return "no permission to read it"
    return None


def discover(root: Path, *, exclude: Path | None = None) -> list[Case]:
    """The cases under ``root``, sorted by id."""
    root = root.resolve()
    skip = exclude.resolve() if exclude is not None else None
    cases: list[Case] = []
    for folder, dirs, files in os.walk(root):  # never into linked folders
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (skip is None or here / d != skip)
        )
        found = sorted(here / f for f in files if is_video(here / f))
        refused = {p.name: why for p in found if (why := refusal(p, root))}
        videos = [v for v in found if v.name not in refused]
        case_file = here / CASE_FILE if CASE_FILE in files else None
        if case_file is not None and (why := refusal(case_file, root)):
            refused[CASE_FILE] = why
            case_file = None
        if here == root and CASE_FILE not in files:
            for v in found:  # loose videos: one case each
                bad = ((v.name, refused[v.name]),) if v.name in refused else ()
                cases.append(Case(v.name, () if bad else (v,), None, slugify(v.name), bad))
            continue
        if found or CASE_FILE in files:
            rel = here.relative_to(root).as_posix()
            case_id = rel if rel != "." else root.name
            cases.append(
                Case(case_id, tuple(videos), case_file, slugify(case_id),
                     tuple(sorted(refused.items())))
            )  # fmt: skip
    return sorted(cases, key=lambda c: c.id)


def _digest(path: Path) -> str:
    """sha256 of a regular file, opened without blocking (a fifo swapped in after
    ``refusal`` looked is refused here); "unreadable: why" when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return "unreadable: not a regular file"
            h = hashlib.sha256()
            while block := f.read(1 << 20):
                h.update(block)
            return h.hexdigest()
    except OSError as e:
        return f"unreadable: {e.strerror or type(e).__name__}"


def case_key(case: Case, policy_digest: str, tool_version: str) -> str:
    """sha256 over the videos' bytes, the canonical case JSON, the policy and the tool.

    An unreadable ``case.json`` keys on its raw bytes, so fixing it changes the key.
    """
    h = hashlib.sha256()
    h.update(f"tool={tool_version}\npolicy={policy_digest}\n".encode())
    if case.case_file is not None:
        try:
            raw = case.case_file.read_bytes()  # a regular file (refusal() looked)
        except OSError as e:
            raw = f"unreadable: {e.strerror}".encode()
        try:
            canon: Any = json.loads(raw)
            h.update(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode())
        except (ValueError, RecursionError):  # not JSON, or nested past the stack
            h.update(raw)
    h.update(b"\nvideos\n")
    for v in case.videos:
        h.update(f"{v.name}:{_digest(v)}\n".encode())
    for name, why in case.refused:
        h.update(f"{name}:refused: {why}\n".encode())
    return h.hexdigest()
