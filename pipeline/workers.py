"""The worker processes cross-validation fits in, started before they are needed.

A fresh loky worker spends about 1.2 s of CPU importing scikit-learn (with pandas and
scipy.stats) before its first fit; on 2 cores that was a quarter of a `--fast` 20NG train.
`warming` starts them from a background thread while the caller ingests or loads data, `pool`
hands the fits that same `Parallel` context once the warm-up is done, so two threads never use
it at once, and a warm-up no fit took (training skipped, or failed first) is closed with the
`warming` block. One context, not a second `Parallel` on the reused workers: joblib
registers a temporary folder for each new one, and a bench job's process, which exits without
running `atexit`, then left the resource tracker warning of a leaked folder.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator

from joblib import Parallel, delayed, effective_n_jobs

# what a fold fit unpickles: the linear models and the wrapper that runs them
FIT_MODULES = ("sklearn.svm", "sklearn.multiclass", "pipeline.classifier", "pipeline.nbsvm")

_warm: tuple[int, Parallel, threading.Thread] | None = None
_reached: set[int] = set()


def _parallel(n_jobs: int) -> Parallel:
    # results as the fits end: `cv_fit` calibrates a model while the others still fit
    return Parallel(n_jobs=n_jobs, return_as="generator_unordered").__enter__()


def _import_fit_modules() -> int:
    for name in FIT_MODULES:
        importlib.import_module(name)
    return os.getpid()


def _start(parallel: Parallel, workers: int) -> None:
    # a pool that fails to start here fails again, with its error, when the fits use it
    with contextlib.suppress(Exception):
        _reached.update(parallel(delayed(_import_fit_modules)() for _ in range(workers)))


def warm_up(n_jobs: int) -> None:
    """Start the workers of `pool(n_jobs)` in the background; none to start for one job."""
    global _warm
    workers = effective_n_jobs(n_jobs)
    if workers < 2 or _warm is not None:
        return
    parallel = _parallel(n_jobs)
    thread = threading.Thread(
        target=_start, args=(parallel, workers), name="warm-up-workers", daemon=True
    )
    thread.start()
    _warm = (n_jobs, parallel, thread)


def release() -> None:
    """Close a warmed context no `pool` took; nothing else to do."""
    global _warm
    warm, _warm = _warm, None
    _reached.clear()
    if warm is not None:
        warm[2].join()
        warm[1].__exit__(None, None, None)


@contextlib.contextmanager
def warming(n_jobs: int) -> Iterator[None]:
    """`warm_up` for the block; what no fit took is released at its end, whatever happened."""
    warm_up(n_jobs)
    try:
        yield
    finally:
        release()


def ready() -> set[int]:
    """Wait until a `warm_up` in progress is done; the process ids of the workers it reached."""
    if _warm is not None:
        _warm[2].join()
    return set(_reached)


@contextlib.contextmanager
def pool(n_jobs: int) -> Iterator[Parallel]:
    """A `Parallel(n_jobs=n_jobs)` context: the warmed one if `warm_up` started it."""
    global _warm
    if _warm is not None and _warm[0] != n_jobs:
        release()
    ready()
    warm, _warm = _warm, None
    _reached.clear()
    parallel = warm[1] if warm is not None else _parallel(n_jobs)
    try:
        yield parallel
    finally:
        parallel.__exit__(None, None, None)
