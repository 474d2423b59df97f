"""params.yaml: validation (unknown keys, wrong types), overrides, globs and relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import Config, load_config
from pipeline.errors import UsageError


def write_yaml(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(payload), encoding="utf-8")
    return path


def test_repo_params_yaml_is_valid_and_declares_both_tasks(repo_root: Path) -> None:
    config = load_config(repo_root / "params.yaml")
    assert config.tasks["topic"].type == "multilabel"
    assert config.tasks["topic"].field == "topics"
    assert set(config.tasks["topic"].labels or []) == {
        "military_cooperation",
        "arms_trade",
        "human_rights",
        "diplomacy",
        "sanctions",
        "armed_conflict",
        "domestic_politics",
        "economy",
    }
    assert config.tasks["stance"].type == "multiclass"
    assert config.tasks["stance"].labels == ["critical", "neutral", "supportive"]
    assert config.data.text_fields == ["title", "text"]
    assert config.data.id_field == "id"
    assert config.seed == 42


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"sead": 1}, "sead"),
        ({"data": {"trian": ["a.jsonl"]}}, "data.trian"),
        ({"model": {"grid": {"C": [1.0]}, "C": 1.0}}, "model.C"),
        ({"tasks": {"topic": {"field": "topics", "type": "multilabel", "lables": []}}}, "lables"),
    ],
)
def test_unknown_key_is_a_usage_error_naming_the_key(
    tmp_path: Path, payload: dict, key: str
) -> None:
    path = write_yaml(tmp_path / "params.yaml", payload)
    with pytest.raises(UsageError, match="unknown key") as caught:
        load_config(path)
    message = str(caught.value)
    assert key in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"seed": "forty-two"}, "seed"),
        ({"data": {"test_size": 1.5}}, "data.test_size"),
        ({"model": {"cv": 1}}, "model.cv"),
        ({"model": {"type": "random_forest"}}, "model.type"),
        ({"tasks": {"topic": {"field": "topics", "type": "multi"}}}, "tasks.topic.type"),
        ({"features": {"word_ngrams": "1,2"}}, "features.word_ngrams"),
    ],
)
def test_wrong_type_or_value_names_the_key(tmp_path: Path, payload: dict, key: str) -> None:
    path = write_yaml(tmp_path / "params.yaml", payload)
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert f"'{key}'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_no_task_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="tasks"):
        load_config(write_yaml(tmp_path / "params.yaml", {"tasks": {}}))


def test_invalid_yaml_and_non_mapping_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(UsageError, match="mapping"):
        load_config(listed)


def test_explicit_missing_config_is_an_error_but_default_missing_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    config = load_config()
    assert config.model_dump() == Config().model_dump()
    assert set(config.tasks) == {"topic", "stance"}


@pytest.mark.parametrize("command", ["ingest", "features", "train", "evaluate", "run"])
def test_cli_bad_config_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "bad.yaml", {"model": {"gird": {"C": [1]}}})
    result = cli(command, "--config", "bad.yaml")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert "model.gird" in lines[0]
    assert "Traceback" not in result.output


def test_cli_missing_config_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli):
    monkeypatch.chdir(tmp_path)
    result = cli("ingest", "--config", "missing.yaml")
    assert result.exit_code == 2
    assert "config file not found: missing.yaml" in result.stderr


def test_overrides_apply_dotted_keys_and_are_validated(repo_root: Path) -> None:
    config = load_config(
        repo_root / "params.yaml", {"seed": 7, "model.search": False, "mlflow.enabled": False}
    )
    assert (config.seed, config.model.search, config.mlflow.enabled) == (7, False, False)
    assert config.model.grid == load_config(repo_root / "params.yaml").model.grid
    with pytest.raises(UsageError, match=r"'model\.cv'"):
        load_config(repo_root / "params.yaml", {"model.cv": "three"})
    with pytest.raises(UsageError, match=r"unknown key 'model\.serach'"):
        load_config(repo_root / "params.yaml", {"model.serach": False})


def test_cli_seed_override_reaches_the_split(sample_workdir: Path, cli) -> None:
    result = cli("ingest", "--seed", "7")
    assert result.exit_code == 0, result.output
    manifest = (sample_workdir / "data/processed/manifest.json").read_text()
    assert "seeded split of train (seed 7)" in manifest


def test_section_hash_changes_only_with_its_sections(repo_root: Path) -> None:
    base = load_config(repo_root / "params.yaml")
    other = load_config(repo_root / "params.yaml", {"features.min_df": 3})
    assert base.section_hash("data", "tasks") == other.section_hash("data", "tasks")
    assert base.section_hash("features") != other.section_hash("features")
    assert base.section_hash("features") == load_config(repo_root / "params.yaml").section_hash(
        "features"
    )


def test_single_string_is_accepted_for_list_fields(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", {"data": {"train": "a.jsonl", "text_fields": "body"}})
    config = load_config(path)
    assert config.data.train == ["a.jsonl"]
    assert config.data.text_fields == ["body"]


def test_globs_expand_sorted_and_unmatched_pattern_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("b.jsonl", "a.jsonl", "c.csv"):
        (tmp_path / "raw" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "raw" / name).write_text("{}\n")
    config = load_config(write_yaml(tmp_path / "params.yaml", {}))
    found = config.resolve_inputs(["raw/*.jsonl", "raw/c.csv"])
    assert [p.name for p in found] == ["a.jsonl", "b.jsonl", "c.csv"]
    assert all(p.is_absolute() for p in found)
    with pytest.raises(UsageError, match=r"no file matches 'raw/\*\.parquet'"):
        config.resolve_inputs(["raw/*.parquet"])
    with pytest.raises(UsageError, match=r"no file matches 'raw/missing\.jsonl'"):
        config.resolve_inputs(["raw/missing.jsonl"])


def test_relative_paths_resolve_from_cwd_first_then_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, work = tmp_path / "project", tmp_path / "work"
    (project / "data").mkdir(parents=True)
    (project / "data" / "only_here.jsonl").write_text("{}\n")
    (project / "data" / "both.jsonl").write_text("{}\n")
    (work / "data").mkdir(parents=True)
    (work / "data" / "both.jsonl").write_text("{}\n")
    config_path = write_yaml(project / "conf.yaml", {})
    monkeypatch.chdir(work)
    config = load_config(config_path)
    assert config.base_dir == project
    assert config.resolve_inputs(["data/only_here.jsonl"]) == [project / "data/only_here.jsonl"]
    assert config.resolve_inputs(["data/both.jsonl"]) == [work / "data/both.jsonl"]
    assert config.resolve_inputs(["data/*.jsonl"]) == [work / "data/both.jsonl"]
