"""What the scrubber's two modules share: scrub.py (the rules) and scrub_streams.py (the text
streams carry piece by piece, which it scrubs with those rules). Edits of a text, findings'
labels, the generic names, the flags set while a model's output is scrubbed, and their
regular expressions compiled at first use."""

from __future__ import annotations

import bisect
import contextvars
import re
from typing import Any, AnyStr, cast

__all__ = [
    "GENERIC_NAMES",
    "MODEL_OUTPUT",
    "finding_label",
    "lazy_regex",
    "overlaps",
    "plain_text",
    "splice",
]

# Generic names whose short values ("key": "mit", "token": "1") are ids and flags far more often
# than secrets: scrubbed all the same, but not reported by the scanner. A password is always.
GENERIC_NAMES = frozenset({"key", "token", "auth", "sig", "signature"})

# Set while a JSON string a model wrote is scrubbed as JSON (a tool call's `arguments`).
MODEL_OUTPUT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pytest_cassettes_model_output", default=False
)


def plain_text(text: str) -> str:
    return text


def splice(text: AnyStr, edits: list[tuple[int, int, AnyStr]]) -> AnyStr:
    """The text (or bytes) with each `(start, end, new)` edit made (in order, none
    overlapping)."""
    if not edits:
        return text
    pieces: list[AnyStr] = []
    position = 0
    for start, end, new in edits:
        pieces += [text[position:start], new]
        position = end
    pieces.append(text[position:])
    return text[:0].join(pieces)


def overlaps(starts: list[int], max_ends: list[int], start: int, end: int) -> bool:
    """Whether [start, end) overlaps a span; spans sorted by start, max_ends their running max."""
    index = bisect.bisect_left(starts, end)
    return index > 0 and max_ends[index - 1] > start


def finding_label(prefix: str, replacement: str) -> str:
    if replacement[:1] != "<":
        return "jwt"  # a JWT's, its signature replaced (see detect.jwt_placeholder)
    if prefix == "env:":
        return "env:" + replacement[1:-1]
    if prefix:
        return prefix
    return replacement[len("<SCRUBBED:") : -1]  # a detector's kind


def lazy_regex(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """`re.compile(pattern, flags)`, compiled when first used: the scrubbing modules hold some
    130 regexes for as many shapes of text, and compiling them all cost ~12 ms in every
    process that opens a cassette, where a run uses a few dozen. Its `pattern` is there
    without compiling (regexes built from others' sources)."""
    return cast("re.Pattern[AnyStr]", _LazyRegex(pattern, flags))


class _LazyRegex:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self.pattern = pattern
        self._flags = flags

    def __getattr__(self, name: str) -> Any:
        # Asked only for what the instance does not hold yet: each attribute of the compiled
        # regex (its bound methods) is kept on first use, so later calls cost what a compiled
        # regex's do.
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(re.compile(self.pattern, self._flags), name)
        setattr(self, name, value)
        return value
