"""Ingest: read → validate → clean → de-duplicate → split → write `data/processed/`.

Every input record ends up in exactly one place: the processed splits, `duplicates.jsonl`, or
`rejects.jsonl` with a reason, and the counts printed add up (read = kept + duplicates + rejected).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

from pipeline.clean import TextCleaner, build_document, remove_learned_lines
from pipeline.config import Config
from pipeline.dedup import find_configured
from pipeline.errors import PipelineError, UsageError
from pipeline.io.annotations import ANNOTATIONS, TaskLabels, assign_labels
from pipeline.io.folders import iter_folder
from pipeline.io.readers import expand_inputs, iter_records
from pipeline.io.writers import atomic_path, write_json, write_jsonl, write_parquet
from pipeline.labels import LabelError, parse_label
from pipeline.records import Counts, RawRecord, Reason, Reject

MANIFEST = "manifest.json"
CLEANER = "cleaner.joblib"
DUPLICATES = "duplicates.jsonl"
REJECTS = "rejects.jsonl"
# recorded in the manifest: bump it when a code change (cleaning, dedup) alters the processed
# records of the same inputs and config, so that `pipeline run` re-ingests
INGEST_CODE = 3
TOP_REMOVED_LINES = 50  # the manifest lists the lines cleaning removed most often


@dataclass
class _Row:
    """A record that passed validation, on its way to the processed output."""

    id: str
    text: str
    split: str
    source: str
    line: int
    labels: dict[str, Any]
    truncated: bool = False
    group: str | None = None  # data.group_field's value


@dataclass
class IngestResult:
    """What ingest did, for the CLI to print and for later steps to check."""

    counts: Counts
    split_counts: dict[str, int]
    out_dir: Path
    manifest: dict[str, Any] = field(default_factory=dict)


def cleaner_from_config(config: Config) -> TextCleaner:
    c = config.clean
    return TextCleaner(
        fix_unicode=c.fix_unicode,
        boilerplate_patterns=c.boilerplate_patterns,
        captions=c.captions,
        repeated_paragraphs=c.repeated_paragraphs,
        learn_boilerplate=c.learned_boilerplate,
        boilerplate_min_docs=c.boilerplate_min_docs,
        boilerplate_min_fraction=c.boilerplate_min_fraction,
        boilerplate_max_words=c.boilerplate_max_words,
        max_chars=c.max_chars,
        pairs=config.features.pair_fields is not None,
        text_fields=list(config.data.text_fields),
    )


def reject_for(record: RawRecord, id_field: str = "id") -> Reject:
    """The reject row of a record that could not be parsed; an error starting with a reason code
    (`skipped_answer: ...`) gives that reason, any other error is `unparseable`."""
    code = (record.error or "").split(":", 1)[0]
    reason = Reason(code) if code in Reason._value2member_map_ else Reason.UNPARSEABLE
    rec_id = (
        str(record.data.get(id_field)) if record.data and id_field in record.data else record.id
    )
    return Reject(record.source, record.line, rec_id, reason, record.error or "")


def read_inputs(paths: list[Path], config: Config) -> Iterator[RawRecord]:
    """Every record of the given files and folders (folders of documents get their labels from a
    sidecar file or their sub-folder names, see `pipeline.io.folders`)."""
    tasks = list(config.tasks.values())
    folder_label = (
        tasks[0].field
        if config.data.folder_labels and len(tasks) == 1 and tasks[0].type == "multiclass"
        else None
    )
    for path in paths:
        if path.is_dir():
            yield from iter_folder(
                path,
                fmt=config.data.format,
                sidecar=config.data.sidecar,
                key_field=config.data.fields.get("file", "file"),
                folder_label_field=folder_label,
            )
        else:
            yield from iter_records(path, config.data.format)


def canonical_record(data: dict[str, Any], config: Config) -> dict[str, Any]:
    """The record under its canonical field names (`data.fields`), with annotation-tool labels
    given to their tasks; raises LabelError when annotations can't be given to the tasks."""
    if config.data.fields:
        data = data | {c: data[src] for c, src in config.data.fields.items() if src in data}
    groups = data.get(ANNOTATIONS)
    if not groups:
        return data
    owners = {
        name: TaskLabels(
            frozenset({name, task.field, config.data.fields.get(task.field, task.field)}),
            frozenset(task.labels) if task.labels is not None else None,
        )
        for name, task in config.tasks.items()
    }
    per_task, unassigned = assign_labels(groups, owners)
    if unassigned:
        raise LabelError(
            Reason.UNKNOWN_LABEL,
            f"label(s) {unassigned} belong to no task: declare tasks.<name>.labels or "
            "prefix them with the task name (stance:critical)",
        )
    data = dict(data)
    for name, task in config.tasks.items():
        values = per_task[name]
        if task.type == "multiclass" and len(values) > 1:
            raise LabelError(
                Reason.LABEL_CONFLICT, f"'{name}' is multiclass but was given {values}"
            )
        if values:
            data[task.field] = values[0] if task.type == "multiclass" else values
    return data


def input_files(config: Config) -> dict[str, list[Path]]:
    files = {"train": expand_inputs(config.resolve_inputs(config.data.train))}
    files["test"] = (
        expand_inputs(config.resolve_inputs(config.data.test)) if config.data.test else []
    )
    return files


def ingest(config: Config) -> IngestResult:
    """Run the whole ingest step and write its outputs atomically."""
    files = input_files(config)
    counts = Counts()
    rejects: list[Reject] = []
    rows: list[_Row] = []
    cleaner = cleaner_from_config(config)
    stats: Counter[str] = Counter()
    removed: Counter[tuple[str, str]] = Counter()  # (cleaning step, line) → times removed
    paths = {"train": config.resolve_inputs(config.data.train)}
    paths["test"] = config.resolve_inputs(config.data.test) if config.data.test else []
    for split in ("train", "test"):
        for record in read_inputs(paths[split], config):
            counts.read += 1
            row_or_reject = _validate(record, split, config, cleaner, stats, removed)
            if isinstance(row_or_reject, Reject):
                rejects.append(row_or_reject)
            else:
                rows.append(row_or_reject)

    rows = _reject_short(rows, rejects, config)
    duplicates = _deduplicate(rows, config)
    dropped = _dropped(duplicates, {r.id: r.split for r in rows}, config)
    kept = [r for r in rows if r.id not in dropped]
    cleaner.fit_cleaned([r.text for r in kept if r.split == "train"])
    survivors: list[_Row] = []
    for row in kept:
        row.text = remove_learned_lines(
            row.text, cleaner.boilerplate_lines_, stats, removed, cleaner.pairs
        )
        if not row.text.strip():
            rejects.append(
                Reject(row.source, row.line, row.id, Reason.EMPTY_TEXT, "only boilerplate")
            )
        else:
            survivors.append(row)

    if not any(r.split == "train" for r in survivors):
        out = Path(config.paths.processed)
        (out / MANIFEST).unlink(missing_ok=True)  # what is there no longer matches the inputs
        write_jsonl(out / REJECTS, [r.to_dict() for r in rejects])
        reasons = ", ".join(f"{k} {n}" for k, n in Counter(str(r.reason) for r in rejects).items())
        raise PipelineError(
            f"ingest kept no training record (rejected: {reasons or 'none'}): "
            f"see {out / 'rejects.jsonl'} for why"
        )
    if not files["test"]:
        _split(survivors, duplicates, config)

    counts.kept = len(survivors)
    counts.duplicates = len(dropped)
    counts.rejected = len(rejects)
    counts.truncated = sum(r.truncated for r in survivors)
    counts.reasons = dict(Counter(str(r.reason) for r in rejects))
    assert counts.read == counts.kept + counts.duplicates + counts.rejected, counts
    return _write(config, files, survivors, rejects, duplicates, cleaner, counts, stats, removed)


def _validate(
    record: RawRecord,
    split: str,
    config: Config,
    cleaner: TextCleaner,
    stats: Counter[str],
    removed: Counter[tuple[str, str]],
) -> _Row | Reject:
    if record.data is None:
        return reject_for(record)
    data = record.data
    try:
        data = canonical_record(data, config)
    except LabelError as exc:
        rec_id = data.get(config.data.id_field)
        return Reject(record.source, record.line, rec_id and str(rec_id), exc.reason, str(exc))
    raw_id = data.get(config.data.id_field)
    rec_id = (
        str(raw_id) if raw_id not in (None, "") else f"{Path(record.source).name}:{record.line}"
    )
    try:
        doc = build_document(data, config.data.text_fields, cleaner.pairs)
    except TypeError as exc:
        return Reject(record.source, record.line, rec_id, Reason.WRONG_TYPE, str(exc))
    labels: dict[str, Any] = {}
    for name, task in config.tasks.items():
        try:
            labels[name] = parse_label(data.get(task.field), task)
        except LabelError as exc:
            return Reject(record.source, record.line, rec_id, exc.reason, str(exc))
    truncated = len(doc) > config.clean.max_chars
    text = cleaner.clean(doc, learned=frozenset(), stats=stats, removed=removed)
    if not text.strip():
        return Reject(record.source, record.line, rec_id, Reason.EMPTY_TEXT, "no text left")
    group = data.get(config.data.group_field) if config.data.group_field else None
    group = None if group in (None, "") else str(group)
    return _Row(rec_id, text, split, record.source, record.line, labels, truncated, group)


def _reject_short(rows: list[_Row], rejects: list[Reject], config: Config) -> list[_Row]:
    """Rows long enough to keep; the others go to `rejects` as too_short. Too short means below
    `clean.min_chars` and, unless `min_chars_of_median` is None, below that fraction of the median
    training document: 14 characters are a headline whose body the scraper lost in a corpus of
    1,000-character articles, and a whole subject line in a corpus of subject lines (20NG's
    median 31 characters: min_chars alone rejected 17% of them)."""
    clean = config.clean
    limit, why = clean.min_chars, f"clean.min_chars={clean.min_chars}"
    lengths = [len(r.text) for r in rows if r.split == "train"]
    if clean.min_chars_of_median is not None and lengths:
        median = float(np.median(lengths))
        if clean.min_chars_of_median * median < limit:
            limit = math.ceil(clean.min_chars_of_median * median)
            why = f"clean.min_chars_of_median={clean.min_chars_of_median} x median {median:g}"
    kept = []
    for row in rows:
        if len(row.text) >= limit:
            kept.append(row)
        else:
            detail = f"{len(row.text)} characters < {limit} ({why})"
            rejects.append(Reject(row.source, row.line, row.id, Reason.TOO_SHORT, detail))
    return kept


def _deduplicate(rows: list[_Row], config: Config) -> dict[str, dict[str, Any]]:
    """Duplicate rows by id → what they duplicate; train rows come first so they represent."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].split != "train")
    found = find_configured([rows[i].text for i in order], config.dedup, config.seed)
    duplicates: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    for pos, i in enumerate(order):
        row = rows[i]
        if row.id in seen_ids:  # two records sharing an id: keep ids unique in the output
            row.id = f"{row.id}#{row.source.rsplit('/', 1)[-1]}:{row.line}"
        seen_ids.add(row.id)
        if found.kind[pos] is None:
            continue
        original = rows[order[found.representative[pos]]]
        duplicates[row.id] = {
            "source": row.source,
            "line": row.line,
            "id": row.id,
            "split": row.split,
            "duplicate_of": original.id,
            "kind": found.kind[pos],
            "similarity": round(float(found.similarity[pos]), 3),
            "label_conflict": row.labels != original.labels,
            "dropped": True,
        }
        if row.labels != original.labels:
            duplicates[row.id]["labels"] = row.labels
            duplicates[row.id]["original_labels"] = original.labels
    return duplicates


def _dropped(
    duplicates: dict[str, dict[str, Any]], split_of: dict[str, str], config: Config
) -> set[str]:
    """Ids of the copies to drop: all of them, or (dedup.drop false) only the copies in a given
    test set of a train record, since a cluster must never span the train/test split."""
    if config.dedup.drop:
        return set(duplicates)
    dropped = set()
    for rec_id, dup in duplicates.items():
        root = dup["duplicate_of"]
        while root in duplicates:
            root = duplicates[root]["duplicate_of"]
        dup["dropped"] = split_of[rec_id] != split_of[root]
        if dup["dropped"]:
            dropped.add(rec_id)
    return dropped


_RARE = "__rare__"


def _split(rows: list[_Row], duplicates: dict[str, dict[str, Any]], config: Config) -> None:
    """Seeded stratified split of the train rows; a duplicate follows its original's side.
    With `data.group_field`, whole groups (`test_size` of them) are held out instead."""
    first_task = next(iter(config.tasks))
    originals = [r for r in rows if r.id not in duplicates]
    keys = _strata([r.labels[first_task] for r in originals])
    n_test = max(1, round(config.data.test_size * len(originals)))
    splitter: Any
    groups = None
    if config.data.group_field:
        groups = [r.group or r.id for r in originals]  # no value: a group of its own
        if len(set(groups)) < 2:
            raise UsageError(
                f"data.group_field '{config.data.group_field}' has one value in the training "
                "records: holding out whole groups needs two or more (or give data.test)"
            )
        splitter = GroupShuffleSplit(1, test_size=config.data.test_size, random_state=config.seed)
    elif min(Counter(keys).values()) < 2 or len(set(keys)) > n_test:
        splitter = ShuffleSplit(1, test_size=n_test, random_state=config.seed)
    else:
        splitter = StratifiedShuffleSplit(1, test_size=n_test, random_state=config.seed)
    test_ids: set[str] = set()
    if len(originals) > 1:  # a single distinct article (with its copies) cannot be held out
        _, test_idx = next(splitter.split(np.zeros(len(keys)), keys, groups))
        # a class seen once stays in train: held out, no model could learn it, and a two-class
        # task could be left with one class to train on (whole groups are held out as they are)
        test_ids = {originals[i].id for i in test_idx if groups or keys[i] != _RARE}

    def side(rec_id: str) -> str:
        while rec_id in duplicates:  # a copy of a copy: follow the chain to the original
            rec_id = duplicates[rec_id]["duplicate_of"]
        return "test" if rec_id in test_ids else "train"

    for row in rows:
        row.split = side(row.id)
    for dup in duplicates.values():  # duplicates.jsonl reports the side the copy was kept from
        dup["split"] = side(dup["id"])


def _strata(values: list[Any]) -> list[str]:
    """One stratum per record: its label, or for label sets its rarest label; `_RARE` for a
    label seen once."""
    if not values or not isinstance(values[0], list):
        keys = [str(v) for v in values]
    else:
        freq = Counter(label for labels in values for label in labels)
        keys = [
            min(labels, key=lambda lab: (freq[lab], lab)) if labels else "" for labels in values
        ]
    freq_keys = Counter(keys)
    return [k if freq_keys[k] >= 2 else _RARE for k in keys]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_key(config: Config, files: dict[str, list[Path]]) -> dict[str, Any]:
    """The manifest fields naming what made the processed data (input hashes, config, ingest
    code version): `pipeline run` re-ingests when any of them differs."""
    return {
        "inputs": {str(p): file_sha256(p) for split in files.values() for p in split},
        "config_hash": config.section_hash("data", "tasks", "clean", "dedup", "seed"),
        "pairs": config.features.pair_fields is not None,  # pairs are cleaned part by part
        "code_version": INGEST_CODE,
    }


def _write(
    config: Config,
    files: dict[str, list[Path]],
    rows: list[_Row],
    rejects: list[Reject],
    duplicates: dict[str, dict[str, Any]],
    cleaner: TextCleaner,
    counts: Counts,
    stats: Counter[str],
    removed: Counter[tuple[str, str]],
) -> IngestResult:
    out = Path(config.paths.processed)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest_path.unlink(missing_ok=True)  # the manifest, written last, marks a complete ingest
    split_counts: dict[str, int] = {}
    outputs: dict[str, str] = {}
    for split in ("train", "test"):
        frame = _frame([r for r in rows if r.split == split], config)
        split_counts[split] = len(frame)
        write_parquet(out / f"{split}.parquet", frame)
        outputs[f"{split}.parquet"] = file_sha256(out / f"{split}.parquet")
    write_jsonl(out / REJECTS, [r.to_dict() for r in rejects])
    write_jsonl(out / DUPLICATES, list(duplicates.values()))
    with atomic_path(out / CLEANER) as tmp:
        joblib.dump(cleaner, tmp)
    label_counts = {
        name: {split: _label_counts(rows, name, split) for split in ("train", "test")}
        for name in config.tasks
    }
    manifest = {
        "counts": {
            "read": counts.read,
            "kept": counts.kept,
            "duplicates": counts.duplicates,
            "rejected": counts.rejected,
            "truncated": counts.truncated,
            "rejected_by_reason": counts.reasons,
            "splits": split_counts,
            "label_conflicts": sum(d["label_conflict"] for d in duplicates.values()),
        },
        "cleaning": dict(sorted(stats.items())),
        "learned_boilerplate_lines": sorted(cleaner.boilerplate_lines_),
        "top_removed_lines": [
            {"step": step, "line": line, "count": n}
            for (step, line), n in removed.most_common(TOP_REMOVED_LINES)
        ],
        "labels": label_counts,
        "outputs": outputs,
        **manifest_key(config, files),
        "split_from": "data.test"
        if files["test"]
        else f"seeded split of train (seed {config.seed})"
        + (f", whole groups of {config.data.group_field}" if config.data.group_field else ""),
    }
    manifest["hash"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    write_json(manifest_path, manifest)
    return IngestResult(counts, split_counts, out, manifest)


def _frame(rows: list[_Row], config: Config) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {
        "id": [r.id for r in rows],
        "text": [r.text for r in rows],
        "source": [r.source for r in rows],
        "line": [r.line for r in rows],
        "truncated": [r.truncated for r in rows],
    }
    if config.data.group_field:
        columns["group"] = [r.group for r in rows]
    for name in config.tasks:
        columns[name] = [r.labels[name] for r in rows]
    return pd.DataFrame(columns)


def _label_counts(rows: list[_Row], task: str, split: str) -> dict[str, int]:
    counter: Counter[str] = Counter()
    for row in rows:
        if row.split == split:
            value = row.labels[task]
            counter.update(value if isinstance(value, list) else [value])
    return dict(counter.most_common())


def load_split(config: Config, split: str) -> pd.DataFrame:
    """Read a processed split, with a clear error if ingest has not run."""
    path = Path(config.paths.processed) / f"{split}.parquet"
    if not (Path(config.paths.processed) / MANIFEST).exists() or not path.exists():
        raise UsageError(f"{path} not found: run `pipeline ingest` first")
    frame = pd.read_parquet(path)
    for name, task in config.tasks.items():
        if task.type == "multilabel":
            frame[name] = [list(v) for v in frame[name]]
    return frame
