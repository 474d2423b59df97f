"""Batch predict: every input and output format, rejects, accounting, overwrite and atomicity."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.clean import build_document
from pipeline.predict import load_models, predict
from pipeline.train import load_model

SUMMARY = re.compile(r"read (\d+) · predicted (\d+) · rejected (\d+)")
TOPICS = {
    "military_cooperation",
    "arms_trade",
    "human_rights",
    "diplomacy",
    "sanctions",
    "armed_conflict",
    "domestic_politics",
    "economy",
}
STANCES = {"critical", "neutral", "supportive"}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_output(path: Path) -> list[dict[str, Any]]:
    """Rows of a prediction file in any output format, with lists and dicts restored."""
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".parquet":
        rows = pd.read_parquet(path).to_dict("records")
        for row in rows:
            row["topic"] = list(row["topic"])
            for key in ("topic_scores", "stance_scores"):
                row[key] = {k: v for k, v in row[key].items() if v is not None}
        return rows
    rows = pd.read_csv(path, keep_default_na=False).to_dict("records")
    for row in rows:
        row["topic"] = row["topic"].split(";") if row["topic"] else []
        row["topic_scores"] = json.loads(row["topic_scores"])
        row["stance_scores"] = json.loads(row["stance_scores"])
    return rows


def assert_prediction_row(row: dict[str, Any]) -> None:
    assert isinstance(row["id"], str) and row["id"]
    assert set(row["topic_scores"]) == TOPICS
    assert set(row["stance_scores"]) == STANCES
    assert all(0.0 <= p <= 1.0 for p in row["topic_scores"].values())
    assert abs(sum(row["stance_scores"].values()) - 1.0) < 2e-3
    assert row["stance"] in STANCES
    assert row["stance"] == max(row["stance_scores"], key=row["stance_scores"].get)
    assert row["topic"] and set(row["topic"]) <= TOPICS


@pytest.fixture(scope="module")
def models_dir(trained_workdir: Path) -> Path:
    return trained_workdir / "models"


@pytest.fixture(scope="module")
def models(models_dir: Path) -> list[Any]:
    return load_models([str(models_dir)])


@pytest.fixture(scope="module")
def records(repo_root: Path) -> list[dict[str, Any]]:
    """Eight unlabelled articles from the sample dump."""
    return read_jsonl(repo_root / "data/raw/dumps/wire_2026-11.jsonl")[:8]


def write_inputs(records: list[dict[str, Any]], folder: Path) -> dict[str, Path]:
    """The same records as JSONL, JSONL.gz, CSV, Parquet and a folder of .txt files."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "in.jsonl").write_text(lines, encoding="utf-8")
    with gzip.open(folder / "in.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(lines)
    frame = pd.DataFrame(records)[["id", "title", "text"]]
    frame.to_csv(folder / "in.csv", index=False)
    frame.to_parquet(folder / "in.parquet", index=False)
    txt = folder / "txt"
    txt.mkdir()
    for r in records:
        (txt / f"{r['id']}.txt").write_text(f"{r['title']}\n{r['text']}", encoding="utf-8")
    return {
        "jsonl": folder / "in.jsonl",
        "jsonl.gz": folder / "in.jsonl.gz",
        "csv": folder / "in.csv",
        "parquet": folder / "in.parquet",
        "txt": txt,
    }


@pytest.fixture(scope="module")
def inputs(records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory):
    return write_inputs(records, tmp_path_factory.mktemp("predict_inputs"))


@pytest.fixture(scope="module")
def reference(inputs: dict[str, Path], models: list[Any], tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("reference") / "ref.jsonl"
    predict([inputs["jsonl"]], out, models)
    return {row["id"]: row for row in read_jsonl(out)}


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "csv", "parquet", "txt"])
def test_every_input_format_gives_the_same_predictions(
    kind: str, inputs: dict[str, Path], models: list[Any], reference: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = predict([inputs[kind]], out, models, batch_size=3)
    assert (result.read, result.predicted, result.rejected) == (8, 8, 0)
    rows = {row["id"]: row for row in read_jsonl(out)}
    assert rows == reference


def test_a_folder_of_mixed_files_is_read_recursively(
    inputs: dict[str, Path], models: list[Any], tmp_path: Path
) -> None:
    folder = tmp_path / "dump"
    shutil.copytree(inputs["txt"], folder / "nested" / "txt")
    shutil.copy(inputs["csv"], folder / "export.csv")
    (folder / "notes.md").write_text("not an input")
    result = predict([folder], tmp_path / "out.jsonl", models)
    assert (result.read, result.predicted, result.rejected) == (16, 16, 0)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_output_format_has_id_labels_and_scores(
    suffix: str, inputs: dict[str, Path], models: list[Any], reference: dict, tmp_path: Path
) -> None:
    out = tmp_path / f"predictions{suffix}"
    predict([inputs["jsonl"]], out, models)
    rows = read_output(out)
    assert [row["id"] for row in rows] == list(reference)
    for row in rows:
        assert_prediction_row(row)
        assert row["topic"] == reference[row["id"]]["topic"]
        assert row["stance"] == reference[row["id"]]["stance"]
        assert row["topic_scores"] == pytest.approx(reference[row["id"]]["topic_scores"])


def test_predict_cleans_like_the_saved_model(
    repo_root: Path, models_dir: Path, models: list[Any], tmp_path: Path
) -> None:
    raw = read_jsonl(repo_root / "data/raw/articles.jsonl")[:25]
    source = tmp_path / "labelled.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in raw), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    predict([source], out, models)
    rows = read_jsonl(out)
    docs = [build_document(r, ["title", "text"]) for r in raw]
    topic, meta = load_model(models_dir / "topic")
    stance, _ = load_model(models_dir / "stance")
    topic_probs, stance_probs = topic.predict_proba(docs), stance.predict_proba(docs)
    for i, row in enumerate(rows):
        assert row["id"] == raw[i]["id"]
        assert list(row["topic_scores"].values()) == pytest.approx(topic_probs[i], abs=1e-4)
        assert list(row["stance_scores"].values()) == pytest.approx(stance_probs[i], abs=1e-4)
    agree = sum(
        set(row["topic"]) & set(r["topics"]) != set() for row, r in zip(rows, raw, strict=True)
    )
    assert agree >= 20, "the model trained on this corpus should recognise most of its topics"
    assert meta["labels"] == list(rows[0]["topic_scores"])


def test_unusable_records_go_to_the_rejects_file(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.chdir(tmp_path)
    good = {"id": "ok-1", "title": "Navy drills", "text": "Two navies held joint drills. " * 5}
    lines = [
        json.dumps(good),
        '{"id": "broken", "text": "unterminated',
        "[1, 2, 3]",
        "",
        json.dumps({"id": "empty-1", "title": "", "text": "   "}),
        json.dumps({"id": "empty-2", "title": "Share this article", "text": "Advertisement"}),
        json.dumps({"id": "typed", "title": "Numbers", "text": 12345}),
    ]
    Path("in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("predict", "in.jsonl", "-o", "out.jsonl", "--model", models_dir)
    assert result.exit_code == 0, result.output
    match = SUMMARY.search(result.stdout)
    assert match, result.stdout
    read, predicted, rejected = map(int, match.groups())
    assert (read, predicted, rejected) == (6, 1, 5)
    assert read == predicted + rejected
    assert [row["id"] for row in read_jsonl(Path("out.jsonl"))] == ["ok-1"]
    rejects = {r["line"]: r for r in read_jsonl(Path("out.jsonl.rejects.jsonl"))}
    assert sorted(rejects) == [2, 3, 5, 6, 7]
    assert rejects[2]["reason"] == rejects[3]["reason"] == "unparseable"
    assert (rejects[5]["id"], rejects[5]["reason"]) == ("empty-1", "empty_text")
    assert (rejects[6]["id"], rejects[6]["reason"]) == ("empty-2", "empty_text")
    assert (rejects[7]["id"], rejects[7]["reason"]) == ("typed", "wrong_type")
    assert all(r["source"].endswith("in.jsonl") for r in rejects.values())


def test_seed_dump_is_about_military_cooperation(
    seed_dump: Path, models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("predict", seed_dump, "-o", "out.jsonl", "--model", models_dir)
    assert result.exit_code == 0, result.output
    assert "read 1 · predicted 1 · rejected 0" in result.stdout
    (row,) = read_jsonl(Path("out.jsonl"))
    assert row["id"] == "jakarta_post_dump"
    assert "military_cooperation" in row["topic"]
    assert_prediction_row(row)


def test_refuses_to_overwrite_without_force(
    inputs: dict[str, Path], models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("out.csv").write_text("precious\n")
    result = cli("predict", inputs["jsonl"], "-o", "out.csv", "--model", models_dir)
    assert result.exit_code == 2
    assert "out.csv exists; pass --force" in result.stderr
    assert Path("out.csv").read_text() == "precious\n"
    forced = cli("predict", inputs["jsonl"], "-o", "out.csv", "--model", models_dir, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(read_output(Path("out.csv"))) == 8


@pytest.mark.parametrize("name", ["corrupt.jsonl.gz", "corrupt.parquet"])
def test_no_partial_output_when_a_later_input_fails(
    name: str,
    inputs: dict[str, Path],
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli,
) -> None:
    monkeypatch.chdir(tmp_path)
    if name.endswith(".gz"):
        payload = gzip.compress(inputs["jsonl"].read_bytes() * 3)
    else:
        payload = inputs["parquet"].read_bytes()
    Path(name).write_bytes(payload[: len(payload) // 2])  # truncated mid-stream
    Path("out").mkdir()
    args = [inputs["jsonl"], name, "-o", "out/out.parquet", "--model", models_dir]
    result = cli("predict", *args, "--batch-size", "2")
    assert result.exit_code == 1
    assert f"{name}: cannot read the file" in result.stderr, "the error names the file"
    assert list(Path("out").iterdir()) == [], "no output, rejects or temp file is left"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "-o", "out.jsonl"], "input not found: missing.jsonl"),
        (["in.jsonl", "-o", "out.txt"], "output must end in .jsonl, .csv or .parquet"),
        (["in.jsonl", "-o", "out.jsonl", "--model", "nowhere"], "no saved model in nowhere"),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str],
    message: str,
    inputs: dict[str, Path],
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli,
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(inputs["jsonl"], "in.jsonl")
    if "--model" not in args:
        args = [*args, "--model", str(models_dir)]
    result = cli("predict", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not Path("out.jsonl").exists() and not Path("out.txt").exists()


def test_one_task_model_gives_only_its_columns(
    inputs: dict[str, Path], models_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    predict([inputs["jsonl"]], out, load_models([str(models_dir / "stance")]))
    rows = read_jsonl(out)
    assert len(rows) == 8
    assert all(set(row) == {"id", "stance", "stance_scores"} for row in rows)


def test_tampered_model_is_a_runtime_error(
    inputs: dict[str, Path], models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(models_dir, "models")
    with Path("models/stance/model.joblib").open("ab") as fh:
        fh.write(b"tampered")
    result = cli("predict", inputs["jsonl"], "-o", "out.jsonl")
    assert result.exit_code == 1
    assert "checksum does not match" in result.stderr
    assert not Path("out.jsonl").exists()


def test_output_on_a_pipe_has_no_progress_bar(
    inputs: dict[str, Path], models_dir: Path, tmp_path: Path, run_pipeline
) -> None:
    result = run_pipeline(
        "predict", inputs["txt"], "-o", "out.jsonl", "--model", models_dir, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["read 8 · predicted 8 · rejected 0", "→ out.jsonl"]
    assert "\x1b[" not in result.stdout + result.stderr


def test_outputs_get_the_usual_file_permissions(
    inputs: dict[str, Path], models: list[Any], tmp_path: Path
) -> None:
    """Atomic writes must not leave outputs private (0600) to whoever ran the command."""
    umask = os.umask(0o022)
    os.umask(umask)
    out = tmp_path / "shared.jsonl"
    predict([inputs["jsonl"]], out, models)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    rejects = out.with_name(out.name + ".rejects.jsonl")
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o666 & ~umask


def test_field_names_mapped_at_training_are_mapped_at_predict(
    inputs: dict[str, Path], models_dir: Path, tmp_path: Path
) -> None:
    """A model trained with `data.fields` finds its text under the same input names."""
    plain = tmp_path / "plain.jsonl"
    predict([inputs["jsonl"]], plain, load_models([str(models_dir)]))
    renamed = tmp_path / "renamed.jsonl"
    with renamed.open("w", encoding="utf-8") as fh:
        for line in inputs["jsonl"].read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            fh.write(json.dumps({"article_id": rec["id"], "headline": rec.get("title"),
                                 "body": rec.get("text")}) + "\n")  # fmt: skip
    models = load_models([str(models_dir)])
    for model in models:
        model.fields = {"id": "article_id", "title": "headline", "text": "body"}
    mapped = tmp_path / "mapped.jsonl"
    predict([renamed], mapped, models)
    assert read_jsonl(mapped) == read_jsonl(plain)
