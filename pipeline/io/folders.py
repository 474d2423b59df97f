"""Folders of article files (`.txt`, `.html`) with their labels beside them.

A document file's labels come from a sidecar table in the folder (`labels.csv`, `labels.tsv` or
`labels.jsonl`, or the configured name) with one row per file, keyed by the file's path relative
to the folder, its name or its stem. Without a sidecar, the name of the sub-folder a file sits in
can be the label of a single multiclass task (`left/article-1.txt` → `left`). Record files in the
folder (JSONL, CSV, Parquet, exports) are read as usual.

Every sidecar row is accounted for: it is merged into its document, or reported as unparseable if
it names no file, repeats a file or lacks the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.io.readers import detect_format, iter_records
from pipeline.records import RawRecord, Reason

DOCUMENT_FORMATS = ("txt", "html")
SIDECAR_NAMES = ("labels.csv", "labels.tsv", "labels.jsonl")


def folder_files(folder: Path) -> list[Path]:
    """Every readable file under `folder` (sorted, recursive, hidden files skipped)."""
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(folder).parts):
            continue
        try:
            detect_format(path)
        except UsageError:
            continue
        files.append(path)
    return files


def find_sidecar(folder: Path, name: str | None) -> Path | None:
    """The sidecar labels file of a folder: the configured name, else a default one if present."""
    if name is not None:
        return folder / name if (folder / name).is_file() else None
    return next((folder / n for n in SIDECAR_NAMES if (folder / n).is_file()), None)


def iter_folder(
    folder: Path,
    *,
    fmt: str = "auto",
    sidecar: str | None = None,
    key_field: str = "file",
    folder_label_field: str | None = None,
) -> Iterator[RawRecord]:
    """Yield every record of a folder: its documents (with labels) and its record files."""
    files = folder_files(folder)
    if not files:
        raise UsageError(f"{folder}: folder holds no .txt, .html, .jsonl, .csv or .parquet")
    sidecar_path = find_sidecar(folder, sidecar)
    rows: dict[str, RawRecord] = {}
    if sidecar_path is not None:
        yield from _load_sidecar(sidecar_path, key_field, rows)
    used: set[str] = set()
    others: list[Path] = []
    for path in files:
        if path == sidecar_path:
            continue
        if detect_format(path) not in DOCUMENT_FORMATS:
            others.append(path)
            continue
        rel = path.relative_to(folder)
        for record in iter_records(path):
            if record.data is None:
                yield record
                continue
            data = record.data
            key = next((k for k in _keys(rel) if k in rows), None)
            if key is not None:
                used.add(key)
                data = _merge(data, rows[key].data or {}, key_field)
            elif sidecar_path is None and folder_label_field and len(rel.parts) > 1:
                data[folder_label_field] = rel.parts[0]
            yield RawRecord(record.source, record.line, data)
    for key, row in rows.items():
        if key not in used:
            yield _sidecar_error(row, f"sidecar row names no file in the folder: {key!r}")
    for path in others:
        yield from iter_records(path, fmt)


def _load_sidecar(path: Path, key_field: str, rows: dict[str, RawRecord]) -> Iterator[RawRecord]:
    """Index the sidecar's rows by file key; yield the rows that cannot be used."""
    for row in iter_records(path):
        if row.data is None:
            yield row
            continue
        key = _normal_key(row.data.get(key_field))
        if not key:
            yield _sidecar_error(row, f"sidecar row has no '{key_field}' value")
        elif key in rows:
            yield _sidecar_error(row, f"file {key!r} is named twice in the sidecar")
        else:
            rows[key] = row


def _sidecar_error(row: RawRecord, detail: str) -> RawRecord:
    rec_id = (row.data or {}).get("id")
    return RawRecord(
        row.source,
        row.line,
        None,
        f"{Reason.UNPARSEABLE}: {detail}",
        None if rec_id is None else str(rec_id),
    )


def _normal_key(value: Any) -> str:
    return "" if value is None else str(value).strip().replace("\\", "/").removeprefix("./")


def _keys(rel: Path) -> list[str]:
    name = rel.name
    stem = name
    for suffix in reversed(rel.suffixes):
        stem = stem.removesuffix(suffix)
    return [rel.as_posix(), name, stem]


def _merge(doc: dict[str, Any], row: dict[str, Any], key_field: str) -> dict[str, Any]:
    """The document's fields, completed and overridden by its sidecar row (never its text)."""
    merged = dict(doc)
    for key, value in row.items():
        if key in (key_field, "text") or value is None or value == "":
            continue
        merged[key] = value
    return merged
