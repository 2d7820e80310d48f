"""Server-sent events (``text/event-stream``): the text a stream sends piece by piece.

A language model streams its answer a few characters an event: OpenAI's chat chunks
(``choices[i].delta.content``, a tool call's ``arguments``, an audio answer's ``transcript``),
its Responses API (``response.output_text.delta``'s ``delta``), Anthropic's
``content_block_delta`` (``text``, ``partial_json``, ``thinking``), Gemini's
``candidates[i].content.parts[j].text``, Cohere's ``content-delta`` (``text``, ``thinking``),
``tool-plan-delta`` and ``tool-call-delta``; Ollama and Cohere's v1 API stream JSON lines
(``message.content``, ``response``; ``text-generation``'s ``text``), Gemini without
``alt=sse`` one JSON array of chunks (:func:`json_streams`); Bedrock's InvokeModel chunks
(see :data:`BEDROCK_CHUNKS`) in Titan's, Llama's, Mistral's and Cohere's own shapes too. A
secret the model echoes is then split over events, and no rule looking at one event at a
time sees it whole.
:func:`event_streams` joins each stream's pieces (a choice's content, a tool call's arguments,
a content block's text: each its own stream) in the order of the events, and tells where each
piece's characters are in the body, so that a match in the joined text can be replaced in
every piece it spans. Events that are not
JSON (a plain text stream) are pieces of a stream of their own, per event name; ``[DONE]`` is
none. Log probabilities' tokens (of events, or of a JSON body) are streams too.

Linear in the body: each event is read once, its JSON parsed once; where a piece is in its
event's JSON is worked out only for the events a match touches, once an event whatever the
number of its pieces (see :meth:`Piece.raw_span`).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Generator, Hashable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, NamedTuple, Union

__all__ = [
    "BEDROCK_CHUNKS",
    "JSON_TOKEN",
    "Beside",
    "Piece",
    "Stream",
    "event_data",
    "event_streams",
    "events",
    "json_streams",
]

Segment = Union[str, int]
Path = tuple[Segment, ...]
_Document = tuple[int, int, Any]  # where a JSON document starts and ends in a body, its value

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
# Bedrock's Converse deltas: a field holding text, or an object and its field that does.
_CONVERSE_FIELDS = (("text", ""), ("toolUse", "input"), ("reasoningContent", "text"))
# Whether the events read are an AWS event stream's (see scrub_streams.py): its `chunk`
# events, Bedrock's InvokeModel chunks (their bytes decoded), are read in the shapes of the
# models that stream there in their own (see _bedrock_pieces); no other JSON is.
BEDROCK_CHUNKS: ContextVar[bool] = ContextVar("bedrock_chunks", default=False)
# Bedrock's models' chunks: a field holding the text, or a list of objects whose `text` does.
_BEDROCK_FIELDS = ("outputText", "generation", "completion")
_BEDROCK_LISTS = ("outputs", "generations")
# Cohere's v2 chat events that stream text: content (answer and thinking), the tool plan, a
# tool call's arguments.
_COHERE_KINDS = frozenset({"content-delta", "tool-plan-delta", "tool-call-delta"})
# The events worth parsing: those with a field one of the shapes above reads.
_HINT = re.compile(r'"(?:delta|choices|candidates|stop)"')
# Log probabilities (`logprobs`, Gemini's `logprobsResult`, TGI's and vLLM's `logprob`,
# Cohere's v1 `token_likelihoods`, llama.cpp's `completion_probabilities`): their tokens are a
# model's text too, split the same way.
_LOGPROBS = re.compile(r'"(?:logprob|token_likelihoods|completion_probabilities|piece")')
# JSON lines of a streamed answer (Ollama's, Cohere's v1, a chunk a line; `done` or
# `event_type` is in each): an object's end, a line break, the next one's start (no JSON
# document holds that: its strings hold no raw line break, and its objects in an array have a
# comma between them).
_CHUNKS_HINT = re.compile(r'"(?:delta|choices|candidates|done|event_type)"')
# Gemini's stream without `alt=sse`: one JSON array of its chunks.
_ARRAY_HINT = '"candidates"'
_CONCATENATED = re.compile(r"\}[ \t\r]*\n\s*\{")
_SPACE = re.compile(r"[ \t\r\n]*")


class _Event:
    """An event's data lines (a JSON document's span), its number in the body, and where its
    strings are once a piece of it is looked for (worked out once for all its pieces: an
    event holding many streams' pieces, a choice each, is read once, not once a piece)."""

    __slots__ = ("lines", "located", "number")

    def __init__(self, lines: tuple[tuple[int, int], ...], number: int = -1) -> None:
        self.lines = lines
        self.number = number
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
            self.located = data, line_starts, _value_spans(data)
        return self.located


class Beside(NamedTuple):
    """What renders a log probability's token again, beside it in its event (paths): its
    alternatives' tokens, arrays of UTF-8 bytes, token ids (a number or an array of them), an
    object keyed by the alternatives' tokens (legacy completions' `top_logprobs`) or by their
    ids (vLLM's `prompt_logprobs`), the token's offset in the text (their `text_offset`)."""

    tokens: list[Path]
    bytes: list[Path]
    ids: list[Path]
    keyed: Path | None = None
    offset: Path | None = None


class Piece:
    """One piece of a stream's text: a JSON string in an event's data (its decoded value), or
    a line of a plain text event's data. `fixed`: a separator the stream's text has between
    two lines of one event, no character of the body (never replaced)."""

    __slots__ = ("alternatives", "event", "fixed", "lines", "path", "shape", "text")

    def __init__(
        self,
        text: str,
        lines: tuple[tuple[int, int], ...],
        path: tuple[Segment, ...] | None,
        fixed: bool = False,
        event: _Event | None = None,
        shape: str | None = None,
        alternatives: int = 0,
    ) -> None:
        self.text = text
        self.lines = lines  # the (start, end) in the body of each data line of its event
        self.path = path  # where in the event's JSON; None: the line itself (plain text)
        self.fixed = fixed
        self.event = event  # shared by the pieces of one JSON event
        # A log probability's token: its shape (see beside), None for none; how many
        # alternatives are listed at its position.
        self.shape = shape
        self.alternatives = alternatives

    def beside(self) -> Beside:
        """What renders a log probability's token again (see Beside), by its shape: OpenAI's,
        Ollama's and llama.cpp's entry (`token`, `bytes`, `top_logprobs`, llama.cpp's `id` and
        after sampling `top_probs`; older llama.cpp's `probs`' `tok_str`), Gemini's chosen candidate
        (`tokenId`; `topCandidates` at its position), a legacy completion's `tokens`
        (`top_logprobs` and `text_offset` at its position), Cohere's (`text`, `token_ids`),
        TGI's token (`text`, `id`; `top_tokens` at its position), vLLM's prompt token (the
        first of its position's alternatives, keyed by their ids)."""
        assert self.path is not None and self.shape is not None
        path, count = self.path, range(self.alternatives)
        if self.shape == "gemini":  # (..., "chosenCandidates", j, "token")
            others = [(*path[:-3], "topCandidates", path[-2], "candidates", k) for k in count]
            ids = [(*path[:-1], "tokenId"), *((*other, "tokenId") for other in others)]
            return Beside([(*other, "token") for other in others], [], ids)
        if self.shape == "completion":  # (..., "tokens", j)
            root, j = path[:-2], path[-1]
            return Beside([], [], [], (*root, "top_logprobs", j), (*root, "text_offset", j))
        entry = path[:-1]
        if self.shape == "piece":  # llama.cpp's /tokenize: (..., "tokens", j, "piece")
            return Beside([], [], [(*entry, "id")])
        if self.shape == "cohere":
            return Beside([], [], [(*entry, "token_ids")])
        if self.shape == "prompt":  # (..., "prompt_logprobs", j, id, "decoded_token")
            return Beside([], [], [], path[:-2])
        if self.shape == "tgi":  # (..., "tokens", j, "text"), or a streamed ("token", "text")
            if isinstance(entry[-1], int):
                others = [(*entry[:-2], "top_tokens", entry[-1], k) for k in count]
            else:
                others = [(*entry[:-1], "top_tokens", k) for k in count]
            ids = [(*entry, "id"), *((*other, "id") for other in others)]
            return Beside([(*other, "text") for other in others], [], ids)
        others = [(*entry, _TOP[self.shape], k) for k in count]
        if self.shape == "probs":  # older llama.cpp's: `{content, probs: [{tok_str, prob}]}`
            return Beside([(*other, "tok_str") for other in others], [], [])
        # OpenAI's, Ollama's, llama.cpp's (its `id`s, its `top_probs` after sampling).
        arrays = [(*entry, "bytes"), *((*other, "bytes") for other in others)]
        ids = [(*entry, "id"), *((*other, "id") for other in others)]
        return Beside([(*other, "token") for other in others], arrays, ids)

    def value_at(self, body: str, path: tuple[Segment, ...]) -> tuple[int, int, str] | None:
        """Where in the body the value at `path` of the piece's event is (a string's quotes,
        an array's or object's brackets included), and its JSON text (its data lines joined
        by "\n", when it spans some). None: no such value."""
        if self.event is None:
            self.event = _Event(self.lines)
        data, line_starts, tokens = self.event.locate(body)
        token = tokens.get(path)
        if token is None:
            return None
        # An array or object may span data lines (an event's JSON pretty-printed over
        # several): each end is shifted by its own line's place in the body.
        first = bisect.bisect_right(line_starts, token[0]) - 1
        last = bisect.bisect_right(line_starts, token[1] - 1) - 1
        start = token[0] + self.lines[first][0] - line_starts[first]
        end = token[1] + self.lines[last][0] - line_starts[last]
        return start, end, data[token[0] : token[1]]

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
    """A stream's pieces in order and where each starts in the joined text. `whole`: all it
    holds is its to replace, what one piece holds too (log probabilities' tokens, each beside
    the bytes of its text, which no rule reads; an AWS event stream's raw payloads, which get
    no other rules). `output`: it is a model's output (not the prompt's tokens, TGI's
    `prefill` and vLLM's `prompt_logprobs`, which the user sent, nor a file's rows)."""

    __slots__ = ("_length", "output", "pieces", "starts", "whole")

    def __init__(self, whole: bool = False, output: bool = True) -> None:
        self.pieces: list[Piece] = []
        self.starts: list[int] = []
        self.whole = whole
        self.output = output
        self._length = 0

    def add(self, piece: Piece) -> None:
        self.pieces.append(piece)
        self.starts.append(self._length)
        self._length += len(piece.text)

    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)


def event_streams(body: str, parsed: set[int] | None = None) -> list[Stream]:
    """The streams of text the events of a `text/event-stream` body carry (one sent whole in
    one event too: its text is scrubbed as the stream's), and the streams of log
    probabilities' tokens (see _logprob_lists). `parsed`: the numbers of the events read
    whose data is a JSON object are added to it."""
    streams: dict[Hashable, Stream] = {}
    bedrock = BEDROCK_CHUNKS.get()
    for number, (name, lines) in enumerate(events(body)):
        if len(lines) == 1:
            start, end = lines[0]
            data = body[start:end]
        else:
            data = "\n".join(body[start:end] for start, end in lines)
        if not data:
            continue
        head = data.lstrip()[:1]
        logprobs = _LOGPROBS.search(data) is not None
        chunk = bedrock and name == "chunk"
        if head in ("{", "[") and (logprobs or chunk or _HINT.search(data)):
            try:
                event = json.loads(data)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
                event = None
            if isinstance(event, dict):
                if parsed is not None:
                    parsed.add(number)
                shared = _Event(lines, number)
                _add_pieces(streams, _json_pieces(event), lines, shared)
                if chunk:
                    _add_pieces(streams, _bedrock_pieces(event), lines, shared)
                if logprobs:
                    _add_logprobs(streams, event, number, lines, shared)
                continue
        if head in ("{", "[") or data.strip() == "[DONE]":
            continue  # JSON of no stream (or not well-formed), the end of OpenAI's stream
        stream = streams.setdefault(("text", name), Stream())
        text = _Event(lines, number)
        for index, (start, end) in enumerate(lines):
            if index:
                stream.add(Piece("\n", lines, None, fixed=True))
            stream.add(Piece(body[start:end], ((start, end),), None, event=text))
    return [stream for stream in streams.values() if stream.pieces]


def event_data(body: str) -> list[str]:
    """Each event's data (its data lines joined by "\n"), in order."""
    return ["\n".join(body[start:end] for start, end in lines) for _, lines in events(body)]


def json_streams(body: str) -> list[Stream]:
    """The streams of a JSON body: its log probabilities' tokens (see _logprob_lists), the
    text JSON lines of a streamed answer carry (Ollama's, Cohere's v1, a chunk a line: see
    _line_pieces), and that of Gemini's chunks in one JSON array (its stream without
    `alt=sse`), joined as events' are (see event_streams)."""
    first = _skip_space(body, 0)
    array = body.startswith("[", first)
    logprobs = _LOGPROBS.search(body) is not None
    lines = _CHUNKS_HINT.search(body) is not None and _CONCATENATED.search(body) is not None
    chunks = array and _ARRAY_HINT in body
    if not (logprobs or lines or chunks):
        return []
    documents = _items(body, first) if array else _documents(body)
    lines = lines and not array  # (`_CONCATENATED`: several documents)
    # The chunks of one answer share their streams (JSON lines, Gemini's array); other items
    # of an array (several answers) have their own each.
    groups: dict[Hashable, dict[Hashable, Stream]] = {}
    for number, (start, end, document) in enumerate(documents):
        if not isinstance(document, dict):
            continue
        chunk = not array or isinstance(document.get("candidates"), list)
        streams = groups.setdefault(None if chunk else number, {})
        spans = ((start, end),)
        shared = _Event(spans, number)
        if lines or (chunks and chunk):
            _add_pieces(streams, _json_pieces(document), spans, shared)
        if lines:
            _add_pieces(streams, _line_pieces(document), spans, shared)
        if logprobs:
            _add_logprobs(streams, document, number, spans, shared)
    return [stream for streams in groups.values() for stream in _joined(streams)]


def _skip_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    assert match is not None  # `*`: it matches everywhere
    return match.end()


def _items(body: str, start: int) -> Iterator[_Document]:
    """The items of a body that is one JSON array (its `[` at `start`) and where each is, one
    at a time (see _documents); those before one that is not JSON (an array cut short)."""
    decoder = json.JSONDecoder()
    position = _skip_space(body, start + 1)
    try:
        while position < len(body) and body[position] != "]":
            item, stop = decoder.raw_decode(body, position)
            yield position, stop, item
            position = _skip_space(body, stop)
            if body.startswith(",", position):
                position = _skip_space(body, position + 1)
    except (ValueError, RecursionError):  # not JSON past it; nested deeper than Python parses
        return


def _documents(body: str) -> Iterator[_Document]:
    """The JSON documents of a body (one, or several with white space between them: JSON
    lines) and where each is, one at a time (all of them alive at once, Python's collector
    would go over them again and again). Past what is not JSON (a JSON line cut short, a line
    of text), the documents of each line after the one where reading failed."""
    try:
        failed = yield from _read_documents(body, 0, len(body))
        if failed is None:
            return
        # A line at a time: reading the rest whole again at each bad line would be quadratic
        # (an error message counts the lines before it).
        start = body.find("\n", failed)
        while start >= 0:
            end = body.find("\n", start + 1)
            yield from _read_documents(body, start + 1, len(body) if end < 0 else end)
            start = end
    except RecursionError:  # nested deeper than Python parses: none after it
        return


def _read_documents(body: str, start: int, end: int) -> Generator[_Document, None, int | None]:
    """The documents of `body[start:end]`; returns where one fails to be read (the rest not
    read), None if none does."""
    decoder, text = json.JSONDecoder(), body[start:end] if start or end < len(body) else body
    position = 0
    while True:
        position = _skip_space(text, position)
        if position >= len(text):
            return None
        try:
            document, stop = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            return start + max(error.pos, position)
        except ValueError:  # a number of more digits than Python reads
            return start + position
        yield start + position, start + stop, document
        position = stop


def _joined(streams: dict[Hashable, Stream]) -> list[Stream]:
    """The streams with something to join: two pieces or more, any log probabilities'."""
    return [s for s in streams.values() if len(s.pieces) > 1 or (s.whole and s.pieces)]


def _add_pieces(
    streams: dict[Hashable, Stream],
    pieces: Iterable[tuple[Hashable, Path, str]],
    lines: tuple[tuple[int, int], ...],
    event: _Event,
) -> None:
    for key, path, text in pieces:
        stream = streams.setdefault(key, Stream())
        stream.add(Piece(text, lines, path, event=event))


# A log probability's token: its path in its document, its text, how many alternatives are
# listed at its position, its shape (see Piece.beside).
_Token = tuple[Path, str, int, str]


def _add_logprobs(
    streams: dict[Hashable, Stream],
    document: dict[str, Any],
    number: int,
    lines: tuple[tuple[int, int], ...],
    event: _Event,
) -> None:
    """Add the log probabilities' tokens of one JSON document (an event's, the `number`th,
    or a body's) to their streams."""
    for key, tokens in _logprob_lists(document, number):
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = Stream(whole=True, output=key[0] != "prompt")
        for path, text, count, shape in tokens:
            stream.add(Piece(text, lines, path, event=event, shape=shape, alternatives=count))


def _logprob_lists(
    document: dict[str, Any], number: int
) -> Iterator[tuple[tuple[Hashable, ...], Iterator[_Token]]]:
    """The lists of log probabilities in a document: (their stream, its key starting with
    "prompt" for the prompt's tokens; their tokens). A streamed chunk's (chat and legacy
    completions', Gemini's, a Responses API text delta's, Cohere's content delta's, an Ollama
    JSON line's, TGI's) are their stream's next tokens; a list the document holds whole (a
    Responses API content part, `output_text.done`, TGI's details, Cohere's v1 generations,
    vLLM's `prompt_logprobs`) is a stream of its own."""
    kind = document.get("type")
    if isinstance(document.get("prompt_logprobs"), list):  # vLLM's chat completion
        tokens = _prompt_tokens(("prompt_logprobs",), document["prompt_logprobs"])
        yield ("prompt", number), tokens
    choices = document.get("choices")
    if isinstance(choices, list):  # chat and legacy completions, streamed or not
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            if isinstance(choice.get("prompt_logprobs"), list):  # vLLM's completion
                path: Path = ("choices", i, "prompt_logprobs")
                yield ("prompt", number, i), _prompt_tokens(path, choice["prompt_logprobs"])
            if not isinstance(choice.get("logprobs"), dict):
                continue
            logprobs = choice["logprobs"]
            index = _hashable(choice.get("index", i))
            path = ("choices", i, "logprobs")
            for field in ("content", "refusal"):
                if isinstance(logprobs.get(field), list):
                    key: tuple[Hashable, ...] = ("logprobs", "chat", index, field)
                    yield key, _entries((*path, field), logprobs[field])
            if isinstance(logprobs.get("tokens"), list):  # legacy completions (and vLLM's)
                yield ("logprobs", "completion", index), _completion_tokens(path, logprobs)
    candidates = document.get("candidates")
    if isinstance(candidates, list):  # Gemini's
        for i, candidate in enumerate(candidates):
            result = candidate.get("logprobsResult") if isinstance(candidate, dict) else None
            if isinstance(result, dict) and isinstance(result.get("chosenCandidates"), list):
                index = _hashable(candidate.get("index", i))
                path = ("candidates", i, "logprobsResult")
                yield ("logprobs", "gemini", index), _gemini_tokens(path, result)
    pieces = document.get("tokens")  # llama.cpp's /tokenize with_pieces: the prompt's
    if isinstance(pieces, list) and pieces and isinstance(pieces[0], dict):
        yield ("prompt", number, "tokens"), _pieces(("tokens",), pieces)
    probabilities = document.get("completion_probabilities")  # llama.cpp's own `/completion`
    if isinstance(probabilities, list):
        path = ("completion_probabilities",)
        # Streamed, the next tokens; the last event's (older versions list them all again
        # there) and an answer's whole are a list of their own.
        if document.get("stop") is False:
            key = ("logprobs", "llama.cpp", _hashable(document.get("index")))
        else:
            key = ("logprobs", number, *path)
        yield key, _entries(path, probabilities)
    logprobs = document.get("logprobs")
    if isinstance(logprobs, list):
        if kind == "response.output_text.delta":  # the Responses API's streamed text
            where = tuple(
                _hashable(document.get(name))
                for name in ("item_id", "output_index", "content_index")
            )
            yield ("logprobs", "responses", *where), _entries(("logprobs",), logprobs)
        elif isinstance(kind, str):  # `response.output_text.done`, the whole text's
            yield ("logprobs", number, "logprobs"), _entries(("logprobs",), logprobs)
        else:  # Ollama's (a JSON line's next tokens), Cohere's v2 chat response
            yield ("logprobs", "top"), _entries(("logprobs",), logprobs)
    elif kind == "content-delta" and isinstance(logprobs, dict):  # Cohere's streamed
        key = ("logprobs", "cohere", _hashable(document.get("index")))
        yield key, _entry(("logprobs",), logprobs)
    yield from _tgi_lists(document, number)
    # A response's (`response.completed`'s, the end of Cohere's v1 generate stream's), or the
    # document's.
    roots: list[tuple[Path, Any]] = [((), document)]
    response = document.get("response")
    if isinstance(response, dict):
        roots.append((("response",), response))
    items: list[tuple[Path, Any]] = []
    for path, root in roots:
        generations = root.get("generations")  # Cohere's v1 generate
        for k, generation in enumerate(generations if isinstance(generations, list) else ()):
            if isinstance(generation, dict) and isinstance(
                generation.get("token_likelihoods"), list
            ):
                found: Path = (*path, "generations", k, "token_likelihoods")
                yield ("logprobs", number, *found), _entries(found, generation[found[-1]])
        output = root.get("output")  # content parts: the Responses API's output items'
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
    part: Any, path: Path, number: int
) -> Iterator[tuple[tuple[Hashable, ...], Iterator[_Token]]]:
    if isinstance(part, dict) and isinstance(part.get("logprobs"), list):
        yield ("logprobs", number, *path), _entries((*path, "logprobs"), part["logprobs"])


def _entries(path: Path, entries: list[Any]) -> Iterator[_Token]:
    for j, item in enumerate(entries):
        yield from _entry((*path, j), item)


def _entry(path: Path, item: Any) -> Iterator[_Token]:
    """A log probability's token: OpenAI's, Ollama's and llama.cpp's `{token, logprob, bytes,
    top_logprobs}` (llama.cpp's with an `id`; after sampling `prob` and `top_probs`), Cohere's
    `{text, token_ids, logprobs}` (a chunk of text and its tokens'), older llama.cpp's
    `{content, probs: [{tok_str, prob}]}`."""
    if not isinstance(item, dict):
        return
    if isinstance(item.get("token"), str):
        shape = "sampled" if "top_probs" in item else "entry"
        top = item.get(_TOP[shape])
        yield (*path, "token"), item["token"], len(top) if isinstance(top, list) else 0, shape
    elif isinstance(item.get("text"), str) and "token_ids" in item:
        yield (*path, "text"), item["text"], 0, "cohere"
    elif isinstance(item.get("content"), str) and isinstance(item.get("probs"), list):
        yield (*path, "content"), item["content"], len(item["probs"]), "probs"


# Where an entry's alternatives are, by its shape.
_TOP = {"entry": "top_logprobs", "sampled": "top_probs", "probs": "probs"}


def _tgi_lists(
    document: dict[str, Any], number: int
) -> Iterator[tuple[tuple[Hashable, ...], Iterator[_Token]]]:
    """Hugging Face TGI's tokens: `/generate_stream`'s next `token` (its alternatives in
    `top_tokens` beside it), `/generate`'s `details` (`tokens`, `top_tokens` a list of each's
    alternatives, the prompt's `prefill`, each of `best_of_sequences` alike)."""
    token = document.get("token")
    if isinstance(token, dict):
        top = document.get("top_tokens")
        yield ("logprobs", "tgi"), _tgi_token(("token",), token, top)
    details = document.get("details")
    if not isinstance(details, dict):
        return
    sequences = details.get("best_of_sequences")
    roots: list[tuple[Path, Any]] = [(("details",), details)]
    if isinstance(sequences, list):
        roots += [(("details", "best_of_sequences", k), s) for k, s in enumerate(sequences)]
    for path, root in roots:
        if not isinstance(root, dict):
            continue
        if isinstance(root.get("prefill"), list):
            prefill = root["prefill"]
            where = (*path, "prefill")
            yield ("prompt", number, *where), _tgi_tokens(where, prefill, [])
        if isinstance(root.get("tokens"), list):
            top = root.get("top_tokens")
            where = (*path, "tokens")
            tokens = _tgi_tokens(where, root["tokens"], top if isinstance(top, list) else [])
            yield ("logprobs", number, *where), tokens


def _tgi_tokens(path: Path, tokens: list[Any], top: list[Any]) -> Iterator[_Token]:
    for j, token in enumerate(tokens):
        yield from _tgi_token((*path, j), token, top[j] if j < len(top) else None)


def _tgi_token(path: Path, token: Any, top: Any) -> Iterator[_Token]:
    """A TGI token, `{id, text, logprob, special}`, and its alternatives (`top`); not a
    special one (`</s>`, which a client leaves out of the text)."""
    if not isinstance(token, dict) or token.get("special") is True:
        return
    if isinstance(token.get("text"), str) and "logprob" in token:
        yield (*path, "text"), token["text"], len(top) if isinstance(top, list) else 0, "tgi"


def _prompt_tokens(path: Path, positions: list[Any]) -> Iterator[_Token]:
    """vLLM's `prompt_logprobs`: at each position of the prompt (the first `null`), its
    alternatives keyed by their token ids, the prompt's token first, its `decoded_token`."""
    for j, position in enumerate(positions):
        if not isinstance(position, dict) or not position:
            continue
        key, first = next(iter(position.items()))
        if isinstance(first, dict) and isinstance(first.get("decoded_token"), str):
            yield (*path, j, key, "decoded_token"), first["decoded_token"], 0, "prompt"


def _pieces(path: Path, tokens: list[Any]) -> Iterator[_Token]:
    """llama.cpp's /tokenize with `with_pieces`: `{id, piece}` each (a piece that is not
    UTF-8 is a list of bytes: passed over)."""
    for j, token in enumerate(tokens):
        if isinstance(token, dict) and isinstance(token.get("piece"), str) and "id" in token:
            yield (*path, j, "piece"), token["piece"], 0, "piece"


def _completion_tokens(path: Path, logprobs: dict[str, Any]) -> Iterator[_Token]:
    """A legacy completion's `tokens` (beside `top_logprobs`, `text_offset`)."""
    for j, token in enumerate(logprobs["tokens"]):
        if isinstance(token, str):
            yield (*path, "tokens", j), token, 0, "completion"


def _gemini_tokens(path: Path, result: dict[str, Any]) -> Iterator[_Token]:
    """Gemini's `chosenCandidates` (beside `topCandidates`, a step's alternatives each)."""
    top = result.get("topCandidates")
    top = top if isinstance(top, list) else []
    for j, chosen in enumerate(result["chosenCandidates"]):
        if isinstance(chosen, dict) and isinstance(chosen.get("token"), str):
            step = top[j] if j < len(top) else None
            others = step.get("candidates") if isinstance(step, dict) else None
            count = len(others) if isinstance(others, list) else 0
            yield (*path, "chosenCandidates", j, "token"), chosen["token"], count, "gemini"


def events(body: str) -> Iterator[tuple[str, tuple[tuple[int, int], ...]]]:
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
    if isinstance(event.get("content"), str) and isinstance(event.get("stop"), bool):
        # llama.cpp's own `/completion` streamed: the next token's text.
        yield ("llama.cpp", _hashable(event.get("index"))), ("content",), event["content"]
        return
    block = event.get("contentBlockDelta")  # Amazon Nova's chunk (Bedrock's InvokeModel)
    if isinstance(block, dict):
        yield from _converse_pieces(block, ("contentBlockDelta",))
    elif isinstance(delta, dict) and "contentBlockIndex" in event:  # Bedrock's ConverseStream
        yield from _converse_pieces(event, ())
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


def _converse_pieces(event: dict[str, Any], path: Path) -> Iterator[tuple[Hashable, Path, str]]:
    """Bedrock's Converse stream deltas (`contentBlockDelta`, Amazon Nova's chunks too): a
    content block's `text`, a tool call's `toolUse.input`, reasoning's
    `reasoningContent.text`, a tool result's `toolResult[].text`, per content block
    (`contentBlockIndex`)."""
    delta = event.get("delta")
    if not isinstance(delta, dict):
        return
    index = _hashable(event.get("contentBlockIndex"))
    for field, inner in _CONVERSE_FIELDS:
        value, where = delta.get(field), (*path, "delta", field)
        if inner:
            value, where = value.get(inner) if isinstance(value, dict) else None, (*where, inner)
        if isinstance(value, str):
            yield ("converse", index, field), where, value
    results = delta.get("toolResult")  # a tool's result (a server-side tool's): a list
    for k, item in enumerate(results if isinstance(results, list) else ()):
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            yield (
                ("converse", index, "toolResult"),
                (*path, "delta", "toolResult", k, "text"),
                item["text"],
            )


def _bedrock_pieces(chunk: dict[str, Any]) -> Iterator[tuple[Hashable, Path, str]]:
    """A Bedrock InvokeModel chunk of a model streaming in its own shape: Amazon Titan's
    `outputText`, Meta Llama's `generation`, Anthropic's legacy `completion`, Cohere's `text`
    (beside a boolean `is_finished`), Mistral's `outputs[].text`, Cohere's
    `generations[].text` (each item of a list its own stream, by its `index`). (Anthropic's
    messages, Nova's and AI21 Jamba's OpenAI-like chunks are _json_pieces'.)"""
    index = _hashable(chunk.get("index"))
    for field in _BEDROCK_FIELDS:
        if isinstance(chunk.get(field), str):
            yield ("bedrock", field, index), (field,), chunk[field]
    if isinstance(chunk.get("text"), str) and isinstance(chunk.get("is_finished"), bool):
        yield ("bedrock", "text", index), ("text",), chunk["text"]
    for field in _BEDROCK_LISTS:
        items = chunk.get(field)
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                key = ("bedrock", field, _hashable(item.get("index", i)))
                yield key, (field, i, "text"), item["text"]


def _line_pieces(document: dict[str, Any]) -> Iterator[tuple[Hashable, Path, str]]:
    """The text of a JSON line that is a streamed answer's chunk by its own fields (not any
    record with a `response` or `text`): Ollama's (a `model` and a boolean `done`;
    `/api/chat`'s `message.content` and `thinking`, `/api/generate`'s `response` and
    `thinking`), Cohere's v1 (`event_type`: `text-generation`'s `text`, per generation;
    `tool-calls-chunk`'s tool plan, `text`, and a tool call's `parameters`)."""
    if isinstance(document.get("done"), bool) and isinstance(document.get("model"), str):
        message = document.get("message")
        if isinstance(message, dict):
            for field in ("content", "thinking"):
                if isinstance(message.get(field), str):
                    yield ("ollama", "message", field), ("message", field), message[field]
        for field in ("response", "thinking"):
            if isinstance(document.get(field), str):
                yield ("ollama", field), (field,), document[field]
        return
    kind = document.get("event_type")
    text = document.get("text")
    if kind == "text-generation" and isinstance(text, str):
        yield ("cohere-v1", _hashable(document.get("index"))), ("text",), text
    elif kind == "tool-calls-chunk":
        if isinstance(text, str):
            yield ("cohere-v1", "plan"), ("text",), text
        delta = document.get("tool_call_delta")
        if isinstance(delta, dict) and isinstance(delta.get("text"), str):
            yield ("cohere-v1", "plan"), ("tool_call_delta", "text"), delta["text"]
        if isinstance(delta, dict) and isinstance(delta.get("parameters"), str):
            key = ("cohere-v1", "tool", _hashable(delta.get("index")))
            yield key, ("tool_call_delta", "parameters"), delta["parameters"]


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
        audio = delta.get("audio")  # an audio answer's transcript
        if isinstance(audio, dict) and isinstance(audio.get("transcript"), str):
            path = ("choices", i, "delta", "audio", "transcript")
            yield ("chat", index, "audio"), path, audio["transcript"]


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _value_spans(data: str) -> dict[tuple[Segment, ...], tuple[int, int]]:
    """The span in `data` (one JSON document) of the value at each path: a string token, a
    number or literal, an array or object (the last one of a path, as a parser keeps the last
    of duplicate keys). One pass over the document."""
    found: dict[tuple[Segment, ...], tuple[int, int]] = {}
    keys: list[Segment] = []  # the path of the value about to be read
    objects: list[bool] = []
    opened: list[tuple[tuple[Segment, ...], int]] = []  # each open array's or object's path, start
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
            opened.append((tuple(keys), match.start()))
            objects.append(first == "{")
            keys.append(0)
            key_next = first == "{"
        elif first in "}]":
            if opened:
                path, start = opened.pop()
                found[path] = (start, match.end())
            objects.pop()
            keys.pop()
            key_next = False
        elif key_next:
            if first != '"':
                keys[-1] = token
            else:  # most keys hold no escape: no parser needed
                keys[-1] = token[1:-1] if "\\" not in token else json.loads(token)
        elif keys:
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
