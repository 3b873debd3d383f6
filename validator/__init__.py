"""appeal-evidence-validator: check unboxing videos (拆包视频) for return-dispute appeals.

Public API::

    from validator import check, load_policy
    report = check("unboxing.mp4", facts={"return": {"signed_at": "2026-11-20T10:00"}})
    report.verdict            # "pass" | "fail" | "review"
    report.to_dict()          # the JSON report (its JSON Schema: schemas/report.schema.json)

    from validator import check_case
    result = check_case(case, ["unboxing.mp4"], "out/")  # + pictures, prediction, report.json
    result.prediction         # with a case: the predicted appeal outcome

Errors are one tree rooted at ``ValidatorError`` (see ``validator.errors``).
"""

__version__ = "0.2.0"

from typing import TYPE_CHECKING, Any

from validator.errors import (
    AbsurdMedia,
    AnalysisTimeout,
    CaseError,
    ConfigError,
    EmptyFile,
    InputError,
    NotAVideo,
    NoVideoStream,
    UndecodableVideo,
    UsageError,
    ValidatorError,
)
from validator.policy import Policy, load_policy

if TYPE_CHECKING:
    from validator.analyze import check
    from validator.cases import CaseResult, check_case
    from validator.report.build import Report


def __getattr__(name: str) -> Any:
    # Lazy: ``import validator.errors`` (the predictor, the CLI's argument parsing)
    # should not load PyAV and OpenCV.
    if name == "check":
        from validator.analyze import check

        return check
    if name in ("check_case", "CaseResult"):
        from validator import cases

        return getattr(cases, name)
    if name == "Report":
        from validator.report.build import Report

        return Report
    raise AttributeError(f"module 'validator' has no attribute {name!r}")


__all__ = [
    "AbsurdMedia",
    "AnalysisTimeout",
    "CaseError",
    "CaseResult",
    "ConfigError",
    "EmptyFile",
    "InputError",
    "NoVideoStream",
    "NotAVideo",
    "Policy",
    "Report",
    "UndecodableVideo",
    "UsageError",
    "ValidatorError",
    "__version__",
    "check",
    "check_case",
    "load_policy",
]
