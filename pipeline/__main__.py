"""`python -m pipeline`; the guard matters: Dask worker processes re-import the main module."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
