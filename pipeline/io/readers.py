"""Read article records from files, yielding each with its source and line so nothing is lost.

A record that cannot be parsed is still yielded (with `data=None` and an error), so the caller
can account for it in a rejects file instead of silently skipping it.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO

import pyarrow.parquet as pq
from pyarrow import ArrowException

from pipeline.errors import PipelineError, UsageError
from pipeline.io.annotations import doccano_records, labelstudio_records, prodigy_records
from pipeline.records import RawRecord

FORMATS = ("jsonl", "csv", "tsv", "parquet", "txt", "html", "labelstudio", "doccano", "prodigy")
# `name.<tool>.jsonl` / `name.<tool>.json` names an annotation tool's export explicitly
_TOOL_SUFFIXES = {".labelstudio": "labelstudio", ".doccano": "doccano", ".prodigy": "prodigy"}
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
    ".text": "txt",
    ".html": "html",
    ".htm": "html",
}
csv.field_size_limit(sys.maxsize)


def detect_format(path: Path, fmt: str = "auto") -> str:
    """The format named, else the one the extension says (`.gz` is looked through).

    A `.json` file holding a JSON array is a Label Studio export (or any list of records), and a
    JSON-lines file whose first record carries Prodigy's `_input_hash`/`_task_hash` is Prodigy's.
    """
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if len(suffixes) >= 2 and suffixes[-2] in _TOOL_SUFFIXES:
        return _TOOL_SUFFIXES[suffixes[-2]]
    if suffixes and suffixes[-1] in _SUFFIXES:
        kind = _SUFFIXES[suffixes[-1]]
        return _sniff_json(path, suffixes[-1]) if kind == "jsonl" else kind
    raise UsageError(
        f"{path}: cannot tell the format from the extension; use --format ({'|'.join(FORMATS)})"
    )


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and every readable file inside a given folder (sorted, recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            inner = sorted(p for p in path.rglob("*") if p.is_file() and _known(p))
            if not inner:
                raise UsageError(f"{path}: folder holds no .txt, .html, .jsonl, .csv or .parquet")
            files.extend(inner)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"input not found: {path}")
    return files


def _sniff_json(path: Path, suffix: str) -> str:
    if not path.is_file():
        return "jsonl"
    with _open_text(path) as fh:
        first = fh.readline(1 << 20)
    head = first.lstrip()
    if suffix == ".json" and head.startswith(b"["):
        return "labelstudio"
    if b'"_input_hash"' in first or b'"_task_hash"' in first:
        return "prodigy"
    return "jsonl"


def _known(path: Path) -> bool:
    try:
        detect_format(path)
    except UsageError:
        return False
    return not path.name.startswith(".")


def iter_records(path: Path, fmt: str = "auto") -> Iterator[RawRecord]:
    """Yield every record of one file, parsed or not."""
    kind = detect_format(path, fmt)
    reader = {
        "jsonl": _read_jsonl,
        "csv": _read_csv,
        "tsv": _read_csv,
        "parquet": _read_parquet,
        "txt": _read_txt,
        "html": _read_html,
        "labelstudio": _read_labelstudio,
        "doccano": lambda p, k: doccano_records(_read_jsonl(p, k)),
        "prodigy": lambda p, k: prodigy_records(_read_jsonl(p, k)),
    }[kind]
    try:
        yield from reader(path, kind)
    except (OSError, EOFError, zlib.error, ArrowException) as exc:  # truncated gzip, bad Parquet
        raise PipelineError(f"{path}: cannot read the file: {exc}") from exc


def iter_batches(
    paths: Iterable[Path], fmt: str = "auto", batch_size: int = 1000
) -> Iterator[list[RawRecord]]:
    """Records of several files in lists of at most `batch_size`, for streaming."""
    records = (rec for path in paths for rec in iter_records(path, fmt))
    while batch := list(islice(records, batch_size)):
        yield batch


def _open_text(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _read_jsonl(path: Path, _kind: str) -> Iterator[RawRecord]:
    with _open_text(path) as fh:
        yield from jsonl_records(fh, str(path))


def jsonl_records(lines: Iterable[bytes], source: str, first_line: int = 1) -> Iterator[RawRecord]:
    """Parse JSON lines (bytes) numbered from `first_line`; blank lines are not records.

    Public so a byte range of a big file can be parsed on its own (see `distributed`).
    """
    for line_no, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield RawRecord(source, line_no, None, f"bad_encoding: {exc.reason}")
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RawRecord(source, line_no, None, f"invalid JSON: {exc.msg}")
            continue
        if not isinstance(data, dict):
            yield RawRecord(source, line_no, None, "a JSON line must be an object")
            continue
        yield RawRecord(source, line_no, data)


def _read_labelstudio(path: Path, _kind: str) -> Iterator[RawRecord]:
    """A JSON document (the whole export); if it cannot be parsed it is one unparseable record."""
    try:
        with _open_text(path) as fh:
            items = json.loads(fh.read().decode("utf-8"))
    except UnicodeDecodeError as exc:
        yield RawRecord(str(path), 1, None, f"bad_encoding: {exc.reason}")
        return
    except json.JSONDecodeError as exc:
        yield RawRecord(str(path), exc.lineno, None, f"invalid JSON: {exc.msg}")
        return
    yield from labelstudio_records(items, str(path))


def _read_csv(path: Path, kind: str) -> Iterator[RawRecord]:
    source = str(path)
    delimiter = "\t" if kind == "tsv" else ","
    with _open_text(path) as raw:
        # surrogateescape keeps undecodable bytes visible so the row (not the file) is rejected
        text = (line.decode("utf-8-sig", errors="surrogateescape") for line in raw)
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        for row in reader:
            line_no = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if any(_has_surrogates(cell) for cell in row):
                yield RawRecord(source, line_no, None, "bad_encoding: bytes that are not UTF-8")
            elif len(row) != len(header):
                yield RawRecord(
                    source, line_no, None, f"expected {len(header)} columns, got {len(row)}"
                )
            else:
                yield RawRecord(source, line_no, dict(zip(header, row, strict=True)))


def _has_surrogates(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


def _read_parquet(path: Path, _kind: str) -> Iterator[RawRecord]:
    source = str(path)
    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
        for data in batch.to_pylist():
            row_no += 1
            yield RawRecord(source, row_no, data)


def _read_txt(path: Path, _kind: str) -> Iterator[RawRecord]:
    try:
        text = _open_text(path).read().decode("utf-8")
    except UnicodeDecodeError as exc:
        yield RawRecord(str(path), 1, None, f"bad_encoding: {exc.reason}")
        return
    yield RawRecord(str(path), 1, {"id": _stem(path), "title": "", "text": text})


def _read_html(path: Path, _kind: str) -> Iterator[RawRecord]:
    import trafilatura  # imported here: slow to import, and only HTML needs it

    html = _open_text(path).read().decode("utf-8", errors="replace")
    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if doc is None or not (doc.text or "").strip():
        yield RawRecord(str(path), 1, None, "no article text found in the HTML")
        return
    data = {"id": _stem(path), "title": doc.title or "", "text": doc.text, "date": doc.date}
    yield RawRecord(str(path), 1, data)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name
