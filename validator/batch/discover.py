"""Find the cases in a folder tree, and the key that says whether a case changed.

A case is a folder holding one or more videos and an optional ``case.json``; a video
lying loose in the top folder is a case of its own. Hidden folders (``.appeal-validator``,
``.git``) and the output folder are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validator.analyze import sha256_file

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".m4v", ".3gp", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".flv"}
)
CASE_FILE = "case.json"


@dataclass(frozen=True, slots=True)
class Case:
    """One case: its id (the path relative to the batch root), videos, case file."""

    id: str
    videos: tuple[Path, ...]
    case_file: Path | None = None
    slug: str = field(default="")


def slugify(case_id: str) -> str:
    """A folder name for a case id: readable, unique (a short hash of the id)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", case_id).strip("._")[:60] or "case"
    return f"{base}-{hashlib.sha256(case_id.encode('utf-8')).hexdigest()[:8]}"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def discover(root: Path, *, exclude: Path | None = None) -> list[Case]:
    """The cases under ``root``, sorted by id."""
    root = root.resolve()
    skip = exclude.resolve() if exclude is not None else None
    cases: list[Case] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (skip is None or here / d != skip)
        )
        videos = sorted(here / f for f in files if is_video(here / f))
        case_file = here / CASE_FILE if CASE_FILE in files else None
        if here == root and case_file is None:
            for v in videos:  # loose videos: one case each
                cases.append(Case(v.name, (v,), None, slugify(v.name)))
            continue
        if videos or case_file is not None:
            rel = here.relative_to(root).as_posix()
            case_id = rel if rel != "." else root.name
            cases.append(Case(case_id, tuple(videos), case_file, slugify(case_id)))
    return sorted(cases, key=lambda c: c.id)


def case_key(case: Case, policy_digest: str, tool_version: str) -> str:
    """sha256 over the videos' bytes, the canonical case JSON, the policy and the tool.

    An unreadable ``case.json`` keys on its raw bytes, so fixing it changes the key.
    """
    h = hashlib.sha256()
    h.update(f"tool={tool_version}\npolicy={policy_digest}\n".encode())
    if case.case_file is not None:
        raw = case.case_file.read_bytes()
        try:
            canon: Any = json.loads(raw)
            h.update(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode())
        except ValueError:
            h.update(raw)
    h.update(b"\nvideos\n")
    for v in case.videos:
        h.update(f"{v.name}:{sha256_file(v)}\n".encode())
    return h.hexdigest()
