"""`pipeline predict` on the seed dump sees the same cleaned text that ingest produces.

The seed page is ingested as a labelled .txt document (folder + labels.csv sidecar) next to the
sample corpus; its processed text must meet the seed expectations and equal what a trained
model's own cleaner makes of the raw file, and predict's scores must be those of that text.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
import yaml
from conftest import copy_sample_project

from pipeline.clean import build_document
from pipeline.config import load_config
from pipeline.ingest import ingest
from pipeline.io.readers import iter_records
from pipeline.predict import load_models


@pytest.fixture(scope="module")
def seed_ingested(tmp_path_factory: pytest.TempPathFactory, seed_dump: Path) -> dict[str, Any]:
    root = copy_sample_project(tmp_path_factory.mktemp("seed") / "project")
    folder = root / "data" / "raw" / "scraped_pages"
    folder.mkdir()
    shutil.copy(seed_dump, folder / seed_dump.name)
    (folder / "labels.csv").write_text(
        f"file,topics,stance\n{seed_dump.name},military_cooperation;arms_trade,critical\n"
    )
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["train"].append("data/raw/scraped_pages")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        ingest(load_config(root / "params.yaml"))
    processed = root / "data" / "processed"
    frames = pd.concat(pd.read_parquet(processed / f"{s}.parquet") for s in ("train", "test"))
    return {
        "text": frames.set_index("id").loc[seed_dump.stem, "text"],
        "cleaner": joblib.load(processed / "cleaner.joblib"),
    }


def test_ingested_seed_meets_the_expectations(
    seed_ingested: dict[str, Any], seed_expected: dict[str, Any]
) -> None:
    text = seed_ingested["text"]
    for sentence in seed_expected["must_keep"]:
        assert text.count(sentence) == 1, sentence
    for junk in seed_expected["must_drop"]:
        assert junk not in text, junk


def test_predict_cleans_the_seed_as_ingest_did(
    seed_ingested: dict[str, Any],
    trained_workdir: Path,
    seed_dump: Path,
    tmp_path: Path,
    cli: Callable[..., Any],
) -> None:
    models = load_models([str(trained_workdir / "models")])
    model = models[0]
    assert model.cleaner.boilerplate_lines_ == seed_ingested["cleaner"].boilerplate_lines_
    (record,) = iter_records(seed_dump)
    seen_by_predict = model.cleaner.clean(build_document(record.data, model.text_fields))
    assert seen_by_predict == seed_ingested["text"]

    out = tmp_path / "out.jsonl"
    result = cli("predict", seed_dump, "-o", out, "--model", trained_workdir / "models")
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    for task_model in models:
        probs = task_model.score_cleaned([seed_ingested["text"]])[0]
        scores = row[f"{task_model.task}_scores"]
        assert list(scores.values()) == pytest.approx(list(probs), abs=1e-4)
