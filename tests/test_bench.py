"""`pipeline bench`: bench configs describe data only, the FNC-1 score, and whole bench runs (a
tiny generated corpus through every system, and a quick run on a real shared corpus)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.bench import (
    SIDE_BY_SIDE,
    BenchSpec,
    Job,
    fastest_pass,
    fnc1_score,
    load_specs,
    project_config,
    ratios,
    run_bench,
    to_markdown,
)
from pipeline.config import Config, load_config
from pipeline.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
WORDS = {
    "sport": [
        "match",
        "goal",
        "team",
        "league",
        "coach",
        "season",
        "player",
        "score",
        "win",
        "cup",
    ],
    "economy": [
        "market",
        "bank",
        "inflation",
        "trade",
        "growth",
        "price",
        "tax",
        "budget",
        "export",
        "rate",
    ],
    "politics": [
        "election",
        "vote",
        "party",
        "minister",
        "parliament",
        "law",
        "senate",
        "campaign",
        "policy",
    ],
}


def _write_gz(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """A generated 3-class corpus and its bench config folder."""
    rng = random.Random(0)
    filler = ["the", "a", "of", "in", "on", "said", "with", "by", "for", "from"]

    def rows(n: int, prefix: str) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            label = list(WORDS)[i % 3]
            words = rng.choices(WORDS[label], k=25) + rng.choices(filler, k=25)
            rng.shuffle(words)
            out.append(
                {
                    "id": f"{prefix}{i}",
                    "title": " ".join(words[:6]),
                    "text": " ".join(words),
                    "label": label,
                }
            )
        return out

    data = tmp_path / "datasets" / "tiny"
    data.mkdir(parents=True)
    _write_gz(data / "train.jsonl.gz", rows(120, "tr"))
    _write_gz(data / "test.jsonl.gz", rows(60, "te"))
    configs = tmp_path / "configs"
    configs.mkdir()
    spec = {
        "dataset": "tiny",
        "config": {
            "data": {"train": ["train.jsonl.gz"], "test": ["test.jsonl.gz"]},
            "tasks": {"label": {"field": "label", "type": "multiclass"}},
        },
        "targets": {"accuracy": 0.5},
    }
    (configs / "tiny.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "datasets", configs


def test_fnc1_score_weights_related_labels() -> None:
    truth = ["unrelated", "agree", "discuss", "disagree"]
    assert fnc1_score(truth, truth) == 100.0
    # unrelated right (0.25), agree called discuss (0.25), discuss right (1.0), disagree missed (0)
    predicted = ["unrelated", "discuss", "discuss", "unrelated"]
    assert fnc1_score(truth, predicted) == pytest.approx(100 * 1.5 / 3.25)


def test_repo_bench_configs_are_data_only_and_valid(tmp_path: Path) -> None:
    specs = load_specs(REPO / "bench" / "configs")
    assert {s.name for s in specs} >= {"20newsgroups_raw", "fnc1", "reuters21578_modapte"}
    for spec in specs:
        job = Job("project", spec, ["train.jsonl"], ["test.jsonl"], str(tmp_path), False, None)
        config = project_config(job)
        defaults = Config()
        assert config.model == defaults.model  # the same model settings for every corpus
        assert config.features.model_dump(exclude={"pair_fields"}) == defaults.features.model_dump(
            exclude={"pair_fields"}
        )
        assert config.mlflow.enabled is False
        assert config.dedup.drop is False


def test_bench_config_with_model_settings_is_refused(tmp_path: Path) -> None:
    spec = {"dataset": "x", "config": {"tasks": {"t": {"field": "t", "type": "multiclass"}}}}
    spec["config"]["model"] = {"grid": {"C": [10]}}
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(UsageError, match="describes data only; 'model' not allowed"):
        load_specs(tmp_path)
    spec["config"].pop("model")
    spec["config"]["features"] = {"min_df": 5}
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(UsageError, match=r"'features\.min_df' is not allowed"):
        load_specs(tmp_path)


def test_params_yaml_carries_the_default_model_and_features() -> None:
    """`make train` and `make bench` train the same model: params.yaml repeats the defaults."""
    params = load_config(REPO / "params.yaml")
    assert params.model == Config().model
    assert params.features == Config().features


def test_ratios_are_project_over_peer() -> None:
    got = ratios({"accuracy": 0.9, "train_seconds": 3.0}, {"accuracy": 0.6, "train_seconds": 0})
    assert got == {"accuracy": 1.5, "train_seconds": None}


@pytest.mark.slow
def test_bench_runs_every_system_on_a_tiny_corpus(
    tiny_corpus: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets, configs = tiny_corpus
    monkeypatch.chdir(tmp_path)
    report = run_bench(
        datasets_dir=datasets,
        config_dir=configs,
        out_dir=tmp_path / "results",
        with_ingest=False,
        log=lambda _: None,
    )
    saved = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert saved["datasets"].keys() == {"tiny"}
    systems = saved["datasets"]["tiny"]["systems"]
    assert set(systems) == {"project", "sklearn", "fasttext"}
    for result in systems.values():
        assert result["n_test"] == 60
        for key in ("accuracy", "macro_f1", "micro_f1", "train_seconds", "predict_docs_per_s"):
            assert result[key] >= 0
        assert result["peak_rss_mb"] > 10
        assert result["model_mb"] > 0
    assert systems["project"]["accuracy"] > 0.9  # separable classes
    assert 0 <= systems["project"]["ece"] <= 1
    # the saved project and scikit-learn models also predicted side by side, in one process
    assert systems["project"][SIDE_BY_SIDE] > 0 and systems["sklearn"][SIDE_BY_SIDE] > 0
    assert SIDE_BY_SIDE not in systems["fasttext"]
    ratio = saved["datasets"]["tiny"]["ratios"]["sklearn"][SIDE_BY_SIDE]
    assert ratio == round(systems["project"][SIDE_BY_SIDE] / systems["sklearn"][SIDE_BY_SIDE], 3)
    targets = saved["datasets"]["tiny"]["targets"]
    assert any(t["target"].startswith("accuracy ≥ 0.5") and t["met"] for t in targets)
    (predict,) = [t for t in targets if t["target"].startswith("predict docs/s")]
    assert "side by side" in predict["target"]
    assert predict["value"] == systems["project"][SIDE_BY_SIDE]
    md = (tmp_path / "results" / "latest.md").read_text()
    assert md == to_markdown(report)
    assert "| project/sklearn |" in md and "| fasttext |" in md


@pytest.mark.slow
def test_quick_bench_on_a_shared_corpus(
    shared_datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(
        "bench",
        "--quick",
        "--dataset",
        "reuters21578_modapte",
        "--datasets-dir",
        shared_datasets,
        "--configs",
        REPO / "bench" / "configs",
        "-o",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "latest-quick.json").read_text())
    reuters = report["datasets"]["reuters21578_modapte"]
    assert reuters["type"] == "multilabel"
    assert reuters["systems"]["project"]["n_test"] == reuters["systems"]["sklearn"]["n_test"]
    assert "ingest" not in report  # a --dataset run leaves the ingest benchmark alone


def test_bench_refuses_a_missing_datasets_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="datasets folder not found"):
        run_bench(datasets_dir=tmp_path / "nope", config_dir=REPO / "bench" / "configs")


def test_spec_task_is_the_single_declared_task() -> None:
    spec = BenchSpec("x", "x", {"tasks": {"stance": {"field": "s", "type": "multiclass"}}})
    assert spec.task == ("stance", {"field": "s", "type": "multiclass"})


def test_a_dataset_rerun_keeps_the_other_corpora_of_the_same_kind(tmp_path: Path) -> None:
    from pipeline.bench import _previous

    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"fast": False, "datasets": {"a": {}}, "ingest": {"x": 1}}))
    assert _previous(path, fast=False)["datasets"] == {"a": {}}
    assert _previous(path, fast=True) == {}  # a --fast run never mixes with a default one
    assert _previous(tmp_path / "missing.json", fast=False) == {}


def test_fastest_pass_makes_every_pass_and_keeps_the_predictions() -> None:
    calls: list[int] = []

    def predict() -> int:
        calls.append(1)
        return len(calls)

    seconds, out = fastest_pass(predict, passes=3)
    assert len(calls) == 3 and out == 3 and seconds >= 0
