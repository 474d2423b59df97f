"""Parsing and validating label values of a task (multiclass: one string; multilabel: a list)."""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.config import TaskConfig
from pipeline.records import Reason

_LIST_SEPARATORS = re.compile(r"\s*[;|,]\s*")


class LabelError(ValueError):
    """A record's label value is unusable; `reason` says why."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_label(value: Any, task: TaskConfig) -> str | list[str]:
    """Normalise a raw label value, raising LabelError with a reason code when unusable."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        raise LabelError(Reason.MISSING_LABEL, f"no value for '{task.field}'")
    if task.type == "multiclass":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise LabelError(Reason.WRONG_TYPE, f"'{task.field}' must be a string")
        label = str(value).strip()
        _check_known([label], task)
        return label
    labels = _as_list(value, task)
    _check_known(labels, task)
    return sorted(set(labels))


def _as_list(value: Any, task: TaskConfig) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise LabelError(Reason.WRONG_TYPE, f"'{task.field}': bad list {text!r}") from exc
        else:
            return [part for part in _LIST_SEPARATORS.split(text) if part]
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        value = value.tolist()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise LabelError(Reason.WRONG_TYPE, f"'{task.field}' must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def _check_known(labels: list[str], task: TaskConfig) -> None:
    if task.labels is None:
        return
    unknown = sorted(set(labels) - set(task.labels))
    if unknown:
        raise LabelError(Reason.UNKNOWN_LABEL, f"'{task.field}': unknown label(s) {unknown}")
