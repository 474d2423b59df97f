"""Exceptions the CLI maps to exit codes: usage/config/input errors exit 2, runtime failures exit 1."""


class PipelineError(Exception):
    """A runtime failure with a message a user can act on (exit code 1)."""

    exit_code = 1


class UsageError(PipelineError):
    """Bad configuration, option or input path (exit code 2)."""

    exit_code = 2
