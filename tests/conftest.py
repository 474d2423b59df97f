"""Shared fixtures: the repo and the shared data, working copies of the sample project, a trained
sample model, and a real MLflow tracking server.

Every test that writes runs in a tmp dir (cwd switched there), so nothing lands in the repo.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = (REPO_ROOT / ".." / "shared").resolve()
MLFLOW_READY_SECONDS = 120
MLFLOW_STOP_SECONDS = 20


@pytest.fixture(autouse=True)
def _no_ambient_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's MLFLOW_TRACKING_URI must never receive test runs."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests need the read-only ../shared folder")
    return path


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets next to the repo (read-only); skips the test if it is absent."""
    return _shared("datasets")


@pytest.fixture(scope="session")
def seed_dump() -> Path:
    """The scraped Jakarta Post page from ../shared/seed; skips the test if it is absent."""
    return _shared("seed", "jakarta_post_dump.txt")


@pytest.fixture(scope="session")
def seed_expected(seed_dump: Path) -> dict[str, Any]:
    """What cleaning must do to the seed dump (must_keep / must_drop)."""
    return json.loads(seed_dump.with_name("jakarta_post_dump.expected.json").read_text())


def copy_sample_project(target: Path) -> Path:
    """params.yaml and data/raw of the repo (without scratch folders), as a fresh project."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "params.yaml", target / "params.yaml")
    shutil.copytree(
        REPO_ROOT / "data" / "raw",
        target / "data" / "raw",
        ignore=shutil.ignore_patterns("_*", ".*"),
    )
    return target


@pytest.fixture
def sample_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp copy of the sample project (params.yaml + data/raw); the test runs inside it."""
    root = copy_sample_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def trained_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample project after ingest → features → train (no search) → evaluate, no MLflow.

    Shared by many tests: treat it as read-only (copy `models/` before tampering with it).
    """
    from pipeline.config import load_config
    from pipeline.run import run_all

    root = copy_sample_project(tmp_path_factory.mktemp("trained") / "project")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        config = load_config(Path("params.yaml"), {"model.search": False, "mlflow.enabled": False})
        run_all(config, log=lambda _line: None)
    return root


@pytest.fixture
def cli() -> Callable[..., Any]:
    """Invoke the Typer app in-process: `cli("ingest", "--config", "x.yaml")` → click Result."""
    from pipeline.cli import app

    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def _run_pipeline(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m pipeline ARGS` as a real process (its own interpreter, cwd and env)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def run_pipeline() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_pipeline("run", "--fast", cwd=path)`: the CLI as a separate process."""
    return _run_pipeline


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"OK"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's whole process group (workers too), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=MLFLOW_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=MLFLOW_STOP_SECONDS)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on a free 127.0.0.1 port (SQLite + local artifacts in a tmp dir).

    Yields its URL; the whole process group is stopped at the end of the session.
    """
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + MLFLOW_READY_SECONDS
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {MLFLOW_READY_SECONDS}s")
            time.sleep(0.5)
        yield url
    finally:
        _stop_process_group(proc)
