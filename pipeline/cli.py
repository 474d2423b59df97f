"""The `pipeline` command line: each command parses options and calls one library function."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.config import FAST, Config, load_config
from pipeline.errors import PipelineError

app = typer.Typer(
    help="Train and run news-article classifiers: ingest → TF-IDF → train → evaluate → predict.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: params.yaml).")
]
SeedOpt = Annotated[int | None, typer.Option(help="Override `seed` from the config.")]
FastOpt = Annotated[
    bool,
    typer.Option(
        "--fast",
        help="Quick iteration: no search, single words, 2 folds, tol 0.1, no char n-grams.",
    ),
]


def _handle_errors(func: F) -> F:
    """Turn library errors into one readable line and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            # escaped: paths and label lists contain [brackets]; soft_wrap: one line, any width
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _config(path: Path | None, seed: int | None = None, **more: Any) -> Config:
    overrides = {k: v for k, v in more.items() if v is not None}
    if seed is not None:
        overrides["seed"] = seed
    return load_config(path, overrides)


@app.command()
@_handle_errors
def ingest(
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Override data.format: auto|jsonl|csv|tsv|parquet|txt|html|labelstudio|doccano|prodigy.",
        ),
    ] = None,
) -> None:
    """Read, clean, de-duplicate and validate labelled articles into data/processed/.

    Example: pipeline ingest --config params.yaml --format prodigy
    """
    from pipeline.ingest import ingest as run_ingest

    result = run_ingest(_config(config, seed, **{"data.format": input_format}))
    typer.echo(result.counts.summary())
    if result.counts.reasons:
        typer.echo("rejected: " + " · ".join(f"{k} {v}" for k, v in result.counts.reasons.items()))
    typer.echo(
        f"train {result.split_counts['train']} · test {result.split_counts['test']} → {result.out_dir}"
    )


debug_app = typer.Typer(help="Inspect what the pipeline produced.", no_args_is_help=True)
app.add_typer(debug_app, name="debug")


@debug_app.command("data")
@_handle_errors
def debug_data(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    top: Annotated[int, typer.Option(min=1, help="Removed lines to list.")] = 15,
) -> None:
    """Report on data/processed/: labels per split, labels absent from test, duplicates (and
    any spanning train/test), label conflicts, lines removed as boilerplate, empty/short
    documents, length distribution.

    Example: pipeline debug data --json > data-report.json
    """
    import json

    from pipeline.debug_data import debug_data as run_debug
    from pipeline.debug_data import format_report

    report = run_debug(_config(config), top=top)
    typer.echo(
        json.dumps(report, indent=2, ensure_ascii=False) if as_json else format_report(report)
    )


@app.command()
@_handle_errors
def features(config: ConfigOpt = None) -> None:
    """Fit TF-IDF on the processed train split and cache train/test matrices.

    Example: pipeline features
    """
    from pipeline.features import build_features

    built = build_features(_config(config))
    typer.echo(
        f"{built.n_features} features · train {built.X_train.shape[0]} · test {built.X_test.shape[0]}"
    )


@app.command()
@_handle_errors
def train(
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    fast: FastOpt = False,
) -> None:
    """Train one classifier per task and save models/<task>/ (model.joblib + metadata.json).

    Example: pipeline train --fast
    """
    from pipeline.run import train_key
    from pipeline.train import train as run_train

    cfg = _config(config, seed, **(FAST if fast else {}))
    for name, task in run_train(cfg, key=train_key(cfg)).items():
        cv = task.metadata["cv_metrics"]
        typer.echo(
            f"{name}: cv macro-F1 {cv['macro_f1']:.3f} · params {task.metadata['best_params']} → {task.directory}"
        )


@app.command()
@_handle_errors
def evaluate(config: ConfigOpt = None) -> None:
    """Score saved models on the test split; write reports/metrics.json, plots and index.html.

    Example: pipeline evaluate
    """
    from pipeline.evaluate import evaluate as run_evaluate
    from pipeline.evaluate import format_metrics

    cfg = _config(config)
    typer.echo(format_metrics(run_evaluate(cfg)))
    typer.echo(f"reports → {cfg.paths.reports}/")


@app.command()
@_handle_errors
def run(
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)."
        ),
    ] = None,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log to MLflow.")] = False,
    fast: FastOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Re-run every step.")] = False,
) -> None:
    """Run every training step in order (ingest, features, train, evaluate, MLflow), skipping
    steps whose inputs and config are unchanged.

    Example: pipeline run --config params.yaml --tracking-uri http://127.0.0.1:5000
    """
    from pipeline.evaluate import format_metrics
    from pipeline.run import run_all

    overrides: dict[str, Any] = {"mlflow.tracking_uri": tracking_uri}
    if no_mlflow:
        overrides["mlflow.enabled"] = False
    if fast:
        overrides.update(FAST)
    cfg = _config(config, seed, **overrides)
    result = run_all(cfg, force=force, log=typer.echo)
    for step, state in result.steps.items():
        typer.echo(f"{step}: {state}")
    typer.echo(format_metrics(result.metrics))
    if result.mlflow_run:
        versions = ", ".join(f"{k} v{v}" for k, v in result.mlflow_run.versions.items())
        typer.echo(
            f"mlflow run {result.mlflow_run.run_id} at {result.mlflow_run.tracking_uri}"
            + (f" · registered {versions}" if versions else "")
        )


@app.command()
@_handle_errors
def predict(
    inputs: Annotated[
        list[Path], typer.Argument(help="JSONL(.gz), CSV, Parquet, .txt/.html files or folders.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file: .jsonl, .csv or .parquet.")
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model folder (default: models/) or MLflow URI such as models:/news-topic@champion; repeatable.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per batch.")] = 1000,
    input_format: Annotated[
        str, typer.Option("--format", help="Input format: auto|jsonl|csv|tsv|parquet|txt|html.")
    ] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Score on a Dask cluster: 'local' (a LocalCluster here) or a scheduler address."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Workers of --dask local.")] = 2,
    chunk_mb: Annotated[
        int, typer.Option(min=1, help="With --dask: split JSONL files into chunks of this size.")
    ] = 64,
) -> None:
    """Predict every task's labels and scores for new article dumps, streaming in batches.

    Example: pipeline predict ../shared/seed/jakarta_post_dump.txt -o out.jsonl

    On a cluster: pipeline predict dumps/ -o preds.parquet --dask tcp://10.0.0.5:8786
    """
    from contextlib import nullcontext

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipeline.distributed import dask_client
    from pipeline.predict import load_models
    from pipeline.predict import predict as run_predict

    models = load_models(model or ["models"])
    cluster = dask_client(dask, workers) if dask else nullcontext(None)
    with (
        cluster as client,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.completed} records"),
            TimeElapsedColumn(),
            console=err,
            disable=not sys.stderr.isatty(),
            transient=True,
        ) as progress,
    ):
        bar = progress.add_task("predict", total=None)
        result = run_predict(
            inputs,
            output,
            models,
            fmt=input_format,
            batch_size=batch_size,
            force=force,
            on_batch=lambda n: progress.advance(bar, n),
            client=client,
            chunk_bytes=chunk_mb << 20,
        )
    typer.echo(result.summary())
    typer.echo(f"→ {result.output}" + (f" · rejects → {result.rejects}" if result.rejected else ""))


@app.command()
@_handle_errors
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Subsampled corpora: a smoke run in minutes.")
    ] = False,
    fast: Annotated[
        bool, typer.Option("--fast", help="The project with --fast (see train).")
    ] = False,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", "-d", help="Only this bench config; repeatable."),
    ] = None,
    datasets_dir: Annotated[Path, typer.Option(help="Folder of the shared corpora.")] = Path(
        "../shared/datasets"
    ),
    configs: Annotated[Path, typer.Option(help="Folder of bench configs.")] = Path("bench/configs"),
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where latest(-quick).json/.md go.")
    ] = Path("bench/results"),
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Take features/model/clean/dedup from this file."),
    ] = None,
) -> None:
    """Project (default config) vs scikit-learn and fastText on the shared corpora, same run.

    Example: pipeline bench --quick --dataset reuters21578_modapte
    """
    from pipeline.bench import run_bench

    report = run_bench(
        datasets_dir=datasets_dir,
        config_dir=configs,
        out_dir=output_dir,
        quick=quick,
        fast=fast,
        only=dataset,
        base_config=config,
        log=typer.echo,
    )
    stem = "latest-quick" if quick else "latest"
    typer.echo(f"bench → {output_dir}/{stem}.md ({report['seconds']:.0f} s)")


def main() -> None:
    app(prog_name="pipeline")
