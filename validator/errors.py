"""The one error tree of the validator.

Every error carries a stable ``code`` (for JSON bodies and batch summaries) and a
message that says how to fix the problem. Adapters translate the tree in exactly
one place: ``cli.py`` maps it to exit codes, the web layer to one JSON error body.

    ValidatorError                  code            CLI exit
    (the base itself)               error           70  a bug: every error has its class
    ├── UsageError                  usage           2   bad arguments or options
    │   ├── CaseError               bad_case        2   a case file that does not fit its schema
    │   └── ConfigError             bad_config      2   a policy profile or setting that is wrong
    │       └── FontMissing         bad_config      2   no font with Chinese glyphs for the PDF
    ├── InputError                  (per reason)    4   the input is not a readable video
    │   ├── VideoMissing            video_missing   no file at the path (removed, a dangling link)
    │   ├── UnreadableFile          unreadable_file not a regular file, or no permission to read it
    │   ├── EmptyFile               empty_file
    │   ├── NotAVideo               not_a_video
    │   ├── NoVideoStream           no_video_stream
    │   ├── UndecodableVideo        undecodable     truncated, metadata only, corrupt
    │   └── AbsurdMedia             absurd_media    size, duration or decode work out of range
    └── AnalysisTimeout             analysis_timeout 4  decoding ran past its time budget
"""

from __future__ import annotations

from typing import Any


class ValidatorError(Exception):
    """Base of every error the validator raises on purpose."""

    code = "error"
    # Never raised bare on purpose: the CLI reads this base's exit code as a bug (70),
    # never 1, which means "fail" (or "likely rejected").
    exit_code = 70

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON error object shared by the CLI and the API."""
        return {"code": self.code, "message": self.message, "details": self.details}


class UsageError(ValidatorError):
    """Arguments or options that cannot work."""

    code = "usage"
    exit_code = 2


class CaseError(UsageError):
    """A case file (facts of the return) that does not fit its schema."""

    code = "bad_case"


class ConfigError(UsageError):
    """A policy profile or setting that is missing or malformed."""

    code = "bad_config"


class FontMissing(ConfigError):
    """No font with Chinese glyphs to embed in the evidence PDF (``validator.report.pdf``).

    ``details["message_zh"]`` says the same in Chinese for the merchant's page."""


class InputError(ValidatorError):
    """The input is not a video this tool can read."""

    code = "bad_input"
    exit_code = 4


class VideoMissing(InputError):
    code = "video_missing"


class UnreadableFile(InputError):
    code = "unreadable_file"


class EmptyFile(InputError):
    code = "empty_file"


class NotAVideo(InputError):
    code = "not_a_video"


class NoVideoStream(InputError):
    code = "no_video_stream"


class UndecodableVideo(InputError):
    code = "undecodable"


class AbsurdMedia(InputError):
    code = "absurd_media"


class AnalysisTimeout(InputError):
    code = "analysis_timeout"
