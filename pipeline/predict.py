"""Batch prediction over article dumps of any size: streaming, accounted, atomic.

Every input record becomes one output row or one line of `OUTPUT.rejects.jsonl` with its reason;
the output appears under its final name only once it is complete.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.clean import build_document
from pipeline.errors import UsageError
from pipeline.ingest import reject_for
from pipeline.io.readers import expand_inputs, iter_batches
from pipeline.io.writers import atomic_path
from pipeline.records import RawRecord, Reason, Reject
from pipeline.train import METADATA_FILE, load_model

OUTPUT_FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
Scored = tuple[list[dict[str, Any]], list[Reject], int]  # rows, rejects, records read


@dataclass
class TaskModel:
    """A loaded model ready to score cleaned documents."""

    task: str
    pipeline: Any
    labels: list[str]
    multilabel: bool
    text_fields: list[str]
    id_field: str = "id"
    fields: dict[str, str] = field(default_factory=dict)  # data.fields: pipeline → input name

    @property
    def cleaner(self) -> Any:
        return self.pipeline[0]

    def score_cleaned(self, docs: list[str]) -> np.ndarray:
        """Calibrated probabilities for already-cleaned documents (skips the cleaning step)."""
        return self.pipeline[1:].predict_proba(docs)


@dataclass
class PredictResult:
    """The accounting of a prediction run: read = predicted + rejected."""

    read: int = 0
    predicted: int = 0
    rejected: int = 0
    output: Path | None = None
    rejects: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return f"read {self.read} · predicted {self.predicted} · rejected {self.rejected}"


def load_models(specs: list[str]) -> list[TaskModel]:
    """Models from folders (one task folder, or a folder of task folders) or MLflow model URIs."""
    models: list[TaskModel] = []
    for spec in specs:
        if ":/" in spec:
            models.append(_load_mlflow(spec))
            continue
        path = Path(spec)
        if (path / METADATA_FILE).exists():
            task_dirs = [path]
        else:
            task_dirs = sorted(p for p in path.glob("*") if (p / METADATA_FILE).exists())
        if not task_dirs:
            raise UsageError(f"no saved model in {path}: run `pipeline train` or pass --model")
        for directory in task_dirs:
            pipe, meta = load_model(directory)
            models.append(
                TaskModel(
                    meta["task"],
                    pipe,
                    meta["labels"],
                    meta["type"] == "multilabel",
                    meta["text_fields"],
                    meta.get("id_field", "id"),
                    meta.get("fields", {}),
                )
            )
    return models


def _load_mlflow(uri: str) -> TaskModel:
    from pipeline.config import load_config
    from pipeline.tracking import load_logged_model

    pipe, meta = load_logged_model(uri, load_config())
    return TaskModel(
        meta["task"],
        pipe,
        meta["labels"],
        meta["type"] == "multilabel",
        meta.get("text_fields", ["title", "text"]),
        meta.get("id_field", "id"),
        meta.get("fields", {}),
    )


def predict(
    inputs: list[Path],
    output: Path,
    models: list[TaskModel],
    *,
    fmt: str = "auto",
    batch_size: int = 1000,
    force: bool = False,
    on_batch: Callable[[int], None] | None = None,
    client: Any = None,
    chunk_bytes: int = 64 << 20,
) -> PredictResult:
    """Score every record of `inputs` with every model and write `output` (JSONL/CSV/Parquet).

    With a Dask `client`, chunks of the inputs are scored on the cluster (see `distributed`);
    rows are written in input order either way.
    """
    out_format = output_format(output)
    if output.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to overwrite it")
    files = expand_inputs(inputs)
    if client is None:
        batches: Iterable[Scored] = (
            (*predict_records(batch, models), len(batch))
            for batch in iter_batches(files, fmt, batch_size)
        )
    else:
        from pipeline.distributed import predict_chunks

        batches = predict_chunks(
            client, files, models, fmt=fmt, batch_size=batch_size, chunk_bytes=chunk_bytes
        )
    return _write_all(batches, output, out_format, on_batch)


def _write_all(
    batches: Iterable[Scored],
    output: Path,
    out_format: str,
    on_batch: Callable[[int], None] | None,
) -> PredictResult:
    """Write scored batches and their rejects; both files appear only when complete."""
    rejects_path = output.with_name(output.name + ".rejects.jsonl")
    result = PredictResult(output=output, rejects=rejects_path)
    with atomic_path(output) as tmp_out, atomic_path(rejects_path) as tmp_rej:
        writer = _WRITERS[out_format](tmp_out)
        with tmp_rej.open("w", encoding="utf-8") as rej_fh:
            for rows, rejects, n_read in batches:
                writer.write(rows)
                for reject in rejects:
                    rej_fh.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")
                    key = str(reject.reason)
                    result.reasons[key] = result.reasons.get(key, 0) + 1
                result.read += n_read
                result.predicted += len(rows)
                result.rejected += len(rejects)
                if on_batch:
                    on_batch(n_read)
        writer.close()
    return result


def output_format(output: Path) -> str:
    kind = OUTPUT_FORMATS.get(output.suffix.lower())
    if kind is None:
        raise UsageError(f"{output}: output must end in .jsonl, .csv or .parquet")
    return kind


def predict_records(
    records: list[RawRecord], models: list[TaskModel]
) -> tuple[list[dict[str, Any]], list[Reject]]:
    """Prediction rows for the usable records of one batch, and rejects for the others."""
    first = models[0]
    rejects: list[tuple[int, Reject]] = []  # with each record's place, to keep their order
    usable: list[tuple[int, RawRecord, str]] = []
    texts: list[str] = []
    for place, record in enumerate(records):
        if record.data is None:
            rejects.append((place, reject_for(record, first.id_field)))
            continue
        data = record.data | {
            name: record.data[src] for name, src in first.fields.items() if src in record.data
        }
        raw_id = data.get(first.id_field)
        rec_id = (
            str(raw_id) if raw_id not in (None, "") else f"{Path(record.source).name}:{record.line}"
        )
        try:
            texts.append(build_document(data, first.text_fields, first.cleaner.pairs))
        except TypeError as exc:
            reject = Reject(record.source, record.line, rec_id, Reason.WRONG_TYPE, str(exc))
            rejects.append((place, reject))
            continue
        usable.append((place, record, rec_id))
    ids: list[str] = []
    docs: list[str] = []
    # the batch cleaned in one call: short texts cost their lines, not one call each
    for (place, record, rec_id), doc in zip(usable, first.cleaner.transform(texts), strict=True):
        if not doc.strip():
            reject = Reject(
                record.source, record.line, rec_id, Reason.EMPTY_TEXT, "no text left after cleaning"
            )
            rejects.append((place, reject))
            continue
        ids.append(rec_id)
        docs.append(doc)
    rows: list[dict[str, Any]] = [{"id": rec_id} for rec_id in ids]
    if docs:
        for model in models:
            probs = model.score_cleaned(docs)
            decided = model.pipeline[-1].decide(probs)
            labels = np.asarray(model.labels)
            for row, p, d in zip(rows, probs, decided, strict=True):
                row[model.task] = labels[d.astype(bool)].tolist() if model.multilabel else str(d)
                row[f"{model.task}_scores"] = {
                    lab: round(float(x), 4) for lab, x in zip(labels, p, strict=True)
                }
    return rows, [reject for _, reject in sorted(rejects, key=lambda pair: pair[0])]


class _JsonlWriter:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("w", encoding="utf-8")

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.fh.close()


class _CsvWriter:
    """Label lists are joined with ';' and score maps are JSON, one cell each."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("w", encoding="utf-8", newline="")
        self.writer: csv.DictWriter | None = None

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            flat = {
                k: ";".join(v)
                if isinstance(v, list)
                else json.dumps(v)
                if isinstance(v, dict)
                else v
                for k, v in row.items()
            }
            if self.writer is None:
                self.writer = csv.DictWriter(self.fh, fieldnames=list(flat))
                self.writer.writeheader()
            self.writer.writerow(flat)

    def close(self) -> None:
        self.fh.close()


class _ParquetWriter:
    """Scores are a struct column with one float field per label."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=self.writer.schema if self.writer else None)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is None:  # no usable record: still a valid, empty file
            pq.write_table(pa.table({"id": pa.array([], pa.string())}), self.path)
        else:
            self.writer.close()


_WRITERS: dict[str, Callable[[Path], Any]] = {
    "jsonl": _JsonlWriter,
    "csv": _CsvWriter,
    "parquet": _ParquetWriter,
}
