"""The few ways a line pattern can begin: one set lookup spares most lines the regex.

Python's `re` tries the branches of a large case-insensitive alternation one after another:
about 1 µs a line for the cleaning's line patterns, though nearly every line matches none. The
lowercase ASCII beginnings of every possible match, read off the parsed pattern, rule out most
lines with one lookup of the line's first characters. This reads the pattern with `re`'s own
parser and compiler (private modules); where they are missing, or a pattern could begin almost
anyhow, there is no prefilter and every line is tried.
"""

from __future__ import annotations

import re
from typing import Any

_ASCII = [chr(i) for i in range(128)]
_LOWER_ASCII = sorted({c.lower() for c in _ASCII})  # what a lowercased ASCII text is made of
_MAX_BEGINNINGS = 50_000  # past this, the prefilter would rule out little: none
_MAX_DEPTH = 200  # a repeat of something that can match nothing would recurse forever


class _Anyhow(Exception):
    """The pattern can begin in too many ways (or in ways this does not read)."""


def ascii_beginnings(pattern: re.Pattern[str], length: int) -> frozenset[str] | None:
    """Every lowercased `length`-character ASCII string that a match of `pattern` at the start
    of a line (no line break in it, no leading whitespace) can begin with, or None if that
    cannot be told.

    A line can match only if its first `length` characters, lowercased, are in the set, or they
    are fewer than `length`, or not all ASCII: such lines must always be tried. The set is a
    superset: assertions and word boundaries are read as always true.
    """
    try:
        from re import _compiler, _parser
        from re import _constants as sre

        parsed = _parser.parse(pattern.pattern, pattern.flags)
        walker = _Walker(_compiler, _parser, sre, parsed.state, length)
        found = walker.walk(tuple((node, parsed.state.flags) for node in parsed.data), "", 0)
    except (ImportError, AttributeError, TypeError, ValueError, _Anyhow):
        return None
    return frozenset(found)


class _Walker:
    """Walks a parsed pattern, extending the beginnings character by character."""

    def __init__(self, compiler: Any, parser: Any, sre: Any, state: Any, length: int) -> None:
        self.compiler, self.parser, self.sre, self.state = compiler, parser, sre, state
        self.length = length
        self.single = {sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY, sre.CATEGORY}
        self.repeats = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)}
        self.zero_width = {sre.ASSERT, sre.ASSERT_NOT}
        self.ends = {sre.AT_END, sre.AT_END_STRING}
        self.cache: dict[tuple[str, int], list[str]] = {}

    def walk(self, todo: tuple[tuple[Any, int], ...], begun: str, depth: int) -> set[str]:
        """The beginnings of matches of the nodes `todo` (each with its flags) after `begun`."""
        if depth > _MAX_DEPTH:
            raise _Anyhow
        if len(begun) == self.length:
            return {begun}
        if not todo:  # the match may end here: the line goes on with anything
            return self._anything_after(begun)
        (node, flags), rest = todo[0], todo[1:]
        op, av = node
        sre = self.sre
        if op in self.single:
            out: set[str] = set()
            for char in self._chars(node, flags, first=not begun):
                out |= self.walk(rest, begun + char, depth + 1)
                if len(out) > _MAX_BEGINNINGS:
                    raise _Anyhow
            return out
        if op is sre.AT:
            # a line ends at "$": it is shorter than `length`, and such lines are always tried
            return set() if av in self.ends else self.walk(rest, begun, depth + 1)
        if op in self.zero_width:
            return self.walk(rest, begun, depth + 1)
        if op is sre.SUBPATTERN or op is getattr(sre, "ATOMIC_GROUP", None):
            sub = av[-1]
            if op is sre.SUBPATTERN:
                flags = (flags | av[1]) & ~av[2]
            return self.walk(tuple((n, flags) for n in sub.data) + rest, begun, depth + 1)
        if op is sre.BRANCH:
            out = set()
            for alternative in av[1]:
                out |= self.walk(
                    tuple((n, flags) for n in alternative.data) + rest, begun, depth + 1
                )
            return out
        if op in self.repeats:
            low, high, sub = av
            once = tuple((n, flags) for n in sub.data)
            fewer = ((op, (max(low - 1, 0), high - 1 if high != sre.MAXREPEAT else high, sub)),)
            out = self.walk(rest, begun, depth + 1) if low == 0 else set()
            if high:
                out |= self.walk(once + tuple((n, flags) for n in fewer) + rest, begun, depth + 1)
            return out
        raise _Anyhow  # back-references and the like

    def _anything_after(self, begun: str) -> set[str]:
        missing = self.length - len(begun)
        if len(_LOWER_ASCII) ** missing > _MAX_BEGINNINGS:
            raise _Anyhow
        out = {begun}
        for _ in range(missing):
            out = {b + c for b in out for c in _LOWER_ASCII}
        return out

    def _chars(self, node: tuple[Any, Any], flags: int, first: bool) -> list[str]:
        """The lowercased ASCII characters one single-character node matches (with `re`'s
        own case folding); no whitespace first, as the lines are stripped."""
        key = (repr(node), flags)
        if key not in self.cache:
            compiled = self.compiler.compile(self.parser.SubPattern(self.state, [node]), flags)
            self.cache[key] = sorted({c.lower() for c in _ASCII if compiled.match(c)})
        chars = self.cache[key]
        return [c for c in chars if not c.isspace()] if first else chars
