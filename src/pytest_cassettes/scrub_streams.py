"""Scrubbing what streams carry piece by piece (parsed by streams.py): the text a
`text/event-stream` body's events carry (a model's answer, a tool call's arguments, a few
characters an event), and a JSON body's log probabilities' tokens (and the text of JSON lines'
chunks: Ollama's streamed answer).

Each stream's pieces are read joined, so that a secret split over them (a key a model echoes
token by token) is found whole, with the Scrubber's own rules (scrub.py): the text rules, then
the name rules over what they left; what is found is replaced in every piece it spans. The
Scrubber calls :func:`scrub_event_stream` before an event stream's body gets the free-text
rules, and :func:`scrub_json_streams` before a JSON body gets the JSON rules.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from typing import TYPE_CHECKING, Callable

from pytest_cassettes.detect import SCRUBBED, find_secrets, normalize_name, placeholder
from pytest_cassettes.scrub_shared import (
    GENERIC_KEPT,
    GENERIC_NAMES,
    MODEL_OUTPUT,
    finding_label,
    overlaps,
    plain_text,
    splice,
)
from pytest_cassettes.streams import (
    Path,
    Piece,
    Stream,
    event_streams,
    json_streams,
)

if TYPE_CHECKING:
    from pytest_cassettes.scrub import Scrubber

__all__ = ["scrub_event_stream", "scrub_json_streams", "text_edits"]


def scrub_event_stream(scrubber: Scrubber, text: str, found: list[str]) -> str:
    """The text a `text/event-stream` body's events carry (see streams.py: a model's
    answer, a tool call's arguments, streamed piece by piece), joined stream by stream, so
    that a secret split over events (a key a model echoes token by token, a password after
    its name in the event before) is found whole: environment values, the user's patterns,
    the detectors, then the name rules over what they left. Each is replaced in every piece
    it spans: its placeholder where it starts, nothing in the pieces after, so the events
    stay as many, their JSON valid, and what a client joins reads the placeholder. Only
    matches over two pieces or more: those inside a piece are the free-text rules' (which
    run after, over what this left), so a body without one is left as it was. Before them,
    as they would replace a long enough first piece alone and leave the rest on disk. Log
    probabilities' tokens are streams too (see scrub_json_streams), all they hold theirs."""
    return _scrub_streams(scrubber, event_streams(text), text, found)


def scrub_json_streams(scrubber: Scrubber, text: str, found: list[str]) -> str:
    """A JSON body's log probabilities (a chat completion's `logprobs.content`, a legacy
    completion's `tokens`, Gemini's `logprobsResult`, Ollama's and Cohere's `logprobs`, ...):
    their tokens joined, list by list, as a stream's pieces are (see scrub_event_stream), the
    bytes, ids and alternatives beside each token changed with it; and the text JSON lines'
    chunks carry (Ollama's streamed answer), as events'."""
    return _scrub_streams(scrubber, json_streams(text), text, found)


def text_edits(scrubber: Scrubber, text: str, found: list[str]) -> list[tuple[int, int, str]]:
    """What the rules replace in a text, as a body's rules would (JSON's, or the free-text
    name rules, then the environment's values, the user's patterns and the detectors over
    what they left): `(start, end, new)` in order, none overlapping. An AWS event stream's raw
    payloads joined (S3 Select's rows), which are then replaced piece by piece."""
    named = scrubber._json_edits(text, found)
    if named is not None:
        return named  # (the text rules run in its strings)
    named = _free_name_edits(scrubber, text, found)
    after = splice(text, named)
    stream = Stream(whole=True, output=False)
    stream.add(Piece(after, ((0, len(after)),), None))
    spans = _stream_spans(scrubber, stream)
    if not spans:
        return named
    found.extend(finding_label(label, new) for _, _, new, label in spans)
    edits = [(start, end, new) for start, end, new, _ in spans]
    if not named:
        return edits
    mapped, absorbed = _map_back(named, edits, after)
    taken = {index for took in absorbed for index in took}
    return sorted([edit for index, edit in enumerate(named) if index not in taken] + mapped)


def _scrub_streams(scrubber: Scrubber, streams: list[Stream], text: str, found: list[str]) -> str:
    """The body with what each stream's joined text holds replaced in its pieces."""
    edits: list[tuple[int, int, str]] = []
    for stream in streams:
        spans, labels = _stream_replacements(scrubber, stream, text)
        if not spans:
            continue
        found.extend(labels)
        located: dict[int, tuple[int, list[int]] | None] = {}
        tokens: dict[int, list[tuple[int, int, str]]] = {}  # logprobs: each token's edits
        for start, end, replacement in spans:
            placed = False
            first = bisect.bisect_right(stream.starts, start) - 1
            last = bisect.bisect_right(stream.starts, end - 1) - 1
            for index in range(first, last + 1):
                piece = stream.pieces[index]
                offset = stream.starts[index]
                begin = max(start, offset) - offset
                stop = min(end, offset + len(piece.text)) - offset
                if piece.fixed or begin >= stop:
                    continue
                if index not in located:
                    located[index] = piece.raw_span(text)
                where = located[index]
                if where is None:  # pragma: no cover - a parsed event's string is found
                    continue
                new = "" if placed else replacement
                placed = True
                body_start, offsets = where
                edits.append(
                    (
                        body_start + offsets[begin],
                        body_start + offsets[stop],
                        _piece_text(piece, new),
                    )
                )
                if piece.shape is not None:
                    tokens.setdefault(index, []).append((begin, stop, new))
        changed = {i: splice(stream.pieces[i].text, changes) for i, changes in tokens.items()}
        for index, token in changed.items():
            edits.extend(_logprob_edits(stream.pieces[index], token, text))
        edits.extend(_offset_edits(stream, changed, text))
    if not edits:
        return text
    return splice(text, _outermost(sorted(edits)))


def _outermost(edits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted edits without those inside another: a vLLM prompt position is written again
    whole (see _keyed), its token's new text in it."""
    kept: list[tuple[int, int, str]] = []
    for edit in edits:
        if kept and kept[-1][0] <= edit[0] and edit[1] <= kept[-1][1]:
            continue
        kept.append(edit)
    return kept


def _stream_replacements(
    scrubber: Scrubber, stream: Stream, body: str
) -> tuple[list[tuple[int, int, str]], list[str]]:
    """What to replace in a stream's joined text, `(start, end, new)` in order, none
    overlapping, and the findings' labels: the text rules' matches (_stream_spans), then
    the name rules' over what those left (_stream_named)."""
    spans = _stream_spans(scrubber, stream)
    prior = [(start, end, new) for start, end, new, _ in spans]
    labels = [finding_label(label, new) for _, _, new, label in spans]
    named, absorbed, found = _stream_named(scrubber, stream, prior)
    if named:
        # What one event's own rules find is theirs (the free-text rules take it after):
        # the name rules run again with it replaced, so as not to report it twice, and
        # the edits kept are those only the joined text shows.
        alone: dict[int, tuple[list[int], list[int]]] = {}
        own = [
            edit
            for edit, took in zip(named, absorbed)
            if not took and not stream.whole and _event_s_own(scrubber, stream, edit, body, alone)
        ]
        if own:
            prior = sorted(prior + own)
            named, absorbed, found = _stream_named(scrubber, stream, prior)
            taken = {index for took in absorbed for index in took}
            mine = set(own)
            prior = [
                edit for index, edit in enumerate(prior) if index not in taken and edit not in mine
            ]
        else:
            taken = {index for took in absorbed for index in took}
            prior = [edit for index, edit in enumerate(prior) if index not in taken]
    return sorted(prior + named), labels + found


def _stream_named(
    scrubber: Scrubber, stream: Stream, prior: list[tuple[int, int, str]]
) -> tuple[list[tuple[int, int, str]], list[list[int]], list[str]]:
    """The name rules' edits over a stream's joined text once the `prior` edits are made
    (placeholders, which the rules leave), in the joined text's coordinates, each as small
    as it can be (what it keeps of the text at its ends cut off); for each, the prior
    edits it took in (it touched what they wrote), and the findings. A joined text that is
    JSON (a tool call's arguments) gets the JSON rules, any other the free-text rules; it
    is a model's output, whose generic names are kept (see MODEL_OUTPUT), but for the
    prompt's tokens, which the user sent."""
    text = stream.text()
    after = splice(text, prior)
    found: list[str] = []
    output = stream.output
    model, generic = MODEL_OUTPUT.set(output), GENERIC_KEPT.set(output)
    try:
        edits = scrubber._json_edits(after, found)
        if edits is None:
            edits = _free_name_edits(scrubber, after, found)
    finally:
        MODEL_OUTPUT.reset(model)
        GENERIC_KEPT.reset(generic)
    if not edits:
        return [], [], found
    mapped, absorbed = _map_back(prior, edits, after)
    return [_trimmed_edit(text, edit) for edit in mapped], absorbed, found


def _free_name_edits(scrubber: Scrubber, text: str, found: list[str]) -> list[tuple[int, int, str]]:
    """The free-text name rules of `Scrubber._scrub_text` (URLs' parameters and `name=value`,
    fields, `name: value` lines, commands), each over what the ones before left: their
    edits in the text's coordinates."""
    passes: list[Callable[[str], list[tuple[int, int, str]]]] = [
        lambda t: scrubber._text_pair_edits(t, found, markup=False),
        lambda t: scrubber._encoded_pair_edits(t, found),
        lambda t: (
            scrubber._field_edits(t, found, plain_text, yaml=False) if ":" in t or "=>" in t else []
        ),
        lambda t: scrubber._line_edits(t, found, yaml=False) if ":" in t else [],
        lambda t: scrubber._command_edits(t, found, plain_text),
    ]
    edits: list[tuple[int, int, str]] = []
    current = text
    for run in passes:
        new = run(current)
        if not new:
            continue
        mapped, absorbed = _map_back(edits, new, current)
        taken = {index for took in absorbed for index in took}
        edits = sorted([e for i, e in enumerate(edits) if i not in taken] + mapped)
        current = splice(text, edits)
    return edits


def _event_s_own(
    scrubber: Scrubber,
    stream: Stream,
    edit: tuple[int, int, str],
    body: str,
    alone: dict[int, tuple[list[int], list[int]]],
) -> bool:
    """Whether an edit of a stream's joined text is inside one piece, and the free-text
    rules (by name, or the text rules) replace some of it in the piece's event (its data
    lines, as they read in the body: JSON-escaped; `alone`: where they replace something
    in each event, by where its data starts, worked out once an event)."""
    start, end, _ = edit
    index = bisect.bisect_right(stream.starts, start) - 1
    if index != bisect.bisect_right(stream.starts, end - 1) - 1:
        return False
    piece = stream.pieces[index]
    where = piece.raw_span(body)
    if piece.fixed or where is None:  # pragma: no cover - a parsed event's string is found
        return False
    first = piece.lines[0][0]
    if first not in alone:
        newline = body.rfind("\n", 0, first)
        line = max(newline, body.rfind("\r", newline + 1, first)) + 1  # CRLF, LF or CR
        event = body[line : piece.lines[-1][1]]
        spans = [(s, e) for s, e, _ in _free_name_edits(scrubber, event, [])]
        spans = sorted(spans + scrubber._text_hits(event))
        starts = [line + s for s, _ in spans]
        alone[first] = starts, list(itertools.accumulate((line + e for _, e in spans), max))
    starts, ends = alone[first]
    raw, offsets = where
    offset = stream.starts[index]
    return overlaps(starts, ends, raw + offsets[start - offset], raw + offsets[end - offset])


def _stream_spans(scrubber: Scrubber, stream: Stream) -> list[tuple[int, int, str, str]]:
    """What the text rules would replace in a stream's joined text, where it spans two of
    its pieces or more, or is found only with what other pieces hold (a value in one piece
    after its name in the one before: `{"password": "` then the value; a user pattern's
    group after its context): (start, end, placeholder, finding's label prefix), in order,
    none overlapping. A model's output keeps what its generic names say (a tool call's
    `{"key": "..."}`): not the names-and-values detector for them (but in the prompt's
    tokens)."""
    text = stream.text()
    starts = stream.starts

    # A log probability's token is beside its bytes, which no rule reads: all it holds is
    # the stream's to replace, what one piece holds too.
    whole = stream.whole

    def piece_of(offset: int) -> int:
        return bisect.bisect_right(starts, offset) - 1

    alone: dict[int, set[tuple[int, int]]] = {}

    def found_alone(start: int, end: int) -> bool:
        """Whether the detectors find [start, end) in its piece's text alone."""
        index = piece_of(start)
        spans = alone.get(index)
        if spans is None:
            piece = stream.pieces[index].text
            found = find_secrets(piece, scrubber._excluded_kinds)
            spans = alone[index] = {(f.start, f.end) for f in found}
        return (start - starts[index], end - starts[index]) in spans

    spanning: list[tuple[int, int, int, str, str]] = []  # start, rank, end, new, label
    if scrubber._env_re is not None:
        for match in scrubber._env_re.finditer(text):
            if whole or piece_of(match.start()) != piece_of(match.end() - 1):
                new = f"<{scrubber._env_placeholder[match.group()]}>"
                spanning.append((match.start(), 0, match.end(), new, "env:"))
    for pattern in scrubber._patterns:
        group = 1 if pattern.groups else 0
        for match in pattern.finditer(text):
            start, end = match.span(group)
            # The whole match: a group in one piece may need its context in another.
            spans_pieces = piece_of(match.start()) != piece_of(match.end() - 1)
            if start < end and (whole or spans_pieces):
                spanning.append((start, 1, end, SCRUBBED, "pattern"))
    if scrubber._detectors:
        for finding in find_secrets(text, scrubber._excluded_kinds):
            generic = normalize_name(finding.name) in GENERIC_NAMES
            if finding.kind == "high-entropy" and generic and stream.output:
                continue
            start, end = finding.start, finding.end
            if whole or piece_of(start) != piece_of(end - 1) or not found_alone(start, end):
                spanning.append((start, 2, end, placeholder(finding.kind), ""))
    spanning.sort()
    if not spanning:
        return []
    # A match touching a placeholder is one being scrubbed again (see Scrubber._replace).
    protected = [m.span() for m in scrubber._protected.finditer(text)]
    protected_starts = [ps for ps, _ in protected]
    protected_ends = list(itertools.accumulate((pe for _, pe in protected), max))
    spans: list[tuple[int, int, str, str]] = []
    position = 0
    for start, _, end, new, label in spanning:
        if start < position or overlaps(protected_starts, protected_ends, start, end):
            continue
        spans.append((start, end, new, label))
        position = end
    return spans


def _map_back(
    prior: list[tuple[int, int, str]], edits: list[tuple[int, int, str]], after: str
) -> tuple[list[tuple[int, int, str]], list[list[int]]]:
    """`edits` made over `after` (a text once the `prior` edits were made to it; both sorted,
    none overlapping, none empty), in the coordinates of the text before: an edit touching what
    a prior one wrote takes it in (its span and its text), and edits taking in the same prior
    one are one. For each, the indexes of the prior edits it took in. Linear."""
    # Where each prior edit's text is in `after`, and how much longer `after` is than the
    # text before up to the end of each.
    starts: list[int] = []
    ends: list[int] = []
    shifts: list[int] = []
    shift = 0
    for start, end, new in prior:
        starts.append(start + shift)
        ends.append(start + shift + len(new))
        shift += len(new) - (end - start)
        shifts.append(shift)

    def before(position: int) -> int:  # a position of `after` outside a prior edit's text
        index = bisect.bisect_right(ends, position) - 1
        return position - (shifts[index] if index >= 0 else 0)

    # Each edit's span in `after`, widened to the prior edits it touches; touching spans are
    # one group.
    groups: list[tuple[int, int, list[tuple[int, int, str]], list[int]]] = []
    k = 0
    for start, end, new in edits:
        while k < len(prior) and ends[k] <= start:
            k += 1
        low, high, took = start, end, []
        j = k
        while j < len(prior) and starts[j] < end:
            took.append(j)
            low, high = min(low, starts[j]), max(high, ends[j])
            j += 1
        if groups and low < groups[-1][1]:  # a prior edit both touch
            first, last, members, taken = groups.pop()
            low, high, members = first, max(high, last), [*members, (start, end, new)]
            took = taken + [index for index in took if index > taken[-1]]
        else:
            members = [(start, end, new)]
        groups.append((low, high, members, took))
    mapped = [
        (
            before(low),
            before(high),
            splice(after[low:high], [(s - low, e - low, new) for s, e, new in members]),
        )
        for low, high, members, _ in groups
    ]
    return mapped, [took for _, _, _, took in groups]


def _trimmed_edit(text: str, edit: tuple[int, int, str]) -> tuple[int, int, str]:
    """An edit of `text` without what it keeps at its ends (a JSON string written again whole
    for a value in it, `Bearer <SCRUBBED>` for `Bearer abc`): its smallest span, not empty."""
    start, end, new = edit
    old = text[start:end]
    most = min(len(old), len(new)) - 1  # the span keeps a character at least
    head = 0
    while head < most and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < most - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return start + head, end - tail, new[head : len(new) - tail]


def _logprob_edits(piece: Piece, token: str, body: str) -> list[tuple[int, int, str]]:
    """A log probability whose token became `token`: what renders it again beside it (see
    Piece.beside) follows. Its bytes become the token's UTF-8 bytes, its token ids 0 (the new
    text's are not known; the old ones spell the secret in the model's vocabulary), each of
    its alternatives the token (the one that was the token, and the others: any may be
    another cut of the secret, which only the chosen token's new text is known to be free
    of); alternatives keyed by their text (a legacy completion's) or their ids (vLLM's
    prompt's) are one, the token's."""
    beside = piece.beside()
    written = json.dumps(token, ensure_ascii=False)
    edits: list[tuple[int, int, str]] = []

    def change(path: Path, kind: str) -> None:
        found = piece.value_at(body, path)
        if found is None:
            return
        start, end, old = found
        if kind == "token" and old[0] == '"':
            edits.append((start, end, written))
        elif kind == "bytes" and old[0] == "[":
            edits.append((start, end, _array(piece, old, list(token.encode("utf-8")))))
        elif kind == "ids" and old[0] == "[":
            edits.append((start, end, _array(piece, old, [0] * len(json.loads(old)))))
        elif kind == "ids" and _INTEGER.fullmatch(old):
            edits.append((start, end, "0"))
        elif kind == "keyed" and old[0] == "{":
            edits.append((start, end, _keyed(piece, old, token)))

    for path in beside.tokens:
        change(path, "token")
    for path in beside.bytes:
        change(path, "bytes")
    for path in beside.ids:
        change(path, "ids")
    if beside.keyed is not None:
        change(beside.keyed, "keyed")
    return edits


_INTEGER = re.compile(r"-?\d+")


def _offset_edits(stream: Stream, changed: dict[int, str], body: str) -> list[tuple[int, int, str]]:
    """A legacy completion's `text_offset` (each token's offset in the text) once the tokens
    at `changed` became its values: each offset past a changed token shifted by what the
    tokens before it gained or lost, so that they still say where each token is."""
    edits: list[tuple[int, int, str]] = []
    shift = 0
    for index in range(min(changed, default=len(stream.pieces)), len(stream.pieces)):
        piece = stream.pieces[index]
        path = piece.beside().offset
        if path is None:
            return edits  # not a legacy completion's tokens
        found = piece.value_at(body, path) if shift else None
        if found is not None and _INTEGER.fullmatch(found[2]):
            edits.append((found[0], found[1], str(int(found[2]) + shift)))
        if index in changed:
            shift += len(changed[index]) - len(piece.text)
    return edits


_ARRAY_SEPARATOR = re.compile(r"\s*,\s*")
_COLON = re.compile(r'"\s*:\s*')  # an object's first key's end, and how it is laid out


def _inside(piece: Piece, old: str) -> tuple[str, str, str]:
    """What is between an array's or object's brackets (its JSON text, see Piece.value_at),
    and the white space it starts and ends with; nothing when it is to be written on one line:
    it spans an event's data lines (a raw line break in it would end the data line, the rest
    not the event's)."""
    if len(piece.lines) > 1 and "\n" in old:
        return "", "", ""
    inner = old[1:-1]
    return inner, inner[: len(inner) - len(inner.lstrip())], inner[len(inner.rstrip()) :]


def _array(piece: Piece, old: str, numbers: list[int]) -> str:
    """A JSON array of `numbers`, laid out as the `old` array was."""
    inner, lead, trail = _inside(piece, old)
    separator = _ARRAY_SEPARATOR.search(inner)
    default = "," + lead if "\n" in lead else ", "  # one number or none: pretty-printed or not
    comma = default if separator is None else separator.group()
    written = comma.join(str(number) for number in numbers)
    return f"[{lead}{written}{trail}]" if written else "[]"


def _keyed(piece: Piece, old: str, token: str) -> str:
    """Alternatives keyed by their tokens (`{"sk": -0.1, " sk": -2.3}`) as one, keyed by the
    new token: the old token's log probability if it was one of them, else the highest; or
    keyed by their ids (vLLM's prompt's, `{"1234": {"decoded_token": "sk", ...}, ...}`) as
    one keyed `"0"`: the prompt's token's, its `decoded_token` the new token. Laid out as the
    `old` object was."""
    values = json.loads(old)
    if not values:
        return old
    if piece.shape == "prompt":
        assert piece.path is not None
        key, value = "0", {**values[piece.path[-2]], "decoded_token": token}
    else:
        old_token = piece.text
        key = token
        value = values[old_token] if old_token in values else max(values.values(), key=_number)
    inner, lead, trail = _inside(piece, old)
    colon = _COLON.search(inner)
    separator = colon.group()[1:] if colon else ": "
    written = json.dumps(key, ensure_ascii=False)
    return f"{{{lead}{written}{separator}{json.dumps(value, ensure_ascii=False)}{trail}}}"


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else float("-inf")


def _piece_text(piece: Piece, text: str) -> str:
    """Text to write in a stream's piece: JSON-escaped in a JSON string."""
    return text if piece.path is None else json.dumps(text, ensure_ascii=False)[1:-1]
