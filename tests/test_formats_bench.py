"""The ingest benchmark (`pipeline.bench_ingest`) on a small slice of article_bias_allsides."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.bench_ingest import (
    CORPUS,
    FILES,
    _sample_files,
    bench_ingest,
    measure_near_dup_recall,
    measure_throughput,
    plant_copy,
)


def test_a_planted_copy_has_five_percent_of_its_words_replaced() -> None:
    doc = " ".join(f"w{i}" for i in range(400))
    copy = plant_copy(doc, ["zzz"], random.Random(0))
    changed = sum(a != b for a, b in zip(doc.split(), copy.split(), strict=True))
    assert changed == 20


def test_missing_corpus_is_reported_not_raised(tmp_path: Path) -> None:
    assert "skipped" in bench_ingest(tmp_path / "nowhere", tmp_path / "out", quick=True)


@pytest.mark.slow
def test_throughput_and_recall_on_a_slice(shared_datasets: Path, tmp_path: Path) -> None:
    corpus = shared_datasets / CORPUS
    inputs = _sample_files(
        {name: corpus / f"{name}.jsonl.gz" for name in FILES}, tmp_path / "slice", 100
    )
    throughput = measure_throughput(inputs, tmp_path)
    assert throughput["read"] == 400
    assert (
        throughput["read"] == throughput["kept"] + throughput["duplicates"] + throughput["rejected"]
    )
    assert throughput["articles_per_s"] > 0 and throughput["peak_rss_mb"] > 0
    assert (tmp_path / "processed" / "manifest.json").exists()

    near = measure_near_dup_recall(inputs, n_copies=60)
    assert near["planted_copies"] == 60
    assert near["recall"] >= 0.9
    assert near["planted_false_merges"] == 0
