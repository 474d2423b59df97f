"""The background start of the cross-validation pool (`pipeline.workers`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from joblib import Parallel, delayed

from pipeline import workers
from pipeline.workers import pool, ready, warm_up, warming

# in a fresh interpreter, so the pool starts cold as in `pipeline run`
SCRIPT = textwrap.dedent(
    """
    import json, os
    from joblib import delayed
    from pipeline.workers import FIT_MODULES, pool, ready, warm_up

    warm_up(2)
    reached = ready()
    check = "all(m in __import__('sys').modules for m in %r)" % (FIT_MODULES,)
    with pool(2) as parallel:
        later = list(parallel(delayed(eval)(f"({check}, __import__('os').getpid())")
                              for _ in range(6)))
    print(json.dumps({"reached": sorted(reached), "later": later}))
    """
)


def test_warm_up_starts_the_workers_the_fit_pool_then_uses():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["reached"]) == 2
    # the pool the fits get is the same processes, the fit's modules already imported
    assert {pid for _, pid in result["later"]} <= set(result["reached"])
    assert all(loaded for loaded, _ in result["later"])


def test_one_job_starts_no_pool():
    warm_up(1)
    assert ready() == set()
    with pool(1) as parallel:
        assert sorted(parallel(delayed(abs)(x) for x in (-1, -2))) == [1, 2]


def test_a_pool_of_another_size_is_not_the_warmed_one():
    warm_up(2)
    assert workers._warm is not None
    warmed = workers._warm[1]
    with pool(1) as parallel:
        assert parallel is not warmed and parallel.n_jobs == 1
    assert workers._warm is None  # the warmed context was closed, not left for a later fit


def test_a_warm_up_no_fit_took_is_closed_and_the_next_one_works():
    """Training skipped or failed before its pool: the warmed context does not outlive the
    block, so a pool broken meanwhile (a task that raised) is not handed to the next fits."""
    with pytest.raises(RuntimeError), warming(2):
        raise RuntimeError("ingest failed")
    assert workers._warm is None
    with pytest.raises(ZeroDivisionError):
        Parallel(n_jobs=2)(delayed(divmod)(1, 0) for _ in range(2))
    with warming(2), pool(2) as parallel:
        assert sorted(parallel(delayed(abs)(x) for x in (-1, -2))) == [1, 2]
    assert workers._warm is None


@pytest.mark.filterwarnings("ignore:.*tasks have been successfully executed")
def test_a_pool_whose_scored_callback_raised_can_be_used_again():
    """`cv_fit` stops the fits still running when `scored` raises, and the context stays
    usable for the next call."""
    import numpy as np
    from sklearn.svm import LinearSVC

    from pipeline.classifier import cv_fit

    rng = np.random.default_rng(0)
    X, y = rng.random((60, 5)), np.repeat(["a", "b", "c"], 20)

    def fail(k: int, scores: np.ndarray) -> None:
        raise ValueError("calibration failed")

    with pool(2) as parallel:
        # the traceback kept (as pytest or a logger keeps it) keeps cv_fit's frame alive
        with pytest.raises(ValueError) as caught:
            cv_fit(
                [LinearSVC()] * 3, X, y, folds=3, seed=0, n_jobs=2, parallel=parallel, scored=fail
            )
        scores, _ = cv_fit([LinearSVC()], X, y, folds=3, seed=0, n_jobs=2, parallel=parallel)
    assert scores[0].shape == (60, 3)
    assert caught.traceback
