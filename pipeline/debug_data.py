"""`pipeline debug data`: what ingest produced, and what could still mislead training.

Reads `data/processed/` (splits, manifest, duplicates and rejects) and reports label counts per
split, labels missing from the test split, duplicates (found by ingest, and any that still span
train and test, re-checked on the processed text), label conflicts inside duplicate clusters, the
lines cleaning removed most often, empty and short documents, and the length distribution.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.dedup import find_configured
from pipeline.ingest import DUPLICATES, MANIFEST, REJECTS, load_split

SHORT_WORDS = 50  # a kept document with fewer words is listed as short
LENGTH_BINS = (0, 50, 100, 200, 400, 800, 1600, 3200)
EXAMPLES = 5


def debug_data(config: Config, *, top: int = 15) -> dict[str, Any]:
    """The report as a JSON-ready dict (see `format_report` for the terminal view)."""
    out = Path(config.paths.processed)
    splits = {split: load_split(config, split) for split in ("train", "test")}  # checks ingest ran
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    duplicates = _read_jsonl(out / DUPLICATES)
    rejects = _read_jsonl(out / REJECTS)
    counts = manifest.get("counts", {})
    return {
        "processed": str(out),
        "counts": {k: counts.get(k) for k in ("read", "kept", "duplicates", "rejected")}
        | {"rejected_by_reason": counts.get("rejected_by_reason", {})},
        "labels": {
            name: _label_report(splits, name, task.labels) for name, task in config.tasks.items()
        },
        "duplicates": _duplicate_report(duplicates, splits, config),
        "boilerplate": {
            "learned_lines": len(manifest.get("learned_boilerplate_lines", [])),
            "cleaning_counts": manifest.get("cleaning", {}),
            "top_removed_lines": manifest.get("top_removed_lines", [])[:top],
        },
        "empty_or_short": _short_report(splits, rejects),
        "length_words": {split: _length_report(frame) for split, frame in splits.items()},
    }


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _label_report(
    splits: dict[str, pd.DataFrame], task: str, declared: list[str] | None
) -> dict[str, Any]:
    per_split: dict[str, dict[str, int]] = {}
    for split, frame in splits.items():
        counter: Counter[str] = Counter()
        for value in frame.get(task, []):
            counter.update(value if isinstance(value, list) else [value])
        per_split[split] = dict(counter.most_common())
    seen = set(per_split["train"]) | set(per_split["test"])
    return {
        "counts": per_split,
        "absent_from_test": sorted(seen - set(per_split["test"])),
        "absent_from_train": sorted(seen - set(per_split["train"])),
        "declared_but_unseen": sorted(set(declared or []) - seen),
    }


def _duplicate_report(
    duplicates: list[dict[str, Any]], splits: dict[str, pd.DataFrame], config: Config
) -> dict[str, Any]:
    """Duplicates ingest found, plus a fresh check that no cluster spans the processed splits."""
    train, test = splits["train"], splits["test"]
    texts = [*train["text"].fillna(""), *test["text"].fillna("")]
    found = find_configured(texts, config.dedup, config.seed, both_kinds=True)
    n_train = len(train)
    ids = [*train["id"], *test["id"]]
    leaks = [
        {
            "test_id": ids[i],
            "train_id": ids[rep],
            "kind": found.kind[i],
            "similarity": round(float(found.similarity[i]), 3),
        }
        for i, rep in enumerate(found.representative.tolist())
        if i >= n_train and rep < n_train
    ]
    kept_dups = sum(1 for i, rep in enumerate(found.representative.tolist()) if rep != i) - len(
        leaks
    )
    conflicts = [
        {k: dup.get(k) for k in ("id", "duplicate_of", "kind", "labels", "original_labels")}
        for dup in duplicates
        if dup.get("label_conflict")
    ]
    return {
        "found_by_ingest": len(duplicates),
        "dropped": sum(1 for dup in duplicates if dup.get("dropped", True)),
        "by_kind": dict(Counter(str(dup.get("kind")) for dup in duplicates)),
        "by_split": dict(Counter(str(dup.get("split")) for dup in duplicates)),
        "across_splits_in_processed": {
            "count": len(leaks),
            "by_kind": dict(Counter(leak["kind"] for leak in leaks)),
            "examples": leaks[:EXAMPLES],
        },
        "within_splits_in_processed": kept_dups,
        "label_conflicts": {"count": len(conflicts), "examples": conflicts[:EXAMPLES]},
    }


def _short_report(splits: dict[str, pd.DataFrame], rejects: list[dict[str, Any]]) -> dict[str, Any]:
    rejected = [r for r in rejects if r.get("reason") in ("empty_text", "too_short")]
    short = []
    for split, frame in splits.items():
        words = frame["text"].fillna("").str.split().str.len()
        for rec_id, n in zip(frame["id"], words, strict=True):
            if n < SHORT_WORDS:
                short.append({"id": rec_id, "split": split, "words": int(n)})
    return {
        "rejected": dict(Counter(r["reason"] for r in rejected)),
        "rejected_examples": [
            {k: r.get(k) for k in ("source", "line", "id", "reason")} for r in rejected[:EXAMPLES]
        ],
        f"kept_under_{SHORT_WORDS}_words": len(short),
        "kept_short_examples": sorted(short, key=lambda s: s["words"])[:EXAMPLES],
    }


def _length_report(frame: pd.DataFrame) -> dict[str, Any]:
    words = frame["text"].fillna("").str.split().str.len().to_numpy()
    if not len(words):
        return {"docs": 0}
    quantiles = np.percentile(words, [0, 5, 25, 50, 75, 95, 100])
    edges = [*LENGTH_BINS, max(int(words.max()) + 1, LENGTH_BINS[-1] + 1)]
    hist, _ = np.histogram(words, bins=edges)
    labels = [f"{lo}-{hi - 1}" for lo, hi in pairwise(LENGTH_BINS)]
    labels.append(f"{LENGTH_BINS[-1]}+")
    return {
        "docs": len(words),
        "mean": round(float(words.mean()), 1),
        "quantiles": dict(
            zip(
                ["min", "p5", "p25", "median", "p75", "p95", "max"],
                map(int, quantiles),
                strict=True,
            )
        ),
        "histogram": dict(zip(labels, map(int, hist), strict=True)),
        "truncated": int(frame["truncated"].sum()) if "truncated" in frame else 0,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text for a terminal."""
    lines: list[str] = []
    add = lines.append
    c = report["counts"]
    add(f"processed data in {report['processed']}")
    add(
        f"read {c['read']} · kept {c['kept']} · duplicates {c['duplicates']} · "
        f"rejected {c['rejected']}"
    )
    if c["rejected_by_reason"]:
        add("  rejected: " + _pairs(c["rejected_by_reason"]))
    for task, info in report["labels"].items():
        add("")
        add(f"labels · {task}")
        labels = sorted(set(info["counts"]["train"]) | set(info["counts"]["test"]))
        width = max([len(label) for label in labels] + [5])
        add(f"  {'label':<{width}}  {'train':>7}  {'test':>7}")
        for label in labels:
            add(
                f"  {label:<{width}}  {info['counts']['train'].get(label, 0):>7}  "
                f"{info['counts']['test'].get(label, 0):>7}"
            )
        for key in ("absent_from_test", "absent_from_train", "declared_but_unseen"):
            if info[key]:
                add(f"  {key.replace('_', ' ')}: {', '.join(info[key])}")
    d = report["duplicates"]
    add("")
    add(
        f"duplicates · found by ingest {d['found_by_ingest']} ({_pairs(d['by_kind']) or 'none'}) · "
        f"dropped {d['dropped']} · by split {_pairs(d['by_split']) or 'none'}"
    )
    leaks = d["across_splits_in_processed"]
    add(
        f"  spanning train and test in processed data: {leaks['count']}"
        + (f" ({_pairs(leaks['by_kind'])})" if leaks["count"] else " (none)")
    )
    for leak in leaks["examples"]:
        add(
            f"    test {leak['test_id']} ~ train {leak['train_id']} "
            f"({leak['kind']}, {leak['similarity']})"
        )
    add(f"  kept copies inside one split: {d['within_splits_in_processed']}")
    add(f"  label conflicts in duplicate clusters: {d['label_conflicts']['count']}")
    for conflict in d["label_conflicts"]["examples"]:
        add(
            f"    {conflict['id']} {conflict['labels']} vs {conflict['duplicate_of']} "
            f"{conflict['original_labels']}"
        )
    b = report["boilerplate"]
    add("")
    add(f"boilerplate · learned lines {b['learned_lines']} · {_pairs(b['cleaning_counts'])}")
    for item in b["top_removed_lines"]:
        add(f"  {item['count']:>6}  {item['step']:<26} {_clip(item['line'])}")
    s = report["empty_or_short"]
    short_key = next(k for k in s if k.startswith("kept_under_"))
    add("")
    add(
        f"empty/short · rejected {_pairs(s['rejected']) or 'none'} · "
        f"{short_key.replace('_', ' ')}: {s[short_key]}"
    )
    for item in s["rejected_examples"]:
        add(f"  {item['reason']}: {item['source']}:{item['line']} id={item['id']}")
    for item in s["kept_short_examples"]:
        add(f"  short: {item['id']} ({item['split']}, {item['words']} words)")
    add("")
    add("length (words)")
    for split, info in report["length_words"].items():
        if not info["docs"]:
            add(f"  {split}: no documents")
            continue
        q = info["quantiles"]
        add(
            f"  {split}: {info['docs']} docs · mean {info['mean']} · min {q['min']} · "
            f"median {q['median']} · p95 {q['p95']} · max {q['max']} · truncated {info['truncated']}"
        )
        peak = max(info["histogram"].values()) or 1
        for label, n in info["histogram"].items():
            add(f"    {label:>10} {n:>7} {'#' * round(30 * n / peak)}")
    return "\n".join(lines)


def _pairs(mapping: dict[str, Any]) -> str:
    return " · ".join(f"{k} {v}" for k, v in mapping.items())


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
