"""Property: whatever a file holds, every input record ends up in exactly one place.

Hypothesis writes JSONL, CSV and Prodigy files mixing valid articles, exact and near copies,
blank lines, invalid JSON, non-objects, undecodable bytes, missing/unknown labels, wrong types,
empty and boilerplate-only texts, ragged CSV rows and rejected/ignored Prodigy answers. After
ingest each record's (file, line) is in the processed splits, in duplicates.jsonl (dropped) or in
rejects.jsonl, exactly once, and read = kept + duplicates + rejected.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_config
from pipeline.ingest import ingest

WORDS = [
    "minister",
    "army",
    "navy",
    "talks",
    "treaty",
    "border",
    "sanctions",
    "export",
    "missile",
    "drone",
    "budget",
    "election",
    "parliament",
    "protest",
    "refugees",
    "court",
    "embassy",
    "summit",
    "ceasefire",
    "shelling",
    "convoy",
    "pipeline",
    "tariff",
    "inflation",
    "bank",
    "loan",
    "harbour",
    "frigate",
    "tank",
    "rifle",
    "contract",
    "delegation",
    "visit",
    "accord",
    "ally",
    "rebel",
    "militia",
    "junta",
    "coup",
    "envoy",
    "monitor",
    "aid",
    "famine",
    "drought",
    "census",
    "reform",
    "union",
    "strike",
    "senate",
    "governor",
    "province",
    "capital",
    "village",
    "airport",
    "railway",
    "bridge",
    "factory",
    "mine",
    "oil",
    "gas",
    "grain",
    "wheat",
    "copper",
    "gold",
    "debt",
    "bond",
    "yield",
    "currency",
    "market",
    "investor",
    "labour",
    "wage",
    "police",
    "prison",
    "detainee",
    "lawyer",
    "verdict",
    "appeal",
    "charter",
    "vote",
    "ballot",
    "coalition",
    "opposition",
    "cabinet",
    "spokesman",
    "statement",
    "report",
    "inquiry",
    "audit",
    "agency",
    "satellite",
    "radar",
    "submarine",
    "carrier",
    "exercise",
    "drill",
    "patrol",
    "coast",
]
TOPICS = ["military_cooperation", "arms_trade", "diplomacy", "economy"]
STANCES = ["critical", "neutral", "supportive"]
VALID = ("valid", "exact", "near")
BROKEN = {
    "jsonl": (
        "blank",
        "invalid_json",
        "non_object",
        "bad_bytes",
        "missing_label",
        "unknown_label",
        "wrong_type",
        "empty",
        "furniture",
    ),
    "csv": ("blank", "bad_bytes", "ragged", "missing_label", "unknown_label", "empty"),
    "prodigy": ("blank", "invalid_json", "reject", "ignore", "missing_label", "furniture"),
}

texts = st.lists(st.sampled_from(WORDS), min_size=30, max_size=60).map(" ".join)
labels = st.tuples(
    st.lists(st.sampled_from(TOPICS), min_size=1, max_size=2, unique=True),
    st.sampled_from(STANCES),
)


@st.composite
def corpora(draw: st.DrawFn) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """A format and its records as (kind, fields); at least three distinct valid articles."""
    fmt = draw(st.sampled_from(sorted(BROKEN)))
    kinds = ["valid"] * 3 + draw(
        st.lists(st.sampled_from(VALID + BROKEN[fmt]), min_size=1, max_size=25)
    )
    records: list[tuple[str, dict[str, Any]]] = []
    originals: list[dict[str, Any]] = []
    for n, kind in enumerate(kinds):
        topics, stance = draw(labels)
        fields = {
            "id": f"r{n}",
            "title": "",
            "text": draw(texts),
            "topics": topics,
            "stance": stance,
        }
        if kind in ("exact", "near") and originals:
            source = draw(st.sampled_from(originals))
            words = source["text"].split()
            if kind == "near":
                at = draw(st.integers(0, len(words) - 1))
                words[at] = "reportedly"
                fields["text"] = " ".join(words)
            else:
                fields["text"] = source["text"].upper() + " ."
        elif kind in ("exact", "near"):
            kind = "valid"
        if kind == "valid":
            originals.append(fields)
        records.append((kind, fields))
    return fmt, records


def _jsonl_line(kind: str, fields: dict[str, Any], prodigy: bool) -> bytes | None:
    """One line of a JSONL/Prodigy file for this record kind (None: a blank line)."""
    fields = dict(fields)
    if kind == "blank":
        return None
    if kind == "invalid_json":
        return b'{"id": "cut", "text": "the ministry sa'
    if kind == "non_object":
        return b'["a", "list"]'
    if kind == "bad_bytes":
        return b'{"id": "bytes", "text": "\xff\xfe broken"}'
    if kind == "missing_label":
        fields.pop("stance")
    if kind == "unknown_label":
        fields["stance"] = "hostile"
    if kind == "wrong_type":
        fields["text"] = 42
    if kind == "empty":
        fields["text"] = "   "
    if kind == "furniture":
        fields["text"] = "Share this article\nAdvertisement\nSubscribe to our newsletter"
    if not prodigy:
        return json.dumps(fields).encode()
    accept = [*fields.get("topics", []), *([fields["stance"]] if "stance" in fields else [])]
    answer = {"reject": "reject", "ignore": "ignore"}.get(kind, "accept")
    task = {
        "text": fields["text"],
        "meta": {"id": fields["id"]},
        "_input_hash": 1000 + int(fields["id"][1:]),
        "_task_hash": 1,
        "accept": accept,
        "answer": answer,
    }
    return json.dumps(task).encode()


def _csv_rows(records: list[tuple[str, dict[str, Any]]]) -> tuple[bytes, int]:
    """CSV bytes and the number of records (blank rows are not records)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "title", "text", "topics", "stance"])
    body = out.getvalue().encode()
    count = 0
    for kind, fields in records:
        if kind == "blank":
            body += b",,,,\n"
            continue
        count += 1
        if kind == "bad_bytes":
            body += f"{fields['id']},,caf\xe9 talks,economy,neutral\n".encode("latin-1")
            continue
        if kind == "ragged":
            body += f"{fields['id']},only,three\n".encode()
            continue
        row = [
            fields["id"],
            fields["title"],
            "" if kind == "empty" else fields["text"],
            ";".join(fields["topics"]),
            {"missing_label": "", "unknown_label": "hostile"}.get(kind, fields["stance"]),
        ]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(row)
        body += out.getvalue().encode()
    return body, count


def _write(fmt: str, records: list[tuple[str, dict[str, Any]]], folder: Path) -> tuple[Path, int]:
    if fmt == "csv":
        path = folder / "articles.csv"
        body, count = _csv_rows(records)
        path.write_bytes(body)
        return path, count
    path = folder / ("answers.jsonl" if fmt == "prodigy" else "articles.jsonl")
    lines = [_jsonl_line(kind, fields, fmt == "prodigy") for kind, fields in records]
    path.write_bytes(b"\n".join(b"" if line is None else line for line in lines) + b"\n")
    return path, sum(line is not None for line in lines)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(corpora())
def test_every_record_lands_in_exactly_one_place(
    corpus: tuple[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    fmt, records = corpus
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, n_records = _write(fmt, records, folder)
        (folder / "params.yaml").write_text("{}\n")  # defaults only, whatever the cwd holds
        config = load_config(
            folder / "params.yaml",
            {
                "data.train": [str(path)],
                "data.format": "prodigy" if fmt == "prodigy" else "auto",
                "tasks": {
                    "topic": {"field": "topics", "type": "multilabel", "labels": TOPICS},
                    "stance": {"field": "stance", "type": "multiclass", "labels": STANCES},
                },
                "clean.min_chars": 20,
                "paths.processed": str(folder / "processed"),
                "mlflow.enabled": False,
            },
        )
        result = ingest(config)
        out = folder / "processed"
        frames = [pd.read_parquet(out / f"{s}.parquet") for s in ("train", "test")]
        duplicates = [json.loads(x) for x in (out / "duplicates.jsonl").read_text().splitlines()]
        rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]

    places = Counter(
        [
            *((row["source"], int(row["line"])) for f in frames for _, row in f.iterrows()),
            *((d["source"], d["line"]) for d in duplicates if d["dropped"]),
            *((r["source"], r["line"]) for r in rejects),
        ]
    )
    counts = result.counts
    assert counts.read == n_records
    assert counts.read == counts.kept + counts.duplicates + counts.rejected
    assert set(places.values()) == {1}, "a record appears in two places"
    assert sum(places.values()) == n_records, "a record is missing from every output"
    assert counts.kept == sum(len(f) for f in frames)
    assert counts.duplicates == sum(d["dropped"] for d in duplicates)
    assert counts.rejected == len(rejects)
    assert sum(counts.reasons.values()) == counts.rejected
    if fmt != "csv":  # JSON lines: the record positions are exactly the non-blank lines
        non_blank = [i for i, (kind, _) in enumerate(records, start=1) if kind != "blank"]
        assert sorted(line for _, line in places) == non_blank
    expected_skips = sum(kind in ("reject", "ignore") for kind, _ in records)
    assert counts.reasons.get("skipped_answer", 0) == expected_skips
