"""One labelled corpus in every input format ingests to the same processed records.

The fixtures in tests/data/formats/ hold the same eight hand-written articles as JSONL, a Label
Studio JSON export, a doccano JSONL export, Prodigy `textcat_multilabel` and `textcat` answers,
a folder of .txt files with a labels.csv sidecar, a folder of .html pages with a labels.jsonl
sidecar, and sub-folders named by stance. CSV, TSV, Parquet and JSONL.gz are derived from the
JSONL in each test.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline.config import load_config
from pipeline.errors import UsageError
from pipeline.ingest import ingest, load_split
from pipeline.io.readers import detect_format, iter_records
from pipeline.records import Reason

FORMATS_DIR = Path(__file__).parent / "data" / "formats"
TOPICS = [
    "military_cooperation",
    "arms_trade",
    "human_rights",
    "diplomacy",
    "sanctions",
    "armed_conflict",
    "domestic_politics",
    "economy",
]
STANCES = ["critical", "neutral", "supportive"]
BOTH_TASKS = {
    "topic": {"field": "topics", "type": "multilabel", "labels": TOPICS},
    "stance": {"field": "stance", "type": "multiclass", "labels": STANCES},
}
STANCE_ONLY = {"stance": BOTH_TASKS["stance"]}


def write_config(
    workdir: Path, train: list[str], tasks: dict[str, Any] | None = None, **data: Any
) -> Path:
    config = {
        "data": {"train": train, **data},
        "tasks": tasks or BOTH_TASKS,
        "clean": {"min_chars": 20},
        "mlflow": {"enabled": False},
    }
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def records(config_path: Path) -> dict[str, dict[str, Any]]:
    """Processed records by id: text, labels and split."""
    config = load_config(config_path)
    out: dict[str, dict[str, Any]] = {}
    for split in ("train", "test"):
        frame = load_split(config, split)
        for row in frame.to_dict("records"):
            row = {k: row[k] for k in ("id", "text", *config.tasks)}
            out[row.pop("id")] = row | {"split": split}
    return out


def run_ingest(workdir: Path, train: list[str], **kwargs: Any) -> dict[str, Any]:
    """Ingest in `workdir`; returns the manifest counts and the processed records."""
    path = write_config(workdir, train, **kwargs)
    result = ingest(load_config(path))
    return {"counts": result.manifest["counts"], "records": records(path)}


def rejects(workdir: Path) -> list[dict[str, Any]]:
    text = (workdir / "data/processed/rejects.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The corpus ingested from its plain JSONL."""
    root = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = run_ingest(root, [str(FORMATS_DIR / "articles.jsonl")])
    assert result["counts"]["read"] == result["counts"]["kept"] == 8
    return result["records"]


def _frame() -> pd.DataFrame:
    return pd.read_json(FORMATS_DIR / "articles.jsonl", lines=True)


def _derived(kind: str, target: Path) -> str:
    """The JSONL corpus rewritten as `kind` in `target` (a folder); returns the file path."""
    frame = _frame()
    if kind == "jsonl.gz":
        path = target / "articles.jsonl.gz"
        with gzip.open(path, "wb") as fh:
            fh.write((FORMATS_DIR / "articles.jsonl").read_bytes())
    elif kind in ("csv", "tsv"):
        path = target / f"articles.{kind}"
        flat = frame.assign(topics=frame["topics"].map(";".join))
        flat.to_csv(path, sep="\t" if kind == "tsv" else ",", index=False)
    else:
        path = target / "articles.parquet"
        frame.to_parquet(path, index=False)
    return str(path)


DERIVED = ["jsonl.gz", "csv", "tsv", "parquet"]
FIXTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "labelstudio": ("labelstudio_export.json", {}),
    "doccano": ("doccano_export.jsonl", {"format": "doccano", "fields": {"id": "article_id"}}),
    "prodigy": ("prodigy_textcat_multilabel.jsonl", {}),
    "txt_folder": ("txt_folder", {}),
    "html_folder": ("html_folder", {}),
}


@pytest.mark.parametrize("kind", DERIVED)
def test_tabular_formats_ingest_to_the_same_records(
    kind: str, workdir: Path, reference: dict[str, dict[str, Any]]
) -> None:
    result = run_ingest(workdir, [_derived(kind, workdir)])
    assert result["records"] == reference


@pytest.mark.parametrize("kind", sorted(FIXTURES))
def test_exports_and_folders_ingest_to_the_same_records(
    kind: str, workdir: Path, reference: dict[str, dict[str, Any]]
) -> None:
    name, data = FIXTURES[kind]
    result = run_ingest(workdir, [str(FORMATS_DIR / name)], **data)
    assert result["records"] == reference
    counts = result["counts"]
    assert counts["read"] == counts["kept"] + counts["duplicates"] + counts["rejected"]


def test_prodigy_reject_and_ignore_answers_are_skipped_and_counted(workdir: Path) -> None:
    result = run_ingest(workdir, [str(FORMATS_DIR / "prodigy_textcat_multilabel.jsonl")])
    assert result["counts"]["read"] == 10
    assert result["counts"]["rejected_by_reason"] == {Reason.SKIPPED_ANSWER: 2}
    skipped = rejects(workdir)
    assert [(r["id"], r["line"]) for r in skipped] == [("fx-901", 6), ("fx-902", 7)]
    assert "prodigy answer 'reject'" in skipped[0]["detail"]
    assert "prodigy answer 'ignore'" in skipped[1]["detail"]


def test_prodigy_exclusive_textcat_for_one_task(
    workdir: Path, reference: dict[str, dict[str, Any]]
) -> None:
    result = run_ingest(
        workdir, [str(FORMATS_DIR / "prodigy_textcat_stance.jsonl")], tasks=STANCE_ONLY
    )
    assert result["counts"]["rejected_by_reason"] == {Reason.SKIPPED_ANSWER: 1}
    assert {k: (v["text"], v["stance"]) for k, v in result["records"].items()} == {
        k: (v["text"], v["stance"]) for k, v in reference.items()
    }


def test_labelstudio_cancelled_and_disputed_tasks_are_rejected(workdir: Path) -> None:
    result = run_ingest(workdir, [str(FORMATS_DIR / "labelstudio_export.json")])
    assert result["counts"]["read"] == 10
    assert {(r["id"], r["reason"]) for r in rejects(workdir)} == {
        ("fx-901", Reason.SKIPPED_ANSWER),
        ("fx-902", Reason.LABEL_CONFLICT),
    }


def test_single_multiclass_task_takes_labels_from_folder_names(
    workdir: Path, reference: dict[str, dict[str, Any]]
) -> None:
    result = run_ingest(workdir, [str(FORMATS_DIR / "stance_folders")], tasks=STANCE_ONLY)
    assert {k: v["stance"] for k, v in result["records"].items()} == {
        k: v["stance"] for k, v in reference.items()
    }
    assert {k: v["text"] for k, v in result["records"].items()} == {
        k: v["text"] for k, v in reference.items()
    }


def test_folder_names_are_not_labels_when_there_are_several_tasks(workdir: Path) -> None:
    path = write_config(workdir, [str(FORMATS_DIR / "stance_folders")])
    with pytest.raises(Exception, match="no training record"):
        ingest(load_config(path))
    assert {r["reason"] for r in rejects(workdir)} == {Reason.MISSING_LABEL}


def test_sidecar_rows_and_files_that_do_not_match_are_accounted(workdir: Path) -> None:
    folder = workdir / "docs"
    shutil.copytree(FORMATS_DIR / "txt_folder", folder)
    (folder / "fx-008.txt").rename(folder / "unlabelled.txt")  # its sidecar row now names no file
    with (folder / "labels.csv").open("a", encoding="utf-8") as fh:
        fh.write("fx-001.txt,economy,neutral,Twice\n,economy,neutral,No file\n")
    result = run_ingest(workdir, [str(folder)])
    counts = result["counts"]
    assert counts["read"] == 8 + 3  # eight documents and three unusable sidecar rows
    assert counts["read"] == counts["kept"] + counts["duplicates"] + counts["rejected"]
    found = {
        (Path(r["source"]).name, r["reason"], r["detail"].split(":")[0]) for r in rejects(workdir)
    }
    assert found == {
        ("unlabelled.txt", Reason.MISSING_LABEL, "no value for 'topics'"),
        ("labels.csv", Reason.UNPARSEABLE, "unparseable"),
    }
    details = " | ".join(r["detail"] for r in rejects(workdir))
    assert "names no file in the folder: 'fx-008.txt'" in details
    assert "'fx-001.txt' is named twice" in details
    assert "no 'file' value" in details
    assert result["records"]["fx-001"]["stance"] == "neutral"


def test_field_mapping_renames_input_columns(
    workdir: Path, reference: dict[str, dict[str, Any]]
) -> None:
    frame = _frame().rename(
        columns={"id": "uuid", "title": "headline", "text": "body", "stance": "leaning"}
    )
    path = workdir / "renamed.jsonl"
    frame.to_json(path, orient="records", lines=True, force_ascii=False)
    fields = {"id": "uuid", "title": "headline", "text": "body", "stance": "leaning"}
    result = run_ingest(workdir, [str(path)], fields=fields)
    assert result["records"] == reference


def test_pooled_labels_need_declared_label_sets_or_prefixes(workdir: Path) -> None:
    tasks = {
        name: {k: v for k, v in task.items() if k != "labels"} for name, task in BOTH_TASKS.items()
    }
    path = write_config(
        workdir, [str(FORMATS_DIR / "doccano_export.jsonl")], tasks=tasks, format="doccano"
    )
    with pytest.raises(Exception, match="no training record"):
        ingest(load_config(path))
    assert {r["reason"] for r in rejects(workdir)} == {Reason.UNKNOWN_LABEL}
    assert "prefix them with the task name" in rejects(workdir)[0]["detail"]


def test_two_labels_for_a_multiclass_task_is_a_conflict(workdir: Path) -> None:
    line = json.loads((FORMATS_DIR / "doccano_export.jsonl").read_text().splitlines()[0])
    line["label"] += ["supportive"]
    path = workdir / "one.doccano.jsonl"
    path.write_text(json.dumps(line) + "\n")
    write_config(workdir, [str(path)])
    with pytest.raises(Exception, match="no training record"):
        ingest(load_config(workdir / "params.yaml"))
    (reject,) = rejects(workdir)
    assert reject["reason"] == Reason.LABEL_CONFLICT
    assert "'stance' is multiclass" in reject["detail"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("labelstudio_export.json", "labelstudio"),
        ("prodigy_textcat_multilabel.jsonl", "prodigy"),
        ("prodigy_textcat_stance.jsonl", "prodigy"),
        ("doccano_export.jsonl", "jsonl"),  # doccano looks like JSONL: name it or use --format
        ("articles.jsonl", "jsonl"),
    ],
)
def test_format_detection(name: str, expected: str) -> None:
    assert detect_format(FORMATS_DIR / name) == expected


def test_tool_named_in_the_file_name(tmp_path: Path) -> None:
    for tool in ("doccano", "prodigy", "labelstudio"):
        assert detect_format(tmp_path / f"export.{tool}.jsonl.gz") == tool
    with pytest.raises(UsageError, match="labelstudio\\|doccano\\|prodigy"):
        detect_format(tmp_path / "export.xml")


def test_broken_labelstudio_export_is_one_unparseable_record(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('[{"id": 1, "data": {"text": "x"}, "annotations": [}]')
    (record,) = iter_records(path)
    assert record.data is None and record.error.startswith("invalid JSON")
    path.write_text('[{"id": 1, "data": {"text": "Some text"}}, 42]')
    first, second = iter_records(path)
    assert first.data == {"text": "Some text", "id": 1, "__annotations__": {}}
    assert second.error == "unparseable: a Label Studio task must be an object"


def test_labelstudio_json_min_export_is_read_as_flat_records(tmp_path: Path) -> None:
    path = tmp_path / "min.json"
    items = [
        {
            "id": 5,
            "text": "Body",
            "topic": {"choices": ["economy", "sanctions"]},
            "stance": "neutral",
        }
    ]
    path.write_text(json.dumps(items))
    (record,) = iter_records(path)
    assert record.data == {
        "id": 5,
        "text": "Body",
        "topic": ["economy", "sanctions"],
        "stance": "neutral",
    }


def test_doccano_span_export_is_not_document_labels(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "Jakarta", "label": [[0, 7, "LOC"]]}) + "\n")
    (record,) = iter_records(path, "doccano")
    assert record.error.startswith("unparseable: doccano labels must be a list of names")


def test_cli_format_option_overrides_the_config(workdir: Path, cli: Callable[..., Any]) -> None:
    shutil.copy(FORMATS_DIR / "doccano_export.jsonl", workdir / "export.jsonl")
    write_config(workdir, ["export.jsonl"], fields={"id": "article_id"})
    result = cli("ingest", "--config", "params.yaml", "--format", "doccano")
    assert result.exit_code == 0, result.output
    assert "read 8 · kept 8 · duplicates 0 · rejected 0" in result.output
    bad = cli("ingest", "--config", "params.yaml", "--format", "xml")
    assert bad.exit_code == 2
    assert "data.format" in bad.output
