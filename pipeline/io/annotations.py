"""Annotation-tool exports (Label Studio, doccano, Prodigy) turned into plain article records.

Each reader yields one record per exported item with the item's own fields (text, title, meta)
plus the labels the annotators chose under `ANNOTATIONS`, as `{group: [label, ...]}`: a Label
Studio group is the control's `from_name`; doccano and Prodigy pool every chosen label under the
group `""`. `assign_labels` later gives each label to the configured task it belongs to, so one
export can carry several tasks (e.g. `topic` and `stance` choices) without extra config.

Items that carry no usable answer are still yielded, as errors with a reason prefix understood by
ingest (`skipped_answer: ...`, `label_conflict: ...`), so the accounting never loses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.records import RawRecord, Reason

ANNOTATIONS = "__annotations__"
POOLED = ""  # the group of labels that name no task (doccano, Prodigy)
PRODIGY_SKIPPED = ("reject", "ignore")


def _error(record: RawRecord, reason: Reason, detail: str, rec_id: Any = None) -> RawRecord:
    return RawRecord(
        record.source,
        record.line,
        None,
        f"{reason}: {detail}",
        None if rec_id is None else str(rec_id),
    )


def labelstudio_records(items: Any, source: str) -> Iterator[RawRecord]:
    """Records of a Label Studio JSON export (a list of tasks), or of its JSON-MIN variant.

    Full export: `data` holds the task's fields; each non-cancelled annotation's `choices`/
    `taxonomy` results give labels per control (`from_name`). A ground-truth annotation, if any,
    wins; otherwise annotators who disagree make a `label_conflict`. A task whose annotations
    were all cancelled (skipped in the tool) is a `skipped_answer`.
    """
    if not isinstance(items, list):
        items = [items]
    for index, item in enumerate(items, start=1):
        record = RawRecord(source, index, None)
        if not isinstance(item, dict):
            yield _error(record, Reason.UNPARSEABLE, "a Label Studio task must be an object")
            continue
        if "data" not in item and "annotations" not in item:
            yield RawRecord(source, index, _flatten_min(item))
            continue
        data = dict(item.get("data") or {})
        data.setdefault("id", item.get("id"))
        annotations = [a for a in item.get("annotations") or [] if isinstance(a, dict)]
        done = [a for a in annotations if not a.get("was_cancelled")]
        if annotations and not done:
            yield _error(
                record, Reason.SKIPPED_ANSWER, "every annotation was cancelled", data["id"]
            )
            continue
        chosen = [a for a in done if a.get("ground_truth")] or done
        groups: dict[str, list[str]] = {}
        conflict = None
        for annotation in chosen:
            for name, labels in _labelstudio_choices(annotation.get("result") or []).items():
                if name in groups and sorted(groups[name]) != sorted(labels):
                    conflict = name
                groups.setdefault(name, labels)
        if conflict is not None:
            yield _error(
                record, Reason.LABEL_CONFLICT, f"annotators disagree on '{conflict}'", data["id"]
            )
            continue
        data[ANNOTATIONS] = groups
        yield RawRecord(source, index, data)


def _labelstudio_choices(results: list[Any]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
            continue
        value = result["value"]
        if result.get("type") == "choices" or "choices" in value:
            labels = [str(c) for c in value.get("choices") or []]
        elif result.get("type") == "taxonomy" or "taxonomy" in value:
            labels = [str(path[-1]) for path in value.get("taxonomy") or [] if path]
        else:  # spans, ratings, text areas: not document labels
            continue
        name = str(result.get("from_name", POOLED))
        groups.setdefault(name, []).extend(labels)
    return groups


def _flatten_min(item: dict[str, Any]) -> dict[str, Any]:
    """JSON-MIN export: one flat object per task; multi-choice answers are `{"choices": [...]}`."""
    return {
        key: value["choices"] if isinstance(value, dict) and "choices" in value else value
        for key, value in item.items()
    }


def doccano_records(records: Iterable[RawRecord]) -> Iterator[RawRecord]:
    """doccano text-classification JSONL: `text`, `label` (or older `labels`) list, meta keys.

    Span exports (`[[start, end, "LABEL"], ...]`, sequence labelling) are not document labels
    and are rejected as unparseable.
    """
    for record in records:
        if record.data is None:
            yield record
            continue
        data = dict(record.data)
        key = "label" if "label" in data else "labels" if "labels" in data else None
        raw = data.pop(key) if key else []
        labels = [raw] if isinstance(raw, str) else raw
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            yield _error(
                record,
                Reason.UNPARSEABLE,
                "doccano labels must be a list of names, not spans",
                data.get("id"),
            )
            continue
        data[ANNOTATIONS] = {POOLED: labels} if labels else {}
        yield RawRecord(record.source, record.line, data)


def prodigy_records(records: Iterable[RawRecord]) -> Iterator[RawRecord]:
    """Prodigy JSONL (`db-out`) of `textcat` / `textcat_multilabel` answers.

    Choice tasks list the chosen option ids in `accept`; binary tasks name one `label`, which an
    `accept` answer confirms. `reject` and `ignore` answers are skipped (`skipped_answer`).
    `meta` fields (e.g. `id`, `title`) become record fields; the id falls back to `_input_hash`.
    """
    for record in records:
        if record.data is None:
            yield record
            continue
        item = record.data
        data = {k: v for k, v in item.items() if not k.startswith("_") and k != "meta"}
        meta = item.get("meta")
        if isinstance(meta, dict):
            data.update({k: v for k, v in meta.items() if k not in data})
        if data.get("id") in (None, "") and item.get("_input_hash") is not None:
            data["id"] = str(item["_input_hash"])
        answer = item.get("answer")
        if answer in PRODIGY_SKIPPED:
            yield _error(
                record, Reason.SKIPPED_ANSWER, f"prodigy answer '{answer}'", data.get("id")
            )
            continue
        labels: list[str] = []
        if answer == "accept":
            if isinstance(item.get("accept"), list):
                labels = [str(v) for v in item["accept"]]
            elif isinstance(item.get("label"), str):
                labels = [item["label"]]
        for key in ("accept", "label", "options", "answer", "config"):
            data.pop(key, None)
        data[ANNOTATIONS] = {POOLED: labels} if labels else {}
        yield RawRecord(record.source, record.line, data)


@dataclass(frozen=True, slots=True)
class TaskLabels:
    """What `assign_labels` needs of a task: the group names that mean it and its label set."""

    names: frozenset[str]  # task name, its field, and the source field it is mapped from
    labels: frozenset[str] | None  # None: the task declares no label list


def assign_labels(
    groups: Mapping[str, list[str]], tasks: Mapping[str, TaskLabels]
) -> tuple[dict[str, list[str]], list[str]]:
    """Give annotation labels to tasks; returns labels per task and the labels no task took.

    A named group goes to the task it names. A pooled label goes to the task it is prefixed with
    (`stance:critical`), else to the task whose declared labels contain it, else to the only
    task when there is just one.
    """
    per_task: dict[str, list[str]] = {name: [] for name in tasks}
    unassigned: list[str] = []
    for group, labels in groups.items():
        named = [name for name, task in tasks.items() if group and group in task.names]
        if named:
            per_task[named[0]].extend(labels)
            continue
        for label in labels:
            owner = _owner(label, tasks)
            if owner is None:
                unassigned.append(label)
            else:
                per_task[owner[0]].append(owner[1])
    return {name: list(dict.fromkeys(values)) for name, values in per_task.items()}, unassigned


def _owner(label: str, tasks: Mapping[str, TaskLabels]) -> tuple[str, str] | None:
    prefix, sep, rest = label.partition(":")
    if sep and prefix in tasks:
        return prefix, rest
    for name, task in tasks.items():
        if task.labels is not None and label in task.labels:
            return name, label
    if len(tasks) == 1:
        return next(iter(tasks)), label
    return None
