"""Batch prediction on a real Dask LocalCluster matches the single-machine run byte for byte."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from pipeline.distributed import dask_client, plan_chunks
from pipeline.predict import load_models, predict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models_dir(trained_workdir: Path) -> Path:
    return trained_workdir / "models"


def _dump(path: Path, n: int) -> Path:
    """A JSONL dump with blank lines, a broken line and records without ids."""
    articles = [json.loads(line) for line in (REPO / "data/raw/articles.jsonl").open()]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            art = articles[i % len(articles)]
            record = {"title": art["title"], "text": art["text"]}
            if i % 7:
                record["id"] = f"doc-{i}"
            fh.write(json.dumps(record) + "\n")
            if i == n - 3:
                fh.write('{"id": "broken", "text": \n\n')
    return path


def test_plan_chunks_cuts_on_line_breaks_and_numbers_lines(tmp_path: Path) -> None:
    dump = _dump(tmp_path / "dump.jsonl", 120)
    chunks = plan_chunks([dump], "auto", chunk_bytes=20_000)
    assert len(chunks) > 3
    data = dump.read_bytes()
    assert chunks[0].start == 0 and chunks[-1].end == len(data)
    for before, after in pairwise(chunks):
        assert before.end == after.start
        assert data[before.end - 1 : before.end] == b"\n"
        assert after.first_line == data[: after.start].count(b"\n") + 1


def test_gzip_and_csv_files_are_not_split(tmp_path: Path) -> None:
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("id,text\n1,hello world\n")
    chunks = plan_chunks([csv_file, REPO / "data/raw/dumps/wire_2026-11.jsonl"], "auto", 10)
    assert chunks[0].end == -1 and chunks[0].fmt == "csv"
    assert len(chunks) > 1  # the uncompressed JSONL is cut even though the CSV is not


@pytest.mark.slow
def test_local_cluster_output_equals_single_machine(tmp_path: Path, models_dir: Path) -> None:
    dump = _dump(tmp_path / "dump.jsonl", 400)
    models = load_models([str(models_dir)])
    local = predict([dump, REPO / "data/raw/dumps"], tmp_path / "local.jsonl", models)
    with dask_client("local", workers=2) as client:
        dist = predict(
            [dump, REPO / "data/raw/dumps"], tmp_path / "dask.jsonl", models,
            client=client, chunk_bytes=50_000, batch_size=64,
        )  # fmt: skip
    assert (dist.read, dist.predicted, dist.rejected) == (
        local.read,
        local.predicted,
        local.rejected,
    )
    assert dist.read == 400 + 1 + 60 and dist.rejected == 1
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    rejects = (tmp_path / "dask.jsonl.rejects.jsonl").read_text().splitlines()
    assert rejects == (tmp_path / "local.jsonl.rejects.jsonl").read_text().splitlines()
    assert json.loads(rejects[0])["line"] == 399  # numbered across byte-range chunks
    rows = [json.loads(line) for line in (tmp_path / "dask.jsonl").open()]
    assert rows[0]["id"] == "dump.jsonl:1"  # records without id get file:line, as locally
    assert {"topic", "topic_scores", "stance", "stance_scores"} <= rows[0].keys()
