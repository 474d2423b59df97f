"""The beginnings a pattern's matches can have: a superset, exact where it is read."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.regex_prefixes import ascii_beginnings

PATTERNS = [
    r"(?i)ab|c\b",
    r"x+y?z",
    r"(?:foo|ba[rz])\s*:",
    r"^\s*(?:x|y)+z",
    r"(?i)we(?:[’']re| are)",
    r"\(?(?i:photos?|video)\s*:",
    r"ab$",
    r"(?=a)ab|(?!b)c",
    "(?i)\u017fa",  # U+017F, the long s, matches "s" and "S" when case is ignored
]


def test_literal_beginnings_are_exact() -> None:
    assert ascii_beginnings(re.compile(r"(?:foo|ba[rz])\s*:"), 3) == {"foo", "bar", "baz"}
    assert ascii_beginnings(re.compile(r"(?i)Share|X\d"), 2) == {"sh"} | {
        f"x{d}" for d in "0123456789"
    }


def test_a_line_ending_early_is_left_to_the_short_line_rule() -> None:
    # "ab" then the end: only two-character lines, which are always tried
    assert ascii_beginnings(re.compile(r"ab$|cde"), 3) == {"cde"}


def test_a_match_that_may_end_early_lets_anything_follow() -> None:
    found = ascii_beginnings(re.compile(r"a\b"), 2)
    assert found is not None and {"a ", "a.", "ab"} <= found and len(found) == 102


def test_stripped_lines_never_start_with_whitespace() -> None:
    assert ascii_beginnings(re.compile(r"\s*ab"), 2) == {"ab"}


@pytest.mark.parametrize("pattern", [r"\d+", r".{1,120}x", r"(a)\1", r"[^x]"])
def test_patterns_that_begin_almost_anyhow_get_no_prefilter(pattern: str) -> None:
    assert ascii_beginnings(re.compile(pattern), 3) is None


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(PATTERNS),
    st.text(alphabet="abcxyzfor\u017fSAWEBC :’'()\t-", max_size=8),
    st.integers(1, 4),
)
def test_every_match_begins_with_a_listed_beginning(pattern: str, line: str, length: int) -> None:
    compiled = re.compile(pattern)
    beginnings = ascii_beginnings(compiled, length)
    line = line.strip()
    head = line[:length]
    if beginnings is not None and compiled.match(line) and len(head) == length and head.isascii():
        assert head.lower() in beginnings
