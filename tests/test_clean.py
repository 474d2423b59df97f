"""Text cleaning: the seed dump's expectations, mojibake, learned boilerplate, idempotence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from pipeline.clean import (
    TextCleaner,
    build_document,
    clean_document,
    line_key,
    remove_learned_lines,
)


def assert_seed_expectations(cleaned: str, expected: dict[str, Any]) -> None:
    for sentence in expected["must_keep"]:
        assert cleaned.count(sentence) == 1, f"must appear exactly once: {sentence!r}"
    for junk in expected["must_drop"]:
        assert junk not in cleaned, f"must be dropped: {junk!r}"


def test_seed_dump_cleaned_as_expected(seed_dump: Path, seed_expected: dict[str, Any]) -> None:
    raw = seed_dump.read_text(encoding="utf-8")
    for sentence in seed_expected["must_keep"]:  # the fixture itself: kept text is really there
        assert sentence in raw
    assert_seed_expectations(clean_document(raw), seed_expected)


def test_seed_dump_through_the_fitted_transformer(
    seed_dump: Path, seed_expected: dict[str, Any]
) -> None:
    raw = seed_dump.read_text(encoding="utf-8")
    cleaner = TextCleaner().fit([raw])
    (cleaned,) = cleaner.transform([raw])
    assert_seed_expectations(cleaned, seed_expected)
    assert cleaned == clean_document(raw)


def test_each_step_can_be_switched_off(seed_dump: Path) -> None:
    raw = seed_dump.read_text(encoding="utf-8")
    lead = "Rights activists have accused Moscow of legitimising Myanmar's junta"
    assert clean_document(raw, repeated_paragraphs=False).count(lead) == 2
    assert "YE AUNG THU / AFP" in clean_document(raw, captions=False)
    assert "Quickly share this news" in clean_document(raw, boilerplate_patterns=False)


def test_mojibake_and_spacing_are_fixed() -> None:
    raw = "Talks in the cafÃ©   resumed\u00a0on Monday.\r\nThe minister said â€œwe will signâ€\x9d."
    cleaned = clean_document(raw)
    assert "café resumed on Monday." in cleaned
    assert "Ã" not in cleaned and "â€" not in cleaned
    assert "we will sign" in cleaned
    assert cleaned.splitlines() == [line.strip() for line in cleaned.splitlines()]
    assert "Ã©" in clean_document(raw, fix_unicode=False)


def test_caption_above_an_agency_credit_is_dropped() -> None:
    raw = "\n".join(
        [
            "Soldiers march during a parade in the capital on Monday.",
            "Photo: Reuters/Jane Doe",
            "The defence ministry announced a new procurement plan for armoured vehicles.",
        ]
    )
    cleaned = clean_document(raw)
    assert cleaned == (
        "The defence ministry announced a new procurement plan for armoured vehicles."
    )


def _docs_with_furniture(n: int) -> list[str]:
    furniture = "Follow the Daily Bugle's coverage on our regional desk"
    return [
        f"Story number {i} about the navy buying {i} new patrol boats from a shipyard.\n"
        f"{furniture}\n"
        f"Officials said delivery {i} is planned for next year."
        for i in range(n)
    ]


def test_learned_boilerplate_is_removed_and_rare_lines_are_kept() -> None:
    docs = _docs_with_furniture(10)
    docs[0] += "\nA line shared by two stories only."
    docs[1] += "\nA line shared by two stories only."
    cleaner = TextCleaner(boilerplate_min_docs=5).fit(docs)
    assert line_key("Follow the Daily Bugle's coverage on our regional desk") in (
        cleaner.boilerplate_lines_
    )
    assert line_key("A line shared by two stories only.") not in cleaner.boilerplate_lines_
    cleaned = cleaner.transform(docs)
    assert all("Daily Bugle" not in doc for doc in cleaned)
    assert "A line shared by two stories only." in cleaned[0]
    assert all("patrol boats" in doc for doc in cleaned)


def test_learned_boilerplate_respects_switch_and_word_limit() -> None:
    docs = _docs_with_furniture(10)
    assert TextCleaner(learn_boilerplate=False).fit(docs).boilerplate_lines_ == frozenset()
    short_limit = TextCleaner(boilerplate_min_docs=5, boilerplate_max_words=3).fit(docs)
    assert short_limit.boilerplate_lines_ == frozenset()


def test_transformer_follows_sklearn_conventions() -> None:
    cleaner = TextCleaner(captions=False)
    assert not hasattr(cleaner, "boilerplate_lines_")
    assert clone(cleaner).get_params() == cleaner.get_params()
    with pytest.raises(TypeError, match="list of documents"):
        cleaner.fit("one string is not a corpus")
    frame = pd.DataFrame({"text": ["Ministers met.\nShare this article", None]})
    assert cleaner.fit(frame).transform(frame) == ["Ministers met.", ""]


def test_max_chars_truncates_before_cleaning() -> None:
    cleaner = TextCleaner(max_chars=120).fit([])
    (cleaned,) = cleaner.transform(["word " * 500])
    assert len(cleaned) <= 120


def test_sample_corpus_cleaning_is_idempotent(repo_root: Path) -> None:
    rows = [
        json.loads(line)
        for line in (repo_root / "data/raw/articles.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    docs = [f"{row['title']}\n{row['text']}" for row in rows]
    cleaner = TextCleaner(boilerplate_min_docs=3, boilerplate_min_fraction=0.0).fit(docs)
    once = cleaner.transform(docs)
    assert cleaner.transform(once) == once


def test_seed_dump_cleaning_is_idempotent(seed_dump: Path) -> None:
    once = clean_document(seed_dump.read_text(encoding="utf-8"))
    assert clean_document(once) == once


_LINES = [
    "The ministry said the talks would resume in March.",
    "Share this article",
    "Can't find what you're looking for?View all search resultsTroops crossed the border.",
    "Soldiers patrol the harbour at dawn.",
    "YE AUNG THU / AFP (AFP/Ye Aung Thu)",
    "Photo: Reuters/Jane Doe",
    "Read also: Sanctions tightened",
    "Advertisement",
    "   ",
    "",
    "Talks in the cafÃ© resumed.",
    "Follow the Daily Bugle's coverage on our regional desk",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_LINES),
            st.text(alphabet=st.sampled_from("abcdefgh ,.?/:-'"), max_size=40),
        ),
        max_size=14,
    )
)
def test_cleaning_twice_equals_cleaning_once(lines: list[str]) -> None:
    raw = "\n".join(lines)
    once = clean_document(raw)
    assert clean_document(once) == once
    learned = frozenset({line_key(_LINES[-1])})
    once_learned = clean_document(raw, learned_lines=learned)
    assert clean_document(once_learned, learned_lines=learned) == once_learned


def test_pair_cleaning_keeps_the_headline_first_and_cleans_each_part_once() -> None:
    bodies = [
        f"Navy {i} ships met at dawn.\nShare this article\nThe fleet sailed on {i}.\n"
        f"The fleet sailed on {i}."
        for i in range(3)
    ]
    docs = [f"{head}\n{body}" for body in bodies for head in ("Share this", "Navy ships met")]
    docs.append("Navy 0 ships met at dawn.\nNavy 0 ships met at dawn.\nMore.")
    cleaner = TextCleaner(pairs=True).fit([])
    cleaned = cleaner.transform(docs)
    assert cleaned == [cleaner.clean(doc) for doc in docs]  # the per-call memo changes nothing
    # a boilerplate headline leaves an empty first line, so the body never takes its place
    assert cleaned[0] == "\nNavy 0 ships met at dawn.\nThe fleet sailed on 0."
    assert cleaned[1] == "Navy ships met\nNavy 0 ships met at dawn.\nThe fleet sailed on 0."
    # the headline and the body are two texts: a body repeating its headline keeps the line
    assert cleaned[-1] == "Navy 0 ships met at dawn.\nNavy 0 ships met at dawn.\nMore."
    assert TextCleaner().fit([]).transform(docs[:1]) == [cleaned[0][1:]]


def test_pair_cleaning_removes_a_learned_headline_as_clean_does() -> None:
    docs = [f"Breaking news alert\nStory {i} about troops and ports." for i in range(10)]
    cleaner = TextCleaner(pairs=True, boilerplate_min_docs=5).fit(docs)
    assert line_key("Breaking news alert") in cleaner.boilerplate_lines_
    unlearned = cleaner.clean(docs[0], learned=frozenset())
    expected = cleaner.clean(docs[0])
    assert expected == "\nStory 0 about troops and ports."
    assert remove_learned_lines(unlearned, cleaner.boilerplate_lines_, pairs=True) == expected
    assert remove_learned_lines(unlearned, cleaner.boilerplate_lines_) == expected[1:]


def test_cleaners_saved_before_pair_cleaning_still_load() -> None:
    cleaner = TextCleaner().fit([])
    state = cleaner.__getstate__()
    del state["pairs"], state["text_fields"]
    old = TextCleaner.__new__(TextCleaner)
    old.__setstate__(state)
    assert old.get_params() == cleaner.get_params()
    assert old.transform(["Ministers met.\nShare this article"]) == ["Ministers met."]


def test_a_pair_headline_stays_one_line() -> None:
    cleaner = TextCleaner(pairs=True).fit([])
    doc = "Talks stall\ron grain\nThe body.\nMore body."
    assert cleaner.clean(doc) == "Talks stall on grain\nThe body.\nMore body."
    assert cleaner.transform([doc]) == [cleaner.clean(doc)]


def test_a_dataframe_becomes_documents_as_ingest_builds_them() -> None:
    """MLflow's pyfunc passes a DataFrame: its text-field columns make each document, so a
    served model sees the titles (and a pair model its headlines) it was trained with."""
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "title": ["Talks on grain", None],
            "text": ["Ministers met.\nShare this article", "Ports reopened."],
        }
    )
    cleaner = TextCleaner(text_fields=["title", "text"]).fit([])
    rows = frame.to_dict("records")
    expected = [cleaner.clean(build_document(row, ["title", "text"])) for row in rows]
    assert (
        cleaner.transform(frame)
        == expected
        == ["Talks on grain\nMinisters met.", "Ports reopened."]
    )
    # a missing column is a missing field; a pair keeps an empty headline line in its place
    assert cleaner.transform(frame[["text"]]) == ["Ministers met.", "Ports reopened."]
    pairs = TextCleaner(pairs=True, text_fields=["title", "text"]).fit([])
    assert pairs.transform(frame[["text"]]) == ["\nMinisters met.", "\nPorts reopened."]
    # no text-field column at all, or a cleaner saved without its fields: the `text` column
    text_only = ["Ministers met.", "Ports reopened."]
    assert TextCleaner(text_fields=["body"]).fit([]).transform(frame) == text_only
    assert TextCleaner().fit([]).transform(frame) == text_only


def test_one_line_texts_keep_their_line_unless_it_was_learned() -> None:
    """A batch of one-line texts (headlines) skips the line keys, which only find repeats within
    a text and learned lines: a line repeated across texts stays in each, a learned one goes."""
    from pipeline.clean import clean_documents, line_key

    line = "Ministers meet in Geneva on arms exports"
    assert clean_documents([line, line]) == [line, line]
    assert clean_documents([f"{line}\n{line}"]) == [line]
    learned = frozenset({line_key(line)})
    other = "Parliament debates the sanctions bill"
    assert clean_documents([line, other], learned_lines=learned) == ["", other]
