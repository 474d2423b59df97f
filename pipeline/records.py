"""Record types and reason codes that cross module borders, defined once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a record was rejected (written to a rejects file)."""

    UNPARSEABLE = "unparseable"
    BAD_ENCODING = "bad_encoding"
    EMPTY_TEXT = "empty_text"
    TOO_SHORT = "too_short"
    MISSING_ID = "missing_id"
    MISSING_LABEL = "missing_label"
    UNKNOWN_LABEL = "unknown_label"
    WRONG_TYPE = "wrong_type"
    LABEL_CONFLICT = "label_conflict"
    SKIPPED_ANSWER = "skipped_answer"  # an annotation answered reject/ignore, or cancelled


@dataclass(slots=True)
class RawRecord:
    """One input record as read, with where it came from; `data` is None when it can't be parsed."""

    source: str
    line: int
    data: dict[str, Any] | None
    error: str | None = None
    id: str | None = None  # known id of a record that could not be used (data is None)


@dataclass(slots=True)
class Reject:
    """A record that could not be used, with the reason and where to find it."""

    source: str
    line: int
    id: str | None
    reason: Reason
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["reason"] = str(self.reason)
        return row


@dataclass(slots=True)
class Counts:
    """The ingest accounting: read = kept + duplicates + rejected."""

    read: int = 0
    kept: int = 0
    duplicates: int = 0
    rejected: int = 0
    truncated: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"read {self.read} · kept {self.kept} · duplicates {self.duplicates} · "
            f"rejected {self.rejected}"
        )
