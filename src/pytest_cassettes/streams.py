"""Server-sent events (``text/event-stream``): the text a stream sends piece by piece.

A language model streams its answer a few characters an event: OpenAI's chat chunks
(``choices[i].delta.content``, a tool call's ``arguments``), its Responses API
(``response.output_text.delta``'s ``delta``), Anthropic's ``content_block_delta`` (``text``,
``partial_json``, ``thinking``), Gemini's ``candidates[i].content.parts[j].text``, Cohere's
``content-delta`` (``text``, ``thinking``), ``tool-plan-delta`` and ``tool-call-delta``. A
secret the model echoes is then split over events, and no rule looking at one event at a time
sees it whole. :func:`event_streams` joins each stream's pieces (a choice's
content, a tool call's arguments, a content block's text: each its own stream) in the order of
the events, and tells where each piece's characters are in the body, so that a match in the
joined text can be replaced in every piece it spans. Events that are not JSON (a plain text
stream) are pieces of a stream of their own, per event name; ``[DONE]`` is none.

Linear in the body: each event is read once, its JSON parsed once; where a piece is in its
event's JSON is worked out only for the events a match touches, once an event whatever the
number of its pieces (see :meth:`Piece.raw_span`).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Hashable, Iterator
from typing import Any, Union

__all__ = ["JSON_TOKEN", "Piece", "Stream", "event_streams", "logprob_streams"]

Segment = Union[str, int]

_LINE = re.compile(r"[^\r\n]*")
# A JSON text's tokens: a string, a structural character, white space, a literal or number.
JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|\s+|[^\s{}\[\]:,"]+')
# Anthropic's content block deltas: the field holding the text of each delta type. (Not
# `signature_delta`: a signature is one opaque value, sent whole.)
_ANTHROPIC_FIELDS = {
    "text_delta": "text",
    "input_json_delta": "partial_json",
    "thinking_delta": "thinking",
}
# OpenAI's chat delta (and the compatible servers': vLLM, DeepSeek, OpenRouter, Mistral, Groq).
_CHAT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
# Cohere's v2 chat events that stream text: content (answer and thinking), the tool plan, a
# tool call's arguments.
_COHERE_KINDS = frozenset({"content-delta", "tool-plan-delta", "tool-call-delta"})
# The events worth parsing: those with a field one of the shapes above reads.
_HINT = re.compile(r'"(?:delta|choices|candidates)"')
# Log probabilities (OpenAI's chat `logprobs.content`, its Responses API's `logprobs`): their
# tokens are a model's text too, split the same way.
_LOGPROBS = '"logprobs"'


class _Event:
    """A JSON event's data lines, and where its strings are once a piece of it is looked for
    (worked out once for all its pieces: an event holding many streams' pieces, a choice
    each, is read once, not once a piece)."""

    __slots__ = ("lines", "located")

    def __init__(self, lines: tuple[tuple[int, int], ...]) -> None:
        self.lines = lines
        self.located: tuple[str, list[int], dict[tuple[Segment, ...], tuple[int, int]]] | None
        self.located = None

    def locate(
        self, body: str
    ) -> tuple[str, list[int], dict[tuple[Segment, ...], tuple[int, int]]]:
        """The data (lines joined by "\n"), where each line starts in it, and the span in it of
        the string at each path."""
        if self.located is None:
            data = "\n".join(body[start:end] for start, end in self.lines)
            line_starts: list[int] = []
            position = 0
            for start, end in self.lines:
                line_starts.append(position)
                position += end - start + 1
            self.located = data, line_starts, _string_tokens(data)
        return self.located


class Piece:
    """One piece of a stream's text: a JSON string in an event's data (its decoded value), or
    a line of a plain text event's data. `fixed`: a separator the stream's text has between
    two lines of one event, no character of the body (never replaced)."""

    __slots__ = ("alternatives", "event", "fixed", "lines", "path", "text")

    def __init__(
        self,
        text: str,
        lines: tuple[tuple[int, int], ...],
        path: tuple[Segment, ...] | None,
        fixed: bool = False,
        event: _Event | None = None,
        alternatives: int | None = None,
    ) -> None:
        self.text = text
        self.lines = lines  # the (start, end) in the body of each data line of its event
        self.path = path  # where in the event's JSON; None: the line itself (plain text)
        self.fixed = fixed
        self.event = event  # shared by the pieces of one JSON event
        # A log probability's `token` (its entry's `bytes` and `top_logprobs` beside it): how
        # many alternatives its entry lists. None: no log probability.
        self.alternatives = alternatives

    def value_span(self, body: str, path: tuple[Segment, ...]) -> tuple[int, int] | None:
        """Where in the body the value at `path` of the piece's event is, when it is a string
        or an array (its quotes and brackets included). None: no such value."""
        if self.event is None:
            self.event = _Event(self.lines)
        _, line_starts, tokens = self.event.locate(body)
        token = tokens.get(path)
        if token is None:
            return None
        # An array may span data lines (an event's JSON pretty-printed over several): each
        # end is shifted by its own line's place in the body.
        first = bisect.bisect_right(line_starts, token[0]) - 1
        last = bisect.bisect_right(line_starts, token[1] - 1) - 1
        start = token[0] + self.lines[first][0] - line_starts[first]
        return start, token[1] + self.lines[last][0] - line_starts[last]

    def raw_span(self, body: str) -> tuple[int, list[int]] | None:
        """Where the piece's characters are in the body: the body offset of its first
        character and, for each character of `text` (and its end), the offset from there
        (a JSON escape, `\\u0041` or `\\n`, is one character of several in the body). None:
        not found (it always is, the event having been parsed)."""
        if self.path is None:
            start = self.lines[0][0]
            return start, list(range(len(self.text) + 1))
        if self.event is None:
            self.event = _Event(self.lines)
        data, line_starts, tokens = self.event.locate(body)
        token = tokens.get(self.path)
        if token is None:
            return None
        offsets = _decoded_offsets(data, token[0] + 1, token[1] - 1)
        if len(offsets) != len(self.text) + 1:
            return None
        # Data lines are joined by one "\n" each: a token is inside one line (JSON strings
        # hold no raw line break).
        line = bisect.bisect_right(line_starts, token[0]) - 1
        first = self.lines[line][0] + token[0] + 1 - line_starts[line]
        base = offsets[0]
        return first, [offset - base for offset in offsets]


class Stream:
    """A stream's pieces in order and where each starts in the joined text. `logprobs`: its
    pieces are log probabilities' tokens (each beside the bytes of its text, which no rule
    reads: what is found in one piece is the stream's to replace too)."""

    __slots__ = ("_length", "logprobs", "pieces", "starts")

    def __init__(self, logprobs: bool = False) -> None:
        self.pieces: list[Piece] = []
        self.starts: list[int] = []
        self.logprobs = logprobs
        self._length = 0

    def add(self, piece: Piece) -> None:
        self.pieces.append(piece)
        self.starts.append(self._length)
        self._length += len(piece.text)

    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)


def event_streams(body: str) -> list[Stream]:
    """The streams of text the events of a `text/event-stream` body carry, each with two
    pieces or more (a stream sent whole in one event has nothing to join), and the streams of
    log probabilities' tokens (see logprob_streams), from one piece."""
    streams: dict[Hashable, Stream] = {}
    for number, (name, lines) in enumerate(_events(body)):
        if len(lines) == 1:
            start, end = lines[0]
            data = body[start:end]
        else:
            data = "\n".join(body[start:end] for start, end in lines)
        if not data:
            continue
        head = data.lstrip()[:1]
        logprobs = _LOGPROBS in data
        if head in ("{", "[") and (logprobs or _HINT.search(data)):
            try:
                event = json.loads(data)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
                event = None
            if isinstance(event, dict):
                shared = _Event(lines)
                for key, path, text in _json_pieces(event):
                    stream = streams.setdefault(key, Stream())
                    stream.add(Piece(text, lines, path, event=shared))
                if logprobs:
                    _add_logprobs(streams, event, number, lines, shared)
                continue
        if head in ("{", "[") or data.strip() == "[DONE]":
            continue  # JSON of no stream (or not well-formed), the end of OpenAI's stream
        stream = streams.setdefault(("text", name), Stream())
        for index, (start, end) in enumerate(lines):
            if index:
                stream.add(Piece("\n", lines, None, fixed=True))
            stream.add(Piece(body[start:end], ((start, end),), None))
    return [s for s in streams.values() if len(s.pieces) > 1 or (s.logprobs and s.pieces)]


def logprob_streams(body: str) -> list[Stream]:
    """The log probabilities' tokens of a JSON body (one document): each list of them (a chat
    choice's `logprobs.content` and `refusal`, a Responses API content part's `logprobs`) a
    stream, its tokens the pieces."""
    if _LOGPROBS not in body:
        return []
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    streams: dict[Hashable, Stream] = {}
    lines = ((0, len(body)),)
    _add_logprobs(streams, document, 0, lines, _Event(lines))
    return list(streams.values())


def _add_logprobs(
    streams: dict[Hashable, Stream],
    document: dict[str, Any],
    number: int,
    lines: tuple[tuple[int, int], ...],
    event: _Event,
) -> None:
    """Add the log probabilities' tokens of one JSON document (an event's, the `number`th,
    or a body's) to their streams."""
    for key, path, entries in _logprob_lists(document, number):
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = Stream(logprobs=True)
        for j, item in enumerate(entries):
            if not isinstance(item, dict) or not isinstance(item.get("token"), str):
                continue
            top = item.get("top_logprobs")
            count = len(top) if isinstance(top, list) else 0
            path_j = (*path, j, "token")
            stream.add(Piece(item["token"], lines, path_j, event=event, alternatives=count))


def _logprob_lists(
    document: dict[str, Any], number: int
) -> Iterator[tuple[Hashable, tuple[Segment, ...], list[Any]]]:
    """The lists of log probabilities in a document: (their stream, their path, the list).
    A streamed chat chunk's and a Responses API text delta's are their stream's next pieces;
    a list the document holds whole (a completion, a content part, `output_text.done`) is a
    stream of its own."""
    kind = document.get("type")
    choices = document.get("choices")
    if isinstance(choices, list):  # chat completions, streamed or not
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict) or not isinstance(choice.get("logprobs"), dict):
                continue
            logprobs = choice["logprobs"]
            index = _hashable(choice.get("index", i))
            for field in ("content", "refusal"):
                if isinstance(logprobs.get(field), list):
                    key: Hashable = ("logprobs", "chat", index, field)
                    yield key, ("choices", i, "logprobs", field), logprobs[field]
    if isinstance(kind, str) and isinstance(document.get("logprobs"), list):
        if kind == "response.output_text.delta":  # the Responses API's streamed text
            where = tuple(
                _hashable(document.get(name))
                for name in ("item_id", "output_index", "content_index")
            )
            yield ("logprobs", "responses", *where), ("logprobs",), document["logprobs"]
        else:  # `response.output_text.done`, the whole text's
            yield ("logprobs", number, "logprobs"), ("logprobs",), document["logprobs"]
    # Content parts: a response's (`response.completed`'s, or not streamed), an output item's,
    # a content part event's.
    roots: list[tuple[tuple[Segment, ...], Any]] = [((), document)]
    response = document.get("response")
    if isinstance(response, dict):
        roots.append((("response",), response))
    items: list[tuple[tuple[Segment, ...], Any]] = []
    for path, root in roots:
        output = root.get("output")
        if isinstance(output, list):
            items += [((*path, "output", k), item) for k, item in enumerate(output)]
    items.append((("item",), document.get("item")))
    for path, item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, list):
            for m, part in enumerate(content):
                yield from _part_logprobs(part, (*path, "content", m), number)
    yield from _part_logprobs(document.get("part"), ("part",), number)


def _part_logprobs(
    part: Any, path: tuple[Segment, ...], number: int
) -> Iterator[tuple[Hashable, tuple[Segment, ...], list[Any]]]:
    if isinstance(part, dict) and isinstance(part.get("logprobs"), list):
        yield ("logprobs", number, *path), (*path, "logprobs"), part["logprobs"]


def _events(body: str) -> Iterator[tuple[str, tuple[tuple[int, int], ...]]]:
    """Each event's name and the (start, end) in the body of its data lines' values, by the
    WHATWG rules: lines end at CRLF, LF or CR; a blank line ends an event; `field: value` (one
    space after the colon dropped); `:` starts a comment. An event the body ends in without a
    blank line is one too (a client drops it; its text is on disk all the same)."""
    name = "message"
    lines: list[tuple[int, int]] = []
    position, length = 0, len(body)
    while position <= length:
        match = _LINE.match(body, position)
        assert match is not None  # `*`: it matches everywhere
        start, end = match.span()
        # Past "\r\n", "\r", "\n" or the end of the body.
        position = end + 2 if body.startswith("\r\n", end) else end + 1
        if start == end:
            if lines:
                yield name, tuple(lines)
            name, lines = "message", []
            continue
        if body[start] == ":":
            continue
        colon = body.find(":", start, end)
        field = body[start:end] if colon < 0 else body[start:colon]
        value = end if colon < 0 else colon + 1
        if value < end and body[value] == " ":
            value += 1
        if field == "data":
            lines.append((value, end))
        elif field == "event":
            name = body[value:end] or "message"
    if lines:
        yield name, tuple(lines)


def _json_pieces(event: dict[str, Any]) -> Iterator[tuple[Hashable, tuple[Segment, ...], str]]:
    """The streamed text in one event's JSON: (its stream, its path, the text)."""
    kind = event.get("type")
    delta = event.get("delta")
    if isinstance(kind, str):
        if kind == "content_block_delta" and isinstance(delta, dict):  # Anthropic
            field = _ANTHROPIC_FIELDS.get(str(delta.get("type")))
            if field is not None and isinstance(delta.get(field), str):
                key: Hashable = ("anthropic", _hashable(event.get("index")), field)
                yield key, ("delta", field), delta[field]
            return
        if kind.endswith(".delta") and isinstance(delta, str) and "audio.delta" not in kind:
            # OpenAI's Responses API (and its Realtime API's text and transcript deltas).
            where = tuple(
                _hashable(event.get(name))
                for name in ("item_id", "output_index", "content_index", "summary_index")
            )
            yield ("responses", kind, *where), ("delta",), delta
            return
        if kind in _COHERE_KINDS and isinstance(delta, dict):  # Cohere's v2 chat
            message = delta.get("message")
            if isinstance(message, dict):
                yield from _cohere_pieces(kind, _hashable(event.get("index")), message)
            return
    choices = event.get("choices")
    if isinstance(choices, list):
        yield from _chat_pieces(choices)
    candidates = event.get("candidates")
    if isinstance(candidates, list):  # Gemini's streamGenerateContent?alt=sse
        for i, candidate in enumerate(candidates):
            if not isinstance(candidate, dict):
                continue
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list):
                continue
            for j, part in enumerate(parts):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    key = (
                        "gemini",
                        _hashable(candidate.get("index", i)),
                        bool(part.get("thought")),
                    )
                    yield key, ("candidates", i, "content", "parts", j, "text"), part["text"]


def _cohere_pieces(
    kind: str, index: Hashable, message: dict[str, Any]
) -> Iterator[tuple[Hashable, tuple[Segment, ...], str]]:
    """Cohere's v2 chat deltas: a content block's `text` or `thinking`, the tool plan, a tool
    call's `arguments` (`tool_calls` is one object there, not a list)."""
    if kind == "content-delta":
        content = message.get("content")
        for field in ("text", "thinking"):
            if isinstance(content, dict) and isinstance(content.get(field), str):
                path: tuple[Segment, ...] = ("delta", "message", "content", field)
                yield ("cohere", index, field), path, content[field]
    elif kind == "tool-plan-delta":
        if isinstance(message.get("tool_plan"), str):
            yield ("cohere", "plan"), ("delta", "message", "tool_plan"), message["tool_plan"]
    else:
        calls = message.get("tool_calls")
        function = calls.get("function") if isinstance(calls, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            path = ("delta", "message", "tool_calls", "function", "arguments")
            yield ("cohere", "tool", index), path, function["arguments"]


def _chat_pieces(
    choices: list[Any],
) -> Iterator[tuple[Hashable, tuple[Segment, ...], str]]:
    """OpenAI's chat completion chunks (and its legacy completions' `text`)."""
    for i, choice in enumerate(choices):
        if not isinstance(choice, dict):
            continue
        index = _hashable(choice.get("index", i))
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            if isinstance(choice.get("text"), str):
                yield ("completion", index), ("choices", i, "text"), choice["text"]
            continue
        for field in _CHAT_FIELDS:
            if isinstance(delta.get(field), str):
                yield ("chat", index, field), ("choices", i, "delta", field), delta[field]
        calls = delta.get("tool_calls")
        for j, call in enumerate(calls if isinstance(calls, list) else ()):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                key: Hashable = ("chat", index, "tool", _hashable(call.get("index", j)))
                path: tuple[Segment, ...] = ("choices", i, "delta", "tool_calls", j)
                path += ("function", "arguments")
                yield key, path, function["arguments"]
        function = delta.get("function_call")  # the functions API before tools
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            path = ("choices", i, "delta", "function_call", "arguments")
            yield ("chat", index, "function"), path, function["arguments"]


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _string_tokens(data: str) -> dict[tuple[Segment, ...], tuple[int, int]]:
    """The span in `data` (one JSON document) of the string token, or the array, at each path
    (the last one of a path, as a parser keeps the last of duplicate keys). One pass over the
    document."""
    found: dict[tuple[Segment, ...], tuple[int, int]] = {}
    keys: list[Segment] = []  # the path of the value about to be read
    objects: list[bool] = []
    arrays: list[tuple[tuple[Segment, ...], int]] = []  # each open array's path and start
    key_next = False
    for match in JSON_TOKEN.finditer(data):
        token = match.group()
        first = token[0]
        if first in " \t\r\n":
            continue
        if first == ":":
            key_next = False
        elif first == ",":
            if objects[-1]:
                key_next = True
            elif isinstance(keys[-1], int):
                keys[-1] += 1
        elif first in "{[":
            if first == "[":
                arrays.append((tuple(keys), match.start()))
            objects.append(first == "{")
            keys.append(0)
            key_next = first == "{"
        elif first in "}]":
            if first == "]" and arrays:
                path, start = arrays.pop()
                found[path] = (start, match.end())
            objects.pop()
            keys.pop()
            key_next = False
        elif key_next:
            if first != '"':
                keys[-1] = token
            else:  # most keys hold no escape: no parser needed
                keys[-1] = token[1:-1] if "\\" not in token else json.loads(token)
        elif first == '"' and keys:
            found[tuple(keys)] = match.span()
    return found


def _decoded_offsets(data: str, start: int, end: int) -> list[int]:
    """For each character a JSON string's escaped text `data[start:end]` decodes to, where it
    starts in `data`, and `end`: `\\u0041` and `\\n` are one character, a surrogate pair's two
    escapes (`\\ud83d\\ude00`) one too (json.loads joins them)."""
    offsets: list[int] = []
    position = start
    while position < end:
        backslash = data.find("\\", position, end)
        if backslash < 0:
            offsets.extend(range(position, end))
            break
        offsets.extend(range(position, backslash + 1))
        if data[backslash + 1] != "u":
            position = backslash + 2
            continue
        code = int(data[backslash + 2 : backslash + 6], 16)
        position = backslash + 6
        if 0xD800 <= code < 0xDC00 and data.startswith("\\u", position):
            low = int(data[position + 2 : position + 6], 16)
            if 0xDC00 <= low < 0xE000:
                position += 6
    offsets.append(end)
    return offsets
