"""A labelled scraped dump with injected noise is cleaned and accounted for.

The dump is built from the team's clean sample articles (data/raw/articles.jsonl) with site
boilerplate, a recurring site line to be learned, photo captions and agency credits, repeated
paragraphs, mojibake, exact and near duplicates (one with a conflicting label) and broken
records injected. After ingest: no injected line is left, every planted copy is found, no
duplicate cluster spans train and test, and read = kept + duplicates + rejected with every input
line in exactly one place.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ftfy
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.clean import (
    _LABELLED_BEGINNINGS,
    _NEEDS_FTFY,
    _UNICODE_SPACES,
    BOILERPLATE_LINE,
    CAPTION_LINE,
    CREDIT_LINE,
    UI_PREFIXES,
    _heads,
    _is_credit,
    _line_gate,
    _line_keys,
    _may_begin,
    _needs_ftfy,
    _squeeze_spaces,
    clean_document,
    clean_documents,
    fix_text,
    line_key,
)
from pipeline.config import load_config
from pipeline.ingest import ingest

REPO_ROOT = Path(__file__).resolve().parents[1]
N_BASE = 80
PATTERN_BOILERPLATE = [
    "Share this article",
    "Subscribe to our newsletter for the morning briefing",
    "We use cookies to improve your experience on our site.",
    "Read more: Ministers meet again next week",
    "Also read: Five things to know about the summit",
    "Follow us on Facebook and X",
    "Advertisement",
]
SITE_LINE = "The Borneo Ledger — independent reporting from the region since 1952"
CAPTIONS = [
    (
        "Officials attend a ceremony at the defence ministry on Monday.",
        "JANE ROE / AFP (AFP/Jane Roe)",
    ),
    ("Delegates pose for a photograph before the talks.", "Photo: Reuters/Tom Lindqvist"),
    ("Sailors stand on the deck of a frigate in port.", "(AP Photo/Maria Gomez)"),
]
CAPTION_WITH_CREDIT = "Residents queue for water near the border town. (Reuters/Ali Hassan Noor)"
BROKEN = [
    (b'{"id": "bad-json", "title": "Talks", "text": "The ministry said', "unparseable"),
    (b'["not", "an", "object"]', "unparseable"),
    (b'{"id": "bad-bytes", "title": "\xff\xfe", "text": "x"}', "bad_encoding"),
    (
        b'{"id": "no-labels", "title": "Ministers meet", "text": "Defence ministers met in the '
        b'capital on Tuesday to discuss a new training programme for officers."}',
        "missing_label",
    ),
    (
        b'{"id": "odd-label", "title": "Ministers meet", "text": "Defence ministers met in the '
        b'capital on Tuesday to discuss naval drills.", "topics": ["space_race"], '
        b'"stance": "neutral"}',
        "unknown_label",
    ),
    (
        b'{"id": "empty", "title": "", "text": "  ", "topics": ["economy"], "stance": "neutral"}',
        "empty_text",
    ),
    (
        b'{"id": "typed", "title": "T", "text": 12345, "topics": ["economy"], "stance": "neutral"}',
        "wrong_type",
    ),
    (
        b'{"id": "only-furniture", "title": "Share this article", "text": "Advertisement\\n'
        b'Subscribe to our newsletter", "topics": ["economy"], "stance": "neutral"}',
        "empty_text",
    ),
]


@dataclass
class DirtyDump:
    """The dump file and what was planted in it."""

    path: Path
    lines: int
    injected: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # copy id → original id
    conflicting_copy: str = ""
    site_line_copies: set[str] = field(default_factory=set)  # exact copies of site-line articles
    broken: dict[int, str] = field(default_factory=dict)  # line → expected reason
    mojibake_ids: list[str] = field(default_factory=list)
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)


def _base_articles() -> list[dict[str, Any]]:
    """Sample articles with no scraping noise of their own (cleaning keeps every line)."""
    rows = [
        json.loads(line)
        for line in (REPO_ROOT / "data/raw/articles.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    clean = []
    for row in rows:
        doc = f"{row['title']}\n{row['text']}"
        raw_lines = [line for line in doc.split("\n") if line.strip()]
        if "-dup" in row["id"] or "-near" in row["id"]:
            continue
        if len(clean_document(doc).split("\n")) == len(raw_lines):
            clean.append(row)
    return clean[:N_BASE]


def _edit_words(text: str, rng: random.Random, fraction: float = 0.05) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, round(fraction * len(words)))):
        words[i] = rng.choice(["reportedly", "officials", "meanwhile", "regional", "talks"])
    return " ".join(words)


def build_dirty_dump(folder: Path, seed: int = 7) -> DirtyDump:
    """Write `dump.jsonl` in `folder`: noisy copies of the base articles, copies, broken lines."""
    rng = random.Random(seed)
    base = _base_articles()
    dump = DirtyDump(folder / "dump.jsonl", 0)
    dump.injected = [*PATTERN_BOILERPLATE, SITE_LINE, CAPTION_WITH_CREDIT]
    dump.injected += [line for pair in CAPTIONS for line in pair]
    out: list[bytes] = []
    for i, row in enumerate(base):
        paragraphs = [p for p in row["text"].split("\n") if p.strip()]
        if i % 2 == 0:
            paragraphs.insert(rng.randrange(len(paragraphs) + 1), PATTERN_BOILERPLATE[i % 7])
            paragraphs.append(PATTERN_BOILERPLATE[(i + 3) % 7])
        if i % 4 == 0:
            paragraphs.append(SITE_LINE)
        if i % 5 == 1:
            caption, credit = CAPTIONS[i % 3]
            paragraphs[1:1] = [caption, credit]
        if i % 5 == 3:
            paragraphs.insert(1, CAPTION_WITH_CREDIT)
        if i % 3 == 2:
            paragraphs.append(paragraphs[0])  # the lead paragraph repeated by the page layout
        text = "\n\n".join(paragraphs)
        if i % 6 == 1 and ("'" in text or "’" in text):
            curly = text.replace("'", "’")
            text = curly.encode("utf-8").decode("cp1252")  # read back with the wrong codec
            assert "â€™" in text
            dump.mojibake_ids.append(row["id"])
        record = row | {"text": text}
        dump.originals[row["id"]] = row
        out.append(json.dumps(record, ensure_ascii=False).encode())
    for k, row in enumerate(base[:6]):
        copy_id = f"{row['id']}-exactcopy"
        out.append(json.dumps(row | {"id": copy_id, "text": row["text"].upper()}).encode())
        dump.copies[copy_id] = row["id"]
        if k % 4 == 0:
            dump.site_line_copies.add(copy_id)
        near_id = f"{row['id']}-nearcopy"
        near = row | {"id": near_id, "text": _edit_words(row["text"], rng)}
        if k == 0:  # a copy whose annotator chose another stance
            other = next(s for s in ("critical", "neutral", "supportive") if s != row["stance"])
            near["stance"] = other
            dump.conflicting_copy = near_id
        out.append(json.dumps(near).encode())
        dump.copies[near_id] = row["id"]
    for raw, reason in BROKEN:
        out.append(raw)
        dump.broken[len(out)] = reason
    dump.path.write_bytes(b"\n".join(out) + b"\n")
    dump.lines = len(out)
    return dump


def dump_config(folder: Path, dump: DirtyDump, **dedup: Any) -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"]["train"] = [str(dump.path)]
    params["mlflow"]["enabled"] = False
    params["dedup"].update(dedup)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("dirty")
    dump = build_dirty_dump(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = ingest(load_config(dump_config(root, dump)))
    processed = root / "data" / "processed"
    return {
        "dump": dump,
        "result": result,
        "frames": {s: pd.read_parquet(processed / f"{s}.parquet") for s in ("train", "test")},
        "duplicates": _jsonl(processed / "duplicates.jsonl"),
        "rejects": _jsonl(processed / "rejects.jsonl"),
        "root": root,
    }


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_counts_add_up_and_every_line_is_in_one_place(ingested: dict[str, Any]) -> None:
    dump, counts = ingested["dump"], ingested["result"].counts
    assert counts.read == dump.lines
    assert counts.read == counts.kept + counts.duplicates + counts.rejected
    places = [
        *(int(line) for frame in ingested["frames"].values() for line in frame["line"]),
        *(d["line"] for d in ingested["duplicates"] if d["dropped"]),
        *(r["line"] for r in ingested["rejects"]),
    ]
    assert sorted(places) == list(range(1, dump.lines + 1))


def test_no_injected_line_survives(ingested: dict[str, Any]) -> None:
    texts = pd.concat([f["text"] for f in ingested["frames"].values()])
    for line in ingested["dump"].injected:
        assert not texts.str.contains(line, regex=False).any(), line
    for needle in ("AFP/Jane Roe", "Tom Lindqvist", "Maria Gomez", "Borneo Ledger"):
        assert not texts.str.contains(needle, regex=False).any(), needle
    cleaning = ingested["result"].manifest["cleaning"]
    assert cleaning["learned_boilerplate_lines"] >= 5
    assert cleaning["caption_lines"] >= 1 and cleaning["credit_lines"] >= 1
    assert cleaning["repeated_paragraphs"] >= 1 and cleaning["unicode_fixed_docs"] >= 1


def test_news_text_is_kept_once(ingested: dict[str, Any]) -> None:
    """Every paragraph of the original article survives exactly once (quotes straightened)."""
    frames = pd.concat(ingested["frames"].values()).set_index("id")
    for rec_id, row in ingested["dump"].originals.items():
        text = frames.loc[rec_id, "text"]
        for paragraph in [p for p in row["text"].split("\n") if p.strip()]:
            expected = clean_document(paragraph)
            assert text.split("\n").count(expected) == 1, (rec_id, expected)


def test_mojibake_is_repaired(ingested: dict[str, Any]) -> None:
    frames = pd.concat(ingested["frames"].values()).set_index("id")
    dump = ingested["dump"]
    assert dump.mojibake_ids
    for rec_id in dump.mojibake_ids:
        text = frames.loc[rec_id, "text"]
        assert "â€" not in text and "Ã" not in text
        assert clean_document(dump.originals[rec_id]["text"]) in text


def test_every_planted_copy_is_found_and_conflicts_reported(ingested: dict[str, Any]) -> None:
    dump = ingested["dump"]
    found = {d["id"]: d for d in ingested["duplicates"]}
    assert {k: found[k]["duplicate_of"] for k in dump.copies} == dump.copies
    assert set(found) == set(dump.copies)
    # dedup runs before learned boilerplate is removed, so an original that still carries the
    # site line at that point matches its clean copy as a near duplicate
    exact = {k for k in dump.copies if k.endswith("-exactcopy")}
    assert {found[k]["kind"] for k in exact - dump.site_line_copies} == {"exact"}
    assert {found[k]["kind"] for k in dump.site_line_copies} == {"near"}
    assert {found[k]["kind"] for k in dump.copies if k.endswith("-nearcopy")} == {"near"}
    conflict = found[dump.conflicting_copy]
    assert conflict["label_conflict"] is True
    assert conflict["labels"]["stance"] != conflict["original_labels"]["stance"]
    assert [k for k, d in found.items() if d["label_conflict"]] == [dump.conflicting_copy]
    assert ingested["result"].manifest["counts"]["label_conflicts"] == 1


def test_no_cluster_spans_train_and_test(ingested: dict[str, Any]) -> None:
    side = {rec_id: split for split, frame in ingested["frames"].items() for rec_id in frame["id"]}
    for dup in ingested["duplicates"]:
        assert dup["split"] == side[dup["duplicate_of"]]


def test_broken_records_are_rejected_with_their_reason(ingested: dict[str, Any]) -> None:
    got = {r["line"]: r["reason"] for r in ingested["rejects"]}
    assert got == ingested["dump"].broken
    assert all(Path(r["source"]).name == "dump.jsonl" for r in ingested["rejects"])


def test_kept_copies_follow_their_original_and_given_test_copies_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dedup.drop false keeps copies, on their original's side; a copy in a given test set of a
    training article is still dropped, so no cluster spans the split."""
    monkeypatch.chdir(tmp_path)
    dump = build_dirty_dump(tmp_path)
    result = ingest(load_config(dump_config(tmp_path, dump, drop=False)))
    frames = {s: pd.read_parquet(f"data/processed/{s}.parquet") for s in ("train", "test")}
    side = {i: s for s, f in frames.items() for i in f["id"]}
    assert result.counts.duplicates == 0
    assert {k: side[k] for k in dump.copies} == {k: side[v] for k, v in dump.copies.items()}

    lines = dump.path.read_bytes().splitlines()
    copies = [line for line in lines if b'copy"' in line]
    test_file, train_file = tmp_path / "given_test.jsonl", tmp_path / "given_train.jsonl"
    test_file.write_bytes(b"\n".join(copies) + b"\n")
    train_file.write_bytes(b"\n".join(line for line in lines if line not in copies) + b"\n")
    config = load_config(
        dump_config(tmp_path, dump, drop=False),
        {"data.train": [str(train_file)], "data.test": [str(test_file)]},
    )
    result = ingest(config)
    assert result.counts.duplicates == len(dump.copies)
    assert result.split_counts["test"] == 0
    assert (
        result.counts.read == result.counts.kept + result.counts.duplicates + result.counts.rejected
    )


_FRAGMENTS = [
    "The minister said",
    " talks ",
    "’",
    "“quoted”",
    "—",
    "…",
    "â€™",
    "Ã©",
    "cafÃ©",
    "é",
    "&amp;",
    "&",  # a bare "&" or "AT&T" is no entity: ftfy leaves it, and so does the shortcut
    "AT&T",
    "&#39;",
    "#x2019;",
    "amp",
    ";",
    "&NBSP;",
    "<b>",
    "\n",
    "\r\n",
    "\t",
    "РґР",
    "\u00a0",
    "ﬁ",
    "\x1b[31m",
    "\x7f",
    "\x0c",
    "\u2028",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map("".join))
def test_fast_unicode_fix_equals_ftfy(text: str) -> None:
    """The shortcut in `fix_text` gives exactly what ftfy gives."""
    assert fix_text(text) == ftfy.fix_text(text, normalization="NFC")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map("".join))
def test_mojibake_test_in_bytes_equals_the_pattern(text: str) -> None:
    assert _needs_ftfy(text) == (_NEEDS_FTFY.search(text) is not None)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(max_codepoint=127), max_size=40)
    | st.text(alphabet="aZ9_ .,'-\tÉéİK\u2014\u2019\u2026•£\u00a0\u0301\ud800", max_size=40)
)
def test_line_key_shortcut_equals_the_regex(line: str) -> None:
    assert line_key(line) == re.sub(r"\W+", " ", line.lower()).strip()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t\u00a0\u2003\u200b\u3000ab\né’\n", max_size=40))
def test_space_runs_become_one_space_as_the_plain_pattern_does(text: str) -> None:
    plain = re.sub(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+", " ", text)
    narrow = re.sub(
        r"[\t\u00a0\u2000-\u200b\u202f\u205f\u3000]", "", text
    )  # non-ASCII, no wide space
    assert _squeeze_spaces(narrow) == re.sub(" +", " ", narrow)
    assert _squeeze_spaces(text) == plain
    assert _squeeze_spaces(text.encode("ascii", "ignore").decode()) == re.sub(
        r"[ \t]+", " ", text.encode("ascii", "ignore").decode()
    )


def test_the_unicode_space_set_matches_its_class() -> None:
    every_char = "".join(map(chr, range(0x10000)))
    assert (
        set(re.findall(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000]", every_char)) == _UNICODE_SPACES
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="aZ9_ .,'-\tÉé’—…\x1c", max_size=12), max_size=8))
def test_line_keys_of_a_text_are_each_lines_key(lines: list[str]) -> None:
    assert _line_keys(lines) == [line_key(line) for line in lines]


_LINE_STARTS = [
    "Share this",
    "share on ",
    "Advertisement",
    "Skip to main content",
    "Loading...",
    "Read also: ",
    "Related stories:",
    "(Photos: ",
    "© 2024 ",
    "Copyright (c) ",
    "Image caption, ",
    "CAPTION: ",
    "Twitter | Facebook",
    "We’re here to listen",
    "The minister ",
    "said ",
    "SUBSCRIBE",
    "\u017fhare this",  # U+017F, the long s, matches "s" when case is ignored
    "İmage caption: ",  # so does "İ" "i"
    "sh",
    " ",
    ",",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_LINE_STARTS), min_size=1, max_size=4).map("".join))
def test_the_line_gate_lets_through_every_line_a_pattern_matches(line: str) -> None:
    """`clean_document` tries the line patterns only on lines its one gate pattern matches, and
    the gate only on lines whose head is among the gate's beginnings."""
    line = line.strip()
    for boilerplate, captions in [(True, True), (True, False), (False, True)]:
        gated = _line_gate(boilerplate, captions)
        assert gated is not None and gated[1] is not None  # derived here, not given up on
        gate, beginnings = gated
        patterns = [UI_PREFIXES, BOILERPLATE_LINE] * boilerplate + [CAPTION_LINE] * captions
        if any(p.match(line) for p in patterns):
            assert gate.match(line), line
        if gate.match(line):
            assert _may_begin(_heads([line])[0], beginnings), line
    assert _line_gate(False, False) is None


_CREDIT_PARTS = [
    "Photo: ",
    "(Photo by ",
    "photograph: ",
    "IMAGE: ",
    "Pictures by ",
    "Credit: ",
    "File photo: ",
    "(FOTO/",
    "Reuters/",
    "AFP",
    " / ",
    "Jane Doe",
    "JP",
    "(",
    ")",
    ":",
    "\u0130mage: ",  # "İ" matches "i" when case is ignored
    "The minister said: ",
    "via Getty Images",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_CREDIT_PARTS), min_size=1, max_size=5).map("".join))
def test_the_credit_shortcut_decides_as_the_credit_pattern(line: str) -> None:
    """`_is_credit` tries CREDIT_LINE only on lines with a "/" or a label's beginning."""
    assert _LABELLED_BEGINNINGS is not None  # derived here, not given up on
    line = line.strip()
    if not line:
        return
    expected = len(line.split()) <= 14 and CREDIT_LINE.match(line) is not None
    assert _is_credit(line, _heads([line])[0]) == expected, line


def test_cleaning_a_batch_equals_cleaning_each_text() -> None:
    """`clean_documents` runs the line steps over all the texts' lines at once: no rule may
    reach across two texts (a credit starting one text is not the caption of the text before;
    a line repeated in two texts stays in both), and the counts are the texts' summed."""
    texts = [
        "Troops patrol the port.\nREUTERS/Jane Doe\nThe talks resumed.",
        "The talks resumed.\nThe talks resumed.",
        "Photo: AFP",
        "José Ramos-Horta said.\r\nJOSÉ RAMOS-HORTA SAID.",
        "Caf\u00c3\u00a9 &amp; bar \u201cquoted\u201d",
        "",
        "Share this\nLines: 12\nThanks in advance",
    ]
    learned = frozenset({"lines 12"})
    for batch in (texts, texts[::-1]):
        one_stats: Counter[str] = Counter()
        one_by_one = [clean_document(t, learned_lines=learned, stats=one_stats) for t in batch]
        batch_stats: Counter[str] = Counter()
        cleaned = clean_documents(batch, learned_lines=learned, stats=batch_stats)
        assert cleaned == one_by_one
        assert batch_stats == one_stats
    assert clean_documents(texts)[:4] == [
        "The talks resumed.",
        "The talks resumed.",
        "",
        "José Ramos-Horta said.",
    ]
    assert clean_documents([]) == []
