"""``summary.jsonl``, ``summary.csv`` and ``index.html``: one row per case, from the reports.

The three are rendered from the same rows (``row()``), which are read back from the
per-case ``report.json`` and ``batch.json`` files, so they always agree with the reports.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from validator.files import write_text
from validator.models import REQUIREMENTS, VERDICTS, combine

COLUMNS = (
    "case_id",
    "status",
    "verdict",
    *REQUIREMENTS,
    "predicted_outcome",
    "predicted_score",
    "videos",
    "unreadable",
    "error",
    "thumbnail",
    "report",
)


def _requirement_verdict(reports: list[Mapping[str, Any]], name: str) -> str:
    verdicts = [(r.get("requirements") or {}).get(name, {}).get("verdict") for r in reports]
    known = [v for v in verdicts if v in VERDICTS]
    return combine(known) if known else ""


def _pictures(report: Mapping[str, Any]) -> list[str]:
    """A video's pictures, the waybill's first: ``thumbnails.files``, or the list that
    reports written before version 0.2 kept (still summarised on a resumed batch)."""
    t = report.get("thumbnails")
    files = [str(f) for f in (t if isinstance(t, list) else (t or {}).get("files") or [])]
    return sorted(files, key=lambda f: not f.endswith("waybill.jpg"))


def row(result: Mapping[str, Any], slug: str) -> dict[str, Any]:
    """One summary row of a case report (``slug`` is its folder under ``cases/``)."""
    reports = list(result.get("videos") or [])
    thumbs = [t for r in reports for t in _pictures(r)]
    pred = result.get("prediction") or {}
    error = result.get("error") or {}
    return {
        "case_id": result["case_id"],
        "status": result["status"],
        "verdict": result.get("verdict") or "",
        **{name: _requirement_verdict(reports, name) for name in REQUIREMENTS},
        "predicted_outcome": pred.get("outcome") or "",
        "predicted_score": "" if pred.get("score") is None else pred["score"],
        "videos": ";".join((r.get("file") or {}).get("name", "") for r in reports),
        "unreadable": ";".join(u["video"] for u in result.get("unreadable") or []),
        "error": error.get("message")
        or "; ".join(f"{u['video']}: {u['message']}" for u in result.get("unreadable") or []),
        "thumbnail": f"cases/{slug}/{thumbs[0]}" if thumbs else "",
        # A case that could not be checked (a bad case.json) has only its batch.json.
        "report": f"cases/{slug}/{'report.json' if 'videos' in result else 'batch.json'}",
    }


# A spreadsheet runs a cell that starts with one of these as a formula (a case folder
# named "=HYPERLINK(...)", a message quoting one). OWASP's rule for CSV injection
# (owasp.org/www-community/attacks/CSV_Injection): prefix such a text cell with a
# single quote, which the spreadsheet shows as text. Numbers (a negative score) are kept.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """``value`` safe to open in a spreadsheet (see ``FORMULA_LEADS``)."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def render_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    # RFC 4180's CRLF: Python 3.11's writer quotes a field holding a lone CR only when
    # CR is in the line terminator (with "\n" a CR in a message split the row).
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_cell(r[k]) for k in COLUMNS})
    return buf.getvalue()


def render_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in rows)


_CSS = """body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:middle}
.pass{background:#e6f4ea}.fail{background:#fce8e6}.review{background:#fef7e0}
.unreadable,.error{background:#eee;color:#a00}img{max-width:160px;max-height:90px}"""


def render_html(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS if c not in ("thumbnail", "report"))
    body = []
    for r in rows:
        cells = []
        for c in COLUMNS:
            if c in ("thumbnail", "report"):
                continue
            v = str(r[c])
            cls = f' class="{e(v)}"' if c in ("status", "verdict", *REQUIREMENTS) else ""
            cells.append(f'<td data-col="{c}"{cls}>{e(v)}</td>')
        thumb = f'<img src="{e(r["thumbnail"])}" alt="">' if r["thumbnail"] else ""
        cells.append(f'<td data-col="thumbnail">{thumb}</td>')
        cells.append(f'<td data-col="report"><a href="{e(r["report"])}">report</a></td>')
        body.append(f'<tr data-case="{e(r["case_id"])}">{"".join(cells)}</tr>')
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
        f"<table><thead><tr>{head}<th>thumbnail</th><th>report</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>\n"
    )


def write_all(out: Path, rows: Sequence[Mapping[str, Any]], title: str) -> None:
    """Write the three summaries (each atomically)."""
    write_text(out / "summary.jsonl", render_jsonl(rows))
    write_text(out / "summary.csv", render_csv(rows))
    write_text(out / "index.html", render_html(rows, title))
