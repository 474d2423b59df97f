"""The background start of the cross-validation pool (`pipeline.workers`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from joblib import delayed

from pipeline.workers import pool, ready, warm_up

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
    with pool(1) as parallel:
        assert parallel.n_jobs == 1
    assert ready() == set()  # the warmed context was closed, not left for a later fit
