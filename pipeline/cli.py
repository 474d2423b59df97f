"""The `pipeline` command line: each command parses options and calls one library function."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from pipeline.config import Config, load_config
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


def _handle_errors(func: F) -> F:
    """Turn library errors into one readable line and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _config(path: Path | None, seed: int | None = None, **more: Any) -> Config:
    overrides = {k: v for k, v in more.items() if v is not None}
    if seed is not None:
        overrides["seed"] = seed
    return load_config(path, overrides)


@app.command()
@_handle_errors
def ingest(config: ConfigOpt = None, seed: SeedOpt = None) -> None:
    """Read, clean, de-duplicate and validate labelled articles into data/processed/.

    Example: pipeline ingest --config params.yaml
    """
    from pipeline.ingest import ingest as run_ingest

    result = run_ingest(_config(config, seed))
    typer.echo(result.counts.summary())
    typer.echo(
        f"train {result.split_counts['train']} · test {result.split_counts['test']} → {result.out_dir}"
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
    fast: Annotated[bool, typer.Option("--fast", help="No search: first grid value only.")] = False,
) -> None:
    """Train one classifier per task and save models/<task>/ (model.joblib + metadata.json).

    Example: pipeline train --fast
    """
    from pipeline.run import train_key
    from pipeline.train import train as run_train

    cfg = _config(config, seed, **({"model.search": False} if fast else {}))
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
    fast: Annotated[bool, typer.Option("--fast", help="No search: first grid value only.")] = False,
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
        overrides["model.search"] = False
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


def main() -> None:
    app(prog_name="pipeline")
