"""`pipeline debug data`: the report on processed data, as text and as JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from test_formats_dirty import SITE_LINE, build_dirty_dump, dump_config

from pipeline.clean import line_key


@pytest.fixture(scope="module")
def dirty_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The noisy labelled dump of test_formats_dirty, ingested."""
    from pipeline.config import load_config
    from pipeline.ingest import ingest

    root = tmp_path_factory.mktemp("debug")
    dump = build_dirty_dump(root)
    dump_config(root, dump)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        ingest(load_config(root / "params.yaml"))
    return root


def report_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli("debug", "data", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_report_matches_the_processed_data(
    dirty_project: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(dirty_project)
    report = report_json(cli)
    frames = {s: pd.read_parquet(f"data/processed/{s}.parquet") for s in ("train", "test")}
    manifest = json.loads(Path("data/processed/manifest.json").read_text())

    assert report["counts"]["read"] == manifest["counts"]["read"]
    assert report["counts"]["rejected_by_reason"] == manifest["counts"]["rejected_by_reason"]
    for split, frame in frames.items():
        stance = Counter(frame["stance"])
        assert report["labels"]["stance"]["counts"][split] == dict(stance)
        topics = Counter(t for labels in frame["topic"] for t in labels)
        assert report["labels"]["topic"]["counts"][split] == dict(topics)
        length = report["length_words"][split]
        assert length["docs"] == len(frame) == sum(length["histogram"].values())

    dups = report["duplicates"]
    assert dups["found_by_ingest"] == dups["dropped"] == 12
    assert dups["by_kind"]["near"] >= 6 and dups["by_kind"]["exact"] >= 1
    assert dups["across_splits_in_processed"]["count"] == 0
    assert dups["label_conflicts"]["count"] == 1
    (conflict,) = dups["label_conflicts"]["examples"]
    assert conflict["labels"]["stance"] != conflict["original_labels"]["stance"]

    removed = report["boilerplate"]["top_removed_lines"]
    assert {"step": "learned_boilerplate_lines", "line": SITE_LINE} in [
        {k: item[k] for k in ("step", "line")} for item in removed
    ]
    assert line_key(SITE_LINE) in manifest["learned_boilerplate_lines"]
    assert report["boilerplate"]["learned_lines"] >= 1
    assert report["empty_or_short"]["rejected"] == {"empty_text": 2}


def test_text_report_names_every_section(
    dirty_project: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(dirty_project)
    result = cli("debug", "data", "--top", "3")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for heading in (
        "labels · topic",
        "labels · stance",
        "duplicates · found by ingest 12",
        "spanning train and test in processed data: 0 (none)",
        "label conflicts in duplicate clusters: 1",
        "boilerplate · learned lines",
        "empty/short · rejected empty_text 2",
        "length (words)",
    ):
        assert heading in text, heading
    assert text.count("learned_boilerplate_lines") >= 1


def test_leaks_and_labels_missing_from_test_are_reported(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With dedup off and a given test file holding copies of training articles, the report
    shows the clusters that span the split and the labels the test split lacks."""
    monkeypatch.chdir(tmp_path)
    dump = build_dirty_dump(tmp_path)
    lines = dump.path.read_bytes().splitlines()
    copies = [line for line in lines if b'copy"' in line]
    (tmp_path / "test.jsonl").write_bytes(b"\n".join(copies) + b"\n")
    (tmp_path / "train.jsonl").write_bytes(
        b"\n".join(line for line in lines if line not in copies) + b"\n"
    )
    params = yaml.safe_load(dump_config(tmp_path, dump, exact=False, near=False).read_text())
    params["data"] |= {"train": ["train.jsonl"], "test": ["test.jsonl"]}
    Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert cli("ingest").exit_code == 0
    report = report_json(cli)
    leaks = report["duplicates"]["across_splits_in_processed"]
    assert leaks["count"] == len(dump.copies)
    assert set(leaks["by_kind"]) == {"exact", "near"}
    pairs = {(leak["test_id"], leak["train_id"]) for leak in leaks["examples"]}
    assert pairs <= set(dump.copies.items())
    train_stances = set(report["labels"]["stance"]["counts"]["train"])
    test_stances = set(report["labels"]["stance"]["counts"]["test"])
    assert report["labels"]["stance"]["absent_from_test"] == sorted(train_stances - test_stances)
    topic = report["labels"]["topic"]
    assert topic["absent_from_test"] == sorted(
        set(topic["counts"]["train"]) - set(topic["counts"]["test"])
    )
    assert topic["absent_from_test"], "six copies cannot cover all eight topics"


def test_debug_data_before_ingest_is_a_usage_error(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("debug", "data")
    assert result.exit_code == 2
    assert "run `pipeline ingest` first" in result.stderr


def test_debug_has_help_with_an_example(cli: Callable[..., Any]) -> None:
    result = cli("debug", "data", "--help")
    assert result.exit_code == 0
    assert "Example: pipeline debug data" in result.stdout
