"""Ingest benchmarks on a real corpus (`article_bias_allsides`): throughput and near-dup recall.

`bench_ingest` is called by `make bench` (via `pipeline bench`). Ingest runs in a child process so
its peak RSS is its own, not the benchmark driver's. Near-duplicate recall is measured on planted
copies of real articles with 5% of their words replaced, mixed into the corpus; a planted copy
counts as found when it lands in its original's cluster, and as a false merge when it lands in
another cluster. Merges between the corpus' own articles are listed too, so that a reader can
check they are real duplicates (the corpus republishes some wire stories).
"""

from __future__ import annotations

import gzip
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pipeline.config import DedupConfig
from pipeline.dedup import find_configured

CORPUS = "article_bias_allsides"
FILES = ("train", "dev", "extra", "test")
EDIT_FRACTION = 0.05
QUICK_DOCS = 2000  # quick mode: the first articles of each file, this many in all
QUICK_COPIES = 200
FULL_COPIES = 2000


def bench_ingest(datasets_dir: Path, out_dir: Path, quick: bool) -> dict[str, Any]:
    """Measure ingest throughput/peak RSS and near-duplicate recall; returns a JSON-ready dict.

    Returns `{"skipped": reason}` when the corpus is not there.
    """
    corpus = datasets_dir / CORPUS
    if not all((corpus / f"{name}.jsonl.gz").exists() for name in FILES):
        return {"skipped": f"{corpus} not found"}
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = {name: corpus / f"{name}.jsonl.gz" for name in FILES}
    if quick:
        inputs = _sample_files(inputs, out_dir / "sample", QUICK_DOCS // len(FILES))
    return {
        "corpus": CORPUS,
        "quick": quick,
        "throughput": measure_throughput(inputs, out_dir),
        "near_duplicates": measure_near_dup_recall(
            inputs, n_copies=QUICK_COPIES if quick else FULL_COPIES
        ),
    }


def _sample_files(inputs: dict[str, Path], folder: Path, per_file: int) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    sampled = {}
    for name, path in inputs.items():
        target = folder / path.name
        with gzip.open(path, "rt", encoding="utf-8") as src, gzip.open(target, "wt") as dst:
            for i, line in enumerate(src):
                if i >= per_file:
                    break
                dst.write(line)
        sampled[name] = target
    return sampled


def ingest_config(inputs: dict[str, Path], processed: Path) -> dict[str, Any]:
    """A config for the corpus: train+dev+extra to train, its test file to test, task `bias`."""
    return {
        "data": {
            "train": [str(inputs[n]) for n in ("train", "dev", "extra")],
            "test": [str(inputs["test"])],
            "text_fields": ["title", "text"],
        },
        "tasks": {
            "bias": {"field": "bias", "type": "multiclass", "labels": ["left", "center", "right"]}
        },
        "paths": {"processed": str(processed)},
        "mlflow": {"enabled": False},
    }


def measure_throughput(inputs: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    """Run `ingest` in a child process; articles/s over the whole step and the child's peak RSS."""
    config_path = out_dir / "ingest_bench.yaml"
    config_path.write_text(yaml.safe_dump(ingest_config(inputs, out_dir / "processed")))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(config_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=out_dir,
    )
    if child.returncode != 0:
        raise RuntimeError(f"ingest benchmark failed:\n{child.stderr[-2000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["articles_per_s"] = round(result["read"] / result["seconds"], 1)
    return result


# Runs in the child: times `ingest` alone (not the interpreter start) and reports peak RSS.
_CHILD = """
import json, sys, time
from pathlib import Path
from pipeline.bench_ingest import peak_rss_mb
from pipeline.config import load_config
from pipeline.ingest import ingest
config = load_config(Path(sys.argv[1]))
start = time.perf_counter()
result = ingest(config)
seconds = time.perf_counter() - start
c = result.counts
print(json.dumps({"read": c.read, "kept": c.kept, "duplicates": c.duplicates,
                  "rejected": c.rejected, "seconds": round(seconds, 2),
                  "peak_rss_mb": peak_rss_mb()}))
"""


def peak_rss_mb() -> float:
    """This process' peak resident set size in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def _documents(inputs: dict[str, Path]) -> tuple[list[str], list[str]]:
    """Ids and documents (title and text, as ingest joins them) of the corpus files."""
    ids, docs = [], []
    for path in inputs.values():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                ids.append(str(row.get("id")))
                docs.append(f"{row.get('title') or ''}\n{row.get('text') or ''}")
    return ids, docs


def plant_copy(doc: str, vocabulary: list[str], rng: random.Random) -> str:
    """The document with EDIT_FRACTION of its words replaced by random corpus words."""
    words = doc.split(" ")
    for i in rng.sample(range(len(words)), max(1, round(EDIT_FRACTION * len(words)))):
        words[i] = rng.choice(vocabulary)
    return " ".join(words)


def measure_near_dup_recall(
    inputs: dict[str, Path], *, n_copies: int, dedup: DedupConfig | None = None, seed: int = 42
) -> dict[str, Any]:
    """Recall on planted 5%-edited copies and merges among the corpus' own articles."""
    d = dedup or DedupConfig()
    ids, docs = _documents(inputs)
    rng = random.Random(seed)
    vocabulary = [w for doc in rng.sample(docs, min(500, len(docs))) for w in doc.split()]
    originals = rng.sample(range(len(docs)), min(n_copies, len(docs)))
    copies = [plant_copy(docs[i], vocabulary, rng) for i in originals]
    start = time.perf_counter()
    found = find_configured(docs + copies, d, seed)
    seconds = time.perf_counter() - start
    rep = found.representative

    def root(i: int) -> int:
        while rep[i] != i:
            i = int(rep[i])
        return i

    n = len(docs)
    hits = sum(root(n + j) == root(i) for j, i in enumerate(originals))
    wrong = sum(rep[n + j] != n + j and root(n + j) != root(i) for j, i in enumerate(originals))
    copy_sims = found.similarity[n:][[rep[n + j] != n + j for j in range(len(copies))]]
    corpus_merges = [
        (i, int(rep[i]), found.kind[i], float(found.similarity[i])) for i in range(n) if rep[i] != i
    ]
    near_merges = [m for m in corpus_merges if m[2] == "near"]
    return {
        "settings": {
            "shingle_words": d.shingle_words,
            "near_threshold": d.near_threshold,
            "num_perm": d.num_perm,
        },
        "documents": n,
        "planted_copies": len(copies),
        "recall": round(hits / len(copies), 4),
        "planted_false_merges": int(wrong),
        "planted_similarity_p1_p50": [round(float(x), 3) for x in np.percentile(copy_sims, [1, 50])]
        if len(copy_sims)
        else [],
        "corpus_exact_duplicates": sum(m[2] == "exact" for m in corpus_merges),
        "corpus_near_merges": len(near_merges),
        "corpus_near_merge_similarity_min": round(min((m[3] for m in near_merges), default=1.0), 3),
        "corpus_near_merge_examples": [
            {"id": ids[i], "merged_with": ids[j], "similarity": round(s, 3)}
            for i, j, _, s in sorted(near_merges, key=lambda m: m[3])[:5]
        ],
        "dedup_seconds": round(seconds, 1),
        "docs_per_s": round((n + len(copies)) / seconds, 1),
    }
