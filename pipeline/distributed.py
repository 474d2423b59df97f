"""Batch prediction on a Dask cluster, for dumps one machine cannot score fast enough.

Inputs are cut into chunks: uncompressed JSONL by byte ranges aligned on line breaks, every other
file (gzip, CSV with quoted newlines, Parquet, txt/HTML) whole. Workers score chunks with models
scattered to them once; the client writes results in input order as they arrive, keeping only a
bounded number of chunks in flight, so output size is not limited by memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from pipeline.io.readers import detect_format, iter_records, jsonl_records
from pipeline.predict import Scored, TaskModel, predict_records


@dataclass(frozen=True)
class Chunk:
    """A piece of one input file: a byte range of JSONL, or the whole file (end = -1)."""

    path: str
    fmt: str
    start: int = 0
    end: int = -1
    first_line: int = 1


def plan_chunks(files: list[Path], fmt: str, chunk_bytes: int) -> list[Chunk]:
    """Split big uncompressed JSONL files at line breaks near every `chunk_bytes`.

    Lines are counted while planning so every chunk knows its first line number: rejects and
    generated ids then match what a single-machine run reports.
    """
    chunks: list[Chunk] = []
    for path in files:
        kind = detect_format(path, fmt)
        size = path.stat().st_size
        if kind != "jsonl" or path.suffix.lower() == ".gz" or size <= chunk_bytes:
            chunks.append(Chunk(str(path), kind))
            continue
        with path.open("rb") as fh:
            start, first_line = 0, 1
            while start < size:
                block = fh.read(chunk_bytes) + fh.readline()  # cut after a line break
                end = start + len(block)
                chunks.append(Chunk(str(path), kind, start, end, first_line))
                first_line += block.count(b"\n")
                start = end
    return chunks


def score_chunk(chunk: Chunk, models: list[TaskModel], batch_size: int) -> list[Scored]:
    """Score one chunk on a worker."""
    path = Path(chunk.path)
    if chunk.end < 0:
        records = iter_records(path, chunk.fmt)
    else:
        with path.open("rb") as fh:
            fh.seek(chunk.start)
            data = fh.read(chunk.end - chunk.start)
        records = jsonl_records(data.split(b"\n"), chunk.path, chunk.first_line)
    out: list[Scored] = []
    while batch := list(islice(records, batch_size)):
        out.append((*predict_records(batch, models), len(batch)))
    return out


def predict_chunks(
    client: Any,
    files: list[Path],
    models: list[TaskModel],
    *,
    fmt: str,
    batch_size: int,
    chunk_bytes: int,
    in_flight: int | None = None,
) -> Iterator[Scored]:
    """Yield scored batches in input order while the cluster works ahead on later chunks."""
    chunks = plan_chunks(files, fmt, chunk_bytes)
    scattered = client.scatter(models, broadcast=True)
    limit = in_flight or 2 * max(1, len(client.scheduler_info()["workers"]))
    pending: deque[Any] = deque()
    todo = iter(chunks)
    while True:
        while len(pending) < limit and (chunk := next(todo, None)) is not None:
            pending.append(client.submit(score_chunk, chunk, scattered, batch_size, pure=False))
        if not pending:
            return
        yield from pending.popleft().result()


@contextmanager
def dask_client(address: str, workers: int = 2) -> Iterator[Any]:
    """A client for `address`, or for a new LocalCluster when address is 'local'."""
    from dask.distributed import Client, LocalCluster

    if address != "local":
        with Client(address) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client
