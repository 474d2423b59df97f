"""Text cleaning: the one code path used by ingest and, inside every saved model, by predict.

Scraped pages carry site furniture (search boxes, share/feedback/subscription prompts, cookie
notices, "Read also:" links), photo captions with agency credit lines, and paragraphs repeated by
the page layout. Each step below removes one of these and can be switched off in the config.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

import ftfy
import numpy as np
from ftfy.chardata import HTML_ENTITY_RE
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from pipeline.regex_prefixes import ascii_beginnings
from pipeline.tokens import ascii_word_table, has_wide_word_char, is_word_char, wide_chars

# Site UI strings that scrapers glue in front of real text with no line break; stripped from the
# start of a line, repeatedly, and the rest of the line is kept.
UI_PREFIXES = re.compile(
    r"^(?:\s*(?:can[’']t find what you[’']re looking for\?|view all search results|"
    r"advertisement|skip to (?:main )?content|scroll to continue reading|loading\.\.\.))+",
    re.IGNORECASE,
)
# Lines that are boilerplate as a whole when they start like this (documented in the README).
BOILERPLATE_LINE = re.compile(
    r"^(?:share (?:this|the best of|your (?:experiences|thoughts|feedback)|on)\b|quickly share\b|"
    r"subscribe\b|sign up\b|(?:read|see) (?:also|more)\s*:|related(?: articles?| stories)?\s*:|"
    r"follow us\b|we use cookies\b|this (?:web)?site uses cookies|accept (?:all )?cookies|"
    r"thank you for (?:sharing|your feedback|reading)|thanks for (?:your feedback|reading)|"
    r"get the best experience|click here\b|all rights reserved|copyright\s*(?:©|\(c\))|"
    r"download (?:our|the) app|already a subscriber|log ?in to (?:read|continue)|"
    r"we(?:[’']re| are) here to listen|advertisement$|"
    r"also read\s*:|(?:read|see) also\b|don[’']t miss\s*:|recommended(?: for you)?\s*:|"
    r"listen to this article|continue reading\b|join our (?:whatsapp|telegram) channel|"
    r"was this article helpful|report an? (?:error|typo)\b|leave a comment|sponsored content|"
    r"©\s*\d{4}|\(?(?:photos|videos?|gallery)\s*:|"
    r"(?:share|tweet|email|print|whatsapp|facebook|twitter|linkedin|telegram)"
    r"(?:\s*[|/·,]?\s*(?:share|tweet|email|print|whatsapp|facebook|twitter|x|linkedin|telegram))*$)",
    re.IGNORECASE,
)
_AGENCIES = (
    r"AFP|Reuters|AP|EPA(?:-EFE)?|Getty Images|Xinhua|Anadolu(?: Agency)?|Bloomberg|dpa|"
    r"ANTARA(?: FOTO)?|Kyodo|Yonhap|Sputnik|TASS|AA|Shutterstock"
)
_AGENCY = rf"(?i:{_AGENCIES})"
_PHOTO_WORD = r"(?i:\s+(?:photo|foto|pictures?|images?))"
_NAME = r"[A-Z][\w.'’\-]*(?:[ ,]+[\w.'’\-]+){0,4}"  # a photographer: at most five words
_FULL_NAME = r"[A-Z][\w.'’\-]*(?:[ ,]+[\w.'’\-]+){1,4}"  # two words or more
_CREDIT_LABEL = r"(?i:(?:file )?photo(?:graph)?|image|picture|foto|credit)(?i: credit| by)?"
# Photo credit lines, each the whole line: "YE AUNG THU / AFP (AFP/Ye Aung Thu)",
# "JOHN DOE/AFP via Getty Images", "(AP Photo/Jane Doe, File)", "REUTERS/Jane Doe",
# "(JP/Seto Wardhana)", "Photo: Reuters/Jane Doe", "Photograph: Jane Doe/Reuters",
# "(Photo by Jane Doe/Reuters)". Names must be short so that "Reuters/Ipsos polling showed a
# narrow lead ..." stays news.
_CREDIT_SLASHED = (  # each of these has a "/"...
    rf"{_NAME}\s*/\s*{_AGENCY}(?i:\s+via getty images)?"
    rf"(?:\s*\({_AGENCY}{_PHOTO_WORD}?\s*/\s*{_NAME}\))?|"
    rf"\(?{_AGENCY}{_PHOTO_WORD}?\s*/\s*{_NAME}(?:\s*/\s*(?i:file(?: photo)?|pool))?\)?|"
    rf"\([A-Z]{{2,6}}\s*/\s*{_NAME}\)"
)
_CREDIT_LABELLED = (  # ...and these start with a label
    rf"\(?{_CREDIT_LABEL}\s*[:/]\s*.{{1,120}}|"
    rf"\(?(?i:photos?|images?|pictures?) by\s+.{{1,120}}"
)
CREDIT_LINE = re.compile(rf"^(?:{_CREDIT_SLASHED}|{_CREDIT_LABELLED})$")
# A caption line that ends with its own credit: "Troops patrol the port. (AP Photo/Jane Doe)".
CAPTION_WITH_CREDIT = re.compile(
    rf"\S\s*\((?:{_AGENCY}{_PHOTO_WORD}\s*/\s*{_NAME}|(?:{_AGENCY}|[A-Z]{{2,6}})\s*/\s*"
    rf"{_FULL_NAME}|{_CREDIT_LABEL}\s*[:/]\s*[^()]{{1,80}}|(?i:photos?|pictures?) by [^()]{{1,80}})\)$"
)
# Caption and image-source lines that are dropped on their own (BBC style): "Image caption, ...".
CAPTION_LINE = re.compile(r"^(?i:image source|image caption|photo caption|caption)\s*[,:]\s*\S")
_Sized = TypeVar("_Sized", str, bytes)
_BOILERPLATE_MAX_WORDS = 80  # a pattern never removes a line longer than this
# about this much text is cleaned together by `TextCleaner.transform` (`clean_documents`): many
# headlines per call, few articles (a batch of 1,000 articles was slower than one at a time)
_BATCH_CHARS = 1 << 16
_CREDIT_MAX_WORDS = 14
_HEAD = 4  # characters of a line looked up in a pattern's beginnings (`_may_begin`)
_LABELLED_BEGINNINGS = ascii_beginnings(re.compile(_CREDIT_LABELLED), _HEAD)
_NON_WORD = re.compile(r"\W+")
# ASCII letters lowercased, digits and "_" kept, any other byte a space
_ASCII_KEY = ascii_word_table(lowercase=True)
_ASCII_LINE_KEYS = _ASCII_KEY[:10] + b"\n" + _ASCII_KEY[11:]  # the same, line breaks kept
# Anything but printable ASCII, tab, newline, dashes, curly quotes and the ellipsis, or an HTML
# entity as ftfy finds them. Text without these is safe from mojibake (see `fix_text`).
_NEEDS_FTFY = re.compile(
    rf"[^\t\n\x20-\x7e\u2013\u2014\u2018\u2019\u201c\u201d\u2026]|{HTML_ENTITY_RE.pattern}"
)
_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"  # what _NEEDS_FTFY accepts of ASCII
# the typographic characters _NEEDS_FTFY accepts, in UTF-8
_TYPOGRAPHIC_UTF8 = tuple(c.encode() for c in "\u2013\u2014\u2018\u2019\u201c\u201d\u2026")
_FTFY_SEGMENT = 1_000_000  # ftfy's max_decode_length: it cuts longer lines
_STRAIGHT_QUOTES = (("‘", "'"), ("’", "'"), ("“", '"'), ("”", '"'))
_SPACE_RUNS = re.compile("  +")
# the no-break and other Unicode spaces, found among a text's few non-ASCII characters
_UNICODE_SPACES = frozenset("\u00a0\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200C))))


def _squeeze_spaces(text: str) -> str:
    """Every run of spaces (tabs, `_UNICODE_SPACES`, plain ones) as one plain space: each space
    made plain with `str.replace`, then a search for two spaces, all in C (a regex for the
    whole class tries every character: 50 µs on a 6 KB article)."""
    if not text.isascii():
        for space in _UNICODE_SPACES.intersection(wide_chars(text)):
            text = text.replace(space, " ")
    text = text.replace("\t", " ")
    return _SPACE_RUNS.sub(" ", text) if "  " in text else text


def _line_keys(lines: list[str]) -> list[str]:
    """`line_key` of each line: one `bytes.translate` for all the lines, then `line_key` again
    for the few lines with word characters beyond ASCII (the translation blanks them)."""
    if not lines:
        return []
    text = "\n".join(lines)
    keyed = text.encode("utf-8", "surrogatepass").translate(_ASCII_LINE_KEYS).decode("ascii")
    # only spaces are left to squeeze: one pass over the text, not a split and join per line
    if "  " in keyed:
        keyed = _SPACE_RUNS.sub(" ", keyed)
    keys = [key.strip(" ") for key in keyed.split("\n")]
    word_chars = {c for c in wide_chars(text) if is_word_char(c)} if not text.isascii() else set()
    if word_chars:
        for i, line in enumerate(lines):
            if not line.isascii() and not word_chars.isdisjoint(line):
                keys[i] = line_key(line)
    return keys


@cache
def _line_gate(
    boilerplate_patterns: bool, captions: bool
) -> tuple[re.Pattern[str], frozenset[str] | None] | None:
    """One pattern that every line some enabled line-start pattern matches also matches, and
    the lowercased ASCII beginnings (`_HEAD` characters) of its matches: a line whose head
    is not among them is not tried (`regex_prefixes`; 1 µs -> 0.2 µs a line)."""
    patterns = [UI_PREFIXES, BOILERPLATE_LINE] if boilerplate_patterns else []
    patterns += [CAPTION_LINE] if captions else []
    if not patterns:
        return None
    # UI_PREFIXES and BOILERPLATE_LINE ignore case; CAPTION_LINE's letters are in (?i:) already
    gate = re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)
    return gate, ascii_beginnings(gate, _HEAD)


def _heads(lines: list[str]) -> list[str]:
    """Each (stripped) line's first `_HEAD` characters lowercased, as `ascii_beginnings` lists
    them; "" where they cannot tell (a shorter or non-ASCII head): such a line is always tried."""
    heads = [line[:_HEAD] for line in lines]
    return [head.lower() if len(head) == _HEAD and head.isascii() else "" for head in heads]


def _may_begin(head: str, beginnings: frozenset[str] | None) -> bool:
    """Whether a pattern must be tried on a line with this head (`_heads`): one of the
    pattern's `ascii_beginnings`, or a head that cannot tell."""
    return not head or beginnings is None or head in beginnings


def line_key(line: str) -> str:
    """Normalised form used to compare lines (case, punctuation and spacing ignored)."""
    # same result, several times faster: without word characters beyond ASCII (news quotes and
    # dashes are not word characters), one bytes.translate that blanks every other byte
    if not has_wide_word_char(line):
        data = line.encode("utf-8", "surrogatepass").translate(_ASCII_KEY)
        return b" ".join(data.split()).decode("ascii")
    return _NON_WORD.sub(" ", line.lower()).strip()


def clean_document(
    text: str,
    *,
    fix_unicode: bool = True,
    boilerplate_patterns: bool = True,
    captions: bool = True,
    repeated_paragraphs: bool = True,
    learned_lines: frozenset[str] = frozenset(),
    stats: Counter[str] | None = None,
    removed: Counter[tuple[str, str]] | None = None,
) -> str:
    """Clean one document; `stats` (if given) counts what each step removed, and `removed`
    counts the removed lines themselves as (step, line) pairs."""
    return clean_documents(
        [text],
        fix_unicode=fix_unicode,
        boilerplate_patterns=boilerplate_patterns,
        captions=captions,
        repeated_paragraphs=repeated_paragraphs,
        learned_lines=learned_lines,
        stats=stats,
        removed=removed,
    )[0]


def clean_documents(
    texts: Sequence[str],
    *,
    fix_unicode: bool = True,
    boilerplate_patterns: bool = True,
    captions: bool = True,
    repeated_paragraphs: bool = True,
    learned_lines: frozenset[str] = frozenset(),
    stats: Counter[str] | None = None,
    removed: Counter[tuple[str, str]] | None = None,
) -> list[str]:
    """`clean_document` of each text (`stats` and `removed` summed over them), with every step
    that goes line by line run once over all the texts' lines: on headlines the calls, one per
    step and text, cost more than the lines (AllSides headlines 8.8 -> 5.1 µs each)."""
    if not texts:
        return []
    joined = "\n".join(texts)
    if fix_unicode and (len(texts) == 1 or stats is not None or _needs_ftfy(joined)):
        fixed = [fix_text(text) for text in texts]
        if stats is not None:
            stats["unicode_fixed_docs"] += sum(
                new != unicodedata.normalize("NFC", old)
                for new, old in zip(fixed, texts, strict=True)
            )
        texts = fixed
        joined = "\n".join(texts)
    elif fix_unicode:  # no text needs ftfy: each would only have its quotes straightened
        joined = _straighten_quotes(joined)
    # each text's lines, cut at "\n" and "\r" as `clean_document` cuts one text
    sizes = [text.count("\n") + 1 for text in texts]
    if "\r" in joined:
        sizes = [size + text.count("\r") for size, text in zip(sizes, texts, strict=True)]
        joined = joined.replace("\r", "\n")
    lines = [line.strip() for line in _squeeze_spaces(joined).split("\n")]
    heads = _heads(lines)
    credit = _credit_flags(lines, heads) if captions else [False] * len(lines)
    caption = _caption_flags(lines, credit, sizes) if any(credit) else credit
    # a line's key finds learned lines and a text's repeated lines: with neither to find (one
    # line a text, as headlines), no keys (subject lines: 3.1 of 14.5 ms a 7,532-line batch)
    keyed = bool(learned_lines) or (repeated_paragraphs and max(sizes) > 1)
    keys = _line_keys(lines) if keyed else []
    gate, beginnings = _line_gate(boilerplate_patterns, captions) or (None, None)
    out = []
    end = 0
    for size in sizes:
        start, end = end, end + size
        kept: list[str] = []
        seen: set[str] = set()
        for i in range(start, end):
            line = lines[i]
            if not line:
                continue
            # most lines start like no pattern: one lookup or one match tells
            special = (
                gate is not None
                and _may_begin(heads[i], beginnings)
                and gate.match(line) is not None
            )
            prefix = None
            if boilerplate_patterns and special:
                prefix = UI_PREFIXES.match(line)
                if prefix:
                    _count(stats, "boilerplate_prefixes", removed, prefix.group(0).strip())
                    line = line[prefix.end() :].strip()
                if not line:
                    continue
                if BOILERPLATE_LINE.match(line) and len(line.split()) <= _BOILERPLATE_MAX_WORDS:
                    _count(stats, "boilerplate_lines", removed, line)
                    continue
            if captions and (_is_credit(line, _heads([line])[0]) if prefix else credit[i]):
                _count(stats, "credit_lines", removed, line)
                continue
            if captions and (
                caption[i]
                or (special and CAPTION_LINE.match(line))
                or (
                    line.endswith(")")
                    and len(line.split()) <= _BOILERPLATE_MAX_WORDS
                    and CAPTION_WITH_CREDIT.search(line)
                )
            ):
                _count(stats, "caption_lines", removed, line)
                continue
            if not keyed:
                kept.append(line)
                continue
            key = line_key(line) if prefix else keys[i]
            if learned_lines and key in learned_lines:
                _count(stats, "learned_boilerplate_lines", removed, line)
                continue
            if repeated_paragraphs and key:
                if key in seen:
                    _count(stats, "repeated_paragraphs", removed, line)
                    continue
                seen.add(key)
            kept.append(line)
        out.append("\n".join(kept))
    return out


def fix_text(text: str) -> str:
    """`ftfy.fix_text` (mojibake, HTML entities, curly quotes, NFC), made cheap for long news.

    ftfy fixes a text line by line; a line holding only ASCII and plain typographic punctuation
    cannot hide mojibake, so ftfy would only straighten its quotes, and that is done directly.
    Other lines go through ftfy, with the one decision ftfy carries across lines (from the first
    line with a "<" on, HTML entities are left alone) taken here. A text with a huge line is
    given to ftfy whole.
    Tests check the result equals `ftfy.fix_text`.
    """
    if not _needs_ftfy(text):
        return _straighten_quotes(text)
    lines = text.split("\n")
    if max(map(len, lines)) >= _FTFY_SEGMENT:
        return ftfy.fix_text(text, normalization="NFC")
    # ftfy stops unescaping HTML entities from the first line with a "<" on
    unescape: Any = "auto"
    last = len(lines) - 1
    fixed = []
    for i, line in enumerate(lines):
        if unescape and "<" in line:
            unescape = False
        if not _needs_ftfy(line):
            fixed.append(_straighten_quotes(line))
            continue
        if i < last:  # ftfy sees each line with its line break, as it cuts a whole text
            fixed.append(
                ftfy.fix_text(line + "\n", normalization="NFC", unescape_html=unescape)[:-1]
            )
        else:
            fixed.append(ftfy.fix_text(line, normalization="NFC", unescape_html=unescape))
    return "\n".join(fixed)


def _needs_ftfy(text: str) -> bool:
    """Whether `_NEEDS_FTFY` finds anything in `text`, found with bytes operations in C: the
    regex scan costs 80 µs on a 6 KB article."""
    if "&" in text and HTML_ENTITY_RE.search(text):
        return True
    # dropping the plain ASCII bytes leaves whole UTF-8 sequences (no ASCII byte is ever part
    # of one), so a few hundred bytes to clear of the typographic marks rather than the text
    rest = text.encode("utf-8", "surrogatepass").translate(None, _PLAIN_ASCII)
    for mark in _TYPOGRAPHIC_UTF8:
        if not rest:
            return False
        rest = rest.replace(mark, b"")
    return bool(rest)


def _straighten_quotes(text: str) -> str:
    for curly, straight in _STRAIGHT_QUOTES:  # str.replace: far faster than str.translate here
        text = text.replace(curly, straight)
    return text


def remove_learned_lines(
    text: str,
    learned_lines: frozenset[str],
    stats: Counter[str] | None = None,
    removed: Counter[tuple[str, str]] | None = None,
    pairs: bool = False,
) -> str:
    """Drop learned boilerplate lines from a text `TextCleaner.clean` already cleaned: the same
    result as cleaning the raw text with `learned_lines`, without cleaning it twice. With
    `pairs`, a dropped headline leaves its first line empty, as `clean` does."""
    if not learned_lines:
        return text
    kept = []
    for i, line in enumerate(text.split("\n")):
        if line_key(line) in learned_lines:
            _count(stats, "learned_boilerplate_lines", removed, line)
            if pairs and i == 0:
                kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept)


def sized_batches(items: Iterable[_Sized], limit: int) -> Iterator[list[_Sized]]:
    """The items in order, in lists whose lengths add up to about `limit` (one item at least):
    a bounded amount of text per batch, however long the documents."""
    batch: list[_Sized] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item)
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def split_pair(doc: str) -> tuple[str, str]:
    """A pair document's two parts: its first line (the headline) and the rest (the body)."""
    first, _, rest = doc.partition("\n")
    return first, rest


def _count(
    stats: Counter[str] | None,
    key: str,
    removed: Counter[tuple[str, str]] | None = None,
    line: str = "",
) -> None:
    if stats is not None:
        stats[key] += 1
    if removed is not None:
        removed[key, line] += 1


def _is_credit(line: str, head: str) -> bool:
    """Whether a (stripped) line with this head (`_heads`) is a photo credit line."""
    # a credit line without a "/" starts with its label: one lookup rules out most lines
    return (
        ("/" in line or _may_begin(head, _LABELLED_BEGINNINGS))
        and len(line.split()) <= _CREDIT_MAX_WORDS
        and CREDIT_LINE.match(line) is not None
    )


def _credit_flags(lines: list[str], heads: list[str]) -> list[bool]:
    """Whether each line, as it stands, is a credit line (each line checked once)."""
    return [bool(line) and _is_credit(line, head) for line, head in zip(lines, heads, strict=True)]


def _caption_flags(lines: list[str], credit: list[bool], sizes: list[int]) -> list[bool]:
    """Whether each non-empty line is followed, in its own text (`sizes`: each text's number of
    lines), by a credit line with only empty lines between: the caption above a credit."""
    flags = [False] * len(lines)
    starts = list(itertools.accumulate(sizes, initial=0))
    for i in (i for i, is_credit in enumerate(credit) if is_credit):
        start = starts[bisect.bisect_right(starts, i) - 1]
        above = i - 1
        while above >= start and not lines[above]:
            above -= 1
        if above >= start:
            flags[above] = True
    return flags


def learn_boilerplate(
    cleaned_docs: Iterable[str], *, min_docs: int, min_fraction: float, max_words: int
) -> frozenset[str]:
    """Lines (normalised) that recur in many distinct documents: site furniture, not news."""
    counts: Counter[str] = Counter()
    n_docs = 0
    for doc in cleaned_docs:
        n_docs += 1
        keys = {line_key(line) for line in doc.split("\n")}
        # only short lines can be learned: counting the long ones would only cost memory
        counts.update(key for key in keys if key and key.count(" ") < max_words)
    threshold = max(min_docs, int(np.ceil(min_fraction * n_docs)))
    return frozenset(key for key, n in counts.items() if n >= threshold)


def build_document(data: Mapping[str, Any], text_fields: Sequence[str], pairs: bool = False) -> str:
    """Join the configured text fields into one document (missing fields are skipped). Pair
    data (`features.pair_fields`) keeps each field in its place, a missing one as an empty
    line, and its first field on one line: the pair features split a document there."""
    parts = []
    for k, name in enumerate(text_fields):
        value = data.get(name)
        if value is None or (isinstance(value, float) and value != value):
            value = ""
        elif not isinstance(value, str):
            raise TypeError(f"'{name}' must be a string, got {type(value).__name__}")
        if pairs:
            parts.append(value.replace("\n", " ") if k == 0 else value)
        elif value.strip():
            parts.append(value)
    return "\n".join(parts)


def as_texts(X: Any, text_fields: Sequence[str] | None = None, pairs: bool = False) -> list[str]:
    """Accept a list/array/Series of strings, or a DataFrame, as MLflow's pyfunc passes: its
    `text_fields` columns made into documents as ingest makes them (`build_document`); without
    any of those columns, its `text` column, else all string columns joined."""
    if hasattr(X, "columns"):
        present = [name for name in text_fields or () if name in X.columns]
        if present:
            rows = X[present].to_dict("records")
            return [build_document(row, text_fields or (), pairs) for row in rows]
        cols = ["text"] if "text" in X.columns else list(X.columns)
        frame = X[cols].fillna("").astype(str)
        return ["\n".join(row) for row in frame.itertuples(index=False, name=None)]
    if isinstance(X, str):
        raise TypeError("expected a list of documents, got a single string")
    return ["" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x) for x in X]


class TextCleaner(TransformerMixin, BaseEstimator):
    """Clean raw article text; `fit` learns the corpus' recurring boilerplate lines."""

    def __init__(
        self,
        fix_unicode: bool = True,
        boilerplate_patterns: bool = True,
        captions: bool = True,
        repeated_paragraphs: bool = True,
        learn_boilerplate: bool = True,
        boilerplate_min_docs: int = 5,
        boilerplate_min_fraction: float = 0.01,
        boilerplate_max_words: int = 30,
        max_chars: int = 100_000,
        pairs: bool = False,
        text_fields: list[str] | None = None,
    ) -> None:
        self.fix_unicode = fix_unicode
        self.boilerplate_patterns = boilerplate_patterns
        self.captions = captions
        self.repeated_paragraphs = repeated_paragraphs
        self.learn_boilerplate = learn_boilerplate
        self.boilerplate_min_docs = boilerplate_min_docs
        self.boilerplate_min_fraction = boilerplate_min_fraction
        self.boilerplate_max_words = boilerplate_max_words
        self.max_chars = max_chars
        self.pairs = pairs
        self.text_fields = text_fields  # a DataFrame's columns that make a document (`as_texts`)

    def fit(self, X: Any, y: Any = None) -> TextCleaner:
        self.fit_cleaned([self.clean(doc, learned=frozenset()) for doc in self._documents(X)])
        return self

    def fit_cleaned(self, cleaned_docs: Sequence[str]) -> TextCleaner:
        """Learn boilerplate from documents already cleaned without learned lines (no rework)."""
        self.boilerplate_lines_: frozenset[str] = frozenset()
        if self.learn_boilerplate:
            self.boilerplate_lines_ = learn_boilerplate(
                cleaned_docs,
                min_docs=self.boilerplate_min_docs,
                min_fraction=self.boilerplate_min_fraction,
                max_words=self.boilerplate_max_words,
            )
        return self

    def clean(
        self,
        doc: str,
        learned: frozenset[str] | None = None,
        stats: Counter[str] | None = None,
        removed: Counter[tuple[str, str]] | None = None,
    ) -> str:
        """Clean one document with this cleaner's settings (and learned lines unless given).

        With `pairs`, the headline (first line) and the body are cleaned apart and the headline
        stays the first line, one line, empty if nothing of it is left: the pair features split
        there.
        """
        lines = self.boilerplate_lines_ if learned is None else learned
        doc = doc[: self.max_chars]
        if not self.pairs:
            return self._clean_part(doc, lines, stats, removed)
        head, body = split_pair(doc)
        head = self._clean_part(head, lines, stats, removed, one_line=True)
        return f"{head}\n{self._clean_part(body, lines, stats, removed)}"

    def _clean_part(
        self,
        text: str,
        learned: frozenset[str],
        stats: Counter[str] | None = None,
        removed: Counter[tuple[str, str]] | None = None,
        one_line: bool = False,
    ) -> str:
        """`clean_document` with this cleaner's settings; `one_line` (a pair's headline): line
        breaks that cleaning met in it ("\\r") become spaces."""
        cleaned = clean_document(
            text, **self._settings(), learned_lines=learned, stats=stats, removed=removed
        )
        return cleaned.replace("\n", " ") if one_line else cleaned

    def _settings(self) -> dict[str, bool]:
        return {
            "fix_unicode": self.fix_unicode,
            "boilerplate_patterns": self.boilerplate_patterns,
            "captions": self.captions,
            "repeated_paragraphs": self.repeated_paragraphs,
        }

    def transform(self, X: Any) -> list[str]:
        check_is_fitted(self, "boilerplate_lines_")
        docs = self._documents(X)
        if not self.pairs:
            return [
                cleaned
                for batch in sized_batches([doc[: self.max_chars] for doc in docs], _BATCH_CHARS)
                for cleaned in clean_documents(
                    batch, **self._settings(), learned_lines=self.boilerplate_lines_
                )
            ]
        # pair data sets one body against many headlines (FNC-1: 25k pairs, 900 bodies), and
        # headlines recur too: each distinct part is cleaned once per call
        heads: dict[str, str] = {}
        bodies: dict[str, str] = {}
        out = []
        for doc in docs:
            head, body = split_pair(doc[: self.max_chars])
            if head not in heads:
                heads[head] = self._clean_part(head, self.boilerplate_lines_, one_line=True)
            if body not in bodies:
                bodies[body] = self._clean_part(body, self.boilerplate_lines_)
            out.append(f"{heads[head]}\n{bodies[body]}")
        return out

    def _documents(self, X: Any) -> list[str]:
        return as_texts(X, self.text_fields, self.pairs)

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("pairs", False)  # cleaners saved before pair cleaning existed
        state.setdefault("text_fields", None)  # ...or before they knew their text fields
        super().__setstate__(state)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "boilerplate_lines_")
