"""Scrubbing what streams carry piece by piece (parsed by streams.py): the text a
`text/event-stream` body's events carry (a model's answer, a tool call's arguments, a few
characters an event), and a JSON body's log probabilities' tokens (and the text of JSON lines'
chunks: Ollama's streamed answer).

Each stream's pieces are read joined, so that a secret split over them (a key a model echoes
token by token) is found whole, and scrubbed as one text with the Scrubber's own rules
(scrub.py), as the same answer not streamed would be (see text_edits); what is found is
replaced in every piece it spans. The Scrubber calls :func:`scrub_event_stream` for an event
stream's body (then each event's JSON gets the JSON rules, the rest the free-text rules), and
:func:`scrub_json_streams` before a JSON body gets the JSON rules.
"""

from __future__ import annotations

import bisect
import json
from typing import TYPE_CHECKING, Callable

from pytest_cassettes.detect import SCRUBBED, find_secrets, finding_replacement
from pytest_cassettes.scrub_shared import (
    MODEL_OUTPUT,
    finding_label,
    lazy_regex,
    plain_text,
    splice,
)
from pytest_cassettes.streams import (
    Path,
    Piece,
    Segment,
    Stream,
    event_streams,
    events,
    json_streams,
)

if TYPE_CHECKING:
    from pytest_cassettes.scrub import Scrubber

__all__ = ["scrub_event_stream", "scrub_json_streams", "text_edits", "token_ids"]

Edit = tuple[int, int, str]
# Stands for a data line in the text the free-text rules read after the events' own (see
# _scrub_events): a character of Unicode's private use.
_TAKEN = "\ue000"


def scrub_event_stream(scrubber: Scrubber, text: str, found: list[str]) -> str:
    """A `text/event-stream` body. The text its events carry (see streams.py: a model's answer,
    a tool call's arguments, streamed piece by piece) is read joined stream by stream, so that
    a secret split over events (a key a model echoes token by token, a password after its name
    in the event before) is found whole, and scrubbed as the same text sent whole would be:
    a model's output as a chat completion's message (see text_edits). What is found is
    replaced in every piece it spans: its placeholder where it starts, nothing in the pieces
    after, so the events stay as many, their JSON valid, and what a client joins reads the
    placeholder. Log probabilities' tokens are streams too (see scrub_json_streams). Then
    each event's JSON gets the JSON rules (its pieces left as their streams made them), and
    what is left (event names, ids, comments, data that is not JSON) the free-text rules."""
    parsed: set[int] = set()
    streams = event_streams(text, parsed)
    changed: set[int] = set()
    new = _scrub_streams(scrubber, streams, text, found, changed)
    taken: dict[int, list[Piece]] = {}  # each event's pieces
    for stream in streams:
        for piece in stream.pieces:
            if not piece.fixed and piece.event is not None:
                taken.setdefault(piece.event.number, []).append(piece)
    return _scrub_events(scrubber, new, taken, parsed, changed, found)


def scrub_json_streams(scrubber: Scrubber, text: str, found: list[str]) -> str:
    """A JSON body's log probabilities (a chat completion's `logprobs.content`, a legacy
    completion's `tokens`, Gemini's `logprobsResult`, Ollama's and Cohere's `logprobs`, ...):
    their tokens joined, list by list, as a stream's pieces are (see scrub_event_stream), the
    bytes, ids and alternatives beside each token changed with it; and the text JSON lines'
    chunks carry (Ollama's streamed answer), as events'."""
    return _scrub_streams(scrubber, json_streams(text), text, found)


def text_edits(
    scrubber: Scrubber, text: str, found: list[str], output: bool = False, string: bool = False
) -> list[Edit]:
    """What the rules replace in a text, as they would in a text body, or in a JSON string
    holding it (`string`, see Scrubber._scrub_string): the environment's values; then the
    JSON rules when it is JSON (a model's `output`: its generic names kept), else the
    free-text name rules, then the user's patterns and the detectors over what they left.
    `(start, end, new)` in order, none overlapping. A stream's joined text; an AWS event
    stream's raw payloads joined (S3 Select's rows)."""
    env = _rule_spans(scrubber, text, found, env=True)
    after = splice(text, env)
    named = None
    if after.lstrip()[:1] in ("{", "["):
        model = MODEL_OUTPUT.set(output)
        try:
            named = scrubber._json_edits(after, found)
        finally:
            MODEL_OUTPUT.reset(model)
    if named is None and string and scrubber._string_kind(after) != "text":
        # A connection string, a form, an HTML fragment's fields: their own rules, one edit
        # from the first change to the last (they are seldom a stream's whole text).
        new = scrubber._scrub_string(after, found, 0)
        named = [] if new == after else [_trimmed_edit(after, (0, len(after), new))]
    if named is None:
        named = _free_name_edits(scrubber, after, found)
        rest = splice(after, named)
        named = _compose(named, _rule_spans(scrubber, rest, found, env=False), rest)
    return _compose(env, named, after)


def _rule_spans(scrubber: Scrubber, text: str, found: list[str], env: bool) -> list[Edit]:
    """The environment's values (`env`), or the user's patterns and the detectors, in a text,
    as Scrubber._scrub_text replaces them: in order, none overlapping, none touching a
    placeholder (see Scrubber._replace); their findings added to `found`."""
    spans: list[tuple[int, int, int, str, str]] = []  # start, rank, end, new, label
    if env and scrubber._env_re is not None:
        for match in scrubber._env_re.finditer(text):
            new = scrubber._env_text[match.group()]
            spans.append((match.start(), 0, match.end(), new, "env:"))
    for pattern in () if env else scrubber._patterns:
        group = 1 if pattern.groups else 0
        for match in pattern.finditer(text):
            start, end = match.span(group)
            if start < end:
                spans.append((start, 1, end, SCRUBBED, "pattern"))
    if not env and scrubber._detectors:
        for finding in find_secrets(text, scrubber._excluded_kinds):
            spans.append((finding.start, 2, finding.end, finding_replacement(text, finding), ""))
    if not spans:
        return []
    spans.sort()
    protected = [m.span() for m in scrubber._protected.finditer(text)]
    kept: list[Edit] = []
    position = 0
    for start, _, end, new, label in spans:
        if start < position or any(ps < end and start < pe for ps, pe in protected):
            continue
        kept.append((start, end, new))
        found.append(finding_label(label, new))
        position = end
    return kept


def _compose(prior: list[Edit], edits: list[Edit], after: str) -> list[Edit]:
    """`edits` made over `after` (the text once the `prior` edits were made to it) joined to
    `prior`, in the text's coordinates before: one touching what a prior one wrote takes it
    in (see _map_back)."""
    if not edits or not prior:
        return edits or prior
    mapped, absorbed = _map_back(prior, edits, after)
    taken = {index for took in absorbed for index in took}
    return sorted([edit for index, edit in enumerate(prior) if index not in taken] + mapped)


def _scrub_events(
    scrubber: Scrubber,
    body: str,
    taken: dict[int, list[Piece]],
    parsed: set[int],
    changed: set[int],
    found: list[str],
) -> str:
    """Each event's data that is JSON by the JSON rules (`parsed`: events known to be), the
    strings its streams' pieces are left as they are (theirs); then the free-text rules over
    what is neither JSON nor a stream's (event names, ids, comments, a `[DONE]`): data lines
    a JSON document or a stream took stand for one character there. Should a rule take one
    in, they run over the whole body again (as before there was a JSON pass). The JSON rules
    read only the events where their first checks find something in what is not a piece
    (see _narrowed; events alike but for their pieces are checked once, but those a stream
    `changed`). An event whose text a stream changed loses the token ids beside it (see
    token_ids)."""
    done: list[tuple[int, int]] = []  # data lines taken: out of the free-text rules' text
    documents: list[tuple[int, tuple[tuple[int, int], ...], str]] = []
    skeletons: list[str] = []  # each document without its pieces' strings, where found
    for number, (_, lines) in enumerate(events(body)):
        pieces = taken.get(number, [])
        if pieces and pieces[0].path is None:  # lines of a plain text stream
            done.extend(lines)
            continue
        data = "\n".join(body[start:end] for start, end in lines)
        if data.lstrip()[:1] in ("{", "["):
            documents.append((number, lines, data))
            skeletons.append(data if number in changed else _without(data, pieces))
    unique = list(dict.fromkeys(skeletons))
    worth = {unique[k] for k in _narrowed(unique, scrubber._json_may_change)}
    edits: list[Edit] = []
    own: list[str] = []
    for (number, lines, data), skeleton in zip(documents, skeletons):
        if number in changed and '"tokens"' in data:
            edits.extend(_in_body(_token_id_edits(data), lines))
        if skeleton in worth:
            paths = (piece.path for piece in taken.get(number, ()) if piece.path is not None)
            skip = frozenset((0, *map(_lower, path)) for path in paths)
            data_edits = scrubber._json_edits(data, own, skip=skip)
            if data_edits is None:
                continue
            edits.extend(_in_body(data_edits, lines))
        elif number not in parsed and not _parses(data):
            continue  # not JSON: the free-text rules'
        done.extend(lines)
    found.extend(own)
    edits.sort()
    done.sort()
    text = splice(body, edits)
    if not done or _TAKEN in body:
        return scrubber._scrub_text(text, found, plain_text)
    view = splice(body, [(start, end, _TAKEN) for start, end in done])
    rest: list[str] = []
    new_view = scrubber._scrub_text(view, rest, plain_text)
    if new_view == view:
        return text
    parts = new_view.split(_TAKEN)
    if len(parts) != len(done) + 1:
        return scrubber._scrub_text(text, found, plain_text)
    found.extend(rest)
    written = [parts[0]]
    k = 0
    for (start, end), after in zip(done, parts[1:]):
        line: list[Edit] = []
        while k < len(edits) and edits[k][0] < end:
            line.append((edits[k][0] - start, edits[k][1] - start, edits[k][2]))
            k += 1
        written += [splice(body[start:end], line), after]
    return "".join(written)


# llama.cpp's `return_tokens`: the ids of the tokens an event's (or an answer's) `content` is.
_TOKEN_IDS = lazy_regex(r'"tokens"\s*:\s*\[([-\d,\s]*)\]')
_ID = lazy_regex(r"-?\d+")


def token_ids(text: str, new: str) -> str:
    """A JSON body (llama.cpp's `/completion` answer) once scrubbed (`new`): when its
    `content` changed, its `tokens` (with `return_tokens`, the ids of the answer's tokens)
    as many, each 0: the old ones spell the old text in the model's vocabulary, a secret
    replaced in it too."""
    if new == text or '"tokens"' not in text:
        return new
    try:
        before, after = json.loads(text), json.loads(new)
    except (ValueError, RecursionError):  # JSON lines, or not JSON
        return new
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return new
    if before.get("content") == after.get("content") or not isinstance(after.get("tokens"), list):
        return new
    return splice(new, _token_id_edits(new))


def _token_id_edits(data: str) -> list[Edit]:
    """Each id of a `"tokens": [...]` array of a JSON text made 0, its layout kept."""
    return [
        (match.start(1), match.end(1), _ID.sub("0", match.group(1)))
        for match in _TOKEN_IDS.finditer(data)
        if match.group(1).strip()
    ]


def _narrowed(texts: list[str], test: Callable[[str], bool], block: int = 256) -> set[int]:
    """The indexes of the texts a test (true of a text if true of a part of it) is true of:
    tried on them all joined, then on blocks of them, then on each text of a block it is
    true of (a long stream whose few events may change costs about two tests of it)."""
    if not texts or not test("\n".join(texts)):
        return set()
    found: set[int] = set()
    for first in range(0, len(texts), block):
        part = texts[first : first + block]
        if len(part) == 1 or test("\n".join(part)):
            found.update(first + k for k, text in enumerate(part) if test(text))
    return found


def _parses(data: str) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _without(data: str, pieces: list[Piece]) -> str:
    """An event's JSON with its pieces' strings emptied, each where it is written as JSON
    writes it (else left: the checks then read it too)."""
    for piece in pieces:
        if not piece.text:
            continue
        for ascii_only in (True, False):
            written = json.dumps(piece.text, ensure_ascii=ascii_only)
            if written in data:
                data = data.replace(written, '""', 1)
                break
    return data


def _lower(segment: Segment) -> Segment:
    return segment.lower() if isinstance(segment, str) else segment


def _in_body(edits: list[Edit], lines: tuple[tuple[int, int], ...]) -> list[Edit]:
    """Edits of an event's data (its lines joined by "\n") in the body's offsets: each is
    inside a line (a JSON token holds no raw line break)."""
    if len(lines) == 1:
        first = lines[0][0]
        return [(start + first, end + first, new) for start, end, new in edits]
    starts: list[int] = []
    position = 0
    for start, end in lines:
        starts.append(position)
        position += end - start + 1
    moved: list[Edit] = []
    for start, end, new in edits:
        line = bisect.bisect_right(starts, start) - 1
        shift = lines[line][0] - starts[line]
        moved.append((start + shift, end + shift, new))
    return moved


def _scrub_streams(
    scrubber: Scrubber,
    streams: list[Stream],
    text: str,
    found: list[str],
    changed_events: set[int] | None = None,
) -> str:
    """The body with what each stream's joined text holds replaced in its pieces (the
    numbers of the events a piece changed in added to `changed_events`)."""
    edits: list[tuple[int, int, str]] = []
    for stream in streams:
        joined = stream.text()
        string = stream.pieces[0].path is not None  # (a JSON string's; else an event's line)
        spans = [
            _trimmed_edit(joined, edit)
            for edit in text_edits(scrubber, joined, found, stream.output, string)
        ]
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
                if changed_events is not None and piece.event is not None:
                    changed_events.add(piece.event.number)
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


def _free_name_edits(scrubber: Scrubber, text: str, found: list[str]) -> list[Edit]:
    """The free-text name rules of `Scrubber._scrub_text` (one-time links' tokens, URLs'
    parameters and `name=value`, fields, `name: value` lines, commands), each over what the
    ones before left: their edits in the text's coordinates."""
    passes: list[Callable[[str], list[Edit]]] = [
        lambda t: scrubber._link_token_edits(t, found),
        lambda t: scrubber._text_pair_edits(t, found, markup=False),
        lambda t: scrubber._encoded_pair_edits(t, found),
        lambda t: (
            scrubber._field_edits(t, found, plain_text, yaml=False) if ":" in t or "=>" in t else []
        ),
        lambda t: scrubber._line_edits(t, found, yaml=False) if ":" in t else [],
        lambda t: scrubber._command_edits(t, found, plain_text),
    ]
    edits: list[Edit] = []
    current = text
    for run in passes:
        new = run(current)
        if new:
            edits = _compose(edits, new, current)
            current = splice(text, edits)
    return edits


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


_INTEGER = lazy_regex(r"-?\d+")


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


_ARRAY_SEPARATOR = lazy_regex(r"\s*,\s*")
_COLON = lazy_regex(r'"\s*:\s*')  # an object's first key's end, and how it is laid out


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
