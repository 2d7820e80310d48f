"""Scrubbing cassettes already written (`pytest-cassettes scrub`): those vcrpy or
pytest-recording recorded in the clear get what recording would have stored, and still replay.

Each interaction is scrubbed, in the file's order, as a recording scrubs it (the same Scrubber,
values learned from one replaced in those after, a compressed body undone first); only the
values that change are written again, the rest of the file is kept byte for byte.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pytest_cassettes import storage
from pytest_cassettes.cassette import loaded_form, stored_form
from pytest_cassettes.libraries import Request
from pytest_cassettes.scrub import SHORT, LearnedSecrets, Scrubber, ScrubRules, learning_scrub
from pytest_cassettes.scrub_shared import splice

Interaction = storage.Interaction
ONE_LINE = 1 << 30  # a YAML line width no value reaches (libyaml's is a C int)


class _Told(LearnedSecrets):
    """Learned secrets that also count the kinds of what was replaced (never the values)."""

    def __init__(self, learns: bool = True) -> None:
        super().__init__()
        self.kinds: Counter[str] = Counter()
        self._learns = learns

    def learn(self, found: Iterable[str]) -> bool:
        found = list(found)
        self.kinds.update(_kind(str(label)) for label in found)
        return super().learn(found) if self._learns else False


def _kind(label: str) -> str:
    """A finding's kind as told: a learned value's `learned` (its placeholder is an env value's
    labelled SCRUBBED), a short value's as any other."""
    return "learned" if label == "env:SCRUBBED" else label.removeprefix(SHORT)


def scrub_interactions(
    interactions: Iterable[Interaction], rules: ScrubRules
) -> tuple[list[Interaction | None], Counter[str]]:
    """Each interaction as recording would have stored it, None where scrubbing changes
    nothing; and the kinds of the values replaced, with their counts."""
    scrubbers: dict[tuple[ScrubRules, frozenset[str]], Scrubber] = {}

    def scrubber_for(rules: ScrubRules, values: frozenset[str]) -> Scrubber:
        scrubber = scrubbers.get((rules, values))
        if scrubber is None:
            scrubber = scrubbers[(rules, values)] = Scrubber(rules, learned=values)
        return scrubber

    learned, again = _Told(), _Told(learns=False)
    result: list[Interaction | None] = []
    for raw in interactions:
        # A header a file names in two cases (`Cookie`, `cookie`): a request holds one name,
        # so each value of theirs is scrubbed as a request's own, kept under its name.
        twins = _case_twins(raw["request"])
        stored = _without_headers(raw["request"], twins)
        # As replay reads it: a compressed body undone.
        request, response = loaded_form({**raw, "request": stored})
        new_request, _ = learning_scrub(
            scrubber_for, rules, learned, "scrub_request", request, (), again
        )
        new_response, _ = learning_scrub(
            scrubber_for, rules, learned, "scrub_response", response, (request,), again
        )

        def scrubbed_request(extra: Any) -> Any:  # one header's value (see _later_values)
            new, _ = learning_scrub(scrubber_for, rules, learned, "scrub_request", extra, (), again)
            return new

        extras = [(extra, scrubbed_request(extra)) for extra in _later_values(stored, request)]
        stored_request = _changed_request(stored, request, new_request, extras)
        if twins:
            stored_request = _twins_scrubbed(
                raw["request"], stored_request or stored, twins, request, scrubbed_request
            )
        stored_response = None
        if new_response is not None and new_response != response:
            # Written as recording writes it: decoded, Content-Encoding dropped.
            stored_response = stored_form(request, new_response)["response"]
        if stored_request is None and stored_response is None:
            result.append(None)
            continue
        result.append(
            {
                **raw,
                "request": stored_request or raw["request"],
                "response": stored_response or raw["response"],
            }
        )
    return result, learned.kinds + again.kinds


def _case_twins(stored: dict[str, Any]) -> list[str]:
    """The request's header names another of its names spells in another case."""
    names = Counter(str(name).lower() for name in stored.get("headers") or {})
    return [name for name in stored.get("headers") or {} if names[str(name).lower()] > 1]


def _without_headers(stored: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if not names:
        return stored
    headers = {name: values for name, values in stored["headers"].items() if name not in names}
    return {**stored, "headers": headers}


def _twins_scrubbed(
    raw: dict[str, Any],
    stored: dict[str, Any],
    twins: list[str],
    request: Any,
    scrubbed_request: Any,
) -> dict[str, Any] | None:
    """The stored request (None: unchanged) with each value of the headers `twins` names
    scrubbed as a request's own (see _later_values), in the file's order of its headers."""
    uri = _host(request)
    twin_values: dict[str, Any] = {}
    for name in twins:
        values = raw["headers"][name]
        new_values = []
        for value in values if isinstance(values, list) else [values]:
            new = value
            if isinstance(value, str):
                scrubbed = scrubbed_request(Request(request.method, uri, None, {name: value}))
                new = value if scrubbed is None else scrubbed.headers.get(name, value)
            new_values.append(new)
        twin_values[name] = new_values if isinstance(values, list) else new_values[0]
    headers = {
        name: twin_values[name] if name in twin_values else stored["headers"][name]
        for name in raw["headers"]
    }
    if headers == raw["headers"] and all(
        stored[key] == raw[key] for key in stored if key != "headers"
    ):
        return None
    return {**stored, "headers": headers}


def _later_values(stored: dict[str, Any], request: Any) -> list[Any]:
    """The values after the first of headers a file holds several of (a request reads only a
    header's first), as requests of their own to scrub: the n-th holds each header's (n+1)-th
    value, sent to the request's host (see _host)."""
    several = {
        name: [value for value in values if isinstance(value, str)]
        for name, values in (stored.get("headers") or {}).items()
        if isinstance(values, list) and len(values) > 1
    }
    most = max((len(values) for values in several.values()), default=1)
    uri = _host(request)
    return [
        Request(request.method, uri, None, {n: v[i] for n, v in several.items() if len(v) > i})
        for i in range(1, most)
    ]


def _host(request: Any) -> str:
    """The URL of the request's host: a header's value sent there alone, without the URL's
    secrets (the request's, counted once)."""
    host = urlsplit(request.uri)
    return f"{host.scheme or 'http'}://{host.hostname or 'localhost'}/"


def _changed_request(
    stored: dict[str, Any], old: Any, new: Any, extras: list[tuple[Any, Any]]
) -> dict[str, Any] | None:
    """The stored request with the fields scrubbing changed, None if none: headers it left alone
    keep every value they had, and a header's later values (`extras`: each request of
    _later_values, before and after scrubbing) follow its first."""
    if new is None:
        return None
    before = stored_form(old, {})["request"]
    after = stored_form(new, {})["request"]
    for old_extra, new_extra in extras:
        for form, extra in ((before, old_extra), (after, new_extra or old_extra)):
            for name, value in extra.headers.items():
                form["headers"][name].append(value)
    if before == after:
        return None
    changed = {key: after[key] for key in ("method", "uri", "body") if after[key] != before[key]}
    headers = {
        name: values
        for name, values in after["headers"].items()
        if before["headers"].get(name) != values
    }
    if headers:
        changed["headers"] = {**(stored.get("headers") or {}), **headers}
    return {**stored, **changed}


def scrub_file(path: Path, rules: ScrubRules, write: bool) -> Counter[str]:
    """The kinds of the values a cassette file holds that scrubbing replaces, with their
    counts; `write`: replaced in the file, under its lock and atomically, as a save writes.
    Raises OSError, CassetteLoadError."""
    found: Counter[str] = Counter()

    def scrubbed(text: str) -> str | None:
        new, kinds = scrub_text(text, str(path), rules)
        found.update(kinds)
        return new if write else None

    if write:
        storage.rewrite_text(path, scrubbed)
    else:
        scrubbed(storage.decode_text(path.read_bytes(), str(path)))
    return found


def scrub_text(text: str, where: str, rules: ScrubRules) -> tuple[str | None, Counter[str]]:
    """A cassette's text scrubbed (None: nothing to scrub) and the kinds replaced. Raises
    CassetteLoadError where it cannot be read.

    A byte order mark and Windows line endings are kept: the text is scrubbed without them
    (YAML reads a line break as one either way) and they are put back."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    crlf = "\r\n" in text and text.count("\n") == text.count("\r\n")
    bare = text.removeprefix(bom)
    new, kinds = _scrubbed_text(bare.replace("\r\n", "\n") if crlf else bare, where, rules)
    if new is None:
        return None, kinds
    return bom + (new.replace("\n", "\r\n") if crlf else new), kinds


def _scrubbed_text(text: str, where: str, rules: ScrubRules) -> tuple[str | None, Counter[str]]:
    data = storage.json_data(text)
    interactions = storage.parse_file_text(text, where)
    scrubbed, kinds = scrub_interactions(interactions, rules)
    others: dict[str, tuple[Any, Any]] = {}
    if data is not None or _OTHER_KEY.search(text):
        others = _scrubbed_others(data or storage.YAML.loads(text), rules, kinds)
    original = text
    if data is None:  # comments changed first: that changes no value, nor where they are
        text = _scrubbed_comments(text, rules, kinds)
    if all(new is None for new in scrubbed) and not others:
        return (None if text == original else text), kinds
    expected = [old if new is None else new for old, new in zip(interactions, scrubbed)]
    if data is not None:  # vcrpy's JSON serializer wrote it: written as it writes it
        data.update({key: new for key, (_, new) in others.items()}, interactions=expected)
        return json.dumps(data, indent=4) + "\n", kinds
    changed = {i: new for i, new in enumerate(scrubbed) if new is not None}
    spliced = _spliced(text, interactions, changed, others)
    if spliced is not None and _holds(spliced, where, expected, others):
        return spliced, kinds
    # An unusual layout (flow style, odd indentation): the whole file as recording writes it,
    # the keys another tool wrote beside `interactions` kept.
    whole = {"version": storage.FORMAT_VERSION, **storage.YAML.loads(text)}
    whole.update({key: new for key, (_, new) in others.items()}, interactions=expected)
    return storage.YAML.dumps(whole), kinds


def comments(text: str) -> list[tuple[int, int]]:
    """Where the comments of a YAML text are: from after each `#` to its line's end."""
    if _COMMENT_HINT.search(text) is None:
        return []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # tokens only: no tag is read
    tokens = [_span(text, token) for token in yaml.scan(text, Loader=loader)]
    starts = [start for start, _ in tokens]
    found: list[tuple[int, int]] = []
    for mark in _COMMENT_HINT.finditer(text):
        at = mark.end() - 1
        token = bisect.bisect_right(starts, at) - 1
        if (found and at < found[-1][1]) or (token >= 0 and tokens[token][1] > at):
            continue  # in a comment already, or in a scalar (a quoted string's `#`)
        end = text.find("\n", at)
        found.append((at + 1, len(text) if end < 0 else end))
    return found


_COMMENT_HINT = re.compile(r"(?:^|[ \t])#", re.MULTILINE)


def _span(text: str, token: yaml.Token) -> tuple[int, int]:
    """Where a token's text is: a block scalar's starts on the line after its indicator (`|`,
    `>-`), whose line may end with a comment."""
    start, end = token.start_mark.index, token.end_mark.index
    if getattr(token, "style", None) in ("|", ">"):
        line_end = text.find("\n", start, end)
        start = end if line_end < 0 else line_end + 1
    return start, end


def _scrubbed_comments(text: str, rules: ScrubRules, kinds: Counter[str]) -> str:
    """The text with the secrets of its comments replaced as scan finds them, as free text;
    their kinds counted."""
    spans = comments(text)
    if not spans:
        return text
    scrubber = Scrubber(rules)
    edits: list[tuple[int, int, str]] = []
    for start, end in spans:
        new, found = scrubber.scrub_field(None, text[start:end])
        if new != text[start:end] and "\n" not in new:
            edits.append((start, end, new))
            kinds.update(_kind(str(label)) for label in found)
    return splice(text, edits)


# A top-level key other than vcrpy's two, in block style (a flow-style file is read whole).
_OTHER_KEY = re.compile(r"^(?!interactions:|version:)[^\s#-]", re.MULTILINE)


def _scrubbed_others(
    document: Any, rules: ScrubRules, kinds: Counter[str]
) -> dict[str, tuple[Any, Any]]:
    """The keys another tool wrote beside `interactions` and `version` whose values scrubbing
    changes, each with its value before and after: every text in them scrubbed as `scan`
    reads it (by its key's name, as a URL, as a JSON string's text); their kinds counted."""
    if not isinstance(document, dict):
        return {}
    scrubber = Scrubber(rules)
    found: list[str] = []

    def scrubbed(name: Any, value: Any) -> Any:
        if isinstance(value, str):
            new, more = scrubber.scrub_field(name if isinstance(name, str) else None, value)
            found.extend(more)
            return new
        if isinstance(value, dict):
            return {key: scrubbed(key, item) for key, item in value.items()}
        if isinstance(value, list):
            return [scrubbed(name, item) for item in value]
        return value

    changed = {}
    for key, value in document.items():
        if key not in ("interactions", "version"):
            new = scrubbed(key, value)
            if new != value:
                changed[key] = (value, new)
    kinds.update(_kind(str(label)) for label in found)
    return changed


def _spliced(
    text: str,
    old: tuple[Interaction, ...],
    changed: dict[int, Interaction],
    others: dict[str, tuple[Any, Any]],
) -> str | None:
    """The text with the values scrubbing changed written again in place, each in the style
    recording writes (a changed interaction whose shape changed, written again whole); None
    where the file's layout is not block style. `others`: top-level keys' values, before and
    after."""
    document = yaml.compose(text, Loader=storage.CassetteLoader)
    if not isinstance(document, yaml.MappingNode):
        return None
    edits: list[tuple[int, int, str]] = []
    for key, value in document.value:
        name = getattr(key, "value", None)
        if name in others and not _edits(text, value, *others[name], edits, (name,)):
            return None
    items = next(
        (
            value.value
            for key, value in document.value
            if getattr(key, "value", None) == "interactions"
            and isinstance(value, yaml.SequenceNode)
            and not value.flow_style
        ),
        None,
    )
    if items is None:
        return None
    for index, interaction in changed.items():
        node = items[index]
        column = node.start_mark.column
        if not isinstance(node, yaml.MappingNode) or node.flow_style or column < 2:
            return None
        in_place: list[tuple[int, int, str]] = []
        if _edits(text, node, old[index], interaction, in_place):
            edits += in_place
            continue
        dumped = storage.YAML.dumps({"interactions": [interaction]})
        item = dumped.split("\n", 1)[1].removeprefix("- ").rstrip("\n")
        start = node.start_mark.index
        end = _end(text, start, node, keep_newline=True)
        edits.append((start, end, _indented(item, column - 2)))
    return splice(text, sorted(edits))


def _edits(
    text: str,
    node: yaml.Node,
    old: Any,
    new: Any,
    edits: list[tuple[int, int, str]],
    path: tuple[str | int, ...] = (),
) -> bool:
    """Add the edits that make `node` (read as `old`, at `path` in its interaction) read as
    `new`: scalars replaced, mapping entries removed; False where it takes more (a key added,
    a list grown)."""
    if old == new:
        return True
    if isinstance(node, yaml.ScalarNode):
        start = node.start_mark.index
        end = _end(text, start, node, keep_newline=True)
        if "\n" in text[start:end]:
            value = _rendered(new, path, node.start_mark.column)
        else:  # a line of its own stays one (a long line a person wrote, not broken)
            value = yaml.dump({"k": new}, Dumper=storage.CassetteDumper, width=ONE_LINE)
            value = value.removeprefix("k: ").rstrip("\n")
            if "\n" in value:  # a block scalar (`!!binary |`): as recording writes it
                value = _rendered(new, path, node.start_mark.column)
        edits.append((start, end, value))
        return True
    if isinstance(node, yaml.MappingNode) and not node.flow_style:
        if not (isinstance(old, dict) and isinstance(new, dict) and new.keys() <= old.keys()):
            return False
        for key_node, value_node in node.value:
            key = getattr(key_node, "value", None)
            if not isinstance(key, str) or key not in old:
                return False
            if key in new:
                if not _edits(text, value_node, old[key], new[key], edits, (*path, key)):
                    return False
                continue
            start = text.rfind("\n", 0, key_node.start_mark.index) + 1
            if text[start : key_node.start_mark.index].strip(" "):
                return False  # not at the start of its line
            edits.append((start, _end(text, start, value_node), ""))
        return True
    if isinstance(node, yaml.SequenceNode) and not node.flow_style:
        if not (isinstance(new, (list, tuple)) and len(node.value) == len(new) == len(old)):
            return False
        return all(
            _edits(text, item, old[i], new[i], edits, (*path, i))
            for i, item in enumerate(node.value)
        )
    return False


def _rendered(value: Any, path: tuple[str | int, ...], column: int) -> str:
    """A scalar as recording writes it where `path` puts it in an interaction (its lines broken
    at the same places), its lines after the first moved to its `column` in this file."""
    data = value
    for step in reversed(path):
        data = {step: data} if isinstance(step, str) else [None] * step + [data]
    dumped = storage.YAML.dumps({"interactions": [data]})
    node: Any = yaml.compose(dumped, Loader=storage.CassetteLoader)
    node = node.value[0][1].value[0]  # interactions[0]
    for step in path:
        node = node.value[step] if isinstance(step, int) else node.value[-1][1]
    start = node.start_mark.index
    scalar = dumped[start : _end(dumped, start, node, keep_newline=True)]
    shift = column - node.start_mark.column
    if shift >= 0:
        return scalar.replace("\n", "\n" + " " * shift)
    return re.sub("\n" + " " * -shift, "\n", scalar)  # a more compact file's


def _end(text: str, start: int, node: yaml.Node, keep_newline: bool = False) -> int:
    """Where the text of `node` (from `start`) ends: after its last line's break, or before it."""
    end = start + len(text[start : node.end_mark.index].rstrip())
    return end + (not keep_newline and text[end : end + 1] == "\n")


def _indented(text: str, indent: int) -> str:
    """Lines after the first indented by `indent` more (a value written at column 0 or 2)."""
    return text.replace("\n", "\n" + " " * indent) if indent > 0 else text


def _holds(
    text: str, where: str, expected: list[Interaction], others: dict[str, tuple[Any, Any]]
) -> bool:
    """Whether `text` reads back as `expected`, its other top-level keys as `others` say."""
    try:
        read = storage.parse(text, where)
        document = storage.YAML.loads(text) if others else {}
    except Exception:  # a splice that broke the YAML: the caller writes the whole file
        return False
    if any(document.get(key) != new for key, (_, new) in others.items()):
        return False
    return [storage.identity(i) for i in read] == [storage.identity(i) for i in expected]
