"""A cassette's YAML written here, byte for byte as PyYAML with libyaml writes it, for the
common shapes.

`yaml.dump` with the C dumper spends two thirds of a small cassette's write in Python:
PyYAML's representer builds a node for every value, and its resolver is called twice a
scalar while libyaml emits them. A cassette is mostly mappings with string keys, lists,
strings of printable ASCII, numbers, booleans and nulls, which this module writes directly,
following libyaml's emitter (block style, indent 2, width 80, `allow_unicode` off): a string
is written plain when libyaml would, else single-quoted, folded at the same spaces. Anything
else (a string libyaml would double-quote, a long or multi-line key, another type, an object
met twice, which PyYAML writes as an anchor) makes `dumps` return None, and the caller hands
the whole document to PyYAML.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

_WIDTH = 80  # libyaml's best_width
# Printable ASCII and line feeds: anything else (a tab, a carriage return, a control or
# non-ASCII character) libyaml double-quotes, when `allow_unicode` is off.
_SIMPLE = re.compile(r"[ -~\n]*")
# Where libyaml may break a line: a single space between two other characters.
_FOLD = re.compile(r"(?<=[^ \n]) (?=[^ \n])")
_RUNS = re.compile(r"\n+|[^\n]+")
_INDICATOR_FIRST = frozenset("#,[]{}&*!|>'\"%@`")
_STR = "tag:yaml.org,2002:str"


class _Unusual(Exception):
    """A value this module leaves to PyYAML for the whole document."""


def dumps(data: dict[str, Any], resolvers: dict[Any, list[tuple[str, Any]]]) -> str | None:
    """`yaml.dump(data, Dumper=<libyaml's safe dumper>, sort_keys=True)`, or None when `data`
    holds anything but the common shapes. `resolvers`: the dumper's implicit resolvers (a
    string that reads as another type, `null` or `1.0`, is quoted)."""
    found_with = (resolvers, sum(map(len, resolvers.values())))
    if found_with[0] is not _styles_for[0] or found_with[1] != _styles_for[1]:
        # Another dumper's (a test's), or one added to in place (`add_implicit_resolver` on a
        # dumper class holding its own table already): its own answers.
        _styles.clear()
        _styles_for[:] = found_with
    writer = _Writer(resolvers)
    try:
        if type(data) is not dict or not data:
            raise _Unusual
        writer.mapping(data, 0, first_inline=True)
    except _Unusual:
        return None
    writer.parts.append("\n")
    return "".join(writer.parts)


# One of each shape this module writes, for `agrees`.
_PROBE = {
    "a": [{"b": "ok /t/0\n", "c": ["x", ["y"], {}], "d": []}],
    "e": {"'k": "word " * 20 + "'q' " * 10 + "end\n\nline", "f": None, "g": True, "h": -1},
    "i": {"null": "2001-12-14", "": "a b " * 30 + "c"},
}


def agrees(dump: Callable[[Any], str], resolvers: dict[Any, list[tuple[str, Any]]]) -> bool:
    """Whether `dump` (PyYAML with this process's libyaml) writes what this module writes.
    libyaml before 0.2.2 wrote a single-quoted text's closing quote unindented after a line
    break, for one."""
    return dumps(_PROBE, resolvers) == dump(_PROBE)


# Whether libyaml writes a string plain (True), single-quoted (False) or double-quoted
# (None), for the short strings met again and again (keys, header values).
_styles: dict[str, bool | None] = {}
_styles_for: list[Any] = [None, 0]  # the resolvers they were found with, and how many
_STYLES_KEPT = 4096
_SHORT = 256
_LONG = 64 * 1024
_FOLDED_LINES = 8 * 1024


class _Writer:
    def __init__(self, resolvers: dict[Any, list[tuple[str, Any]]]) -> None:
        self.parts: list[str] = []
        self.seen: set[int] = set()
        self.resolvers = resolvers

    def _once(self, collection: Any) -> None:
        # PyYAML writes an object met twice as an anchor and an alias.
        if id(collection) in self.seen:
            raise _Unusual
        self.seen.add(id(collection))

    def mapping(self, data: dict[Any, Any], indent: int, first_inline: bool) -> None:
        """A block mapping whose keys are at column `indent`; the first on the current line
        (which is then at that column) if `first_inline`."""
        self._once(data)
        parts = self.parts
        lead = "\n" + " " * indent
        first = first_inline
        for key in data:
            if type(key) is not str or len(key) > 128 or "\n" in key:
                raise _Unusual  # not a simple key (keys of several types are not sorted)
        for key, value in sorted(data.items()):  # as PyYAML sorts: distinct keys, never values
            if not self.plain(key):
                key = "'" + key.replace("'", "''") + "'"
            if first:
                parts.append(key + ":")
                first = False
            else:
                parts.append(lead + key + ":")
            self.value(value, indent, indent + len(key) + 1, in_mapping=True)

    def sequence(self, data: list[Any], indent: int, first_inline: bool) -> None:
        """A block sequence whose dashes are at column `indent`; the first on the current
        line (one column before it) if `first_inline`."""
        self._once(data)
        parts = self.parts
        lead = "\n" + " " * indent + "-"
        first = first_inline
        for item in data:
            if first:
                parts.append(" -")
                first = False
            else:
                parts.append(lead)
            self.value(item, indent, indent + 1, in_mapping=False)

    def value(self, value: Any, indent: int, column: int, in_mapping: bool) -> None:
        """A mapping's value or a sequence's item, after its `:` or `-` (at `column` - 1);
        `indent`: the column of the mapping's keys or the sequence's dashes."""
        kind = type(value)
        if kind is str:
            self.scalar(value, indent + 2, column)
        elif value is None:
            self.parts.append(" null")
        elif kind is bool:
            self.parts.append(" true" if value else " false")
        elif kind is int:
            self.parts.append(" " + str(value))
        elif kind is dict:
            if not value:
                self._once(value)
                self.parts.append(" {}")
            elif in_mapping:
                self.parts.append("\n" + " " * (indent + 2))
                self.mapping(value, indent + 2, first_inline=True)
            else:  # a sequence's item: its first key on the dash's line
                self.parts.append(" ")
                self.mapping(value, indent + 2, first_inline=True)
        elif kind is list:
            if not value:
                self._once(value)
                self.parts.append(" []")
            elif in_mapping:  # libyaml writes a mapping's sequence at the keys' indent
                self.sequence(value, indent, first_inline=False)
            else:
                self.sequence(value, indent + 2, first_inline=True)
        else:
            raise _Unusual

    def scalar(self, text: str, indent: int, column: int) -> None:
        """A string value, after a space, from `column`; lines folded at `indent`."""
        if len(text) > _LONG:
            raise _Unusual  # libyaml folds a long text faster, and its fixed cost is small there
        if self.plain(text):
            self.folded(" ", text, indent, column)
        else:
            self.single_quoted(text, indent, column)

    def plain(self, text: str) -> bool:
        """Whether libyaml writes `text` plain, else single-quoted (raises _Unusual where it
        double-quotes)."""
        try:
            style = _styles[text]
        except KeyError:
            style = self._style(text)
            if len(text) <= _SHORT:
                if len(_styles) >= _STYLES_KEPT:
                    _styles.clear()
                _styles[text] = style
        if style is None:
            raise _Unusual
        return style

    def _style(self, text: str) -> bool | None:
        if not _SIMPLE.fullmatch(text):
            return None
        if "\n" in text:
            if " \n" in text or "\n " in text:
                return None  # a space beside a line break
            return False
        if not text or text[0] == " " or text[-1] == " ":
            return False
        first = text[0]
        if first in _INDICATOR_FIRST or text.startswith(("---", "...")):
            return False
        if first in "?:-" and text[1:2] in ("", " "):
            return False
        if ": " in text or text[-1] == ":" or " #" in text:
            return False
        for tag, regexp in self.resolvers.get(first, []) + self.resolvers.get(None, []):
            if regexp.match(text):
                return tag == _STR
        return True

    def single_quoted(self, text: str, indent: int, column: int) -> None:
        if "\n" not in text:
            self.folded(" '", text.replace("'", "''"), indent, column, "'")
            return
        escaped = text.replace("'", "''")
        first = escaped.index("\n")
        if column + 2 + first <= _WIDTH + 1 and not _long_line(indent).search(escaped, first):
            # No line to fold: a line break more after each run of them, and the next line's
            # indent, by str.replace (a line at a time in Python cost ~0.3 us a line, 10 times
            # libyaml's time on a text of short lines).
            # (A mark after each break, then those followed by another break taken out.)
            marked = escaped.replace("\n", "\n\0").replace("\0\n", "\n")
            self.parts.append(" '" + marked.replace("\0", "\n" + " " * indent) + "'")
            return
        if len(text) > _FOLDED_LINES:
            raise _Unusual  # lines to fold one by one: libyaml is faster
        self.parts.append(" '")
        column += 2
        padding = " " * indent
        breaks = False
        for run in _RUNS.findall(escaped):
            if run[0] == "\n":
                self.parts.append("\n" * (len(run) + 1))
                breaks = True
                continue
            if breaks:
                self.parts.append(padding)
                column = indent
                breaks = False
            column = self.folded("", run, indent, column)
        if breaks:
            self.parts.append(padding)
        self.parts.append("'")

    def folded(self, before: str, text: str, indent: int, column: int, after: str = "") -> int:
        """`before`, then text without line breaks, a line broken at a single space past the
        width, then `after`; returns the column the text ends at (before `after`)."""
        column += len(before)
        if column + len(text) <= _WIDTH + 1 or " " not in text:
            self.parts.append(before + text + after)
            return column + len(text)
        out = [before]
        lead = "\n" + " " * indent
        start = 0
        while True:
            # The first space that may break the line, past the width: one search a line.
            found = _FOLD.search(text, max(start, start + _WIDTH + 1 - column))
            if found is None:
                out.append(text[start:])
                column += len(text) - start
                break
            out.append(text[start : found.start()])
            out.append(lead)
            start, column = found.end(), indent
        out.append(after)
        self.parts.append("".join(out))
        return column


@functools.cache
def _long_line(indent: int) -> re.Pattern[str]:
    """A line that may be folded when written from column `indent` (it passes the width)."""
    return re.compile(f"^[^\\n]{{{max(_WIDTH + 2 - indent, 1)}}}", re.MULTILINE)
