"""What the scrubber's two modules share: scrub.py (the rules) and scrub_streams.py (the text
streams carry piece by piece, which it scrubs with those rules). Edits of a text, findings'
labels, the generic names, and the flags set while a model's output is scrubbed."""

from __future__ import annotations

import bisect
import contextvars
from typing import AnyStr

__all__ = [
    "GENERIC_NAMES",
    "MODEL_OUTPUT",
    "finding_label",
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
