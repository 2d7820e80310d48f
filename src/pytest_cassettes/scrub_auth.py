"""What authentication flows send and answer that is secret by its shape rather than its name:
OAuth's authorization code beside the flow's other parameters, a JSON Web Key's private
members, Cognito's challenge `Session` and SRP `SECRET_BLOCK`, a JSON `ticket` that looks
generated. Paths are lower-case keys from the document's number, as scrub_stores' are."""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from pytest_cassettes.detect import is_placeholder, looks_random, normalize_name
from pytest_cassettes.scrub_shared import lazy_regex
from pytest_cassettes.scrub_stores import Found
from pytest_cassettes.streams import Path

__all__ = [
    "AUTH_HINT",
    "COGNITO_SESSION",
    "RANDOM_ONLY",
    "auth_paths",
    "authorization_code",
    "code_in_url",
    "has_link_token",
    "is_code",
    "link_tokens",
    "random_only",
    "token_answer",
]

# `code` names too much to be sensitive alone (an error's, a country's, a coupon's): it is
# OAuth's authorization code beside the parameters of the redirect back to the client
# (`?code=...&state=...`, Stripe's `scope`) and of the request to the token endpoint.
_CODE_SIBLINGS = frozenset(
    {"state", "scope", "granttype", "redirecturi", "codeverifier", "clientid", "clientsecret"}
)
# In JSON only those of the token request: `{"code": ..., "state": "active"}` is a coupon.
_JSON_CODE_SIBLINGS = ("grant_type", "redirect_uri", "code_verifier")
# Providers' codes are longer (GitHub's 20 characters, Google's about 70); shorter ones are a
# country's or an airport's.
_MIN_CODE_LENGTH = 8
# A JSON Web Key's private members (RFC 7518: RSA's and EC's `d`, RSA's primes and CRT
# values, a symmetric key's `k`): the rest of it (`n`, `e`, `x`, `y`, `kid`) is public.
_JWK_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")
# AWS Cognito's `Session`: the handle of a sign-in under way (InitiateAuth's challenge,
# RespondToAuthChallenge, AssociateSoftwareToken, VerifySoftwareToken), sent and answered
# beside these, or alone. A `session` of another API (an object, an id) has none of them.
_COGNITO_SIBLINGS = (
    "ChallengeName",
    "ChallengeParameters",
    "ChallengeResponses",
    "SecretCode",
    "UserCode",
    "Status",
)
# Its placeholder: botocore checks a Session is 20 characters or more before sending it back.
COGNITO_SESSION = "<SCRUBBED:cognito-session>"
# Cognito's SRP sign-in: the PASSWORD_VERIFIER challenge's SECRET_BLOCK, sent back beside the
# claim's signature. Base64 that clients decode (pycognito signs its bytes): the placeholder's
# base64 in its place.
_SRP_SECRET_BLOCKS = ("SECRET_BLOCK", "PASSWORD_CLAIM_SECRET_BLOCK")

# Each alternative starts with a literal: a search tries few positions (see detect.py). A
# `ticket` only with a string as long as a generated one (see looks_random): a help desk's
# listing, its tickets objects and ids, is not read again for them.
AUTH_HINT = lazy_regex(
    r'"kty"|"grant_type"|"redirect_uri"|"code_verifier"|"Session"'
    r'|"(?:PASSWORD_CLAIM_)?SECRET_BLOCK"|"[Tt]icket"\s*:\s*"(?:[^"\\]|\\.){16}'
)


def authorization_code(names: Iterable[str]) -> bool:
    """Whether a parameter `code` among these names (a query's, a form's, an HTML form's
    inputs) is OAuth's authorization code."""
    listed = set(names)
    return "code" in listed and any(normalize_name(name) in _CODE_SIBLINGS for name in listed)


def is_code(value: str) -> bool:
    """Whether a value of such a `code` is long enough to be a provider's code."""
    return len(value) >= _MIN_CODE_LENGTH


# Parameters of URLs and forms that are secrets only when their value looks generated: a
# `ticket` of Auth0's password-change and email-verification links (`/lo/reset?ticket=...#`),
# a CAS service ticket; a help desk's `ticket=4711`, `ZD-12345` or `TKT-20240115-ABC123` is an
# id (no run of letters and digits mixed, see _token_like). An `appid` is OpenWeatherMap's and
# Wolfram|Alpha's API key; Steam's `appid=440` and Baidu's numbers are ids.
RANDOM_ONLY = frozenset({"ticket", "appid"})
# In JSON, a `ticket` string that looks generated is a token (a CAS ticket, a Proxmox login's);
# one that is a link (Auth0's answer, `/lo/reset?ticket=...#`) keeps its shape, its `?ticket=`
# going by the URL rules; an object (a help desk's `{"id": 4711, ...}`) by its own fields.
_URL_OR_PATH = lazy_regex(r"^/|://|\?")


def random_only(name: str, value: str) -> bool:
    """Whether a parameter of RANDOM_ONLY's names (in any case) has a generated value (a
    secret)."""
    return name.lower() in RANDOM_ONLY and _token_like(value)


# A URL's parameter names, and where a URL in text ends (at most so far from the `code`).
_QUERY_NAME = lazy_regex(r"[?&#;]([A-Za-z0-9_.~%+-]{1,128})=")
_URL_END = lazy_regex(r"[\s\"'<>`]")
_URL_REACH = 4096


def code_in_url(text: str) -> Callable[[int], bool]:
    """For a text (a link in HTML, a URL in a JSON string or a log), whether `code=` at a
    position is a URL's authorization code: a parameter of a query that has the flow's others.
    Where URLs end and the flow's parameters are is read once, when first asked (reading each
    `code`'s URL again took 5 s for a MB of `?code=...&state=...&` without white space)."""
    ends: list[int] = []
    siblings: list[int] = []  # where the flow's other parameters' names end

    def in_url(start: int) -> bool:
        if not start or text[start - 1] not in "?&#;":
            return False
        if not ends:
            ends.extend(m.start() for m in _URL_END.finditer(text))
            ends.append(len(text))
            siblings.extend(
                m.end()
                for m in _QUERY_NAME.finditer(text)
                if normalize_name(m.group(1)) in _CODE_SIBLINGS
            )
        k = bisect.bisect_left(ends, start)
        begin = max(ends[k - 1] + 1 if k else 0, start - _URL_REACH)
        end = min(ends[k], start + _URL_REACH)
        value = start + len("code=")
        amp = text.find("&", value, end)
        if (end if amp < 0 else amp) - value < _MIN_CODE_LENGTH:
            return False
        j = bisect.bisect_right(siblings, begin)
        return j < len(siblings) and siblings[j] <= end

    return in_url


def auth_paths(node: Mapping[str, Any], path: Path, found: Found) -> None:
    """The secrets of one object by its shape (not of the objects in it)."""
    code = node.get("code")
    if isinstance(code, str) and is_code(code) and any(k in node for k in _JSON_CODE_SIBLINGS):
        found.secrets.append((*path, "code"))
    if isinstance(node.get("kty"), str):
        found.secrets.extend((*path, key) for key in _JWK_PRIVATE if key in node)
    session = node.get("Session")
    if isinstance(session, str) and (
        len(node) == 1 or any(key in node for key in _COGNITO_SIBLINGS)
    ):
        at = (*path, "session")
        found.secrets.append(at)
        found.fixed[at] = COGNITO_SESSION
    for key in _SRP_SECRET_BLOCKS:
        if isinstance(node.get(key), str):
            found.base64_secret((*path, key.lower()))
    ticket = node.get("ticket", node.get("Ticket"))  # an ASP.NET API's `Ticket` too
    if isinstance(ticket, str) and not _URL_OR_PATH.search(ticket) and _token_like(ticket):
        found.secrets.append((*path, "ticket"))


# Answers that are a bare token, told by their request: EC2's instance metadata service
# (IMDSv2) hands out its session token as text/plain, sent back in `X-aws-ec2-metadata-token`.
# A path with a trailing slash is the same (as the metadata's own paths are to the rules).
_TOKEN_ANSWERS = ((("PUT",), "/latest/api/token"),)


def token_answer(method: str, uri: str) -> bool:
    """Whether the answer to this request is a token whole (see _TOKEN_ANSWERS)."""
    path = urlsplit(uri).path
    path = path[:-1] if path.endswith("/") else path
    return any(method in methods and path == where for methods, where in _TOKEN_ANSWERS)


# A one-time link's token in a URL's path, after the word that says what the link does
# (a magic link, an email's verification, a password's reset, an invitation): the one or two
# segments after it that look generated (`/reset-password/<uid>/<token>`, Laravel's
# `/email/verify/<id>/<hash>`), in any case (`/Account/Verify/...`). An id (`/verify/12345`),
# a slug (`/confirm/summer-sale-2024`), a word (`/reset/done`) or a file's name stays; after
# a bare verb (group 2: `/invite/`, `/confirm/`, `/verify/`, `/activate/`, a REST API's too)
# so does a UUID or a hex string (an invitation's or order's id, a commit, a device's `dev-...`)
# and a serial number (see _SERIAL). Group 3: an ECS task's credentials URI
# (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, `/v2/credentials/<uuid>` at its path's start, or the
# agent's older `/v1/credentials?id=<uuid>`), whose UUID is all a caller needs to get the task
# role's credentials.
_LINK_HINTS = (
    *(
        form
        for hint in ("magic", "verif", "confirm", "reset", "activat", "invit", "passwordless")
        for form in (hint, hint.capitalize(), hint.upper())
    ),
    "/v2/credentials/",
    "/v1/credentials?id=",
)
_LINK_WORD = lazy_regex(
    r"/(?:(magic(?:[-_]?links?)?|passwordless|verify[-_/]?email|email[-_/]?verif(?:y|ication)"
    r"|confirm[-_/]?email|reset[-_/]?password|password[-_/]?reset|accept[-_]?invit(?:e|ation))/"
    r"|(verify|verification|confirm(?:ation)?|reset|activat(?:e|ion)|invit(?:e|ation))/"
    r"|(v2/credentials/|v1/credentials\?id=))",
    re.IGNORECASE,
)
_LINK, _BARE, _CONTAINER = 1, 2, 3  # _LINK_WORD's groups
_SEGMENT = lazy_regex(r"[^/\s?#\"'<>\\&;,|`]*")
_ALNUM_RUN = lazy_regex(r"[A-Za-z0-9]{8,}")
_URL_BOUNDS = " \t\r\n\"'<>`("
# What is no token even after a link's word: a file's name (an S3 key's `.../reset/<sha>.tar.gz`).
_FILE_NAME = lazy_regex(r".*\.[A-Za-z][A-Za-z0-9]{0,4}")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# An id rather than a token after a bare verb: a UUID, a hex string, either after a word.
_ID = lazy_regex(rf"(?:[A-Za-z]+[-_])?(?:{_UUID}|[0-9a-f]+|[0-9A-F]+)")
# A device's serial number after a bare verb (`/devices/activate/SN-A1B2C3D4E5F6G7H8`): capitals
# and digits, in parts joined by `-` or `_`, 20 of them at most. A generated token is longer
# (128 bits are 26 in base32) or mixed case.
_SERIAL = lazy_regex(r"[A-Z0-9]+(?:[-_][A-Z0-9]+)*")
_SERIAL_LENGTH = 20
_CREDENTIALS_ID = lazy_regex(_UUID, re.IGNORECASE)
# What may come before a credentials URI's path: nothing, a URL's scheme and host, and before
# either a variable's name (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/...` in an environment's
# dump, a log line).
_HOST = lazy_regex(r"(?:[A-Za-z_][A-Za-z0-9_]*=)?(?:[A-Za-z][A-Za-z0-9+.-]*://[^/]*)?")


def link_tokens(text: str, path_end: int | None = None) -> Iterator[tuple[int, int]]:
    """Where a text's URL paths hold a one-time link's token (see _LINK_WORD), in order. With
    `path_end` (a URL's, its query after it) only the words in its path are read: the query's
    values are read as parameters."""
    if "/" not in text or not any(hint in text for hint in _LINK_HINTS):
        return  # mixed case is seldom: three forms of each word are cheaper than lower()
    for word in _LINK_WORD.finditer(text):
        kind = word.lastindex or _LINK
        if path_end is not None and word.start() >= path_end:
            break
        position, tokens = word.end(), []
        for _ in range(1 if kind == _CONTAINER else 2):
            segment = _SEGMENT.match(text, position)
            assert segment is not None  # it may be empty
            if _link_token(segment.group(), kind):
                tokens.append(segment.span())
            position = segment.end() + 1
            if not text.startswith("/", segment.end()):
                break
        if not tokens:
            continue
        start = word.start()
        begin = _bound(text, start)  # the cheaper check first
        if begin is None:
            continue
        if kind == _CONTAINER:
            if _HOST.fullmatch(text, begin, start):
                yield from tokens
        elif _in_url(text, begin, start):
            yield from tokens


def has_link_token(text: str) -> bool:
    """Whether a text's URL paths hold a one-time link's token (the first one tells). A JSON
    text's escaped slashes (`\\/`, as PHP writes them) are slashes: its strings are read
    decoded."""
    if "\\/" in text:
        text = text.replace("\\/", "/")
    return next(link_tokens(text), None) is not None


def _in_url(text: str, begin: int, start: int) -> bool:
    """Whether `/` at `start` is in a URL or path, `begin` where its run of text begins (see
    _bound): what runs before it is a path or a URL with its scheme, no ARN
    (`arn:aws:...:handshake/.../invite/`)."""
    return begin == start or text.startswith("/", begin) or "://" in text[begin:start]


def _bound(text: str, start: int) -> int | None:
    """Where the run of text before `start` begins: after white space, a quote or markup
    (None: a run too long for a URL)."""
    low = max(0, start - _URL_REACH)
    begin = 1 + max(map(text.rfind, _URL_BOUNDS, repeat(low), repeat(start))) if start else 0
    return None if begin == 0 and low else begin


def _token_like(segment: str) -> bool:
    """A generated value: random-looking, with a run of letters and digits mixed (a UUID's,
    a hash's); not words and numbers joined by `-` (a slug)."""
    value = unquote(segment) if "%" in segment else segment
    return (
        any(not run.isdigit() and not run.isalpha() for run in _ALNUM_RUN.findall(value))
        and looks_random(value)
        and not is_placeholder(value)
    )


@functools.lru_cache(maxsize=256)
def _link_token(segment: str, kind: int) -> bool:
    """A segment after a link's word (of `kind`, _LINK_WORD's group) that is its token:
    generated, no file's name, and after a bare verb no id nor serial number; after a
    credentials URI's words, a UUID. Remembered: a JSON string's is read to tell whether its
    text rules run, then by them."""
    if kind == _CONTAINER:
        return _CREDENTIALS_ID.fullmatch(segment) is not None
    return (
        not _FILE_NAME.fullmatch(segment)
        and not (kind == _BARE and (_ID.fullmatch(segment) or _serial(segment)))
        and _token_like(segment)
    )


def _serial(segment: str) -> bool:
    """Whether a segment is a device's serial number (see _SERIAL)."""
    digits = len(segment) - segment.count("-") - segment.count("_")
    return digits <= _SERIAL_LENGTH and _SERIAL.fullmatch(segment) is not None
