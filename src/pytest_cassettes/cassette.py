"""The cassette of one running test: an indexed store of what it may replay and what it records."""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, TypeVar
from urllib.parse import urlparse

from pytest_cassettes import large, storage
from pytest_cassettes.bodies import normalize_response
from pytest_cassettes.detect import SCRUBBED_RE
from pytest_cassettes.errors import (
    CassetteError,
    CassetteMissingError,
    PlaceholderSentError,
    ScrubError,
    UnmatchedRequestError,
    quoted,
)
from pytest_cassettes.libraries import Request, vcr_matchers
from pytest_cassettes.network import is_this_machine

_T = TypeVar("_T")

Matcher = Callable[[Any, Any], Any]
Prepare = Callable[[Any], Optional[Any]]
Scrub = Callable[[Any], "tuple[Any, int]"]

RECORDING_MODES = frozenset({"once", "new_episodes", "all", "rewrite"})


def _normalized_uri(request: Any) -> str:
    uri: str = request.uri
    # vcrpy 8+ keeps the parsed URI on the request; vcrpy 7 (Python 3.9) parses on demand.
    parsed = getattr(request, "parsed_uri", None) or urlparse(uri)
    if parsed.path:
        return uri
    authority = f"{parsed.scheme}://{parsed.netloc}"
    return authority + "/" + uri[len(authority) :] if uri.startswith(authority) else uri


def bracketed_ipv6(uri: str) -> str | None:
    """The URI with its IPv6 host in brackets, or None when it needs no change.

    vcrpy's stubs spell the URI from the connection's host as is: `http://::1:8080/x`, which
    `urlparse` (and so vcrpy's own `host` and `port` matchers) cannot read. Live requests get
    the brackets where the URI is spelled (patching.bracketed_ipv6_uris); cassettes vcrpy wrote
    keep its spelling, read here with a guess: the port is the last colon's digits when what
    is before them is an IPv6 address, unless they are a single digit or the scheme's default
    port, which vcrpy leaves out (`http://::1/x` is [::1]:80)."""
    if uri.count(":") < 3:  # scheme, and at least two in an IPv6 host: most URIs stop here
        return None
    scheme, sep, rest = uri.partition("://")
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark, 0, end)
        if found != -1:
            end = found
    authority = rest[:end]
    if not sep or authority.count(":") < 2 or "[" in authority or "@" in authority:
        return None
    host, _, port = authority.rpartition(":")
    default = {"http": "80", "https": "443"}.get(scheme.lower())
    if port.isdigit() and len(port) > 1 and port != default and _is_ipv6(host):
        fixed = f"[{host}]:{port}"
    elif _is_ipv6(authority):
        fixed = f"[{authority}]"
    else:
        return None
    return f"{scheme}://{fixed}{rest[end:]}"


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# Index keys for vcrpy's built-in matchers. A key is a necessary condition of its matcher, so
# only requests in the same bucket can match; matchers whose key is also sufficient are skipped.
KEYS: dict[Matcher, Callable[[Any], Any]] = {
    vcr_matchers.method: lambda r: r.method,
    vcr_matchers.scheme: lambda r: r.scheme,
    vcr_matchers.host: lambda r: r.host,
    vcr_matchers.port: lambda r: r.port,
    vcr_matchers.path: lambda r: r.path or "/",
    vcr_matchers.query: lambda r: tuple(r.query),
    vcr_matchers.uri: _normalized_uri,
}
SUFFICIENT = frozenset(
    {
        vcr_matchers.method,
        vcr_matchers.scheme,
        vcr_matchers.host,
        vcr_matchers.port,
        vcr_matchers.query,
    }
)

# The matchers that compare a request's URL (see Cassette.redirect_hops).
URL_MATCHERS = frozenset(
    {
        vcr_matchers.uri,
        vcr_matchers.scheme,
        vcr_matchers.host,
        vcr_matchers.port,
        vcr_matchers.path,
        vcr_matchers.query,
    }
)


def matcher_passes(matcher: Matcher, live: Any, stored: Any) -> bool:
    """vcrpy's protocol: a matcher fails by raising AssertionError or returning False."""
    try:
        return matcher(live, stored) is not False
    except AssertionError:
        return False


def matcher_failure(matcher: Matcher, live: Any, stored: Any) -> str | None:
    """None if the matcher passes, else its AssertionError's message ('' for none or False);
    vcrpy's `headers` and `query` matchers' say which headers and parameters differ."""
    try:
        passed = matcher(live, stored) is not False
    except AssertionError as error:
        if matcher is vcr_matchers.headers:
            return _headers_differ(live.headers, stored.headers) or str(error)
        if matcher is vcr_matchers.query:
            return _query_differs(live, stored) or str(error)
        return str(error)
    return None if passed else ""


def _headers_differ(live: Any, stored: Any) -> str:
    """Each header that differs, a line each (by name, case-insensitive as vcrpy compares them).
    vcrpy's message is both requests' headers in full: cut at MESSAGE_LINE_LENGTH, the long
    headers that match hid the one that differs."""
    if not isinstance(live, Mapping) or not isinstance(stored, Mapping):
        return ""
    return _differing(
        {str(name).lower(): (str(name), repr(value)) for name, value in live.items()},
        {str(name).lower(): (str(name), repr(value)) for name, value in stored.items()},
    )


def _query_differs(live: Any, stored: Any) -> str:
    """Each query parameter that differs, a line each. vcrpy's message is both queries in
    full: cut at MESSAGE_LINE_LENGTH, a presigned URL's hid the one that differs
    (`X-Amz-Date`)."""
    try:
        return _differing(_query_values(live.query), _query_values(stored.query))
    except (AttributeError, TypeError, ValueError):
        return ""


def _query_values(query: Any) -> dict[str, tuple[str, str]]:
    values: dict[str, list[str]] = {}
    for name, value in query:
        values.setdefault(str(name), []).append(str(value))
    return {
        name: (name, repr(items[0]) if len(items) == 1 else repr(items))
        for name, items in values.items()
    }


def _differing(sent: Mapping[str, tuple[str, str]], recorded: Mapping[str, tuple[str, str]]) -> str:
    """`name: value, recorded value` for each key whose (name, shown value) differs."""
    lines = []
    for key in sorted(sent.keys() | recorded.keys()):
        if key not in recorded:
            lines.append(f"{sent[key][0]}: {sent[key][1]}, not recorded")
        elif key not in sent:
            lines.append(f"{recorded[key][0]}: not sent, recorded {recorded[key][1]}")
        elif sent[key][1] != recorded[key][1]:
            lines.append(f"{sent[key][0]}: {sent[key][1]}, recorded {recorded[key][1]}")
    return "\n".join(lines)


# A matcher's message under the closest requests, as vcrpy shortens its body diffs: the first
# lines (a body diff's headers and its changed lines), each cut; pytest's explanation of a
# rewritten `assert` without its `Full diff:`, which says again what the lines before it do.
MESSAGE_LINES = 6
MESSAGE_LINE_LENGTH = 200


def _shortened(message: str) -> list[str]:
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    lines = list(
        itertools.takewhile(lambda line: not line.lstrip().startswith("Full diff:"), lines)
    )
    kept = [
        line if len(line) <= MESSAGE_LINE_LENGTH else line[:MESSAGE_LINE_LENGTH] + "\u2026"
        for line in lines[:MESSAGE_LINES]
    ]
    if len(lines) > MESSAGE_LINES:
        more = len(lines) - MESSAGE_LINES
        kept.append(f"\u2026 ({more} more line{'s' if more > 1 else ''})")
    return kept


def _signature(request: Any) -> tuple[Any, ...]:
    """What a filter or scrubber sees of a request: equal signatures, equal outcomes."""
    headers = sorted((str(k).lower(), str(v)) for k, v in request.headers.items())
    return (request.method, request.uri, request.body, headers)


def request_body(request: Any) -> Any:
    """The request body as bytes, whatever vcrpy stored (bytes, file, iterator); or the Python
    data vcrpy's aiohttp stub keeps for `json=` and `data=` (a mapping, a list of pairs), which
    is written as it is, as vcrpy writes it."""
    body = getattr(request, "_body", request.body)
    if isinstance(body, list) and all(isinstance(chunk, bytes) for chunk in body):
        return b"".join(body)  # an iterator's chunks
    return bytes(body) if isinstance(body, (bytearray, memoryview)) else body


def stored_form(
    request: Any, response: dict[str, Any], large_bodies: bool = False
) -> storage.Interaction:
    """An interaction as it is written to the cassette file.

    `large_bodies`: a large body as `large.LargeBody`, for our YAML writer (see large.py)."""
    body = response.get("body", {})
    if body:
        data = large.unspilled(body.get("string"))
        as_large = large.large_body(data) if large_bodies else None
        body = {**body, "string": as_large or storage.to_text(data)}
    return {
        "request": {
            "method": request.method,
            "uri": request.uri,
            "body": storage.to_text(request_body(request)),
            "headers": {name: [value] for name, value in request.headers.items()},
        },
        "response": {**response, "body": body},
    }


def _stored_request(raw: storage.Interaction) -> Any:
    req = raw["request"]
    return Request(req["method"], req["uri"], req.get("body"), req.get("headers") or {})


def loaded_form(raw: storage.Interaction) -> tuple[Any, dict[str, Any]]:
    """A stored interaction as vcrpy's stubs want it: a Request and a response with bytes."""
    request = _stored_request(raw)
    response = raw["response"]
    body = response.get("body")
    if isinstance(body, dict) and isinstance(body.get("string"), str):
        response = {**response, "body": {**body, "string": body["string"].encode("utf-8")}}
    return request, normalize_response(response)


class Entry:
    """One interaction the test may replay. Two identical interactions are still two entries
    (compared by identity).

    Written by hand, as this module's other classes, not as a dataclass (see values.py)."""

    __slots__ = ("key", "plays", "raw", "request", "response", "source")

    def __init__(
        self,
        request: Any,
        response: dict[str, Any],
        source: Path,
        raw: storage.Interaction | None,  # the stored form, for own interactions that may go
    ) -> None:
        self.request = request
        self.response = response
        self.source = source
        self.raw = raw
        self.plays = 0
        self.key: tuple[Any, ...] = ()  # its bucket in the cassette's index

    def forget_response(self) -> None:
        """Let a played response (a large body) go once nothing can use it any more.

        Only unplayed entries are ever dropped from the file (`Cassette._dropped`: "all" mode
        plays none while it records, drop_unused_requests drops the unplayed), so a played
        entry needs neither its response nor its stored form."""
        self.response = {**self.response, "body": {"string": b""}}
        self.raw = None


def _form_data_fields(body: Any) -> list[tuple[str, Any]] | None:
    """aiohttp's `FormData` (`data=` a form or file upload) as the (name, value) pairs vcrpy
    keeps a `data=` list as: vcrpy keeps the object itself, which no cassette can store (the
    test passed, then its recording was lost at teardown). A file's contents are read, and the
    file rewound for aiohttp to send."""
    if type(body).__name__ != "FormData" or not type(body).__module__.startswith("aiohttp"):
        return None
    kept: list[tuple[str, Any]] | None = getattr(body, _FORM_FIELDS, None)
    if kept is not None:
        return kept  # a form sent again (a retry): aiohttp emptied its fields the first time
    fields: list[tuple[str, Any]] = []
    for options, _, value in getattr(body, "_fields", ()):
        if hasattr(value, "read"):
            seekable = getattr(value, "seekable", lambda: False)()
            if seekable:
                position = value.tell()
                value, _ = value.read(), value.seek(position)
            else:
                value = "<unreadable stream>"  # a pipe: read, aiohttp would send nothing
        fields.append((str(options.get("name", "")), value))
    with contextlib.suppress(AttributeError):
        setattr(body, _FORM_FIELDS, fields)
    return fields


_FORM_FIELDS = "_pytest_cassettes_fields"


def _holds_placeholder(response: dict[str, Any]) -> bool:
    """Whether a stored response had something scrubbed (a header or its body)."""
    for values in (response.get("headers") or {}).values():
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(value, str) and SCRUBBED_RE.search(value):
                return True
    body = (response.get("body") or {}).get("string")
    if isinstance(body, bytes):
        body = body.decode("latin-1")
    return isinstance(body, str) and SCRUBBED_RE.search(body) is not None


def _placeholder_in(request: Any, cookies: bool = False) -> str | None:
    """Where a live request carries one of our placeholders (`<SCRUBBED>`, encoded or not).
    Cookies are looked at only when asked (after a `use_cassette` block replayed a scrubbed
    login: its session cookie): a client sends back every cookie a replay set (a load
    balancer's, a bot filter's), which servers take in their stride."""
    if SCRUBBED_RE.search(request.uri):
        return "URL"
    for name, value in request.headers.items():
        text = value if isinstance(value, str) else str(value)
        if (cookies or name.lower() != "cookie") and SCRUBBED_RE.search(text):
            return f"{name} header"
    body = request.body
    if isinstance(body, (bytes, bytearray)) and SCRUBBED_RE.search(body.decode("latin-1")):
        return "body"
    if isinstance(body, str) and SCRUBBED_RE.search(body):
        return "body"
    return None


class Context:
    """What the error messages need to know about the running test."""

    __slots__ = ("argument", "mode", "named", "nodeid", "reason")

    def __init__(
        self,
        nodeid: str,
        mode: str,
        reason: str,
        named: bool = False,  # the marker names the cassette: other tests may share it
        # A node id (or its file) as the pytest commands the messages print take it.
        argument: Callable[[str], str] = quoted,
    ) -> None:
        self.nodeid = nodeid
        self.mode = mode
        self.reason = reason
        self.named = named
        self.argument = argument


class Cassette:
    """The cassette(s) of one test. Exposed to tests through the `cassette` fixture.

    A test's cassette is equal to itself only (list.index finds that one)."""

    def __init__(
        self,
        path: Path,
        shared_paths: tuple[Path, ...],
        record_mode: str,
        context: Context,
        matchers: Sequence[Matcher],
        *,
        prepare_request: Prepare = lambda r: r,
        # None: no response filter (scrub_response copies the response the stubs still use).
        prepare_response: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        scrub_request: Scrub = lambda r: (r, 0),
        # (response, the request it answers) -> (scrubbed response or None, values scrubbed)
        scrub_response: Callable[[dict[str, Any], Any], tuple[dict[str, Any] | None, int]] = (
            lambda r, request: (r, 0)
        ),
        allow_playback_repeats: bool = False,
        replay_only: bool = False,
        strict: bool = False,
        codec: storage.Codec = storage.YAML,
        # Shared by the process's cassettes: [0] is set once a `use_cassette` block's cassette
        # (`hands_out`) replayed a response holding a placeholder (a login's token): a test's
        # request carrying one is then refused too (see _check_no_placeholder).
        handed_out: list[bool] | None = None,
        # The identities of stored interactions found with nothing to scrub (see
        # _check_kept), shared by the session's cassettes of the same scrubbing rules.
        clean: set[str] | None = None,
        # (request, response) -> values the rules would scrub in a stored interaction.
        count_secrets: Callable[[Any, dict[str, Any]], int] = lambda request, response: 0,
        hands_out: bool = False,
        errors: list[CassetteError] | None = None,
        # Hosts of live requests a scrub function dropped (returned None): sent unrecorded,
        # and the network guard's error names the function rather than `ignore_hosts`.
        dropped_hosts: set[str] | None = None,
    ) -> None:
        self.path = path
        self.shared_paths = shared_paths
        self.record_mode = record_mode
        self.context = context
        self.matchers = matchers
        self.prepare_request = prepare_request
        self.prepare_response = prepare_response
        self.scrub_request = scrub_request
        self.scrub_response = scrub_response
        self.allow_playback_repeats = allow_playback_repeats
        self.replay_only = replay_only
        self.strict = strict
        self.codec = codec
        self.handed_out = [False] if handed_out is None else handed_out
        self.clean: set[str] = set() if clean is None else clean
        self.count_secrets = count_secrets
        self.hands_out = hands_out
        self.errors: list[CassetteError] = [] if errors is None else errors
        self.dropped_hosts: set[str] = set() if dropped_hosts is None else dropped_hosts
        self.persisted: storage.Persisted | None = None  # a persister registered by a plugin
        self.own_exists = False
        # Collected tests whose markers name this cassette first, one more in a run that did
        # not collect every module (Session.open).
        self.sharing = 1
        # The stored requests of the own cassette as loaded (a played entry lets its stored
        # form go: see Entry.forget_response), to tell at save what other processes wrote
        # meanwhile.
        self.own_requests: list[Any] = []
        # How many secret values the last save kept of interactions recorded unscrubbed before.
        self.secrets_kept = 0
        self.entries: list[Entry] = []
        self.recorded: list[tuple[Any, dict[str, Any]]] = []
        self.scrubbed = 0
        # Rewrite: the old own interactions go.
        self.preset_drop: list[str] = []
        # The own interactions are never replayed, and those the test sends again are
        # replaced ("all"; "rewrite" of a cassette others may record into too: Session.open).
        self.replaces = record_mode == "all" and self.can_record
        # Rewrite: the run's id (its first write removes the old).
        self.rewrite_run: str | None = None
        # A rewrite in part: the identities of what the file held when the run first opened it
        # (storage.run_old), the only ones replaced; and the run's id, to record what was.
        self.old: Counter[str] | None = None
        self.replace_run: str | None = None
        self._lock = threading.RLock()
        self._key_funcs = [KEYS[m] for m in self.matchers if m in KEYS]
        self._check = [m for m in self.matchers if m not in SUFFICIENT]
        self._index: dict[tuple[Any, ...], list[int]] = {}
        # Per bucket: how many of its leading entries are played (skipped by lookups).
        self._skip: dict[tuple[Any, ...], int] = {}
        # id(live request) -> (request, prepared, matched index, values scrubbed)
        self._pending: dict[int, tuple[Any, Any, int | None, int]] = {}
        # Per thread: the request `take` prepared and did not play, (signature, prepared,
        # values scrubbed), so the stubs' path after it does not run the filters again.
        self._carry = threading.local()
        # id(request) -> the shared entry a live request stands in for (see _goes_live)
        self._shared_live: dict[int, int] = {}
        self._played_any = False  # whether a response was replayed (see _check_no_placeholder)
        # id(live request) -> (request, prepared): sent to be recorded, no response recorded yet
        self._sent: dict[int, tuple[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"<Cassette {str(self.path)!r} mode={self.record_mode} entries={len(self.entries)}>"

    # --- loading ---------------------------------------------------------------------------

    def load(
        self, snapshot: storage.Snapshot | None, source: Path, own: bool, scrub: Scrub | None = None
    ) -> None:
        """Add a cassette file's interactions to what this test may replay.

        `scrub`: one scrubber for all of them (stored interactions were scrubbed when recorded;
        this catches older cassettes), instead of the live requests' per-request lookup."""
        if snapshot is None:
            return
        if own and not self.replay_only:  # read at save only, which a replay-only run skips
            self.own_requests = [raw.get("request") for raw in snapshot.interactions]
        for raw in snapshot.interactions:
            request, response = loaded_form(raw)
            prepared, _ = self._prepare(request, scrub)
            if prepared is None:
                continue
            self._add(Entry(prepared, response, source, raw if own else None))

    def _add(self, entry: Entry) -> None:
        entry.key = self._key(entry.request)
        self.entries.append(entry)
        if not (self.replaces and entry.raw is not None):  # one to replace is never found
            self._index.setdefault(entry.key, []).append(len(self.entries) - 1)

    def _key(self, request: Any) -> tuple[Any, ...]:
        return tuple(key(request) for key in self._key_funcs)

    def _prepare(self, request: Any, scrub: Scrub | None = None) -> tuple[Any | None, int]:
        bracketed = bracketed_ipv6(request.uri)
        if bracketed is not None:  # before the hooks: ignore_hosts reads the host
            request = copy.copy(request)
            request.uri = bracketed
        fields = _form_data_fields(request.__dict__.get("_body"))
        if fields is not None:
            request = copy.copy(request)
            request.body = fields
        filtered = self.prepare_request(request)
        if filtered is None:
            return None, 0
        if scrub is not None:  # a stored request, as the cassette is loaded
            return scrub(filtered)
        scrubbed = self._scrubbing("request", request, lambda: self.scrub_request(filtered))
        if scrubbed[0] is None:
            with self._lock:
                self.dropped_hosts.add(request.host.strip("[]").lower())
        return scrubbed

    # --- what vcrpy's stubs ask (through the router) ---------------------------------------

    @property
    def can_record(self) -> bool:
        """Whether a request the cassette does not hold may go out and be recorded."""
        if self.replay_only or self.record_mode not in RECORDING_MODES:
            return False
        return not (self.record_mode == "once" and self.own_exists)

    def prepared(self, request: Any) -> Any | None:
        """The live request as it is matched and stored (filtered, scrubbed), or None if ignored."""
        with self._lock:
            pending = self._pending.get(id(request))
            if pending is not None and pending[0] is request:
                return pending[1]
        carried = getattr(self._carry, "last", None)
        if carried is not None:
            self._carry.last = None
        if carried is not None and carried[0] == _signature(request):
            prepared, count = carried[1], carried[2]
        else:
            prepared, count = self._prepare(request)
        with self._lock:
            self._pending[id(request)] = (request, prepared, None, count)
        return prepared

    def can_play(self, request: Any) -> bool:
        """True to replay; False to send it (and record it); raises when neither is allowed."""
        __tracebackhide__ = True
        prepared = self.prepared(request)
        if prepared is None:
            return False  # an ignored host: vcrpy sends it without recording
        with self._lock:
            if self.record_mode == "all" and self.can_record:
                self._sent[id(request)] = (request, prepared)
                return False
            index = self._find(prepared)
            if index is not None and self._goes_live(index):
                self._shared_live[id(request)] = index
                return False
            if index is not None:
                pending = self._pending[id(request)]
                self._pending[id(request)] = (request, prepared, index, pending[3])
                return True
        if self.can_record:
            self._check_no_placeholder(request)
            with self._lock:
                self._sent[id(request)] = (request, prepared)
            return False
        raise self._fail(prepared)

    def will_send(self, request: Any) -> bool:
        """Whether the stubs are to send `request` to record it, asked before its response is:
        as `can_play` decides, without its side effects (the body may grow meanwhile), but for
        the placeholder check `can_play` makes after (the connection is then left unused).
        The preparation is carried to `prepared`, which checks it is still the same request."""
        if not self.can_record:
            return False
        if not self.entries or self.record_mode == "all":
            return True
        signature = _signature(request)
        carried = getattr(self._carry, "last", None)
        if carried is None or carried[0] != signature:
            # Left for `prepared`, as `take` leaves it, unless the request changes meanwhile.
            self._carry.last = carried = (signature, *self._prepare(request))
        prepared = carried[1]
        if prepared is None:
            return True
        with self._lock:
            index = self._find(prepared)
            return index is None or self._goes_live(index)

    def connect_failed(self, request: Any) -> None:
        """A request `will_send` let out whose connection failed (see
        patching.connecting_requests): it got no response, as one that timed out."""
        prepared = self.prepared(request)
        if prepared is not None:
            with self._lock:
                self._sent[id(request)] = (request, prepared)

    def take(
        self, request: Any, accept: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any] | None:
        """The recorded response for `request`, marked played, if the cassette replays it now;
        None when it would be sent, recorded or refused, which `can_play` then decides.

        `accept`: whether the caller can hand over the response `play` would give; if not,
        nothing is played and None is returned."""
        self.drop_carried()
        if not self.entries or (self.record_mode == "all" and self.can_record):
            return None
        prepared, count = self._prepare(request)
        if prepared is not None:
            with self._lock:
                index = self._find(prepared)
                if (
                    index is not None
                    and not self._goes_live(index)
                    and (accept is None or accept(self.entries[index].response))
                ):
                    return self._played(index)
        # The stubs' path asks `prepared` next, on this thread, for the request it builds (the
        # filters and scrubbers work on copies: the request is as it was).
        self._carry.last = (_signature(request), prepared, count)
        return None

    def drop_carried(self) -> None:
        """Forget what `take` prepared on this thread: it serves the one send that asked."""
        self._carry.last = None

    def play(self, request: Any) -> dict[str, Any]:
        """The recorded response for a request `can_play` accepted; marks it played."""
        __tracebackhide__ = True
        with self._lock:
            pending = self._pending.pop(id(request), None)
            index: int | None = None
            if pending is not None and pending[0] is request and pending[2] is not None:
                index = pending[2]
                if self.entries[index].plays and not self.allow_playback_repeats:
                    index = None  # another thread played it since can_play: find the next
            if index is None:
                if pending is not None and pending[0] is request:
                    prepared = pending[1]
                else:
                    prepared = self._prepare(request)[0]
                index = self._find(prepared) if prepared is not None else None
                if index is None:
                    raise self._fail(prepared if prepared is not None else request)
            return self._played(index)

    def _goes_live(self, index: int) -> bool:
        """Whether a shared cassette's interaction is sent instead of replayed: while the
        test's own cassette is recorded anew, one whose recording was scrubbed (a login's
        token) would hand the test `<SCRUBBED>`, which its recorded requests would then send
        to the server. Sent, it gives the real one; it is not recorded (the shared cassette
        has it)."""
        entry = self.entries[index]
        if entry.source == self.path or not self.can_record or self.own_exists:
            return False  # `new_episodes` adding to a recording: it replays, as that one did
        return _holds_placeholder(entry.response)

    def _played(self, index: int) -> dict[str, Any]:
        # Under self._lock.
        entry = self.entries[index]
        entry.plays += 1
        self._played_any = True
        response = entry.response
        if self.hands_out and not self.handed_out[0] and _holds_placeholder(response):
            self.handed_out[0] = True
        if not self.allow_playback_repeats:
            entry.forget_response()  # it cannot be played again: the stub has it now
        self._advance(entry.key)
        # The stubs may edit headers; hand them a copy of the stored dict.
        return {**response, "headers": dict(response.get("headers") or {})}

    def record(
        self, request: Any, response: dict[str, Any], decoded: bool, normalized: dict[str, Any]
    ) -> None:
        """Keep a live interaction, filtered, decoded and scrubbed, to save at the end.

        `response` is as the client library gave it (`decoded`: its body is decoded already,
        see already_decoded.py), which a `prepare_response` filter is handed; `normalized` is
        `normalize_response(response, decoded)`, which the caller hands the client too: the
        body is decoded once for both (a filter's result is decoded again)."""
        prepared = self.prepared(request)
        with self._lock:
            pending = self._pending.pop(id(request), None)
            shared = self._shared_live.pop(id(request), None)
            self._answered(request, prepared)
        if shared is not None:
            # A shared interaction sent live: played, not recorded; its scrubbing teaches the
            # cassette its secrets (a token then sent in a path is scrubbed there).
            with self._lock:
                self._played(shared)
            copied = copy.deepcopy(normalized)
            self._scrubbing("response", request, lambda: self.scrub_response(copied, request))
            return
        if prepared is None:
            return
        request_count = pending[3] if pending is not None else 0
        if self.prepare_response is not None:
            filtered = self.prepare_response(copy.deepcopy(response))
            if filtered is None:
                return
            normalized = normalize_response(filtered, decoded)
        scrubbed, count = self._scrubbing(
            "response", request, lambda: self.scrub_response(normalized, request)
        )
        if scrubbed is None:  # a user's scrub hook dropped it
            return
        response = large.spill(scrubbed)  # a large body waits on disk, not beside the client's
        with self._lock:
            self.recorded.append((prepared, response))
            self.scrubbed += count + request_count

    def _scrubbing(self, what: str, request: Any, scrub: Callable[[], _T]) -> _T:
        """`scrub()`, the scrubbing of a live request's `what`. What it raises (a scrub hook's
        error, or a fault of ours on a body's shape) fails the test even where the client
        swallows it (an SDK's retry loop): the interaction is lost."""
        __tracebackhide__ = True
        try:
            return scrub()
        except CassetteError:
            raise
        except Exception as exc:
            error = ScrubError(
                request=f"{request.method} {request.uri}",
                test=self.context.nodeid,
                what=what,
                problem=f"{type(exc).__name__}: {exc}",
            )
            with self._lock:
                self.errors.append(error)
            raise error from exc

    def _answered(self, request: Any, prepared: Any) -> None:
        # Under self._lock. aiohttp's stub records a followed redirect's first hop as a new
        # request object: the one sent is then found by its method and URI.
        if self._sent.pop(id(request), None) is not None or prepared is None:
            return
        for key, (_, sent) in self._sent.items():
            if (sent.method, sent.uri) == (prepared.method, prepared.uri):
                del self._sent[key]
                return

    def _find(self, prepared: Any) -> int | None:
        if not self.entries:  # recording a new cassette: no key to compute
            return None
        key = self._key(prepared)
        bucket = self._index.get(key)
        if not bucket:
            return None
        for index in bucket[self._skip.get(key, 0) :]:
            entry = self.entries[index]
            if entry.plays:
                continue
            if all(matcher_passes(m, prepared, entry.request) for m in self._check):
                return index
        if not self.allow_playback_repeats:
            return None
        # Every match played: repeat the last one recorded. Matches play in their order first,
        # as they were recorded: a polling test (running, running, done) replays as it ran, and
        # polls past the recording get the final answer (vcrpy repeats the first one always).
        for index in reversed(bucket):
            if all(matcher_passes(m, prepared, self.entries[index].request) for m in self._check):
                return index
        return None

    def _advance(self, key: tuple[Any, ...]) -> None:
        # Requests repeated many times (polling) would rescan their played entries: skip them.
        bucket, skip = self._index.get(key, []), self._skip.get(key, 0)
        while skip < len(bucket) and self.entries[bucket[skip]].plays:
            skip += 1
        self._skip[key] = skip

    # --- errors ----------------------------------------------------------------------------

    def _check_no_placeholder(self, request: Any) -> None:
        """Refuse to send, to record it, a request carrying a placeholder this cassette's
        replayed responses, or a `use_cassette` block's, handed out (`Bearer <SCRUBBED>`
        after a replayed login)."""
        __tracebackhide__ = True
        if not (self._played_any or self.handed_out[0]):  # flags: scanning was quadratic
            return
        where = _placeholder_in(request, cookies=self.handed_out[0])
        if where is None:
            return
        error = PlaceholderSentError(
            request=f"{request.method} {request.uri}",
            test=self.context.nodeid,
            where=where,
            argument=self.context.argument(self.context.nodeid),
        )
        with self._lock:
            self.errors.append(error)
        raise error

    def _fail(self, prepared: Any) -> CassetteError:
        ctx = self.context
        if not self.own_exists and not self.entries:
            error: CassetteError = CassetteMissingError(
                test=ctx.nodeid,
                path=str(self.path),
                mode=ctx.mode,
                reason=ctx.reason,
                # After a block replayed a scrubbed login, `once` would send its placeholder:
                # `rewrite` logs in afresh too.
                record_command=(
                    f"pytest --record-mode={'rewrite' if self.handed_out[0] else 'once'} "
                    + ctx.argument(ctx.nodeid)
                ),
            )
        else:
            error = UnmatchedRequestError(
                request=f"{prepared.method} {prepared.uri}",
                test=ctx.nodeid,
                cassettes=[str(p) for p in (self.path, *self.shared_paths)],
                mode=ctx.mode,
                reason=ctx.reason,
                closest=self.closest(prepared),
                hint=self._hint(prepared),
            )
        with self._lock:
            self.errors.append(error)
        return error

    def redirect_hops(self, prepared: Any) -> list[Any]:
        """The recorded requests aiohttp's stub may play for a redirect it follows, best first.

        The stub asks for the Location (joined to the live URL) as a GET, with the previous
        request's headers and no body: only the URL is known (a 307 or 308 keeps the method, a
        HEAD follows as a HEAD). So a hop is a recorded request whose URL passes the
        cassette's URL matchers (`uri`, `scheme`, `host`, `port`, `path`, `query` in its
        `match_on`; the same URI if it has none), as vcrpy's cassette ranks the requests by
        its matchers: a `match_on` without the port replays a redirect recorded on another
        port. The same method first, then the same URI; played ones only with
        `allow_playback_repeats` (the stub plays the first that `can_play`, which raises for a
        played one)."""
        url_matchers = [m for m in self.matchers if m in URL_MATCHERS]

        def same_url(stored: Any) -> bool:
            if not url_matchers:
                return bool(stored.uri == prepared.uri)
            return all(matcher_passes(m, prepared, stored) for m in url_matchers)

        hops = [
            entry
            for entry in self.entries
            if (not entry.plays or self.allow_playback_repeats) and same_url(entry.request)
        ]
        hops.sort(
            key=lambda entry: (
                entry.request.method != prepared.method,
                entry.request.uri != prepared.uri,
                entry.plays > 0,
            )
        )
        return [entry.request for entry in hops]

    def closest(self, prepared: Any, limit: int = 3) -> list[str]:
        """The recorded requests that pass the most matchers, with the matchers that differ
        and, under the request, how: each one's message, shortened (lines after the first)."""
        scored = []
        for entry in self.entries:
            failed = [
                (m, message)
                for m in self.matchers
                if (message := matcher_failure(m, prepared, entry.request)) is not None
            ]
            if len(failed) < len(self.matchers):
                scored.append((len(failed), entry, failed))
        scored.sort(key=lambda item: item[0])
        lines = []
        for _, entry, failed in scored[:limit]:
            names = [getattr(m, "__name__", repr(m)) for m, _ in failed]
            differs = ", ".join(names) or "nothing"
            played = f", already played {entry.plays}x" if entry.plays else ""
            text = [f"{entry.request.method} {entry.request.uri} (differs in: {differs}{played})"]
            for name, (_, message) in zip(names, failed):
                first, *rest = _shortened(message) or [""]
                if first:
                    text.append(f"  {name}: {first}")
                    text.extend(f"    {line}" for line in rest)
            lines.append("\n".join(text))
        return lines

    def _hint(self, prepared: Any) -> str:
        local = self._local_server_hint(prepared)
        return local + self._mode_hint(prepared) if local else self._mode_hint(prepared)

    def _local_server_hint(self, prepared: Any) -> str:
        """A request to this machine recorded on another port only: the test's own server."""
        live = urlparse(prepared.uri)
        if not is_this_machine(live.hostname):
            return ""
        for entry in self.entries:
            stored = urlparse(entry.request.uri)
            if (
                entry.request.method == prepared.method
                and is_this_machine(stored.hostname)
                and (stored.scheme, stored.path, stored.query)
                == (live.scheme, live.path, live.query)
                and stored.port != live.port
            ):
                return (
                    "  Only its port differs, on this machine: a server the test starts itself "
                    "(pytest-django's live_server, uvicorn in a thread, aiohttp's test server) "
                    "takes a free port each run, and a recording of it replays your app's "
                    "answers without running the app. Keep it out of the cassette with "
                    "ignore_localhost=True (or ignore_hosts=['localhost']), let replay-only "
                    "runs reach it with `cassette_allow_hosts = localhost`, and re-record with "
                    "--record-mode=rewrite.\n"
                )
        return ""

    def _mode_hint(self, prepared: Any) -> str:
        ctx = self.context
        repeats = [
            e
            for e in self.entries
            if e.plays and all(matcher_passes(m, prepared, e.request) for m in self.matchers)
        ]
        if repeats:
            return (
                f"  A matching interaction was already played {repeats[0].plays} time(s). If the "
                "test repeats this request on purpose, set allow_playback_repeats=True in the "
                "marker or in cassette_config."
            )
        if self.replay_only:
            return (
                "  This run is replay-only: nothing is recorded. Record the request locally:\n"
                f"    pytest --record-mode=new_episodes {ctx.argument(ctx.nodeid)}"
            )
        shared = (
            "\n  Tests that share a cassette (its name in their markers) add to it in 'once' "
            "only in the run that first records it; to add their requests to it now:\n"
            f"    pytest --record-mode=new_episodes {ctx.argument(ctx.nodeid.split('::')[0])}"
            if ctx.named and ctx.mode == "once"
            else ""
        )
        return (
            f"  Mode {ctx.mode!r} does not add to an existing cassette. To add this request:\n"
            f"    pytest --record-mode=new_episodes {ctx.argument(ctx.nodeid)}\n"
            f"  or re-record the whole cassette with --record-mode=rewrite.{shared}"
        )

    # --- what the test sees ----------------------------------------------------------------

    @property
    def played(self) -> list[Any]:
        """Requests replayed from the cassette, in recording order."""
        return [e.request for e in self.entries if e.plays]

    @property
    def requests(self) -> list[Any]:
        """All requests the test could replay."""
        return [e.request for e in self.entries]

    @property
    def recorded_requests(self) -> list[Any]:
        """Requests recorded by this test (saved when it ends)."""
        return [request for request, _ in self.recorded]

    @property
    def unanswered(self) -> list[Any]:
        """Requests sent to be recorded that got no response (a timeout, a connection error):
        vcrpy records responses only, so nothing of them reaches the cassette."""
        with self._lock:
            return [prepared for _, prepared in self._sent.values()]

    @property
    def unused(self) -> list[Any]:
        """Requests of the test's own cassette it never replayed."""
        return [e.request for e in self.entries if not e.plays and e.source == self.path]

    @property
    def all_played(self) -> bool:
        """Whether every interaction the test could replay was replayed."""
        return all(e.plays for e in self.entries)

    @property
    def play_count(self) -> int:
        """How many responses were replayed."""
        return sum(e.plays for e in self.entries)

    # --- saving ----------------------------------------------------------------------------

    def _dropped(self, drop_unused: bool) -> list[Entry]:
        """Own interactions the save removes: replaced (`replaces`) or unused."""
        own = [e for e in self.entries if e.raw is not None]
        chosen: list[Entry] = []
        if self.replaces and self.recorded:
            sent: dict[tuple[Any, ...], list[Any]] = {}  # by key: not a key per pair
            for request, _ in self.recorded:
                sent.setdefault(self._key(request), []).append(request)
            chosen = [e for e in own if self._rerecorded(e, sent) and self._is_old(e)]
        if drop_unused:
            chosen += [e for e in own if not e.plays and e not in chosen]
        return chosen

    def _is_old(self, entry: Entry) -> bool:
        """Whether the entry is of the file as the run found it: what another test of the run
        recorded is fresh, not replaced."""
        if self.old is None:
            return True
        return entry.raw is not None and storage.identity(entry.raw) in self.old

    def _rerecorded(self, entry: Entry, sent: dict[tuple[Any, ...], list[Any]]) -> bool:
        """Whether the test sent the entry's request again (`sent`: its requests by key)."""
        return any(
            all(matcher_passes(m, request, entry.request) for m in self.matchers)
            for request in sent.get(entry.key, ())
        )

    def drops_unused(self) -> bool:
        """Whether drop_unused_requests would remove something from the file in a save."""
        return len(self._dropped(True)) > len(self._dropped(False))

    def save(self, *, drop_unused: bool = False) -> int:
        """Write what this test recorded (and removed) into its own cassette; returns how many
        interactions it added. What it drops (identities, one per copy: identical interactions
        have one) is what it re-recorded ("all"), what went unused, or the old recording
        (`preset_drop`, rewrite)."""
        dropped = self._dropped(drop_unused)
        drop = [*self.preset_drop, *(storage.identity(e.raw) for e in dropped if e.raw)]
        if not self.recorded and not drop:
            return 0
        ours = self.persisted is None and self.codec is storage.YAML and storage.UTF8_SCALARS
        new = [stored_form(request, response, ours) for request, response in self.recorded]
        if self.persisted is not None:
            self.persisted.write(self.path, new, drop, self.rewrite_run, self.replace_run)
            return len(new)
        # What this save keeps of what it loaded: a request on disk beyond it (headers and
        # all) was saved by another process meanwhile, and is not written twice.
        known = Counter(map(storage.request_key, self.own_requests))
        known.subtract(storage.request_key(e.raw.get("request")) for e in dropped if e.raw)
        return storage.write(
            self.path,
            new,
            drop,
            self.codec,
            self.rewrite_run,
            known,
            self._not_theirs,
            self._check_kept,
            self.replace_run,
        )

    def _check_kept(self, kept: list[storage.Interaction]) -> None:
        """Count the values scrubbing would replace in what a save keeps of the file (a
        cassette vcrpy or pytest-recording wrote holds its secrets in the clear). Told, not
        changed: other processes that loaded the file know its interactions as they are (a
        scrubbed one would pass for another process's new recording). Each interaction is
        looked at once a process for the same rules (`clean`: the identities found clean)."""
        found = 0
        for raw in kept:
            identity = storage.identity(raw)
            if identity in self.clean:
                continue
            request, response = loaded_form(raw)
            count = self.count_secrets(request, response)
            if count:
                found += count
            else:
                self.clean.add(identity)
        self.secrets_kept = found

    def _not_theirs(
        self, new: Sequence[storage.Interaction], theirs: list[storage.Interaction]
    ) -> list[storage.Interaction]:
        """`new` less one interaction per one of `theirs` (another process's) whose request is
        the same to this cassette's matchers (a header that changes at each request, an
        invocation id, makes no two logins). Indexed as replay is: linear."""
        try:
            buckets: dict[tuple[Any, ...], list[Any]] = {}
            for interaction in theirs:
                request = _stored_request(interaction)
                buckets.setdefault(self._key(request), []).append(request)
            kept = []
            for interaction in new:
                request = _stored_request(interaction)
                bucket = buckets.get(self._key(request), [])
                same = (
                    n
                    for n, other in enumerate(bucket)
                    if all(matcher_passes(m, request, other) for m in self.matchers)
                )
                index = next(same, -1)
                if index < 0:
                    kept.append(interaction)
                else:
                    del bucket[index]
            return kept
        except Exception:  # a user's matcher that cannot read one: all kept, as told apart
            return list(new)
