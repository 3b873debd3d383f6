"""``check_case()``: the videos of one return case -> their reports, the prediction, files.

The one place that checks a case: every adapter calls it and differs only in where
the result goes (``check`` prints it and exits with its verdict, the service stores
it on the job's row, ``batch`` publishes the case's folder). What it writes into
``out_dir``::

    report.json          the case (``CaseResult.to_dict()``): verdict, status,
                         videos (each video's full report), unreadable, prediction
    v0-face-1.jpg, ...   each video's evidence pictures, flat (the service serves
    v0-contact_sheet.jpg bare names), prefixed with the video's place in the case

``report.json`` is written last and atomically, so a reader sees none or all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validator.clock import Clock, default
from validator.errors import InputError
from validator.files import write_json
from validator.models import combine
from validator.policy import Policy, load_policy
from validator.report.model import validate_case_report
from validator.requirements import CheckFacts

Progress = Callable[[float, str], None]
REPORT = "report.json"


@dataclass(frozen=True)
class Unreadable:
    """A video of the case that is not a readable video, and why."""

    video: str
    error: InputError

    def to_dict(self) -> dict[str, Any]:
        return {"video": self.video, **self.error.to_dict()}


@dataclass(frozen=True)
class CaseResult:
    """The checked case: each readable video's report, the unreadable ones, the prediction."""

    reports: list[dict[str, Any]]
    unreadable: list[Unreadable] = field(default_factory=list)
    prediction: dict[str, Any] | None = None

    @property
    def verdict(self) -> str | None:
        """The worst verdict of the videos' reports; None when no video could be read."""
        return combine([r["verdict"] for r in self.reports]) if self.reports else None

    @property
    def status(self) -> str:
        """``done``, or ``unreadable`` when a video of the case could not be read."""
        return "unreadable" if self.unreadable else "done"

    def video_report(self, i: int = 0) -> dict[str, Any]:
        """Video ``i``'s report with the case's prediction riding along (when there is
        one): the document ``check --format json`` prints and the service stores.
        Raises the video's ``InputError`` when the case has no readable video."""
        if not self.reports:
            raise self.unreadable[0].error
        data = dict(self.reports[i])
        if self.prediction is not None:
            data["prediction"] = self.prediction
        return data

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "status": self.status,
            "videos": self.reports,
            "unreadable": [u.to_dict() for u in self.unreadable],
            "prediction": self.prediction,
        }


def judged_case(case: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The case as the prediction judges it: its videos are the ones checked here.

    ``evidence.videos`` is replaced by the checked videos (by file name, each filled
    by its report). Reports the case file may carry were not made here and are not
    these videos; and the list a case gives may name its videos otherwise than the
    file checked (the service stores every upload as ``video``), which would make a
    checked video count as a second one. With this list the prediction depends only
    on the case's facts and the videos checked, whichever adapter checked them.
    """
    evidence = dict(case.get("evidence") or {})
    evidence["videos"] = [{"path": name} for name in names]
    return {**case, "evidence": evidence}


def check_case(
    case: Mapping[str, Any] | None,
    videos: Sequence[str | Path],
    out_dir: str | Path | None,
    *,
    policy: Policy | str | Path | None = None,
    facts: CheckFacts | None = None,
    progress: Progress | None = None,
    clock: Clock | None = None,
    witness: Mapping[str, Any] | None = None,
) -> CaseResult:
    """Check every video of a case, write their evidence pictures, predict, write.

    ``case`` is a validated case dict (``validator.predict.load_case``) or None;
    ``videos`` the case's video files, in order; ``out_dir`` the folder that
    receives ``report.json`` and the pictures (see the module docstring), or None
    to write nothing. ``facts`` replace the facts the checks take from ``case``
    (the CLI's ``--tracking-number`` and friends); ``progress(fraction, stage)``
    is called as the work goes on (0 to 1 over all videos); ``clock`` gives the
    durations in the reports and the prediction's "now" (``validator.clock``);
    ``witness`` is the signed witness record of a recording made through the service,
    for a case of that one video (``validator.witness``).

    A video that is not a readable video (``InputError``) is listed in
    ``unreadable`` and the others go on; every other error propagates (a bad
    policy, a time limit, a bug). The prediction (with a case) judges exactly the
    videos given here, readable or not (``judged_case`` says why), so the same
    video and case give the same prediction from the CLI, the service and batch.
    """
    from validator.analyze import check

    clock = clock or default()
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    out = Path(out_dir) if out_dir is not None else None
    paths = [Path(v) for v in videos]
    n = max(1, len(paths))
    reports: list[dict[str, Any]] = []
    unreadable: list[Unreadable] = []
    for i, path in enumerate(paths):

        def step(fraction: float, stage: str, i: int = i) -> None:
            # A video's "done" is not the case's: its pictures and the others follow.
            if progress is not None and stage != "done":
                progress((i + fraction) / n, stage)

        try:
            report = check(path, facts=facts or case, policy=pol, progress=step, clock=clock,
                           witness=witness)  # fmt: skip
        except InputError as e:
            unreadable.append(Unreadable(path.name, e))
            continue
        data = report.to_dict()
        if out is not None:
            from validator.report.thumbnails import write_thumbnails

            step(0.99, "thumbnails")
            t0 = clock.counter()
            stream = report.media.video_stream_index if report.media else None
            write_thumbnails(path, data, out, prefix=f"v{i}-", stream_index=stream)
            data["analysis"]["thumbnails_s"] = round(clock.counter() - t0, 3)
        reports.append(data)
    prediction = None
    if case is not None:
        from validator.predict import predict

        judged = judged_case(case, [p.name for p in paths])
        prediction = predict(judged, reports, now=clock.now()).to_dict()
    result = CaseResult(reports, unreadable, prediction)
    if out is not None:
        write_json(out / REPORT, validate_case_report(result.to_dict()))
    if progress is not None:
        progress(1.0, "done")
    return result
