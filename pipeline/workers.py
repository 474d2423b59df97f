"""The worker processes cross-validation fits in, started before they are needed.

A fresh loky worker spends about 1.2 s of CPU importing scikit-learn (with pandas and
scipy.stats) before its first fit; on 2 cores that was a quarter of a `--fast` 20NG train.
`warm_up` starts the workers from a background thread while the caller ingests or loads
data, and `ready` waits for it before the pool is used, so two threads never share it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading

from joblib import Parallel, delayed, effective_n_jobs

# what a fold fit unpickles: the linear models and the wrapper that runs them
FIT_MODULES = ("sklearn.svm", "sklearn.multiclass", "pipeline.classifier", "pipeline.nbsvm")

_warming: threading.Thread | None = None
_reached: set[int] = set()


def _import_fit_modules() -> int:
    for name in FIT_MODULES:
        importlib.import_module(name)
    return os.getpid()


def _warm(n_jobs: int, workers: int) -> None:
    # a pool that fails to start here fails again, with its error, when the fit starts it
    with contextlib.suppress(Exception):
        pids = Parallel(n_jobs=n_jobs)(delayed(_import_fit_modules)() for _ in range(workers))
        _reached.update(pids)


def warm_up(n_jobs: int) -> None:
    """Start the pool `Parallel(n_jobs=n_jobs)` will reuse, in the background; nothing to
    start for one job."""
    global _warming
    workers = effective_n_jobs(n_jobs)
    if workers < 2 or _warming is not None:
        return
    _warming = threading.Thread(
        target=_warm, args=(n_jobs, workers), name="warm-up-workers", daemon=True
    )
    _warming.start()


def ready() -> set[int]:
    """Wait until a `warm_up` in progress is done; the process ids of the workers it reached."""
    global _warming
    if _warming is not None:
        _warming.join()
        _warming = None
    reached = set(_reached)
    _reached.clear()
    return reached
