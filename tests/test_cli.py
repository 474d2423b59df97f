"""The command line: help with examples, `python -m pipeline`, exit codes 0/1/2, error lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from pipeline.cli import app

COMMANDS = {"ingest", "features", "train", "evaluate", "predict", "run"}


def command_paths(group: Any = None, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every runnable command as "name" or "group name" (command groups are walked)."""
    group = group or typer.main.get_command(app)
    paths: list[str] = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a group (Typer vendors its own click classes)
            paths.extend(command_paths(command, (*prefix, name)))
        else:
            paths.append(" ".join((*prefix, name)))
    return paths


def test_the_documented_commands_exist() -> None:
    assert set(command_paths()) >= COMMANDS


@pytest.mark.parametrize("command", command_paths())
def test_every_command_has_help_with_a_runnable_example(command: str, cli) -> None:
    result = cli(*command.split(), "--help")
    assert result.exit_code == 0
    example = re.search(r"Example:\s*(pipeline .+)", result.stdout)
    assert example, f"`pipeline {command} --help` shows no example"
    assert example.group(1).startswith(f"pipeline {command}")


def test_every_command_is_in_the_readme(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    for command in command_paths():
        assert f"pipeline {command}" in readme, f"README does not document `pipeline {command}`"


def test_python_dash_m_pipeline_help(repo_root: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m pipeline" in result.stdout or "Usage: pipeline" in result.stdout
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\b", result.stdout, re.MULTILINE), command


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "pipeline"
    if not script.exists():
        pytest.skip("the `pipeline` console script is not installed next to this interpreter")
    result = subprocess.run(
        [str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "Usage: pipeline" in result.stdout


def test_exit_code_2_for_bad_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:
    monkeypatch.chdir(tmp_path)
    unknown_option = cli("ingest", "--no-such-option")
    assert unknown_option.exit_code == 2
    assert "No such option" in unknown_option.stderr
    (tmp_path / "params.yaml").write_text("seed: [1, 2]\n")
    bad_value = cli("ingest")
    assert bad_value.exit_code == 2
    assert bad_value.stderr.strip().splitlines() == [
        "error: params.yaml: key 'seed': Input should be a valid integer (got [1, 2])"
    ]
    assert bad_value.stdout == ""


def test_exit_code_1_for_runtime_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("data: {train: [only_broken.jsonl]}\n")
    (tmp_path / "only_broken.jsonl").write_text('{"id": "a", "text": ""}\nnot json\n')
    result = cli("ingest")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ingest kept no training record")


def test_a_real_process_prints_one_error_line_with_brackets_and_long_paths(
    tmp_path: Path, run_pipeline
) -> None:
    deep = tmp_path.joinpath(*(["a_rather_long_folder_name"] * 6))
    deep.mkdir(parents=True)
    (deep / "params.yaml").write_text("data: {train: ['raw/[ab]*.jsonl']}\n")
    result = run_pipeline("ingest", "--config", deep / "params.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: data: no file matches 'raw/[ab]*.jsonl'\n"
    assert result.stdout == ""
