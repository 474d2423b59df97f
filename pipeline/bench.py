"""`pipeline bench`: the project's default configuration against its peers, in the same run.

Each bench config (`bench/configs/*.yaml`) describes one corpus: its files, text fields and task.
The project, scikit-learn and fastText each run in a fresh child process (so each peak RSS is its
own) on the same training records, and each predicts the same, complete, official test records:
  - project: the real product path: `ingest` → `build_features` → `train` with every default
    except the data description, then the saved inference pipeline (cleaning included) predicts
    the raw test documents exactly as `pipeline predict` would;
  - peers: see `pipeline.peers`.
Ingest runs with `dedup.drop: false`, so duplicates are reported but no training or test record
is dropped, and every system trains and is scored on the same records. The ingest step's own
numbers (throughput, near-duplicate recall) come from `pipeline.bench_ingest`.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml
from joblib.externals.loky import reusable_executor
from pydantic import ValidationError

from pipeline.config import FAST, Config, load_config, set_dotted
from pipeline.errors import UsageError
from pipeline.io.readers import iter_records
from pipeline.io.writers import atomic_path, write_json
from pipeline.peers import PEERS, Labels, SklearnPeer, as_arrays, make_peer

BENCH_CONFIGS = Path("bench/configs")
RESULTS_DIR = Path("bench/results")
DATASETS_DIR = Path("../shared/datasets")
QUICK_TRAIN, QUICK_TEST = 600, 400  # --quick: a seeded sample; the run must stay under 3 min
PREDICT_PASSES = 3  # predict passes per system, the fastest counted: see `fastest_pass`
SIDE_BY_SIDE_PASSES = 5  # alternating passes per system in `predict_side_by_side`
SIDE_BY_SIDE = "predict_docs_per_s_side_by_side"  # see `predict_side_by_side`
SYSTEMS = ("project", *PEERS)
HEADLINE = ("accuracy", "macro_f1", "micro_f1")
# what a bench config may set: the data description only, never model settings
_ALLOWED = {
    "data": {"train", "test", "text_fields", "id_field", "format", "group_field"},
    "tasks": None,
    "features": {"pair_fields"},
}
_RELATED_ONLY = 0.75  # FNC-1: extra credit for the right related label


@dataclass
class BenchSpec:
    """One corpus to benchmark: its files (relative to the datasets folder) and its task."""

    name: str
    dataset: str
    config: dict[str, Any]
    description: str = ""
    metrics: list[str] = field(default_factory=list)  # extra metrics, e.g. fnc1_score
    targets: dict[str, float] = field(default_factory=dict)  # absolute floors to report

    @property
    def task(self) -> tuple[str, dict[str, Any]]:
        return next(iter(self.config["tasks"].items()))


@dataclass
class Job:
    """What a child process needs to train and score one system on one corpus."""

    system: str
    spec: BenchSpec
    train: list[str]
    test: list[str]
    work: str
    fast: bool
    base_config: str | None
    seed: int = 42


def load_specs(config_dir: Path, only: list[str] | None = None) -> list[BenchSpec]:
    """Read and check the bench configs; `only` picks some by name."""
    files = sorted(config_dir.glob("*.yaml"))
    if not files:
        raise UsageError(f"no bench config (*.yaml) in {config_dir}")
    specs = []
    for path in files:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        spec = BenchSpec(
            name=raw.get("name", path.stem),
            dataset=raw["dataset"],
            config=raw.get("config", {}),
            description=raw.get("description", ""),
            metrics=raw.get("metrics", []),
            targets=raw.get("targets", {}),
        )
        _check_spec(spec, path)
        specs.append(spec)
    if only:
        unknown = sorted(set(only) - {s.name for s in specs})
        if unknown:
            raise UsageError(
                f"unknown bench dataset(s) {unknown}; known: {[s.name for s in specs]}"
            )
        specs = [s for s in specs if s.name in only]
    return specs


def _check_spec(spec: BenchSpec, path: Path) -> None:
    for section, value in spec.config.items():
        if section not in _ALLOWED:
            raise UsageError(f"{path}: a bench config describes data only; '{section}' not allowed")
        allowed = _ALLOWED[section]
        if allowed is not None and not set(value) <= allowed:
            extra = sorted(set(value) - allowed)
            raise UsageError(f"{path}: '{section}.{extra[0]}' is not allowed in a bench config")
    if len(spec.config.get("tasks", {})) != 1:
        raise UsageError(f"{path}: declare exactly one task")


def project_config(job: Job) -> Config:
    """The default configuration (or `--config`'s model sections) on this job's data."""
    base = load_config(Path(job.base_config)) if job.base_config else Config()
    raw = base.model_dump(mode="json", include={"clean", "dedup", "features", "model", "seed"})
    spec_config = job.spec.config
    raw["data"] = {**spec_config.get("data", {}), "train": job.train, "test": job.test}
    raw["tasks"] = spec_config["tasks"]
    raw["features"].update(spec_config.get("features", {}))
    raw["dedup"]["drop"] = False  # same records for every system (see module docstring)
    raw["paths"] = {k: str(Path(job.work) / k) for k in ("processed", "models", "reports")}
    raw["mlflow"] = {"enabled": False}
    if job.fast:
        for dotted, value in FAST.items():
            set_dotted(raw, dotted, value)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"bench {job.spec.name}: {exc.errors()[0]['msg']}") from exc


def load_labelled(paths: list[str], spec: BenchSpec) -> tuple[list[str], Labels]:
    """Documents (text fields joined as ingest joins them) and labels of the labelled records."""
    from pipeline.clean import build_document

    text_fields = spec.config["data"].get("text_fields", ["title", "text"])
    pairs = bool(spec.config.get("features", {}).get("pair_fields"))
    _, task = spec.task
    docs: list[str] = []
    labels: list[Any] = []
    for path in paths:
        for record in iter_records(Path(path)):
            value = (record.data or {}).get(task["field"])
            if value in (None, "", []):
                continue
            docs.append(build_document(record.data or {}, text_fields, pairs))
            labels.append(sorted(value) if task["type"] == "multilabel" else str(value))
    return docs, labels


class PeakRSS:
    """Largest resident memory of this process plus its children (joblib workers), sampled."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while True:
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        self.peak_bytes = max(self.peak_bytes, own)

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / (1 << 20), 1)


def run_job(job: Job) -> dict[str, Any]:
    """Child-process entry: train and score one system; returns its metrics and costs."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with PeakRSS() as rss:
        result = _run_project(job) if job.system == "project" else _run_peer(job)
    result["peak_rss_mb"] = rss.peak_mb
    # joblib keeps its worker processes (and, for memmapped arrays, a /dev/shm folder) for
    # reuse: stop them and remove the folder now, or the child waits for them at exit and the
    # resource tracker warns of a leaked folder
    executor = reusable_executor._executor
    if executor is not None:
        getattr(executor, "terminate", executor.shutdown)()
    return result


def _run_peer(job: Job) -> dict[str, Any]:
    train_docs, train_y = load_labelled(job.train, job.spec)
    test_docs, test_y = load_labelled(job.test, job.spec)
    multilabel = job.spec.task[1]["type"] == "multilabel"
    work = Path(job.work)
    work.mkdir(parents=True, exist_ok=True)
    peer = make_peer(job.system, multilabel=multilabel, work_dir=work, seed=job.seed)
    start = time.perf_counter()
    peer.fit(train_docs, train_y)
    train_seconds = time.perf_counter() - start
    predict_seconds, predicted = fastest_pass(lambda: peer.predict(test_docs))
    return {
        **quality(train_y, test_y, predicted, job.spec),
        "train_seconds": round(train_seconds, 2),
        "predict_docs_per_s": round(len(test_docs) / max(predict_seconds, 1e-9), 1),
        "model_mb": round(peer.save(work) / (1 << 20), 4),
        "n_train": len(train_docs),
        "n_test": len(test_docs),
    }


def _run_project(job: Job) -> dict[str, Any]:
    from pipeline.features import build_features
    from pipeline.ingest import ingest
    from pipeline.metrics import calibration
    from pipeline.train import MODEL_FILE, train
    from pipeline.workers import warming

    config = project_config(job)
    name, task = job.spec.task
    with warming(config.model.n_jobs):  # as `pipeline run`: the workers start while ingest runs
        start = time.perf_counter()
        ingested = ingest(config)
        ingest_seconds = time.perf_counter() - start
        features = build_features(config)
        model = train(config, features=features)[name]
    # fitting the vectorizer and the model, as for the peers: neither the feature cache (the
    # test split's matrix, files) nor writing the model file is counted
    train_seconds = (features.fit_seconds or 0.0) + model.metadata["train_seconds"]
    _, train_y = load_labelled(job.train, job.spec)
    test_docs, test_y = load_labelled(job.test, job.spec)

    def predict() -> tuple[np.ndarray, np.ndarray]:
        probs = model.pipeline.predict_proba(test_docs)
        return probs, model.pipeline[-1].decide(probs)

    predict_seconds, (probs, decided) = fastest_pass(predict)
    model_labels = model.metadata["labels"]
    multilabel = task["type"] == "multilabel"
    predicted: Labels = (
        [[model_labels[j] for j in np.flatnonzero(row)] for row in decided]
        if multilabel
        else [str(label) for label in decided]
    )
    truth = as_arrays(test_y, model_labels, multilabel)
    if not multilabel:
        truth = (truth[:, None] == np.asarray(model_labels)[None, :]).astype(int)
    calib = calibration(probs, truth)
    return {
        **quality(train_y, test_y, predicted, job.spec),
        "train_seconds": round(train_seconds, 2),
        "ingest_seconds": round(ingest_seconds, 2),
        "predict_docs_per_s": round(len(test_docs) / max(predict_seconds, 1e-9), 1),
        "model_mb": round((model.directory / MODEL_FILE).stat().st_size / (1 << 20), 4),
        "n_train": ingested.split_counts["train"],
        "n_test": len(test_docs),
        "n_features": model.metadata["n_features"],
        "best_params": model.metadata["best_params"],
        "brier": round(calib["brier"], 4),
        "ece": round(calib["ece"], 4),
    }


def fastest_pass(predict: Callable[[], Any], passes: int = PREDICT_PASSES) -> tuple[float, Any]:
    """Seconds of the fastest of `passes` predict passes over the whole test set, and the
    predictions: a single sub-second pass swings by 30% on a shared machine. Every system makes
    the same number of passes, so none gets more chances at a lucky one."""
    best, out = float("inf"), None
    for _ in range(passes):
        start = time.perf_counter()
        out = predict()
        best = min(best, time.perf_counter() - start)
    return best, out


def quality(train_y: Labels, test_y: Labels, predicted: Labels, spec: BenchSpec) -> dict[str, Any]:
    """Headline metrics (and the spec's extra ones) over the labels seen in train or test."""
    from pipeline.metrics import score

    multilabel = spec.task[1]["type"] == "multilabel"
    seen = {lab for rows in (train_y, test_y) for row in rows for lab in _as_list(row)}
    labels = sorted(seen)
    metrics = score(
        as_arrays(test_y, labels, multilabel),
        as_arrays(predicted, labels, multilabel),
        labels=labels,
        multilabel=multilabel,
    )
    out = {k: round(metrics[k], 4) for k in HEADLINE}
    if "fnc1_score" in spec.metrics:
        out["fnc1_score"] = round(fnc1_score(test_y, predicted), 2)
    return out


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def fnc1_score(truth: Labels, predicted: Labels, unrelated: str = "unrelated") -> float:
    """The official FNC-1 score as % of the best possible: +0.25 for related/unrelated right,
    +0.75 more for the right agree/disagree/discuss label."""
    got = best = 0.0
    for t, p in zip(truth, predicted, strict=True):
        if t == unrelated:
            best += 0.25
            got += 0.25 if p == unrelated else 0.0
        else:
            best += 1.0
            got += (0.25 if p != unrelated else 0.0) + (_RELATED_ONLY if p == t else 0.0)
    return 100 * got / best if best else 0.0


def _sample(paths: list[Path], n: int, target: Path, seed: int) -> list[str]:
    """A seeded random sample of n records of the files, written as one JSONL file."""
    records = [r.data for p in paths for r in iter_records(p) if r.data is not None]
    chosen = random.Random(seed).sample(records, min(n, len(records)))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in chosen), encoding="utf-8")
    return [str(target)]


def _inputs(spec: BenchSpec, datasets_dir: Path, work: Path, quick: bool, seed: int) -> dict:
    folder = datasets_dir / spec.dataset
    files = {}
    for split in ("train", "test"):
        paths = [folder / p for p in spec.config["data"][split]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise UsageError(f"bench {spec.name}: missing {missing} (is ../shared/datasets there?)")
        n = QUICK_TRAIN if split == "train" else QUICK_TEST
        files[split] = (
            _sample(paths, n, work / "sample" / f"{split}.jsonl", seed)
            if quick
            else [str(p) for p in paths]
        )
    return files


def ratios(project: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """project / peer for every number both have (>1 is better for quality and speed)."""
    keys = [*HEADLINE, "fnc1_score", "train_seconds", "predict_docs_per_s", SIDE_BY_SIDE]
    keys += ["peak_rss_mb", "model_mb"]
    return {
        k: round(project[k] / peer[k], 3) if peer.get(k) else None
        for k in keys
        if k in project and k in peer
    }


def targets(spec: BenchSpec, systems: dict[str, dict[str, Any]], fast: bool) -> list[dict]:
    """The issue's checks for one corpus: met or not, with the numbers."""
    project = systems["project"]
    multilabel = spec.task[1]["type"] == "multilabel"
    checks = []
    for metric in ("macro_f1", "micro_f1" if multilabel else "accuracy"):
        best = max(systems[p][metric] for p in PEERS)
        checks.append(_check(f"{metric} ≥ best peer ({best:.4f})", project[metric], best))
    for metric, floor in spec.targets.items():
        checks.append(_check(f"{metric} ≥ {floor}", project[metric], floor))
    # side by side: each system alone meets whatever the machine does then
    docs = systems["sklearn"][SIDE_BY_SIDE]
    checks.append(
        _check(f"predict docs/s ≥ sklearn ({docs:.0f}, side by side)", project[SIDE_BY_SIDE], docs)
    )
    if fast:
        limit = 1.5 * systems["sklearn"]["train_seconds"]
        checks.append(
            _check(f"train s ≤ 1.5 × sklearn ({limit:.1f})", project["train_seconds"], limit, False)
        )
    return checks


def _check(name: str, value: float, bound: float, at_least: bool = True) -> dict[str, Any]:
    return {
        "target": name,
        "value": value,
        "met": bool(value >= bound if at_least else value <= bound),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / (1 << 30), 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": round(os.getloadavg()[0], 2),  # > cores: others' jobs inflate the seconds
    }


def run_bench(
    *,
    datasets_dir: Path = DATASETS_DIR,
    config_dir: Path = BENCH_CONFIGS,
    out_dir: Path = RESULTS_DIR,
    quick: bool = False,
    fast: bool = False,
    only: list[str] | None = None,
    base_config: Path | None = None,
    with_ingest: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every bench config (project and peers), write `<out_dir>/latest(-quick).{json,md}`.

    The report is rewritten after each corpus, so a long run that stops keeps what it measured.
    With `only`, the other corpora's results of the last report of the same kind are kept, and
    the ingest benchmark is not re-run.
    """
    datasets_dir = datasets_dir.resolve()
    if not datasets_dir.is_dir():
        raise UsageError(f"datasets folder not found: {datasets_dir}")
    specs = load_specs(config_dir, only)
    started = time.perf_counter()
    stem = "latest-quick" if quick else "latest"
    previous = _previous(out_dir / f"{stem}.json", fast) if only else {}
    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
        "fast": fast,
        "machine": machine(),
        "project_config": (load_config(base_config) if base_config else Config()).model_dump(
            mode="json", include={"features", "model"}
        ),
        "datasets": dict(previous.get("datasets", {})),
    }
    if "ingest" in previous:
        report["ingest"] = previous["ingest"]
    work_root = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    try:
        for spec in specs:
            work = work_root / spec.name
            inputs = _inputs(spec, datasets_dir, work, quick, seed=42)
            systems: dict[str, dict[str, Any]] = {}
            for system in SYSTEMS:
                job = Job(
                    system,
                    spec,
                    inputs["train"],
                    inputs["test"],
                    str(work / system),
                    fast,
                    str(base_config) if base_config else None,
                )
                systems[system] = _in_child(run_job, job)
                log(f"{spec.name} · {system}: {_summary(systems[system])}")
            job = Job("project", spec, inputs["train"], inputs["test"], str(work), fast, None)
            for system, docs in _in_child(predict_side_by_side, job).items():
                systems[system][SIDE_BY_SIDE] = docs
            log(f"{spec.name} · predict docs/s side by side: {_side_by_side(systems)}")
            name, task = spec.task
            report["datasets"][spec.name] = {
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "dataset": spec.dataset,
                "description": spec.description,
                "task": name,
                "type": task["type"],
                "text_fields": spec.config["data"].get("text_fields", ["title", "text"]),
                "systems": systems,
                "ratios": {p: ratios(systems["project"], systems[p]) for p in PEERS},
                "targets": targets(spec, systems, fast),
            }
            _write(report, out_dir, stem, started)
            shutil.rmtree(work, ignore_errors=True)
        if with_ingest and not only:
            report["ingest"] = _bench_ingest(datasets_dir, work_root / "ingest", quick, log)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    _write(report, out_dir, stem, started)
    return report


def _write(report: dict[str, Any], out_dir: Path, stem: str, started: float) -> None:
    report["seconds"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{stem}.json", report)
    with atomic_path(out_dir / f"{stem}.md") as tmp:
        tmp.write_text(to_markdown(report), encoding="utf-8")


def _previous(path: Path, fast: bool) -> dict[str, Any]:
    """The last report of the same kind: a `--dataset` run updates its corpora and keeps the
    others' results (each corpus carries its own `created` time) and the ingest numbers."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return previous if previous.get("fast") == fast else {}


def _in_child(entry: Callable[[Job], dict[str, Any]], job: Job) -> dict[str, Any]:
    """Run `entry(job)` in a fresh process, so its memory and threads are its own. The process
    is forked from a server that imported the libraries once: a spawned interpreter spent ~4 s
    per job importing them, a minute of the 3-minute `--quick` budget."""
    context = get_context("forkserver")
    context.set_forkserver_preload(["pipeline.bench"])
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(entry, job).result()


def predict_side_by_side(job: Job) -> dict[str, float]:
    """Child entry: predict docs/s of the project's and the scikit-learn peer's saved models
    (in `job.work`), loaded in one process, their passes alternating and the fastest of each
    counted. Both meet the same machine: on this shared one the peer's own predict moved by
    1.8x between runs minutes apart, more than the gap being measured. Five passes, not three:
    one system's fastest of three moved by up to 14% between back-to-back runs here."""
    from pipeline.train import load_model

    name, task = job.spec.task
    docs, _ = load_labelled(job.test, job.spec)
    project, _ = load_model(Path(job.work) / "project" / "models" / name)
    peer = SklearnPeer.load(Path(job.work) / "sklearn", task["type"] == "multilabel")
    predictors: dict[str, Callable[[list[str]], Any]] = {
        "project": lambda batch: project[-1].decide(project.predict_proba(batch)),
        "sklearn": peer.predict,
    }
    best = dict.fromkeys(predictors, float("inf"))
    for predict in predictors.values():
        predict(docs[:50])  # first-use costs (the project's term table) are not throughput
    for _ in range(SIDE_BY_SIDE_PASSES):
        for system, predict in predictors.items():
            start = time.perf_counter()
            predict(docs)
            best[system] = min(best[system], time.perf_counter() - start)
    return {system: round(len(docs) / max(s, 1e-9), 1) for system, s in best.items()}


def _side_by_side(systems: dict[str, dict[str, Any]]) -> str:
    return " · ".join(f"{k} {v[SIDE_BY_SIDE]}" for k, v in systems.items() if SIDE_BY_SIDE in v)


def _bench_ingest(
    datasets_dir: Path, out: Path, quick: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    from pipeline.bench_ingest import bench_ingest

    try:
        result = bench_ingest(datasets_dir, out, quick)
    except Exception as exc:  # the model tables must survive a failing ingest benchmark
        result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    log(f"ingest: {json.dumps(result)[:200]}")
    return result


def _summary(result: dict[str, Any]) -> str:
    keys = [*HEADLINE, "fnc1_score", "train_seconds", "predict_docs_per_s", "peak_rss_mb"]
    return " · ".join(f"{k} {result[k]}" for k in keys if k in result)


_COLUMNS = [
    ("accuracy", "accuracy", "{:.4f}"),
    ("macro_f1", "macro-F1", "{:.4f}"),
    ("micro_f1", "micro-F1", "{:.4f}"),
    ("fnc1_score", "FNC-1 score", "{:.2f}"),
    ("train_seconds", "train s", "{:.1f}"),
    ("predict_docs_per_s", "predict docs/s", "{:.0f}"),
    (SIDE_BY_SIDE, "side by side", "{:.0f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("model_mb", "model MB", "{:.2f}"),
]


def to_markdown(report: dict[str, Any]) -> str:
    """The bench tables, one per corpus, with project/peer ratios and the targets."""
    m = report["machine"]
    lines = [
        f"# Bench{' (quick: subsampled)' if report['quick'] else ''}"
        f"{' — search off (--fast)' if report['fast'] else ''}",
        "",
        f"{report['created']} · {m['cpu']} · {m['cores']} cores · {m['memory_gb']} GB · "
        f"Python {m['python']} · total {report.get('seconds', 0):.0f} s · load average "
        f"{m.get('load_average', '?')} at start, {report.get('load_average_end', '?')} at end",
        "",
        "Project = the default configuration (`pipeline ingest/features/train`); its train s is "
        "features + train (ingest s listed apart); peers' train s is vectorize + fit. Predict "
        "docs/s: raw test documents in memory → labels (the project's includes its cleaning), "
        f"the fastest of {PREDICT_PASSES} passes, each system in its own process; side by "
        "side: the project's and scikit-learn's saved models in one process, their passes "
        f"alternating, the fastest of {SIDE_BY_SIDE_PASSES} each (the predict target is checked "
        "on these). "
        "Peak RSS: the child process running the system plus its workers, sampled every 50 ms.",
    ]
    for name, ds in report["datasets"].items():
        systems = ds["systems"]
        cols = [c for c in _COLUMNS if c[0] in systems["project"]]
        p = systems["project"]
        lines += [
            "",
            f"## {name} — `{ds['task']}` ({ds['type']}) on {' + '.join(ds['text_fields'])}",
            "",
            f"train {p['n_train']} · test {p['n_test']} · project ingest {p['ingest_seconds']:.1f} s"
            f" · {p['n_features']} features · best {p['best_params']} · Brier {p['brier']}"
            f" · ECE {p['ece']} · run {ds.get('created', report['created'])}",
            "",
            "| system | " + " | ".join(c[1] for c in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for system, result in systems.items():
            cells = [fmt.format(result[key]) if key in result else "" for key, _, fmt in cols]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        for peer, row in ds["ratios"].items():
            cells = [f"{row[key]:.2f}×" if row.get(key) else "" for key, _, _ in cols]
            lines.append(f"| project/{peer} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Targets: "
            + " · ".join(
                f"{'✅' if t['met'] else '❌'} {t['target']}: {t['value']:.4g}"
                for t in ds["targets"]
            ),
        ]
    if "ingest" in report:
        lines += ["", "## Ingest", "", "```json", json.dumps(report["ingest"], indent=2), "```"]
    return "\n".join(lines) + "\n"
