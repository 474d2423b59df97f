"""The one configuration file (`params.yaml`): schema, defaults, CLI overrides and path resolution.

Every key is validated; an unknown key or a wrong type is a one-line error naming the key, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import UsageError

DEFAULT_CONFIG = Path("params.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Where labelled articles come from and how a record becomes a document."""

    train: list[str] = Field(default_factory=lambda: ["data/raw/articles.jsonl"])
    test: list[str] = Field(default_factory=list)
    text_fields: list[str] = Field(default_factory=lambda: ["title", "text"])
    id_field: str = "id"
    format: Literal[
        "auto", "jsonl", "csv", "tsv", "parquet", "txt", "html", "labelstudio", "doccano", "prodigy"
    ] = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    # records sharing this field's value (e.g. the outlet) stay in one cross-validation fold and
    # on one side of the seeded split: scores then predict how the model does on unseen sources
    group_field: str | None = None
    # canonical name (as used in text_fields, id_field, task fields) → the input's field name
    fields: dict[str, str] = Field(default_factory=dict)
    sidecar: str | None = None  # folders: labels file by file name (None: labels.csv|tsv|jsonl)
    folder_labels: bool = True  # folders without sidecar: sub-folder name = the multiclass label

    @field_validator("train", "test", "text_fields", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class TaskConfig(_Strict):
    """One label task: the record field holding its label(s) and its kind."""

    field: str
    type: Literal["multilabel", "multiclass"]
    labels: list[str] | None = None  # None: learned from the training split


class CleanConfig(_Strict):
    """Text cleaning steps, shared by ingest and predict; each can be switched off."""

    fix_unicode: bool = True
    boilerplate_patterns: bool = True
    learned_boilerplate: bool = True
    boilerplate_min_docs: int = Field(5, ge=2)
    boilerplate_min_fraction: float = Field(0.01, ge=0, le=1)
    boilerplate_max_words: int = Field(30, ge=1)
    captions: bool = True
    repeated_paragraphs: bool = True
    min_chars: int = Field(20, ge=0)
    # ...and shorter than this fraction of the median training document (None: min_chars
    # alone): an article corpus rejects a headline whose body is missing, a headline corpus
    # keeps its short headlines
    min_chars_of_median: float | None = Field(0.25, ge=0, le=1)
    max_chars: int = Field(100_000, ge=100)


class DedupConfig(_Strict):
    """Exact and near-duplicate detection (MinHash LSH)."""

    exact: bool = True
    near: bool = True
    near_threshold: float = Field(0.7, gt=0, le=1)
    num_perm: int = Field(128, ge=16)
    shingle_words: int = Field(2, ge=1)
    drop: bool = True  # False: keep every copy, but keep a cluster on one side of the split


MAX_CHAR_N = 7  # `char_tfidf`'s n-gram codes hold up to 7 bytes and the length


def check_char_ngrams(ngram_range: tuple[int, int]) -> None:
    """Raise unless `char_tfidf.CharTfidf` can count this range of n-gram sizes."""
    if not 2 <= ngram_range[0] <= ngram_range[1] <= MAX_CHAR_N:
        raise ValueError(
            f"char_ngrams {list(ngram_range)}: invalid char n-gram range, need 2 <= min <= max"
            f" <= {MAX_CHAR_N} (null: no character block)"
        )


class FeaturesConfig(_Strict):
    """TF-IDF vectorizers, fitted on the training split only."""

    word_ngrams: tuple[int, int] = (1, 2)
    # character n-grams of the words (2 <= min <= max <= 7; None: off), fitted only when the
    # median training document is at most char_max_median_chars long (None: always): headlines
    # and subject lines gain 0.5-2 points, long articles little, at a high cost
    char_ngrams: tuple[int, int] | None = (2, 5)
    char_max_median_chars: int | None = Field(200, ge=0)
    min_df: int = Field(2, ge=1)  # n-grams of 2+ words (and characters)
    unigram_min_df: int = Field(1, ge=1)  # single words: rare names are signal, not noise
    ngram_weight: float = Field(0.5, ge=0)  # the 2+ word n-gram block beside the words block
    # a document's first words (headline, lead paragraph) again, as their own block at this
    # weight: what a story is about comes first. None or 0: off
    lead_words: int | None = Field(64, ge=0)
    lead_weight: float = Field(0.5, ge=0)
    max_df: float = Field(0.9, gt=0, le=1)
    max_features: int | None = Field(None, ge=1)
    sublinear_tf: bool = True
    lowercase: bool = True
    # a data description, not a tuning knob: the records are pairs (a headline and the body set
    # against it); adds similarity features between the two. Must equal data.text_fields, the
    # first field being one line (documents are built as "first\nsecond").
    pair_fields: list[str] | None = None

    @field_validator("char_ngrams")
    @classmethod
    def _char_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None:  # on load, not after ingest
            check_char_ngrams(value)
        return value


ModelType = Literal["linear_svc", "nb_svm", "logreg", "sgd"]
Grid = dict[str, list[Any]]


def _default_grid() -> list[Grid]:
    return [{"C": [1.0, 0.3]}, {"type": ["nb_svm"], "C": [0.3]}]


class ModelConfig(_Strict):
    """Linear classifier, its search grid and probability calibration."""

    type: ModelType = "linear_svc"
    search: bool = True
    # one grid, or a list of grids searched together (as scikit-learn's `param_grid`); a grid's
    # `type` entry overrides `type` above, so the search can pick the model type itself
    grid: Grid | list[Grid] = Field(default_factory=_default_grid)
    params: dict[str, Any] = Field(default_factory=dict)  # fixed estimator parameters
    # the best grid point is also cross-validated with the word n-gram block at each of these
    # weights instead of features.ngram_weight (the block rescaled, nothing refitted)
    ngram_weights: list[float] = Field(default_factory=lambda: [0.25, 1.0])
    cv: int = Field(3, ge=2)
    scoring: Literal["macro_f1", "micro_f1", "accuracy"] = "macro_f1"
    class_weight: Literal["balanced"] | None = None
    tune_thresholds: bool = True  # multilabel: per-label thresholds from CV predictions
    # multilabel: a label whose tuned threshold reaches a CV F1 below this keeps 0.5 (SCutFBR)
    threshold_min_f1: float = Field(0.2, ge=0, le=1)
    min_labels: int = Field(1, ge=0)  # multilabel: always predict at least this many labels
    n_jobs: int = -1

    @field_validator("grid")
    @classmethod
    def _known_types(cls, grid: Grid | list[Grid]) -> Grid | list[Grid]:
        known = get_args(ModelType)
        for part in grid if isinstance(grid, list) else [grid]:
            for name, values in part.items():
                if not values:
                    raise ValueError(f"grid entry {name!r} lists no value")
            unknown = [t for t in part.get("type", []) if t not in known]
            if unknown:
                raise ValueError(f"grid type {unknown[0]!r} is not one of {', '.join(known)}")
        return grid


class PathsConfig(_Strict):
    """Where outputs go (relative to the working directory)."""

    processed: str = "data/processed"
    models: str = "models"
    reports: str = "reports"


class MlflowConfig(_Strict):
    """Experiment tracking; the tracking URI defaults to an embedded SQLite store."""

    enabled: bool = True
    tracking_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db
    experiment: str = "news-pipeline"
    register_models: bool = True
    model_prefix: str = "news-"


class Config(_Strict):
    """The whole `params.yaml`."""

    data: DataConfig = Field(default_factory=DataConfig)
    tasks: dict[str, TaskConfig] = Field(
        default_factory=lambda: {
            "topic": TaskConfig(field="topics", type="multilabel"),
            "stance": TaskConfig(field="stance", type="multiclass"),
        }
    )
    clean: CleanConfig = Field(default_factory=CleanConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    seed: int = 42
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("tasks")
    @classmethod
    def _some_task(cls, tasks: dict[str, TaskConfig]) -> dict[str, TaskConfig]:
        if not tasks:
            raise ValueError("declare at least one task")
        return tasks

    @model_validator(mode="after")
    def _pairs_are_the_text_fields(self) -> Config:
        pair = self.features.pair_fields
        if pair is not None and (len(pair) != 2 or pair != self.data.text_fields):
            raise ValueError(
                f"features.pair_fields {pair} must be two fields equal to data.text_fields"
            )
        return self

    def section_hash(self, *sections: str) -> str:
        """A stable hash of some config sections, so a step can tell if its settings changed."""
        dumped = self.model_dump(mode="json", include=set(sections))
        return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]

    def resolve_inputs(self, patterns: list[str]) -> list[Path]:
        """Expand files/globs relative to the working directory, else to the config's folder."""
        found: list[Path] = []
        for pattern in patterns:
            matches = _expand(pattern, Path.cwd()) or _expand(pattern, self.base_dir)
            if not matches:
                raise UsageError(f"data: no file matches {pattern!r}")
            found.extend(matches)
        return found


def _expand(pattern: str, base: Path) -> list[Path]:
    path = Path(pattern).expanduser()
    if not path.is_absolute():
        path = base / path
    if any(ch in pattern for ch in "*?["):
        anchor = Path(path.anchor)
        return sorted(p for p in anchor.glob(str(path.relative_to(anchor))) if p.is_file())
    return [path] if path.exists() else []


# `--fast`, the quick-iteration preset: no search, single words only, 2 folds for calibration,
# a looser stopping tolerance. On 20NG raw against the plain scikit-learn script: search off
# alone (word bigrams kept) trains in 4.3x its time, one bigram LinearSVC fit outlasting its
# whole run; this preset in 1.1-1.2x (ae45e5b), accuracy 0.8682 against its 0.8623 (the
# tolerance: 43 liblinear passes down to 16, accuracy 0.8692 -> 0.8682). README "Latest results".
FAST: dict[str, Any] = {
    "model.search": False,
    "features.word_ngrams": [1, 1],
    "model.cv": 2,
    "model.params.tol": 0.1,
    "features.char_ngrams": None,
}


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a config file; `overrides` maps dotted keys to values (CLI options).

    A missing default `params.yaml` means all defaults; a missing explicit file is an error.
    """
    raw: dict[str, Any] = {}
    chosen = path or DEFAULT_CONFIG
    if chosen.exists():
        try:
            raw = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise UsageError(f"{chosen}: not valid YAML: {exc}".splitlines()[0]) from exc
        if not isinstance(raw, dict):
            raise UsageError(f"{chosen}: the top level must be a mapping of keys")
    elif path is not None:
        raise UsageError(f"config file not found: {path}")
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{chosen}: {_first_error(exc)}") from exc
    config.base_dir = chosen.resolve().parent
    return config


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    return f"key '{key}': {err['msg']} (got {err.get('input')!r})"
