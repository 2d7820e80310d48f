"""Secret scrubbing: pure functions from a vcrpy request or response to a scrubbed copy.

Rules run in this order, each over what the previous ones left:

1. Sensitive names (headers, query, form and multipart fields, JSON keys, JSON paths): the
   value is replaced by ``<SCRUBBED>``, keeping its shape (``Bearer <SCRUBBED>``, cookie names,
   Set-Cookie attributes).
2. Values of secret environment variables, wherever they occur: ``<OPENAI_API_KEY>``.
3. The user's regexes: ``<SCRUBBED>``.
4. The detectors of :mod:`pytest_cassettes.detect`: ``<SCRUBBED:github>``, ``<SCRUBBED:jwt>``...
   Bodies that are not UTF-8 get rule 2 only, over the values' UTF-8 bytes.
5. The user's hooks, on the scrubbed copy.

A `text/event-stream` body's streamed text (a model's answer, a few characters an event) is
first read joined, stream by stream (see scrub_streams.py): rules 2 to 4, then rule 1 over what
they left (JSON's when the joined text is JSON, free text's else), replace what spans events in
every event it spans; then the body gets the rules as free text. AWS's binary event stream
(Bedrock's) is read as such events, its messages written again. A JSON body's log
probabilities' tokens are read joined so too, before the JSON rules.

A JSON string its document's shape says is base64 (a file's contents from GitHub's API, see
scrub_stores.py) is decoded, scrubbed as a body of its file's type, and encoded again.

In URLs and form bodies placeholders are percent-encoded (``%3CSCRUBBED%3E``) so the URL stays
valid. Values that already are placeholders are left alone, which makes scrubbing idempotent.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextvars
import copy
import csv
import functools
import html
import itertools
import json
import mimetypes
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional, Union
from urllib.parse import quote, quote_plus, unquote_plus

from pytest_cassettes import eventstream
from pytest_cassettes.bodies import UTF8_CHARSETS, charset
from pytest_cassettes.detect import (
    DEFAULT_HEADER_NAMES,
    DEFAULT_HEADER_RULES,
    DEFAULT_NAME_RULES,
    FILLER_WORDS,
    JWT_WHOLE,
    KINDS,
    SCRUBBED,
    SCRUBBED_RE,
    Finding,
    NameMatcher,
    find_secrets,
    finding_replacement,
    in_text_sensitive,
    is_placeholder,
    jwt_placeholder,
    kept_jwt,
    looks_random,
    normalize_name,
)
from pytest_cassettes.libraries import Request
from pytest_cassettes.scrub_auth import (
    AUTH_HINT,
    RANDOM_ONLY,
    auth_paths,
    authorization_code,
    code_in_url,
    has_link_token,
    is_code,
    link_tokens,
    random_only,
    token_answer,
)
from pytest_cassettes.scrub_eventstream import scrub_aws_event_stream
from pytest_cassettes.scrub_shared import (
    GENERIC_NAMES,
    MODEL_OUTPUT,
    finding_label,
    lazy_regex,
    overlaps,
    plain_text,
    splice,
)
from pytest_cassettes.scrub_stores import (
    CREDENTIALS,
    DOWNLOAD_LINE,
    PKCS12,
    SHAPED,
    STORE_HINT,
    Found,
    RequestShape,
    pkcs12_placeholder,
    request_paths,
    response_paths,
    store_paths,
)
from pytest_cassettes.scrub_streams import (
    scrub_event_stream,
    scrub_json_streams,
    token_ids,
)
from pytest_cassettes.streams import JSON_TOKEN
from pytest_cassettes.values import Value

__all__ = [
    "DISABLE_NAMES",
    "ENV_SUFFIXES",
    "SCRUBBED",
    "RequestHook",
    "ResponseHook",
    "ScrubRules",
    "Scrubber",
    "multipart_boundary",
]

RequestHook = Callable[[Request], Optional[Request]]
ResponseHook = Callable[[dict[str, Any]], Optional[dict[str, Any]]]

# Environment variables whose names end so hold secrets (or are exactly the suffix, e.g. TOKEN).
ENV_SUFFIXES = (
    "_API_KEY",
    "_APIKEY",
    "_TOKEN",
    "_SECRET",
    "_SECRET_KEY",
    "_SECRET_KEY_BASE",
    "_SECRET_ACCESS_KEY",
    "_PRIVATE_KEY",
    "_PASSWORD",
    "_PASSWD",
)
MIN_ENV_VALUE_LENGTH = 8
SHORT = "short:"  # prefix of findings too short to report in a scan


# JSON Schema's keywords (tool definitions for LLMs, MCP, OpenAPI): under a sensitive name they
# describe the field, they hold no secret.
_SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "format",
        "title",
        "pattern",
        "minLength",
        "maxLength",
        "enum",
        "const",
        "$ref",
        "items",
        "properties",
        "required",
        "additionalProperties",
        "writeOnly",
        "readOnly",
        "nullable",
        "deprecated",
        "oneOf",
        "anyOf",
        "allOf",
        "examples",
        "example",
    }
)


class _Found(str):
    """A finding's label that also carries the value replaced (see LearnedSecrets)."""

    value: str = ""
    # A JSON document in base64 scrubbed (see _scrub_base64_json): "value\0its new encoding\0
    # this label", learned so that the value sent back (a page's cursor in a URL) is encoded
    # alike.
    recoded: str = ""


# Scrubber._remembered: how many values a scrubber remembers, and the longest it does.
_MEMO_SIZE = 1024
_MEMO_VALUE = 2048


class _Verbatim(str):
    """A learned replacement already in the form of the text it replaces (see _load_env), and
    the label of the finding it was learned from."""

    label: str = ""


def _carrying(label: str, value: str) -> str:
    found = _Found(label)
    found.value = value
    return found


def _finding(name: str, value: str) -> str:
    label = f"sensitive-field:{name}"
    short = len(value.strip()) < MIN_ENV_VALUE_LENGTH and normalize_name(name) in GENERIC_NAMES
    return _carrying(SHORT + label if short else label, value)


class LearnedSecrets:
    """Values a cassette's interactions had scrubbed by name, replaced wherever they occur in
    the interactions after them: a token a response handed out, sent back in a URL's path
    (`/sessions/<token>/items`) or echoed in a body. On replay the client gets the placeholder
    and sends it back where it sent the token, which is what was recorded.

    Only values that look generated are learned (a word would be replaced inside others): the
    LIMIT most recent of them (each costs a little on every text scrubbed: about 0.4 ms a MiB).
    Thread-safe: a test's threads share their cassette."""

    LIMIT = 256

    def __init__(self) -> None:
        self._values: dict[str, None] = {}
        self._lock = threading.Lock()
        self.key: frozenset[str] = frozenset()  # what scrubbers are built with (see Scrubber)

    def learn(self, found: Iterable[str]) -> bool:
        """Keep the learnable values of these findings; whether any was new."""
        values = [f.value for f in found if isinstance(f, _Found) and _learnable(f.value)]
        values += [f.recoded for f in found if isinstance(f, _Found) and f.recoded]
        if not values:
            return False
        with self._lock:
            new = False
            for value in values:
                new = new or value not in self._values
                self._values.pop(value, None)
                self._values[value] = None  # the most recent last
            while len(self._values) > self.LIMIT:
                del self._values[next(iter(self._values))]
            if not new:
                return False
            self.key = frozenset(self._values)
            return True


def learning_scrub(
    scrubber_for: Callable[[ScrubRules, frozenset[str]], Scrubber],
    rules: ScrubRules,
    learned: LearnedSecrets,
    method: str,
    interaction: Any,
    answered: tuple[Any, ...] = (),
    again_told: LearnedSecrets | None = None,
) -> tuple[Any | None, int]:
    """`scrub_request` or `scrub_response` (`method`) of a cassette's interaction, each value it
    replaces by name (that looks generated) learned and replaced wherever it occurs after, in
    the same interaction too: a second pass, without the hooks, when a value was learned.

    `scrubber_for(rules, learned values)`: the scrubber to use; `answered`: the request a
    response answers (it tells some answers' shape); `again_told`: shown what the second pass
    replaces (it learns nothing)."""
    before = learned.key
    new, count = getattr(scrubber_for(rules, before), method)(interaction, learned, *answered)
    if new is not None and learned.key is not before:
        again = getattr(scrubber_for(rules.without_hooks(), learned.key), method)
        new, more = again(new, again_told, *answered)
        count += more
    return new, count


def _learnable(value: str) -> bool:
    return (
        len(value) <= 4096
        and not any(c.isspace() for c in value)
        and looks_random(value)
        and not is_placeholder(value)
    )


# Defaults that are not name rules: environment values and all detectors at once.
_FEATURES = ("detectors", "env")
DISABLE_NAMES: tuple[str, ...] = (*_FEATURES, *DEFAULT_NAME_RULES, *DEFAULT_HEADER_RULES, *KINDS)

# A key is after `{` or `,`: a search from every quote would read each string inside another
# again from each of its escaped quotes (quadratic: an echoed JSON document).
_JSON_KEY = lazy_regex(r'[{,]\s*"([^"\\]*(?:\\.[^"\\]*)*)"\s*:')
_JSON_PATH_PART = lazy_regex(r"([^.\[\]]+)|\[(\*|\d+)\]")
_FORM_BODY = lazy_regex(r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")
# Objects whose `value` is a secret by their other fields (see Scrubber._context_paths).
# Also a validation error's echo of what was sent: express-validator's `path`/`param` and
# `value`, Spring's `field` and `rejectedValue`, pydantic's (FastAPI's) `loc` and `input`; and
# JSON Patch's `{"op": "replace", "path": "/password", "value": ...}`. A credential by its
# `type` (Keycloak's `{"type": "password", "value": ...}`, a client's `{"type": "secret"}`),
# but a generic name's (`{"type": "key", "value": "Enter"}` is a key pressed).
_NAME_FIELDS = ("name", "Name", "key", "Key", "ParameterKey", "path", "param", "field")
_VALUE_FIELDS = ("value", "Value", "ParameterValue", "rejectedValue", "input")
_NAME_FIELD = lazy_regex(
    r'"(?:[Nn]ame|[Kk]ey|ParameterKey|path|param|field)"\s*:\s*"([^"\\]{1,80})"'
)
_TYPE_FIELD = lazy_regex(r'"type"\s*:\s*"([^"\\]{1,80})"')
_VALUE_KEYS = tuple(f'"{field}"' for field in _VALUE_FIELDS)
# Fields kept whatever their names say, by their object's other fields (see _kept_paths): a
# language model's output tokens, `{"token": "Hello", "logprob": -0.31}` (OpenAI's, vLLM's and
# Ollama's logprobs, Gemini's `logProbability`, Cohere's `likelihood`, llama.cpp's `prob` and
# `top_probs` after sampling; vLLM's `decoded_token` beside its `logprob`), are text; the `key` of a
# key/value pair (AWS tags, Consul's KV, CouchDB's view rows, Azure App Configuration) is a name.
_MODEL_TOKEN_HINT = lazy_regex(
    r'"(?:(?:log_?)?prob(?:ability)?|top_?(?:log)?probs|likelihood)"\s*:', re.IGNORECASE
)
_MODEL_TOKEN_SIBLINGS = frozenset(
    {"logprob", "logprobability", "toplogprobs", "likelihood", "prob", "topprobs"}
)
_NON_ALNUM = lazy_regex(r"[^A-Za-z0-9]+")
_PAIR_KEY = lazy_regex(r'"key"\s*:', re.IGNORECASE)
_PAIR_VALUE = lazy_regex(r'"value"\s*:', re.IGNORECASE)


def _kept_paths(text: str) -> frozenset[tuple[Segment, ...]]:
    """The paths (lower-case keys) of fields a name rule would take that are no secrets by
    their object's other fields: a model's output `token`, a key/value pair's `key`; or by
    where their object is: a legacy completion's alternatives, keyed by their tokens
    (`"top_logprobs": [{" password": -0.2, " key": -1.9}]`), each a log probability."""
    model = ("prob" in text or "likelihood" in text) and _MODEL_TOKEN_HINT.search(text)
    pairs = _PAIR_KEY.search(text) and _PAIR_VALUE.search(text)
    if not (model or pairs or '"secretValue"' in text):
        return frozenset()
    found: list[tuple[Segment, ...]] = []
    path: list[Segment] = []

    def walk(node: Any) -> None:  # scalars are not visited: most of a document
        if isinstance(node, dict):
            kept = _kept_field(node)
            if kept is not None:
                found.append((*path, kept.lower()))
            elif path[-2:-1] == ["top_logprobs"] and "logprob" not in node:
                found.extend((*path, key.lower()) for key in node if isinstance(key, str))
            for key, value in node.items():
                if isinstance(value, (dict, list)) and isinstance(key, str):
                    path.append(key.lower())
                    walk(value)
                    path.pop()
        else:
            for i, item in enumerate(node):
                if isinstance(item, (dict, list)):
                    path.append(i)
                    walk(item)
                    path.pop()

    try:  # JSON lines too (Ollama streams them): paths start with the document's number
        for number, data in enumerate(_json_documents(text)):
            if isinstance(data, (dict, list)):
                path[:] = [number]
                walk(data)
    except (ValueError, RecursionError):  # not JSON after all; too deep: nothing is kept
        return frozenset()
    return frozenset(found)


# A language model's output (its messages, tool calls and their arguments, in responses and
# in the history a request sends back) is text the model wrote: its `key`, `token`,
# `signature` fields (a tool's `{"key": "Enter"}`, a JSON answer's `"key": "B"`, a thinking
# block's signature) are no credentials. Generic names only: `password`, `api_key` and the
# like, the detectors and the environment's values still apply there.
_MODEL_OUTPUT_HINT = lazy_regex(
    r'"(?:role"\s*:\s*"(?:assistant|model)"|type"\s*:\s*"(?:function_call|function'
    r'|tool_use|tool_call)"|function_?[Cc]all"\s*:)'
)
_MODEL_ROLES = frozenset({"assistant", "model"})
_MODEL_CALL_TYPES = frozenset({"function_call", "function", "tool_use", "tool_call"})
_MODEL_CALL_KEYS = frozenset({"functioncall", "function_call"})


def _model_output_paths(text: str) -> frozenset[tuple[Segment, ...]]:
    """The paths (lower-case keys, from the document's number) of a language model's output
    in a JSON text (see _MODEL_OUTPUT_HINT): an assistant's or a model's message, a tool or
    function call."""
    if not _MODEL_OUTPUT_HINT.search(text):
        return frozenset()
    found: list[tuple[Segment, ...]] = []
    path: list[Segment] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            role, kind = node.get("role"), node.get("type")  # a JSON Schema's type: a list
            if (
                (isinstance(role, str) and role in _MODEL_ROLES)
                or (isinstance(kind, str) and kind in _MODEL_CALL_TYPES)
                or (path and path[-1] in _MODEL_CALL_KEYS)
            ):
                found.append(tuple(path))
                return  # all of it
            items: Iterable[tuple[Segment, Any]] = (
                (k.lower(), v) for k, v in node.items() if isinstance(k, str)
            )
        else:
            items = enumerate(node)
        for key, value in items:
            if isinstance(value, (dict, list)):
                path.append(key)
                walk(value)
                path.pop()

    try:
        for number, data in enumerate(_json_documents(text)):
            if isinstance(data, (dict, list)):
                path[:] = [number]
                walk(data)
    except (ValueError, RecursionError):
        return frozenset()
    return frozenset(found)


def _under(here: tuple[Segment, ...], roots: frozenset[tuple[Segment, ...]]) -> bool:
    return any(here[: len(root)] == root for root in roots)


def _json_documents(text: str) -> Iterator[Any]:
    """The JSON documents of a text: one, or JSON lines (white space between them)."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in " \t\r\n":
            position += 1
        if position >= end:
            return
        data, position = decoder.raw_decode(text, position)
        yield data


def _kept_field(node: Mapping[Any, Any]) -> str | None:
    """The field of this object that is no secret by its siblings (see _kept_paths), if any."""
    keys = {k.lower(): k for k in node if isinstance(k, str)}
    if "secretkey" in keys and "secretvalue" in keys:
        return keys["secretkey"]  # Infisical's secret: its name beside its value
    if "key" in keys and "value" in keys:
        # Not beside another credential (Trello sends its API key as `key` beside `value`
        # and `token`), nor when it looks generated.
        key = node[keys["key"]]
        credentials = ("token", "secret", "password", "apikey", "auth")
        if any(c in normalize_name(k) for k in keys for c in credentials):
            return None
        generated = isinstance(key, str) and any(
            looks_random(run) for run in _NON_ALNUM.split(key) if len(run) >= 16
        )
        return None if generated else keys["key"]  # `access_logs.s3.enabled` is words
    if any(normalize_name(k) in _MODEL_TOKEN_SIBLINGS for k in keys):
        for name in ("token", "decoded_token"):  # vLLM's prompt_logprobs' is a token too
            if name in keys:
                return keys[name]
    return None


# A Key Vault secret's id, in Azure's public cloud and its national clouds (China, US Gov).
_KEY_VAULT_SECRET = (
    r"\.vault\.(?:azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)(?::\d+)?/secrets/"
)
_KEY_VAULT_ID = lazy_regex(_KEY_VAULT_SECRET)
# How a kubeconfig (or another Kubernetes document) starts in base64: `apiVersion: `,
# `kind: Config`, `clusters:` (a CI variable's `KUBECONFIG` in base64, a cluster's API's).
_KUBECONFIG_BASE64 = ("YXBpVmVyc2lvbjog", "a2luZDogQ29uZmln", "Y2x1c3RlcnM6")
# Each alternative starts with a literal: a search tries few positions (see detect.py).
_CONTEXT_HINT = lazy_regex(
    r'"kind"\s*:\s*"Secret(?:List)?"|"keyName"|"SecureString"|'
    + _KEY_VAULT_SECRET
    + r'|"loc"\s*:\s*\[|"httpOnly"\s*:|"[Cc]ookies"\s*:|"(?:'
    + "|".join(_KUBECONFIG_BASE64)
    + ")"
)


# A connection string: two or more `name=value` separated by `;` (ADO.NET, ODBC, Azure's).
# A value may be braced (ODBC: `Pwd={a;b}`) or quoted (ADO.NET: `Password="a;b"`), and then
# hold `;`.
_CONNECTION_VALUE = (
    r"""(?:\{(?:[^}]|\}\}){0,256}\}|"(?:[^"]|""){0,256}"|'(?:[^']|''){0,256}'|(?![{"'])[^;]*)"""
)
_CONNECTION_STRING = lazy_regex(
    rf"\s*[A-Za-z][\w .-]*={_CONNECTION_VALUE}(?:;\s*[A-Za-z][\w .-]*={_CONNECTION_VALUE})+"
    r";?\s*"
)
_CONNECTION_PAIR = lazy_regex(rf"(?:^|;)([^=;]+)=({_CONNECTION_VALUE})")
# The same in a line of text (a log, a settings page): keys of at most three words, values
# that end at the line's end; told by a secret's key (then read on its line only). A quoted or
# braced value ends at its closer followed by `;`, a blank or the end; one never closed (its
# end unknown) goes to the line's end.
_LINE_CONNECTION_VALUE = (
    _CONNECTION_VALUE.replace("[^}]", "[^}\\n]")
    .replace("[^;]*", '[^;\\n"<>]*')  # nor markup's: `<a href="?a=b&amp;password=...">`
    .replace('[^"]', '[^"\\n]')
    .replace("[^']", "[^'\\n]")
    .replace("}|", "}(?![^;\\s])|")
    .replace('"|', '"(?![^;\\s])|')
    .replace("'|", "'(?![^;\\s])|")[:-1]
    + "|[{\"'][^\\n]*)"
)
_LINE_CONNECTION_PAIR = lazy_regex(rf"(?:^|;)([^=;]+)=({_LINE_CONNECTION_VALUE})")
# What encloses a connection string in prose (`'Server=...;Pwd=...'`, in backticks, brackets):
# its values end before the closer.
_ENCLOSERS = {"'": "'", "`": "`", "(": ")", "[": "]"}
_LINE_CONNECTION_KEY = r"[A-Za-z][\w.-]{0,40}(?: [\w.-]{1,40}){0,2}"
_LINE_CONNECTION = lazy_regex(
    rf"(?<![\w.-]){_LINE_CONNECTION_KEY}={_LINE_CONNECTION_VALUE}"
    rf"(?:;[ \t]*{_LINE_CONNECTION_KEY}={_LINE_CONNECTION_VALUE})+;?"
)
_LINE_CONNECTION_SECRET = lazy_regex(
    r"(?<![\w.-])(?:password|pwd|accountkey|sharedaccesskey)[ \t]*=", re.IGNORECASE
)
_ENTITY = lazy_regex(r"&(?:[A-Za-z]+|#[0-9]+|#x[0-9A-Fa-f]+);")  # `&amp;`: no pairs' `;`
_CONNECTION_KEYWORDS = frozenset(
    {"server", "host", "datasource", "database", "initialcatalog", "uid", "userid", "username"}
    | {"user", "port", "accountname", "endpoint", "driver", "dsn", "sharedaccesskeyname"}
)
_CONNECTION_SECRETS = frozenset({"pwd", "password", "accountkey", "sharedaccesskey"})
_CONNECTION_PASSWORD = lazy_regex(r"[;\"]\s*[Pp][Ww][Dd]\s*=")
# A JSON document in base64: `{` and `[` encode to these (`{"`, `{ `, `{\n`, `[{`, `["`, `[\n`).
_BASE64_JSON_STARTS = frozenset({"ey", "ew", "W3", "Wy", "Ww"})
_BASE64 = lazy_regex(r"[A-Za-z0-9+/_-]{16,}={0,2}\Z")
_BASE64_JSON_STRING = lazy_regex(r'"(?:ey|ew|W3|Wy|Ww)[A-Za-z0-9+/_-]{14,}={0,2}\\?"')
_MAX_RECODED = 4096  # the longest such document learned (see _scrub_base64_json)
_URL_LIKE = lazy_regex(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|/)[^\s]*[?#]")
# A parameter of a URL or query string inside text (a link in HTML, a pagination URL in JSON, a
# Link header): its separator, name and value. `;` also ends HTML's `&amp;`. A value ends at
# white space, a quote, markup, the next parameter, or what ends a field of a CSV row, a table
# cell or a code span (`,|` and the backtick); the punctuation that ends a sentence, and a
# closing bracket the value did not open (a Markdown link's), are then dropped from its end.
# Anything else is part of it, non-ASCII letters included: better too much than a tail left.
_VALUE_CHARS = r"(?:[^\s\"'<>&#;\\,|`]|\\/)"  # `\/`: a slash JSON inside HTML escaped
_VALUE = lazy_regex(f"{_VALUE_CHARS}*")
# In free text (a log line, an error page, a `.env` or settings file, the text of an HTML
# page but not its tags, whose attributes look the same), a name at the start, or after white
# space or what opens a group or a field, announces one too: `password=... failed`, or with
# blanks around the `=` when a quoted string follows (`PASSWORD = "..."`). There a value also
# ends at a bracket (`key=attrgetter(...)` is code, not a secret).
_FREE_VALUE = lazy_regex(r"(?:[^\s\"'<>&#;\\,|`()\[\]{}=]|\\/)(?:[^\s\"'<>&#;\\,|`()\[\]{}]|\\/)*")
# Such names are found in the text reversed, from their `=` (or the quote a field's value opens
# with): a pattern that starts with a literal is searched for quickly, one that would start
# with the name is tried at every position. A megabyte is reversed at a time, with enough of
# the text before it for the longest match. At most 32 blanks are taken around `=` or `:`.
_CHUNK = 1 << 20
_LOOKBACK = 512
_NAME_CHARS = r"[A-Za-z0-9_.~%+\[\]-]{1,128}"
# (Templates: NAMES becomes the names looked for.)
_REVERSED_PAIR = r"=[ \t]{0,32}(NAMES)(?![^\s(\[{,'\"`|>?&#;$@:])"
_REVERSED_PAIR_NAME = lazy_regex(_REVERSED_PAIR.replace("NAMES", _NAME_CHARS))
# The same, percent-encoded once more: a URL in a query value (`?redirect=https%3A...%3Ftoken%3D`).
_ENCODED_PAIR = lazy_regex(
    r"(%3[Ff]|%26|%3[Bb]|%23)([A-Za-z0-9_.~+\[\]-]{1,128})%3[Dd]"
    r"((?:[A-Za-z0-9\-._~+/:@!$*]|%(?!26|3[Bb]|23|3[Ff])[0-9A-Fa-f]{2})*)"
)
_SENTENCE_END = ".,:!?"
# A matrix parameter of a URL's path segment (`/a;jsessionid=...;key=.../b`).
_MATRIX_PAIR = lazy_regex(r"(;)([A-Za-z0-9_.~%+\[\]-]{1,128})=([^/;?#]*)")
# What may announce one in raw JSON text: a name after a separator, white space or at the
# start of a string (a query string) before `=`, the same after Go's escapes (`\u0026`,
# `\u003d`) or encoded once more, a key of a JSON document quoted inside a JSON string
# (`"{\"password\": ...}"`), or a field written in a string (`"... {'password': '...'}"`).
# Separate patterns: each starts with what the regex engine can scan for quickly.
_EMBEDDED_NAME = lazy_regex(
    r'(?:[?&#;"\s(\[{,\'`|>$@:]|\\[nrt])([A-Za-z0-9_.~%+\[\]-]{1,128})[ \t]*(?:=|\\u003[dD])'
)
_ESCAPED_NAME = lazy_regex(r"\\u0026([A-Za-z0-9_.~%+\[\]-]{1,128})(?:=|\\u003[dD])")
_ENCODED_NAME = lazy_regex(r"%(?:3[Ff]|26|3[Bb]|23)([A-Za-z0-9_.~+\[\]-]{1,128})%3[Dd]")
_QUOTED_KEY = lazy_regex(r'\\{1,8}"([^"\\]{1,128})\\{1,8}"\s*:')
_LINE_NAME_IN_STRING = lazy_regex(
    r'(?:"|\\n)[ \t]*(?:-[ \t]+)?([A-Za-z_][\w.-]{0,127})[ \t]*:(?=[ \t]|\\[rn])'
)
_FIELD_IN_STRING = lazy_regex(r"(?::|=>)\s{0,32}\[?\s{0,32}[bBrRuUfF]{0,2}(?:\\\"|'|`|&quot;)")
# Quotes as they read reversed, and as written: in markup also HTML's escaped forms.
_QUOTES = {
    '"': '"',
    "'": "'",
    "`": "`",
    '"\\': '\\"',
    ";touq&": "&quot;",
    ";93#&": "&#39;",
    ";72x#&": "&#x27;",
    ";43#&": "&#34;",
    ";22x#&": "&#x22;",
}
_ANY_QUOTE = r"""(?:["'`]|"\\|;touq&|;93#&|;72x#&|;43#&|;22x#&)"""
# A field of an object written in text (a JSON or Python dict in an error page or a log line,
# a JavaScript object in a page's script, a GraphQL argument): a key, quoted or a bare
# identifier (after `{`, `,`, `(` or at the start of a line: elsewhere it is a word ending a
# string, `"Password:"`), `:`, and a string, its quotes `"`, `'`, a backtick, `\"` (escaped in
# a string) or `&quot;` (in markup), with Python's `b`/`r`/`f`/`u` prefixes. Reversed: the
# string's opening quote, a prefix, blanks, a list's `[`, `:` (Ruby's `=>`), the key quoted
# (the same quote) or bare (before it `{`, `,`, `(`, a line's start or a list item's `- `).
_REVERSED_FIELD = (
    rf"""({_ANY_QUOTE})[bBrRuUfF]{{0,2}}\s{{0,32}}(?:\[\s{{0,32}})?(?::|>=)[ \t]{{0,32}}"""
    rf"""(?:({_ANY_QUOTE})(NAMES)\2|(NAMES)"""
    r"""(?=[ \t]{1,32}-[ \t]{0,32}(?:\n|\Z)|[ \t]{0,32}:?(?:[{,(\n]|\Z)))"""
)
_REVERSED_FIELD_NAME = lazy_regex(
    _REVERSED_FIELD.replace("(NAMES)\\2", r"""([^"'\\\n&;]{1,128})\2""").replace(
        "(NAMES)", r"([\w$-]{0,127}[A-Za-z_$])"
    )
)
_YAML_SINGLE = lazy_regex(r"'((?:[^'\n]|'')*)'")  # YAML escapes a quote as '', not \'
_FIELD_STRING = {
    '"': re.compile(r'"((?:[^"\\\n]|\\.)*)"'),
    "'": lazy_regex(r"'((?:[^'\\\n]|\\.)*)'"),
    "`": lazy_regex(r"`((?:[^`\\]|\\.)*)`"),
    '\\"': re.compile(r'\\"((?:[^\\\n]|\\[^"\n])*)\\"'),
    # In markup: JSON's escapes (`\&quot;`) are part of the string.
    "&quot;": lazy_regex(r"&quot;((?:\\&quot;|\\[^&]|(?!&quot;)[^<>\n\\])*)&quot;"),
    "&#39;": lazy_regex(r"&#39;((?:(?!&#39;)[^<>\n])*)&#39;"),
    "&#x27;": lazy_regex(r"&#x27;((?:(?!&#x27;)[^<>\n])*)&#x27;"),
    "&#34;": lazy_regex(r"&#34;((?:(?!&#34;)[^<>\n])*)&#34;"),
    "&#x22;": lazy_regex(r"&#x22;((?:(?!&#x22;)[^<>\n])*)&#x22;"),
}
# A line `name: value` (YAML, a header echoed in text, `- password: ...` in a list), its
# value to the end of the line.
_LINE_FIELD = lazy_regex(
    r"^[ \t]*(?:-[ \t]+)?([A-Za-z_][\w.-]{0,127})[ \t]*:[ \t]+(\S[^\n\r]*)\r?$",
    re.MULTILINE,
)
_TYPE_NAME = lazy_regex(
    r"[A-Z][A-Za-z]*[!?]?|(?:str|int|bool|float|bytes|string|number|boolean|any|object)[!?]?"
)
# HTML's form fields and meta tags: a tag, its attributes, a sensitive `name` whose `value`
# (`content` for a meta tag) is secret (a hidden input's token, a CSRF meta tag). Written
# unrolled: an alternation repeated per character costs the regex engine memory per character.
_HTML_FIELD_TAG = lazy_regex(
    r"<(input|meta)\b([^<>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^<>\"']*)*)>", re.IGNORECASE
)
_HTML_FIELD_HINT = lazy_regex(r"(?:<|\\u003[cC])(?:[iI][nN][pP][uU][tT]|[mM][eE][tT][aA])\b")
_BUTTONS = frozenset({"submit", "button", "reset", "image", "checkbox", "radio"})  # labels, flags
_HTML_NAME = lazy_regex(
    r"""(?:^|[\s/"'])[Nn][Aa][Mm][Ee]\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"""
)
_HTML_ATTRIBUTE = lazy_regex(
    r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"""
)
# A JSON string that holds a JSON document (after white space, raw or escaped).
_QUOTED_JSON = lazy_regex(r'"(?:\s|\\[nrt])*[\[{]')
_MAX_NESTING = 3  # JSON quoted inside JSON strings, so many levels deep
# XML: the local names of elements, then a leaf element (text or CDATA, no child) by its name.
_XML_NAME = lazy_regex(r"<(?:[\w.-]+:)?([\w.-]+)[\s/>]")
# A leaf's opening tag by its name (attributes may hold `>` in quotes), then its text, or a
# CDATA section, with white space around it, ending at its first `]]>` (found by bisection
# among the text's `]]>`: a regex scanning from each of many unterminated sections to the end
# was quadratic), then its closing tag.
_XML_OPEN = lazy_regex(r"<((?:[\w.-]+:)?[\w.-]+)(\s(?:\"[^\"]*\"|'[^']*'|[^<>\"'])*)?>")
_XML_CDATA_OPEN = lazy_regex(r"\s*<!\[CDATA\[")
_XML_TEXT = lazy_regex(r"[^<]*")
_XML_CLOSE = "</{tag}\\s*>"
# The encoding an XML declaration names (a Content-Type's charset: bodies.charset).
_XML_DECLARED = lazy_regex(rb"""\A\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# Element names the parameter rules match that XML uses for other things: S3's object keys.
_XML_NOT_SECRET = frozenset({"key"})
_AUTH_SCHEME = lazy_regex(r"(\s*[A-Za-z][A-Za-z0-9._~+/-]*\s+)(\S.*)\Z", re.DOTALL)
# An authorization scheme: `-`-joined parts that are words (`Bearer`, `SharedKeyLite`,
# `Klaviyo-API-Key`) or capitals with a number (`AWS4-HMAC-SHA256`, `TC3-HMAC-SHA256`,
# `SCRAM-SHA-1`). A first word like `Pw7000`, or a generated-looking run of letters, is the
# credential's: no scheme is kept.
_SCHEME_PART = lazy_regex(r"[A-Za-z]+|[A-Z]+\d+|\d+")
_SCHEME_WORDS = lazy_regex(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def _is_scheme(word: str) -> bool:
    if word.lower() == "oauth2":
        return True
    parts = word.split("-")
    if len(word) > 40 or not all(_SCHEME_PART.fullmatch(p) for p in parts) or word[0].isdigit():
        return False
    # Letters in words, not a generated run (`ZqXyWvAcqGFzx`: many one- or two-letter words).
    words = [w for p in parts if p.isalpha() for w in _SCHEME_WORDS.findall(p)]
    return sum(len(w) <= 2 for w in words) <= 1


_ENV_NAME_CHARS = lazy_regex(r"[^A-Za-z0-9_]")
# multipart/form-data: the boundary in a Content-Type, a body's first delimiter line (RFC 2046's
# characters but space), and what a part's headers say.
_BOUNDARY = lazy_regex(r'boundary=(?:"([^"]+)"|([^";,\s]+))', re.IGNORECASE)
_SNIFFED_BOUNDARY = lazy_regex(rb"--([0-9A-Za-z'()+_,./:=?-]{1,70})\r\n")
_PART_NAME = lazy_regex(
    rb'^content-disposition:[^\r\n]*?[;\s]name=(?:"((?:[^"\\\r\n]|\\.)*)"|([^";\s]+))',
    re.IGNORECASE | re.MULTILINE,
)
_PART_FILENAME = lazy_regex(
    rb"^content-disposition:[^\r\n]*?[;\s]filename\*?=", re.IGNORECASE | re.MULTILINE
)
_PART_TYPE = lazy_regex(rb"^content-type:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)

# How far before a match a placeholder that overlaps it may start (the longest placeholder).
_NEAR = 256

Encoder = Callable[[str], str]
Segment = Union[str, int]


def _url_encoded(text: str) -> str:
    return quote(text, safe=":")


_ENCODED_SCRUBBED = _url_encoded(SCRUBBED)

# A pair's value in parts: a run of percent escapes, a `+`, a run of other characters.
_ENCODED_PART = lazy_regex(r"(?:%[0-9A-Fa-f]{2})+|\+|[^%+]+|%")


def _reencoded(raw: str, decoded: str, new: str) -> str:
    """A form pair's value `raw` (`decoded` as read) whose text became `new`: what changed
    encoded, the text before and after it as it was, byte for byte (an environment's dump in
    a JSON string, read as a form, keeps its `/`, `,` and `;` around the placeholder)."""
    prefix = _common_start(decoded, new)
    suffix = _common_start(decoded[prefix:][::-1], new[prefix:][::-1])
    parts = [(m.group(), unquote_plus(m.group())) for m in _ENCODED_PART.finditer(raw)]
    head = _kept_raw(parts, prefix)
    cut = head.rfind("%", len(head) - 2)  # a `%` no escape follows, which the new text might
    head = head if cut < 0 else head[:cut]
    tail = _kept_raw([(r[::-1], d[::-1]) for r, d in reversed(parts)], suffix)[::-1]
    kept = len(unquote_plus(head)), len(unquote_plus(tail))
    return head + quote_plus(new[kept[0] : len(new) - kept[1]], safe=":") + tail


def _common_start(a: str, b: str) -> int:
    """How many characters two strings start with alike (halving: slices compare in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if a[:middle] == b[:middle] else (low, middle - 1)
    return low


def _kept_raw(parts: list[tuple[str, str]], length: int) -> str:
    """The raw text of the first `parts` that decode to at most `length` characters (a run of
    plain characters cut where it passes them)."""
    kept: list[str] = []
    for raw, decoded in parts:
        if len(decoded) > length:
            if raw == decoded:
                kept.append(raw[:length])
            break
        kept.append(raw)
        length -= len(decoded)
    return "".join(kept)


# A model's output token beside its log probability (OpenAI's logprobs), which _kept_paths
# keeps: streamed chat chunks hold thousands of them, and nothing else sensitive.
_TOKEN_BESIDE_LOGPROB = lazy_regex(r'"token"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*"logprob"')


def _all_tokens_kept(text: str) -> bool:
    """Whether every `"token"` in a JSON text is a key whose string is followed by its
    `"logprob"` sibling (a value "token" elsewhere counts against: the full pass decides)."""
    return text.count('"token"') == len(_TOKEN_BESIDE_LOGPROB.findall(text))


def _markup(text: str) -> str:
    """A placeholder in XML or HTML text: escaped, so the document stays well-formed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ScrubRules(Value):
    """User rules: they extend the defaults; `disable` turns named defaults off.

    Names in `headers` and `params` ignore case, '-' and '_'; '*' matches any run of characters.
    `patterns` with a capturing group replace only group 1. Hooks get the scrubbed copy and
    return it (changed or not); a hook returning None drops the interaction, as vcrpy's
    before_record_* hooks do, and scrub_request/scrub_response then return (None, count).
    `disable` accepts the names in DISABLE_NAMES, or any header or parameter name a default
    rule matches, to exempt just that name (e.g. "x-csrf-token").
    """

    __slots__ = _compared = (
        "headers",
        "params",
        "json_paths",
        "patterns",
        "env",
        "disable",
        "request_hooks",
        "response_hooks",
    )

    def __init__(
        self,
        headers: tuple[str, ...] = (),
        params: tuple[str, ...] = (),
        json_paths: tuple[str, ...] = (),
        patterns: tuple[str, ...] = (),
        env: tuple[str, ...] = (),
        disable: tuple[str, ...] = (),
        request_hooks: tuple[RequestHook, ...] = (),
        response_hooks: tuple[ResponseHook, ...] = (),
    ) -> None:
        self.headers = headers
        self.params = params
        self.json_paths = json_paths
        self.patterns = patterns
        self.env = env
        self.disable = disable
        self.request_hooks = request_hooks
        self.response_hooks = response_hooks

    def without_hooks(self) -> ScrubRules:
        """The same rules, no hook."""
        return ScrubRules(
            self.headers, self.params, self.json_paths, self.patterns, self.env, self.disable
        )


NO_RULES = ScrubRules()


def _is_secret_env_name(name: str) -> bool:
    upper = name.upper()
    return any(upper.endswith(suffix) or upper == suffix[1:] for suffix in ENV_SUFFIXES)


def _env_variants(value: str) -> set[str]:
    return {form for form in _wire_forms(value) if len(form) >= MIN_ENV_VALUE_LENGTH}


def _wire_forms(value: str) -> list[str]:
    # The forms a value takes on the wire: raw, in a URL or form, escaped inside a JSON string
    # (and as Go's encoder escapes `<`, `>` and `&`), in HTML or XML.
    escaped = json.dumps(value)[1:-1]
    go = escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return [
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        escaped,
        escaped.replace("/", "\\/"),
        go,
        html.escape(value, quote=False),
        html.escape(value),
        html.escape(value).replace("&#x27;", "&#39;"),
    ]


def _parse_json_path(path: str) -> tuple[Segment, ...]:
    text = path[1:] if path.startswith("$") else path
    text = text.lstrip(".")
    segments: list[Segment] = []
    position = 0
    while position < len(text):
        if text[position] == "." and segments:
            position += 1
        match = _JSON_PATH_PART.match(text, position)
        if not match:
            raise ValueError(
                f"invalid JSON path {path!r}: expected dotted keys and [index] or [*], "
                "e.g. 'user.email' or 'items[*].token'"
            )
        key, index = match.groups()
        if key is not None:
            segments.append(key.lower())
        else:
            segments.append(-1 if index == "*" else int(index))
        position = match.end()
    if not segments:
        raise ValueError(f"invalid JSON path {path!r}: it is empty")
    return tuple(segments)


def _path_matches(rule: tuple[Segment, ...], path: list[Segment]) -> bool:
    # A rule matches its node and everything below it; "*" any key, [*] (-1) any index.
    if len(rule) > len(path):
        return False
    for want, have in zip(rule, path):
        if isinstance(want, int):
            if not isinstance(have, int) or (want != -1 and want != have):
                return False
        elif not isinstance(have, str) or (want != "*" and want != have.lower()):
            return False
    return True


def _header(headers: Mapping[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, (list, tuple)):
                value = value[0] if value else ""
            return value if isinstance(value, str) else ""
    return ""


def _set_content_length(headers: dict[str, Any], length: int, as_list: bool) -> None:
    for key in list(headers):
        if key.lower() == "content-length":
            headers[key] = [str(length)] if as_list else str(length)


class _JsonFrame:
    __slots__ = ("index", "is_object", "key", "key_next", "loose", "sensitive")

    def __init__(self, is_object: bool, sensitive: bool, loose: bool = False) -> None:
        self.is_object = is_object
        self.sensitive = sensitive
        self.loose = loose  # an object under a generic name: see _LOOSE_NAMES
        self.key: str | None = None
        self.key_next = is_object
        self.index = 0


def _here(document: int, stack: list[_JsonFrame]) -> tuple[Segment, ...]:
    """The path (lower-case keys, from the document's number) of the value being read."""
    return (document, *((f.key or "").lower() if f.is_object else f.index for f in stack))


class Scrubber:
    """Scrubs vcrpy requests and responses with the default rules plus the user's."""

    def __init__(
        self,
        rules: ScrubRules = NO_RULES,  # never changed, so sharing the default is safe
        environ: Mapping[str, str] | None = None,
        learned: Iterable[str] = (),
    ) -> None:
        self.rules = rules
        disabled = _check_disable(rules.disable)
        name_rules = [r for r in DEFAULT_NAME_RULES if normalize_name(r) not in disabled]
        header_rules = [r for r in DEFAULT_HEADER_RULES if normalize_name(r) not in disabled]
        known = {normalize_name(n) for n in DISABLE_NAMES}
        exempt = [name for name in disabled if name not in known]
        self._header_names = NameMatcher([*name_rules, *header_rules], rules.headers, exempt)
        self._param_names = NameMatcher(name_rules, rules.params, exempt)
        self._json_paths = tuple(_parse_json_path(path) for path in rules.json_paths)
        self._patterns = tuple(_compile_pattern(p) for p in rules.patterns)
        self._detectors = "detectors" not in disabled
        self._excluded_kinds = frozenset(k for k in KINDS if normalize_name(k) in disabled)
        self._env_placeholder: dict[str, str] = {}
        self._env_text: dict[str, str] = {}  # what replaces each form (see _load_env)
        self._env_re: re.Pattern[str] | None = None
        self._protected = SCRUBBED_RE
        # The same in bytes, for bodies that are not UTF-8: the values' UTF-8 bytes.
        self._env_bytes_re: re.Pattern[bytes] | None = None
        self._protected_bytes = re.compile(SCRUBBED_RE.pattern.encode("ascii"))
        self._load_env(os.environ if environ is None else environ, "env" not in disabled, learned)
        # (kind, name, value, JWT_WHOLE) -> what _remembered gave and found (see there).
        self._memo: dict[tuple[str, str, str, bool], tuple[str, tuple[str, ...]]] = {}

    def _load_env(
        self, environ: Mapping[str, str], by_suffix: bool, learned: Iterable[str] = ()
    ) -> None:
        wanted = {name.upper() for name in self.rules.env}
        for name in sorted(environ):
            value = environ[name]
            if len(value) < MIN_ENV_VALUE_LENGTH or is_placeholder(value):
                continue
            if name.upper() in wanted or (by_suffix and _is_secret_env_name(name)):
                label = _ENV_NAME_CHARS.sub("_", name)
                for form in _env_variants(value):
                    # Sorted names: when two variables share a value the first name wins.
                    self._env_placeholder.setdefault(form, label)
        learned_jwts: dict[str, str] = {}
        for value in sorted(learned):  # a LearnedSecrets' values: <SCRUBBED> wherever they are
            value, recoded, encoding = value.partition("\0")
            if recoded:  # a base64 JSON document: its scrubbed encoding, written as it was
                encoding, _, label = encoding.partition("\0")
                for form, new in zip(_wire_forms(value), _wire_forms(encoding)):
                    if len(form) >= MIN_ENV_VALUE_LENGTH and form not in self._env_placeholder:
                        learned_jwts[form] = verbatim = _Verbatim(new)
                        verbatim.label = label
                        self._env_placeholder[form] = "SCRUBBED"
                continue
            # A JWT's is the placeholder its first answer got (its claims kept): the client
            # sends that back on replay.
            jwt = jwt_placeholder(value)
            for form in _env_variants(value):
                if jwt is not None and form not in self._env_placeholder:
                    learned_jwts[form] = jwt
                self._env_placeholder.setdefault(form, "SCRUBBED")
        if not self._env_placeholder:
            return
        self._env_text = {
            form: learned_jwts.get(form) or f"<{label}>"
            for form, label in self._env_placeholder.items()
        }
        forms = sorted(self._env_placeholder, key=lambda form: (-len(form), form))
        self._env_re = re.compile("|".join(re.escape(form) for form in forms))
        self._env_bytes_re = re.compile(b"|".join(re.escape(form.encode()) for form in forms))
        labels = sorted(set(self._env_placeholder.values()))
        self._protected = re.compile(
            SCRUBBED_RE.pattern
            + "|(?:<|%3[Cc]|&lt;)(?:"
            + "|".join(re.escape(label) for label in labels)
            + ")(?:>|%3[Ee]|&gt;)"
        )
        self._protected_bytes = re.compile(self._protected.pattern.encode("ascii"))

    # --- public API ----------------------------------------------------------------------------

    def scrub_request(
        self, request: Request, learned: LearnedSecrets | None = None
    ) -> tuple[Request | None, int]:
        """A scrubbed copy of a vcrpy request and the number of values replaced (None: dropped).

        `learned` keeps the values replaced by name (see Session.open, which uses them)."""
        found: list[str] = []
        new = copy.copy(request)
        whole = JWT_WHOLE.set(True)  # a JWT goes whole (see detect.JWT_WHOLE)
        try:
            uri = self._remembered("uri", "", request.uri, found)
            if uri != request.uri:
                new.uri = uri
            headers: dict[str, Any] = {}
            for name, value in request.headers.items():
                headers[name] = self._remembered("header", name, value, found)
            body = _request_body(request)
            if body is not None:
                shape = _SHAPE.set(request_paths(request.method, request.uri, headers))
                try:
                    new_body = self._scrub_body(body, _header(headers, "content-type"), found)
                finally:
                    _SHAPE.reset(shape)
                # A plain bytes body: vcrpy would write file and iterator bodies as Python tags.
                new._was_file = new._was_iter = False
                new.body = new_body
                if new_body != body:
                    _set_content_length(headers, len(new_body), as_list=False)
            elif _is_parsed(request):
                new.body = self._scrub_parsed(request.body, [], False, "", found)
        finally:
            JWT_WHOLE.reset(whole)
        new.headers = headers
        if learned is not None:
            learned.learn(found)
        for hook in self.rules.request_hooks:
            hooked = hook(new)
            if hooked is None:
                return None, len(found)
            new = hooked
        return new, len(found)

    def scrub_response(
        self,
        response: dict[str, Any],
        learned: LearnedSecrets | None = None,
        request: Request | None = None,
    ) -> tuple[dict[str, Any] | None, int]:
        """A scrubbed copy of a vcrpy response dict and the number of values replaced; the
        `request` it answers tells the shape of some answers (see scrub_stores)."""
        found: list[str] = []
        new = copy.deepcopy(response)
        headers = new.get("headers") or {}
        for name, values in headers.items():
            if isinstance(values, (list, tuple)):
                headers[name] = [self._remembered("header", name, v, found) for v in values]
            else:
                headers[name] = self._remembered("header", name, values, found)
        status = new.get("status")
        if isinstance(status, dict) and isinstance(status.get("message"), str):
            # The reason phrase is the server's free text: some echo what they were sent.
            status["message"] = self._remembered("header", "", status["message"], found)
        body = new.get("body")
        if isinstance(body, dict) and isinstance(body.get("string"), (bytes, str)):
            raw = body["string"]
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
            code = (new.get("status") or {}).get("code")
            error = _ERROR_RESPONSE.set(isinstance(code, int) and 400 <= code < 500)
            shaped = None if request is None else response_paths(request.method, request.uri)
            shape = _SHAPE.set(shaped)
            try:
                new_data = data
                if request is not None and token_answer(request.method, request.uri):
                    new_data = self._scrub_token_answer(data, found)
                if shaped is not None:
                    new_data = self._scrub_download(new_data, found)
                new_data = self._scrub_body(new_data, _header(headers, "content-type"), found)
            finally:
                _SHAPE.reset(shape)
                _ERROR_RESPONSE.reset(error)
            if new_data != data:
                body["string"] = new_data.decode("utf-8") if isinstance(raw, str) else new_data
                _set_content_length(headers, len(new_data), as_list=True)
        if learned is not None:
            learned.learn(found)
        for hook in self.rules.response_hooks:
            hooked = hook(new)
            if hooked is None:
                return None, len(found)
            new = hooked
        return new, len(found)

    def scan_field(
        self, name: str | None, value: str, content_type: str = "", error: bool = False
    ) -> list[str]:
        """What scrubbing would replace in one cassette field `name: value`, as finding kinds
        (a body by the Content-Type its interaction recorded, and `error`: whether it is a
        4xx response's, as recording did)."""
        found: list[str] = []
        if name in ("string", "body") and not self._sensitive_name(name):
            self._scan_body(value.encode("utf-8"), content_type, found, error)
        else:
            self._scrub_named(name, value, found)
        return [kind for kind in found if not kind.startswith(SHORT)]

    def scrub_field(self, name: str | None, value: str) -> tuple[str, list[str]]:
        """One field `name: value` of a file that is no interaction (a key another tool wrote
        beside `interactions`) scrubbed as `scan_field` reads it, and the findings."""
        found: list[str] = []
        return self._scrub_named(name, value, found), found

    def _scrub_named(self, name: str | None, value: str, found: list[str]) -> str:
        if name is not None and self._sensitive_name(name):
            return self._secret_value(name, value, found, plain_text)
        if name == "uri" or _URL_LIKE.match(value):
            return self._scrub_url(value, found)
        return self._scrub_string(value, found, 0)

    def _sensitive_name(self, name: str) -> bool:
        return self._header_names(name) or self._param_names(name)

    def detected(self, text: str) -> list[Finding]:
        """The token formats the detectors find in a text, less the kinds disabled."""
        return find_secrets(text, self._excluded_kinds) if self._detectors else []

    def scan_binary(self, data: bytes, content_type: str = "", error: bool = False) -> list[str]:
        """What scrubbing would replace in a binary (`!!binary`) cassette body."""
        found: list[str] = []
        self._scan_body(data, content_type, found, error)
        return [kind for kind in found if not kind.startswith(SHORT)]

    def _scan_body(self, data: bytes, content_type: str, found: list[str], error: bool) -> None:
        token = _ERROR_RESPONSE.set(error)
        try:
            self._scrub_body(data, content_type, found)
        finally:
            _ERROR_RESPONSE.reset(token)

    # --- values --------------------------------------------------------------------------------

    def _secret_value(self, name: str, value: str, found: list[str], encode: Encoder) -> str:
        """Replace the secret parts of a sensitive field's value, keeping its shape."""
        normal = normalize_name(name)
        label = f"sensitive-field:{name}"
        if normal in ("cookie", "setcookie"):
            if encode is _markup or "&" in value:  # `;` inside `&lt;` is no cookie separator
                plain = html.unescape(value)
                new = _scrub_cookie(plain, normal == "setcookie", label, found, plain_text)
                return value if new == plain else encode(new)
            return _scrub_cookie(value, normal == "setcookie", label, found, encode)
        if normal.endswith("authorization"):
            stripped = value.rstrip()
            match = _AUTH_SCHEME.match(stripped)
            if match and _is_scheme(match.group(1).strip()):
                (scheme, credentials), tail = match.groups(), value[len(stripped) :]
                if (
                    _is_placeholder(credentials)
                    or _masked(credentials)
                    or _is_template(credentials)
                    or credentials.startswith("{")
                    or _CONSTANT_NAME.fullmatch(credentials)
                ):
                    return value  # `Bearer {token}`, `Bearer YOUR_TOKEN`, `Bearer ***`
                found.append(_finding(name, credentials))
                return scheme + encode(SCRUBBED) + tail
            if value.strip().lower() in _AUTH_SCHEMES:
                return value  # `'Bearer ' + token`: the scheme alone
        if not value.strip() or _is_placeholder(value) or _masked(value):
            return value
        found.append(_finding(name, value))
        return kept_jwt(value) or encode(SCRUBBED)

    def _remembered(self, kind: str, name: str, value: Any, found: list[str]) -> Any:
        """`_scrub_header` ("header") or `_scrub_url` ("uri") of a value, remembered: the same
        headers come in every request and response of a run (User-Agent, Accept, Server), and
        a replayed request's URL is scrubbed twice, stored and sent. A scrubber's rules do not
        change once built, so the same text scrubs the same way while the context variables
        that steer scrubbing are as a request's and a response's headers find them."""
        key = None
        if (
            type(value) is str
            and len(value) <= _MEMO_VALUE
            and _SHAPE.get() is None
            and not _ERROR_RESPONSE.get()
            and not MODEL_OUTPUT.get()
        ):
            key = (kind, name, value, JWT_WHOLE.get())
            memo = self._memo.get(key)
            if memo is not None:
                found.extend(memo[1])
                return memo[0]
        start = len(found)
        if kind == "uri":
            scrubbed = self._scrub_url(value, found)
        else:
            scrubbed = self._scrub_header(name, value, found)
        if key is not None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = (scrubbed, tuple(found[start:]))
        return scrubbed

    def _scrub_header(self, name: str, value: Any, found: list[str]) -> Any:
        if isinstance(value, bytes):
            try:
                text = value.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any bytes
                return value
            return self._scrub_header(name, text, found).encode("latin-1")
        if not isinstance(value, str):
            return value
        if self._header_names(name):
            value = self._secret_value(name, value, found, plain_text)
        if _URL_LIKE.match(value):
            return self._scrub_url(value, found)
        return self._scrub_text(value, found, plain_text)

    def _scrub_url(self, uri: str, found: list[str]) -> str:
        base, hash_mark, fragment = uri.partition("#")
        # One-time links' tokens in the path (ECS's `/v1/credentials?id=` in the query too).
        path = base.find("?")
        base = self._scrub_link_tokens(base, found, len(base) if path < 0 else path)
        base, question, query = base.partition("?")
        if ";" in base and "=" in base:
            names = [key for _, key, _ in _MATRIX_PAIR.findall(base)]
            base = self._replace_named(base, _MATRIX_PAIR, names, "query", found)
        if question:
            query = self._scrub_pairs(query, found)
        if hash_mark and "=" in fragment:
            # OAuth implicit flows put the access token in the fragment.
            fragment = self._scrub_pairs(fragment, found)
        rebuilt = base + question + query + hash_mark + fragment
        # Its own parameters are done: the text rules only (a parameter's value is not ended
        # where a URL inside text would end).
        return self._scrub_text(rebuilt, found, _url_encoded, embedded=False)

    def _scrub_link_tokens(self, text: str, found: list[str], path_end: int | None = None) -> str:
        return splice(text, self._link_token_edits(text, found, path_end))

    def _link_token_edits(
        self, text: str, found: list[str], path_end: int | None = None
    ) -> list[tuple[int, int, str]]:
        """One-time links' tokens in URL paths (see scrub_auth.link_tokens): the placeholder,
        percent-encoded (it is a URL's, in text too: a client sends it back so on replay)."""
        edits = []
        for start, end in link_tokens(text, path_end):
            found.append(_carrying("link-token", unquote_plus(text[start:end])))
            edits.append((start, end, _ENCODED_SCRUBBED))
        return edits

    def _scrub_pairs(self, encoded: str, found: list[str]) -> str:
        """Scrub `a=1&b=2` (a query string or form body), keeping untouched pairs byte for byte."""
        pairs = encoded.split("&")
        code = "code=" in encoded and authorization_code(
            unquote_plus(pair.partition("=")[0]) for pair in pairs
        )
        for i, pair in enumerate(pairs):
            key, equals, value = pair.partition("=")
            if not equals:
                continue
            name = unquote_plus(key)
            if (
                self._param_names(name)
                or (code and name == "code" and is_code(value))
                or random_only(name, unquote_plus(value))
            ):
                decoded = unquote_plus(value)
                new = self._secret_value(name, decoded, found, plain_text)
            else:
                decoded = unquote_plus(value)
                new = self._scrub_text(decoded, found, plain_text)
            if new != decoded:
                pairs[i] = key + "=" + _reencoded(value, decoded, new)
        return "&".join(pairs)

    # --- bodies --------------------------------------------------------------------------------

    def _scrub_download(self, body: bytes, found: list[str]) -> bytes:
        """A store's download of secrets (see scrub_stores.response_paths) that is no JSON (a
        `.env`, YAML): every line's value is a secret, its quotes kept, a YAML block's lines
        with it (`NAME: <SCRUBBED>`). JSON goes by its shape, as the body is scrubbed."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
        if text.lstrip()[:1] in ("{", "["):
            return body
        edits: list[tuple[int, int, str]] = []
        for line in DOWNLOAD_LINE.finditer(text):
            value = line.group(3).rstrip()
            first = value[:1]
            quote = first if len(value) > 1 and first in ('"', "'") and value[-1] == first else ""
            secret = value[len(quote) : len(value) - len(quote)]
            if secret and not _is_placeholder(secret):
                found.append(_finding(line.group(1), secret))
                edits.append((line.start(3), line.start(3) + len(value), quote + SCRUBBED + quote))
        return splice(text, edits).encode("utf-8") if edits else body

    def _scrub_token_answer(self, body: bytes, found: list[str]) -> bytes:
        """An answer that is a token whole (see scrub_auth.token_answer): the placeholder."""
        token = body.decode("utf-8", "replace").strip()
        if not token or is_placeholder(token):
            return body
        found.append(_finding("token", token))
        return SCRUBBED.encode("ascii")

    def _scrub_body(self, body: bytes, content_type: str, found: list[str]) -> bytes:
        if not body:
            return body
        if "vnd.amazon.eventstream" in content_type.lower() or eventstream.framed(body):
            frames = scrub_aws_event_stream(self, body, found)
            if frames is not None:
                return frames
        boundary = multipart_boundary(content_type, body)
        if boundary is not None:
            return self._scrub_multipart(body, boundary, found)
        named = charset(content_type)
        if named is not None and named not in UTF8_CHARSETS:
            # UTF-16 text can be valid UTF-8 too (its NUL bytes): the charset says what it is.
            encoded = self._scrub_encoded_text(body, content_type, found)
            if encoded is not None:
                return encoded
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded = self._scrub_encoded_text(body, content_type, found)
            if encoded is not None:
                return encoded
            binary = self._scrub_binary(body, found)  # only what cannot corrupt it
            return body if binary is None else binary
        bom = "\ufeff" if text.startswith("\ufeff") else ""  # JSON and XML read past it
        text = text[len(bom) :]
        new = self._scrub_typed_text(text, content_type.lower(), found)
        return body if new == text else (bom + new).encode("utf-8")

    def _scrub_typed_text(self, text: str, content_type: str, found: list[str]) -> str:
        """A text body by its type (lower-cased): JSON, XML, HTML, a form, else free text; a
        stream of server-sent events event by event (see scrub_streams.scrub_event_stream)."""
        if "event-stream" in content_type:
            return scrub_event_stream(self, text, found)
        new: str | None = None
        if "json" in content_type or text.lstrip()[:1] in ("{", "["):
            streamed = scrub_json_streams(self, text, found)
            new = self._scrub_json(streamed, found)
            if new is not None:
                new = token_ids(text, new)
            else:
                text = streamed
        if new is None and (
            "xml" in content_type or (not content_type and text.lstrip()[:1] == "<")
        ):
            new = self._scrub_html_fields(self._scrub_xml(text, found), found)  # XHTML too
            new = self._scrub_text(new, found, _markup)
        if new is None and "html" in content_type:
            new = self._scrub_text(self._scrub_html_fields(text, found), found, _markup)
        if new is None and (
            "x-www-form-urlencoded" in content_type
            or (not content_type and _FORM_BODY.fullmatch(text))
        ):
            new = self._scrub_pairs(text, found)
            new = self._scrub_text(new, found, _url_encoded)
        if new is None and ("csv" in content_type or "tab-separated" in content_type):
            new = self._scrub_text(self._scrub_csv(text, found), found, plain_text)
        if new is None and "yaml" in content_type:
            lines = self._scrub_lines(text, found, yaml=True)
            new = self._scrub_text(lines, found, plain_text, yaml=True)
        if new is None:
            new = self._scrub_text(text, found, plain_text)
        return new

    def _scrub_csv(self, text: str, found: list[str]) -> str:
        """CSV (or TSV) with a header row: the values of its columns with sensitive names
        (`password`, `api_key`; a generic name's only when they look generated), in their
        quotes if quoted. Read as RFC 4180 writes it; a text that is no such CSV is left."""
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t", key=first.count)
        if not any(self._param_names(name.strip().strip('"')) for name in first.split(delimiter)):
            return text
        if '"' not in text:  # no quoted field: line by line, split in C
            return self._scrub_csv_lines(text, delimiter, found)
        if not _csv_grammar(delimiter).fullmatch(text):
            return text  # a quote inside a field: no CSV as written by a library
        # Records read in C, line by line (a quoted field may hold line breaks); only those
        # with a value to replace are read again, field by field, to edit them.
        lines = text.split("\n")
        reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter)
        changes: list[tuple[int, int, str]] = []  # lines start to end: a record's new text
        known = len(found)
        try:
            header = [name.strip() for name in next(reader)]
            columns = [i for i, name in enumerate(header) if self._param_names(name)]
            start = reader.line_num
            for row in reader:
                end = reader.line_num
                secrets = [i for i in columns if i < len(row) and _csv_secret(header[i], row[i])]
                if secrets:
                    record = "\n".join(lines[start:end])
                    new = self._scrub_csv_fields(record, delimiter, found, header, secrets)
                    changes.append((start, end, new))
                start = end
        except csv.Error:  # a field longer than csv's limit
            del found[known:]
            return self._scrub_csv_fields(text, delimiter, found)
        out: list[str] = []
        at = 0
        for start, end, new in changes:
            out += lines[at:start]
            out.append(new)
            at = end
        return "\n".join(out + lines[at:])

    def _scrub_csv_fields(
        self,
        text: str,
        delimiter: str,
        found: list[str],
        header: list[str] | None = None,
        secrets: list[int] | None = None,
    ) -> str:
        """_scrub_csv's records read field by field, in a text _csv_grammar takes: those after
        the `header`'s names, or after the text's first record; one record's `secrets`, the
        columns whose values are, when known."""
        field = _csv_field(delimiter)
        names = header or []
        edits: list[tuple[int, int, str]] = []
        position, column, row = 0, 0, 0 if header is None else 1
        while True:
            match = field.match(text, position)
            assert match is not None  # an unquoted field may be empty
            raw, quoted = match.group(), match.group()[:1] == '"'
            value = raw[1:-1].replace('""', '"') if quoted else raw
            if row == 0:
                names.append(value.strip())
            elif (
                column in secrets
                if secrets is not None
                else column < len(names)
                and self._param_names(names[column])
                and _csv_secret(names[column], value)
            ):
                found.append(_finding(names[column], value))
                edits.append((match.start(), match.end(), f'"{SCRUBBED}"' if quoted else SCRUBBED))
            position = match.end()
            if text.startswith(delimiter, position):
                column, position = column + 1, position + 1
            elif position < len(text):  # a line's end
                row, column = row + 1, 0
                position += 1 + text.startswith("\r", position)
            else:
                return splice(text, edits)

    def _scrub_csv_lines(self, text: str, delimiter: str, found: list[str]) -> str:
        """_scrub_csv's CSV without quotes: fields are what the delimiter splits."""
        lines = text.split("\n")
        names = [name.strip() for name in lines[0].rstrip("\r").split(delimiter)]
        columns = [i for i, name in enumerate(names) if self._param_names(name)]
        for number in range(1, len(lines)):
            fields = lines[number].split(delimiter)
            changed = False
            for i in columns:
                value = fields[i].rstrip("\r") if i < len(fields) else ""
                if _csv_secret(names[i], value):
                    found.append(_finding(names[i], value))
                    fields[i] = SCRUBBED + fields[i][len(value) :]  # a line's `\r` kept
                    changed = True
            if changed:
                lines[number] = delimiter.join(fields)
        return "\n".join(lines)

    def _scrub_encoded_text(self, body: bytes, content_type: str, found: list[str]) -> bytes | None:
        """Text in another encoding than UTF-8, when its headers or its XML declaration say
        which (ISO-8859-1, UTF-16 with its byte order mark), or XML and HTML without a word on
        it, read as ISO-8859-1 (every byte round-trips): scrubbed as text of its type and
        encoded back the same way. None when it is not text."""
        kind = content_type.lower()
        markup = "xml" in kind or "html" in kind or (not kind and body.lstrip()[:1] == b"<")
        bom = body[:2] if body[:2] in (b"\xff\xfe", b"\xfe\xff") else b""
        named = charset(content_type)
        declared = _XML_DECLARED.match(body)
        if bom and not (markup or not kind or kind.startswith("text/") or "json" in kind):
            return None  # a binary body may start with these bytes too
        if bom:
            encoding = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
        elif declared is not None and markup:
            encoding = declared.group(1).decode("ascii")
        elif named is not None:
            encoding = named
            if encoding.replace("-", "") == "utf16":
                encoding = "utf-16-be"  # no byte order mark: big-endian (RFC 2781)
        elif markup:
            encoding = "latin-1"
        else:
            return None
        try:
            text = body[len(bom) :].decode(encoding)
        except (LookupError, UnicodeDecodeError):
            if not markup or bom:
                return None
            encoding, text = "latin-1", body.decode("latin-1")  # a charset that lies
        new = self._scrub_typed_text(text, kind, found)
        if new == text:
            return body
        return bom + new.encode(encoding, "xmlcharrefreplace" if markup else "strict")

    def _scrub_xml(self, text: str, found: list[str]) -> str:
        """XML (SOAP, AWS STS and IAM): the text of a leaf element with a sensitive name is
        replaced by `&lt;SCRUBBED&gt;` (the document stays well-formed; a parser reads
        `<SCRUBBED>`), CDATA by `<SCRUBBED>` in it. Names as for parameters, but `<Key>`."""
        names = {
            name
            for name in set(_XML_NAME.findall(text))
            if normalize_name(name) not in _XML_NOT_SECRET and self._param_names(name)
        }
        if not names:
            return text

        def sensitive(match: re.Match[str]) -> tuple[int, tuple[str, ...]] | None:
            return (match.end(), ()) if match.group(1).rpartition(":")[2] in names else None

        cdata_ends = [m.start() for m in re.finditer(re.escape("]]>"), text)]
        edits: list[tuple[int, int, str]] = []
        position = 0
        for match, _, _ in _taken_matches(_XML_OPEN, text, sensitive):
            if match.start() < position:
                continue
            tag, attributes = match.group(1), match.group(2) or ""
            name = tag.rpartition(":")[2]
            cdata_open = _XML_CDATA_OPEN.match(text, match.end())
            if cdata_open is not None:
                at = bisect.bisect_left(cdata_ends, cdata_open.end())
                if at == len(cdata_ends):
                    continue
                rest = re.compile(r"(\s*)" + _XML_CLOSE.format(tag=re.escape(tag)))
                close = rest.match(text, cdata_ends[at] + 3)
                if close is None:  # checked before the section is read: many unterminated
                    continue  # sections before one `]]>` are no copy of the text each
                cdata = text[cdata_open.end() : cdata_ends[at]]
                lead = text[match.end() : cdata_open.end() - len("<![CDATA[")]
                if not cdata.strip() or is_placeholder(cdata):
                    position = close.end()
                    continue
                found.append(_finding(name, cdata))
                inner = f"{lead}<![CDATA[{SCRUBBED}]]>{close.group(1)}"
            else:
                content = _XML_TEXT.match(text, match.end())
                assert content is not None  # `[^<]*` matches anywhere
                close = re.compile(_XML_CLOSE.format(tag=re.escape(tag))).match(text, content.end())
                if close is None:
                    continue
                value = html.unescape(content.group())
                if not value.strip() or is_placeholder(value):
                    position = close.end()
                    continue
                found.append(_finding(name, value))
                inner = _markup(SCRUBBED)
            edits.append((match.start(), close.end(), f"<{tag}{attributes}>{inner}</{tag}>"))
            position = close.end()
        return splice(text, edits)

    def _scrub_html_fields(self, text: str, found: list[str]) -> str:
        """HTML's `<input name=... value=...>` and `<meta name=... content=...>` whose name is
        sensitive (OpenID Connect's form_post page, a CSRF token): the value becomes
        `&lt;SCRUBBED&gt;`, in the attribute's own quotes."""

        def replace(match: re.Match[str]) -> str:
            values: dict[str, tuple[int, int, str]] = {}
            for attribute in _HTML_ATTRIBUTE.finditer(match.group(2)):
                for group in (2, 3, 4):
                    if attribute.group(group) is not None:
                        start, end = attribute.span(group)
                        values.setdefault(
                            attribute.group(1).lower(), (start, end, attribute[group])
                        )
                        break
            target = values.get("content" if match.group(1).lower() == "meta" else "value")
            name = html.unescape(values["name"][2]) if "name" in values else ""
            kind = values["type"][2].lower() if "type" in values else ""
            if target is None or not name or kind in _BUTTONS:
                return match.group()
            start, end, raw = target
            value = html.unescape(raw)
            if not self._param_names(name) and not (code and name == "code" and is_code(value)):
                return match.group()
            if not value.strip() or is_placeholder(value):
                return match.group()
            if _is_template(value) or (_generic(name) and not looks_random(value)):
                return match.group()  # `value="{{ token }}"`, `name=key value=search`
            found.append(_finding(name, value))
            whole, offset = match.group(), match.start(2) - match.start()
            return whole[: offset + start] + _markup(SCRUBBED) + whole[offset + end :]

        names = {html.unescape("".join(groups)) for groups in _HTML_NAME.findall(text)}
        code = authorization_code(names)  # a form_post page's `code` beside its `state`
        if not code and not any(self._param_names(name) for name in names):
            return text
        return _HTML_FIELD_TAG.sub(replace, text)

    def _scrub_multipart(self, body: bytes, boundary: bytes, found: list[str]) -> bytes:
        """Scrub multipart/form-data part by part, as bytes (a file part may not be UTF-8): a
        field's value by its name, or as a body of its own type (JSON...); part headers, file
        contents, preamble and epilogue by the free-text rules. Everything else is kept byte for
        byte: boundaries, part headers' layout, CRLFs. The user's patterns then run over the
        whole body too, when it is text: one may span a part's headers and its value
        (`name="ssn"\r\n\r\n(.+)`). A body with a binary part gets them part by part only,
        as a binary body gets none (they could corrupt it)."""
        scrubbed = self._scrub_parts(body, boundary, found)
        if not self._patterns:
            return scrubbed
        try:
            text = scrubbed.decode("utf-8")
        except UnicodeDecodeError:
            return scrubbed
        new = self._scrub_patterns(text, found, plain_text)
        return scrubbed if new == text else new.encode("utf-8")

    def _scrub_parts(self, body: bytes, boundary: bytes, found: list[str]) -> bytes:
        delimiter = b"--" + boundary
        view = memoryview(body)  # a file's contents are read in place, not copied
        edits: list[tuple[int, int, bytes | None]] = []
        start = body.find(delimiter)
        edits.append((0, max(start, 0), self._scrub_free(body[: max(start, 0)], found)))
        while start != -1:
            part = start + len(delimiter)
            start = body.find(b"\r\n" + delimiter, part)
            end = len(body) if start == -1 else start
            if start != -1:
                start += 2  # the CRLF before a delimiter belongs to it
            if body.startswith(b"--", part):  # the close delimiter: the epilogue follows
                edits.append((part + 2, len(body), self._scrub_free(body[part + 2 :], found)))
                break
            head_end = body.find(b"\r\n\r\n", part, end)
            if head_end == -1:  # not a part as clients write them: free text
                edits.append((part, end, self._scrub_free(body[part:end], found)))
                continue
            headers = body[part:head_end]
            name = _PART_NAME.search(headers)
            if name is None or _PART_FILENAME.search(headers):
                new = self._scrub_free(view[head_end + 4 : end], found)
            else:
                content = body[head_end + 4 : end]
                quoted, bare = name.groups()
                field = _part_text(bare if quoted is None else quoted)
                new = self._scrub_field(field, headers, content, found)
            edits.append((part, head_end, self._scrub_free(headers, found)))
            edits.append((head_end + 4, end, new))
        changed = [edit for edit in edits if edit[2] is not None]
        if not changed:
            return body
        pieces: list[bytes | memoryview] = []
        position = 0
        for begin, finish, replacement in changed:
            pieces += [view[position:begin], replacement or b""]
            position = finish
        pieces.append(view[position:])
        return b"".join(pieces)

    def _scrub_field(
        self, name: str, headers: bytes, content: bytes, found: list[str]
    ) -> bytes | None:
        """A multipart form field's new value; None when unchanged."""
        if self._param_names(name):
            value = content.decode("utf-8", "replace")
            new = self._secret_value(name, value, found, plain_text)
            return None if new == value else new.encode("utf-8")
        part_type = _PART_TYPE.search(headers)
        content_type = _part_text(part_type.group(1)) if part_type else ""
        new_content = self._scrub_body(content, content_type, found)
        return None if new_content is content else new_content

    def _scrub_json(self, text: str, found: list[str], depth: int = 0) -> str | None:
        """Scrub JSON (or JSON lines) token by token, keeping its formatting; None: not JSON.

        A string holding a query string or a JSON document of its own (an echo server's copy of
        the request body) is scrubbed as one, `depth` levels deep."""
        edits = self._json_edits(text, found, depth)
        return None if edits is None else splice(text, edits)

    def _json_edits(
        self,
        text: str,
        found: list[str],
        depth: int = 0,
        skip: frozenset[tuple[Segment, ...]] = frozenset(),
    ) -> list[tuple[int, int, str]] | None:
        """What `_scrub_json` changes: each token replaced, `(start, end, new)` in order; None:
        not JSON. The strings at the paths in `skip` (lower-case keys, from the document's
        number) are left as they are: a stream's pieces, which its joined text's rules took."""
        if not _is_json(text):
            return None
        # Text rules string by string are the slow part: only strings where a rule fires on the
        # raw text get them, or strings that may hold a sensitive parameter or key; a document
        # with none of these and no sensitive key is left as is.
        hits = self._text_hits(text)
        embedded = self._has_embedded(text)
        paths = self._json_paths
        context = self._context_paths(text, depth)
        exact, encoded, fixed = frozenset(context.secrets), context.encoded, context.fixed
        if not (hits or embedded or paths or exact or encoded or self._has_sensitive_key(text)):
            return []
        kept = _kept_paths(text)
        outputs = _model_output_paths(text)
        hit_starts = [start for start, _ in hits]
        hit_ends = list(itertools.accumulate((end for _, end in hits), max))
        edits: list[tuple[int, int, str]] = []
        stack: list[_JsonFrame] = []
        document = 0  # JSON lines: the number of the document read (context paths name it)
        for match in JSON_TOKEN.finditer(text):
            token = match.group()
            first = token[0]
            top = stack[-1] if stack else None
            if first in " \t\r\n" or first in ":,}]":
                if first == ":" and top is not None:
                    top.key_next = False
                elif first == "," and top is not None:
                    top.key_next = top.is_object
                    top.index += 1
                elif first in "}]":
                    stack.pop()
                    document += not stack
                continue
            if first in "{[" and not (top is not None and top.key_next):
                sensitive, name = self._json_sensitive(stack, paths, exact, kept, document, outputs)
                loose = (
                    sensitive
                    and first == "{"
                    and top is not None
                    and not top.sensitive
                    and normalize_name(name) in _LOOSE_NAMES
                )
                stack.append(_JsonFrame(first == "{", sensitive and not loose, loose))
                continue
            recoded = None  # a base64 string decoded, scrubbed and encoded again
            if top is not None and top.key_next:
                top.key = json.loads(token)
                sensitive, name = False, ""
            elif skip and first == '"' and _here(document, stack) in skip:
                continue
            else:
                sensitive, name = self._json_sensitive(stack, paths, exact, kept, document, outputs)
                document += not stack  # a document that is one value
                if not sensitive and top is not None and top.loose and first == '"':
                    sensitive = _loose_secret(name, json.loads(token))
                if encoded and first == '"':
                    here = _here(document, stack)
                    if here in encoded:
                        file = encoded[here]
                        if sensitive and file not in SHAPED:
                            file = None  # a file's contents under a secret's name
                        recoded = self._base64_string(token, file, name, found)
            new = token
            if fixed and not (top is not None and top.key_next):
                value = fixed.get(_here(document, stack))
                if value is not None:  # written as the token was: a string, or a number
                    recoded = json.dumps(value) if first == '"' else value
                    if sensitive and recoded != token:  # a secret with a placeholder of its own
                        found.append(_finding(name, json.loads(token)))
            if recoded is not None:
                new = recoded
            elif sensitive:
                if not (_ERROR_RESPONSE.get() and first == '"' and _validation_message(token)):
                    # (kept: `{"password": ["This field is required."]}`)
                    new = _json_secret(token, name, found)
            elif overlaps(hit_starts, hit_ends, match.start(), match.end()) or (
                embedded and first == '"' and self._string_may_change(token)
            ):
                here = _here(document, stack)
                model = MODEL_OUTPUT.set(MODEL_OUTPUT.get() or _under(here, outputs))
                try:
                    new = self._json_string(token, found, depth)
                finally:
                    MODEL_OUTPUT.reset(model)
            if new != token:
                edits.append((match.start(), match.end(), new))
        return edits

    def _text_hits(self, text: str) -> list[tuple[int, int]]:
        """Where text rules fire in a raw text, sorted by start (spans may overlap)."""
        spans: list[tuple[int, int]] = []
        if self._env_re is not None:
            spans.extend(m.span() for m in self._env_re.finditer(text))
        for pattern in self._patterns:
            spans.extend(m.span() for m in pattern.finditer(text))
        if self._detectors:
            spans.extend((f.start, f.end) for f in find_secrets(text, self._excluded_kinds))
        return sorted(spans)

    def _has_embedded(self, text: str) -> bool:
        """Whether a JSON text may hold a sensitive parameter or key inside a string: a query
        string, a URL, a JSON document quoted in it; a command's credentials, a one-time
        link's token."""
        return (
            _may_hold_command(text)
            or has_link_token(text)
            or self._embedded_name(text)
            or _BASE64_JSON_STRING.search(text) is not None
        )

    def _string_may_change(self, token: str) -> bool:
        """Whether the text rules may change a raw JSON string beyond what _text_hits found
        (what _has_embedded tells of a whole text, each check made once and closer)."""
        return (
            _holds_command(token)
            or has_link_token(token)
            or (_may_embed(token) and self._embedded_name(token))
            or _BASE64_JSON_STRING.search(token) is not None
        )

    def _embedded_name(self, text: str) -> bool:
        """Whether a JSON text may hold a sensitive parameter or key inside a string (see
        _has_embedded), by names or their flow's."""
        names = _EMBEDDED_NAME.findall(text)
        if "\\u0026" in text:
            names += _ESCAPED_NAME.findall(text)
        if "%3" in text or "%2" in text:
            names += _ENCODED_NAME.findall(text)
        if '\\"' in text:
            names += _QUOTED_KEY.findall(text)
        if (":" in text or "=>" in text) and _FIELD_IN_STRING.search(text):
            names += _reversed_names(_REVERSED_FIELD_NAME, text, 2, 3)
        if ":" in text and "\\n" in text:
            names += _LINE_NAME_IN_STRING.findall(text)  # a YAML file in a JSON string
        if _HTML_FIELD_HINT.search(text):
            # An HTML fragment (Turbo's, htmx's, Livewire's JSON): its form's fields' names.
            raw = text.replace('\\"', '"').replace("\\u003c", "<").replace("\\u003C", "<")
            names += ["".join(g) for g in _HTML_NAME.findall(raw)]
        if ";" in text and _CONNECTION_PASSWORD.search(text):
            return True  # a connection string's `Pwd=`, no parameter name anywhere else
        if "code" in names and authorization_code(names):
            return True  # a URL's authorization code, maybe
        if not RANDOM_ONLY.isdisjoint(map(str.lower, names)):
            return True  # Auth0's ticket, maybe
        sensitive = self._param_names
        for name in set(names) if len(names) > 8 else names:
            if sensitive(unquote_plus(name) if "%" in name or "+" in name else name):
                return True
        return False

    def _has_sensitive_key(self, text: str) -> bool:
        for raw in set(_JSON_KEY.findall(text)):
            key = json.loads(f'"{raw}"') if "\\" in raw else raw
            if self._param_names(key) and not (raw == "token" and _all_tokens_kept(text)):
                return True
        return False

    def _context_hinted(self, text: str) -> bool:
        """Whether a JSON text may hold a value secret by its object's other fields (see
        _context_paths), by its words alone."""
        return bool(
            _CONTEXT_HINT.search(text)
            or STORE_HINT.search(text)
            or AUTH_HINT.search(text)
            or (
                any(field in text for field in _VALUE_KEYS)
                and (
                    any(
                        self._param_names(name) or _is_secret_env_name(name)
                        for name in set(_NAME_FIELD.findall(text))
                    )
                    or any(self._credential_type(kind) for kind in set(_TYPE_FIELD.findall(text)))
                )
            )
        )

    def _json_may_change(self, text: str) -> bool:
        """Whether the JSON rules may change something in a text (one JSON document or
        several), by the checks _json_edits makes before reading it token by token; true of
        a text if true of a part of it."""
        return bool(
            self._json_paths
            or _SHAPE.get() is not None
            or self._text_hits(text)
            or self._has_embedded(text)
            or self._context_hinted(text)
            or self._has_sensitive_key(text)
        )

    def _context_paths(self, text: str, depth: int = 0) -> Found:
        """Values that are secrets by their object's other fields, as paths from the root:
        `{"name": "DB_PASSWORD", "value": ...}` (Kubernetes' env, ECS, CloudFormation's
        parameters, Azure's listCredentials), AWS SSM's SecureString `Value`, Azure's listKeys
        and Key Vault `value`, a Kubernetes Secret's `data` and `stringData`, a secret store's
        (see scrub_stores.py); and the base64 strings to decode. A body (`depth` 0) also by
        its request's URL."""
        found = Found()
        shape = _SHAPE.get() if depth == 0 else None
        if shape is None and not self._context_hinted(text):
            return found
        try:  # JSON lines too (a Kubernetes watch stream): paths start with the line's number
            todo: list[tuple[Any, tuple[Segment, ...]]] = [
                (data, (number,)) for number, data in enumerate(_json_documents(text))
            ]
        except (ValueError, RecursionError):  # not JSON after all
            return found
        if shape is not None and todo:
            shape(todo[0][0], found)
        while todo:
            node, path = todo.pop()
            if isinstance(node, list):
                todo.extend((item, (*path, i)) for i, item in enumerate(node))
                continue
            if not isinstance(node, dict):
                continue
            kind = node.get("kind")
            secrets = [node] if kind == "Secret" else []
            if kind == "SecretList" and isinstance(node.get("items"), list):
                secrets = node["items"]  # a list's items carry no kind of their own
            for i, secret in enumerate(secrets):
                at = path if secret is node else (*path, "items", i)
                if isinstance(secret, dict):
                    found.secrets.extend(
                        (*at, k.lower()) for k in ("data", "stringData") if k in secret
                    )
                    data = secret.get("data")  # base64 values (`stringData`'s are plain)
                    for key in data if isinstance(data, dict) else ():
                        found.encode((*at, "data", key.lower()), None)
            value_key = next((k for k in _VALUE_FIELDS if k in node), None)
            if value_key is not None and self._secret_by_context(node):
                found.secrets.append((*path, value_key.lower()))
            if "keyName" in node:  # Azure Service Bus' and Event Hubs' listKeys
                found.secrets.extend(
                    (*path, k.lower()) for k in ("primaryKey", "secondaryKey") if k in node
                )
            for key, child in node.items():
                if isinstance(child, str) and child.startswith(_KUBECONFIG_BASE64):
                    found.encode((*path, key.lower()), "kubeconfig.yaml")
            cookies = next((k for k in ("cookies", "Cookies") if k in node), None)
            if cookies is not None and self._param_names("cookie"):
                found.secrets.extend(_cookie_paths(node[cookies], (*path, "cookies")))
            store_paths(node, path, found)
            auth_paths(node, path, found)
            todo.extend((child, (*path, key.lower())) for key, child in node.items())
        return found

    def _secret_by_context(self, node: dict[str, Any]) -> bool:
        if "keyName" in node or node.get("Type") == "SecureString":
            return True
        vault_id = node.get("id")
        if isinstance(vault_id, str) and _KEY_VAULT_ID.search(vault_id):
            return True
        for field in _NAME_FIELDS:
            name = node.get(field)
            if isinstance(name, str) and (self._param_names(name) or _is_secret_env_name(name)):
                return True
        kind = node.get("type")
        if isinstance(kind, str) and self._credential_type(kind):
            return True
        if "httpOnly" in node and "domain" in node and self._param_names("cookie"):
            return True  # a browser's cookie (WebDriver's, Playwright's, a HAR's): a session
        loc = node.get("loc")  # pydantic's error: where the value was (`["body", "password"]`)
        return (
            isinstance(loc, list)
            and bool(loc)
            and isinstance(loc[-1], str)
            and (self._param_names(loc[-1]))
        )

    def _credential_type(self, kind: str) -> bool:
        return not _generic(kind) and self._param_names(kind)  # see _NAME_FIELDS

    def _json_sensitive(
        self,
        stack: list[_JsonFrame],
        paths: tuple[tuple[Segment, ...], ...] = (),
        exact: frozenset[tuple[Segment, ...]] = frozenset(),
        kept: frozenset[tuple[Segment, ...]] = frozenset(),
        document: int = 0,
        outputs: frozenset[tuple[Segment, ...]] = frozenset(),
    ) -> tuple[bool, str]:
        """Whether the value about to be read is secret, and the key that makes it so: by its
        name, a user's JSON path (`paths`), or its path being one of `exact` (lower-case keys;
        what is below a secret value is secret through its frame). A path in `kept` is not
        secret by its name (a model's output token, a key/value pair's key). Paths start with
        the number of the document (JSON lines)."""
        if not stack:
            return False, ""
        top = stack[-1]
        name = top.key if top.is_object and top.key is not None else ""
        if top.sensitive and top.is_object and name in _SCHEMA_KEYWORDS:
            return False, name  # a JSON Schema's `"password": {"type": "string"}`
        if kept and not top.sensitive and name:
            here = _here(document, stack)
            if here in kept:
                return False, name
        if (
            (outputs or MODEL_OUTPUT.get())
            and not top.sensitive
            and name
            and normalize_name(name) in GENERIC_NAMES
        ):
            here = _here(document, stack)
            if MODEL_OUTPUT.get() or _under(here, outputs):
                return False, name  # a model's output (see _MODEL_OUTPUT_HINT)
        if top.sensitive or (name and self._param_names(name)):
            return True, name
        if paths:
            path: list[Segment] = [(f.key or "") if f.is_object else f.index for f in stack]
            if any(_path_matches(rule, path) for rule in paths):
                return True, name or str(path[-1])
        if exact:
            here = _here(document, stack)
            if here in exact:
                return True, name or str(here[-1])
        return False, name

    def _base64_string(
        self, token: str, file: str | None, name: str, found: list[str]
    ) -> str | None:
        """A JSON string of base64 (see scrub_stores.py) decoded and scrubbed: a file's
        contents by the rules of its type, a secret (`file` None) whole, a `user:password`'s
        password, a PFX (see pkcs12_placeholder); encoded again, its lines as long as they
        were, when that changed it. None: it is no base64."""
        value = json.loads(token)
        try:
            data = base64.b64decode(value.replace("\n", ""), validate=True)
        except (ValueError, binascii.Error):  # binascii.Error is a ValueError; a non-ASCII str
            return None
        if file == PKCS12:  # a certificate and its key: a PFX a client can load
            new, secret = pkcs12_placeholder(), value
        elif file is None or file == CREDENTIALS:  # `AWS:<password>`: the user is kept
            user, colon, password = data.partition(b":") if file else (b"", b"", data)
            if not colon:
                user, password = b"", data
            secret = password.decode("utf-8", "replace")
            if password and not _is_placeholder(secret):
                new = user + colon + SCRUBBED.encode("ascii")
            else:
                new = data
        else:
            new, secret = self._scrub_body(data, _file_type(file), found), ""
        if new == data:
            return token
        if secret:
            found.append(_finding(name, secret))
        encoded = base64.b64encode(new).decode("ascii")
        width = value.find("\n")
        if width > 0:  # GitHub's: 60 characters a line, each ended
            lines = [encoded[i : i + width] for i in range(0, len(encoded), width)]
            encoded = "\n".join(lines) + ("\n" if value.endswith("\n") else "")
        return json.dumps(encoded)

    def _json_string(self, token: str, found: list[str], depth: int = 0) -> str:
        if token in ("true", "false", "null"):
            return token
        if token[0] != '"':
            # A number can equal a secret (a numeric password): it becomes a string.
            new = self._scrub_text(token, found, plain_text)
            return token if new == token else json.dumps(new)
        value = json.loads(token)
        new = self._scrub_string(value, found, depth)
        return token if new == value else json.dumps(new, ensure_ascii=token.isascii())

    def _scrub_string(self, value: str, found: list[str], depth: int) -> str:
        """A JSON string's value: a JSON document or a query string in it is scrubbed as one
        (by names, as a body of its own would be), anything else as free text. Environment
        values go first: what the string looks like must not depend on a secret in it (a key
        with `=` would make it a form, its placeholder percent-encoded)."""
        if self._env_re is not None:
            value = self._replace_env(value, found, plain_text)
        if depth < _MAX_NESTING and value.lstrip()[:1] in ("{", "["):
            nested = self._scrub_json(value, found, depth + 1)
            if nested is not None:
                return nested
        if depth < _MAX_NESTING and value[:2] in _BASE64_JSON_STARTS and _BASE64.match(value):
            nested = self._scrub_base64_json(value, found, depth)
            if nested is not None:
                return nested
        kind = self._string_kind(value)
        if kind == "connection":
            return self._scrub_text(self._scrub_connection(value, found), found, plain_text)
        if kind == "form":
            return self._scrub_text(self._scrub_pairs(value, found), found, _url_encoded)
        if kind == "html":
            return self._scrub_text(self._scrub_html_fields(value, found), found, _markup)
        return self._scrub_text(value, found, plain_text)

    def _scrub_base64_json(self, value: str, found: list[str], depth: int) -> str | None:
        """A JSON document in base64 (a Pub/Sub message's `data`, a Kinesis record's `Data`)
        scrubbed as one, encoded again as it was (URL-safe or not, padded or not); None when
        the value is no such document or nothing in it changed."""
        urlsafe = "-" in value or "_" in value
        padded = value + "=" * (-len(value) % 4)
        try:
            decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
            text = decode(padded).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            return None
        if text.lstrip()[:1] not in ("{", "["):
            return None
        before = len(found)
        nested = self._scrub_json(text, found, depth + 1)
        if nested is None or nested == text:
            return None
        encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
        encoded = encode(nested.encode("utf-8")).decode("ascii")
        if not (value.endswith("=") or len(value) % 4 == 0):
            encoded = encoded.rstrip("=")
        if len(found) > before and len(value) <= _MAX_RECODED:
            # Learned: sent back (a page's cursor in the next URL, a form) it is encoded alike,
            # and replay, which sends back this encoding, still matches.
            carried = _Found(found[before])
            carried.value = getattr(found[before], "value", "")
            carried.recoded = f"{value}\0{encoded}\0{found[before]}"
            found[before] = carried
        return encoded

    def _string_kind(self, value: str) -> str:
        """What a string that is not JSON holds, as _scrub_string reads it: a whole
        connection string, form or HTML fragment with fields, else text."""
        if ";" in value and _CONNECTION_STRING.fullmatch(value):
            return "connection"
        if "=" in value and _FORM_BODY.fullmatch(value):
            return "form"
        if value.lstrip()[:1] == "<" and _HTML_FIELD_HINT.search(value):
            return "html"
        return "text"

    def _scrub_connection(
        self, value: str, found: list[str], pairs: re.Pattern[str] = _CONNECTION_PAIR
    ) -> str:
        """A connection string (`Server=x;Uid=app;Pwd=...`, Azure's `...;AccountKey=...`):
        sensitive pairs' values replaced, nothing encoded (it is no form)."""
        edits: list[tuple[int, int, str]] = []
        for pair in pairs.finditer(value):
            key, secret = pair.group(1).strip(), pair.group(2)
            sensitive = normalize_name(key) in _CONNECTION_SECRETS or self._param_names(key)
            if sensitive and secret.strip() and not _is_placeholder(secret.strip()):
                found.append(_finding(key, secret))
                edits.append((pair.start(2), pair.end(2), SCRUBBED))
        return splice(value, edits)

    def _scrub_line_connections(self, text: str, found: list[str]) -> str:
        """Connection strings in lines of text (`Server=db;User Id=app;Password=...`), read
        as _scrub_connection reads a whole one: a password holding blanks goes whole, where
        a query's parameter would end at the first blank."""
        edits: list[tuple[int, int, str]] = []
        done = 0
        for secret in _LINE_CONNECTION_SECRET.finditer(text):
            if secret.start() < done:
                continue
            start = text.rfind("\n", 0, secret.start()) + 1
            end = text.find("\n", secret.end())
            done = len(text) if end < 0 else end
            for match in _LINE_CONNECTION.finditer(text, start, done):
                closer = _ENCLOSERS.get(text[match.start() - 1 : match.start()], "")
                end = text.rfind(closer, match.start(), match.end()) if closer else -1
                if end > 0:  # `'Server=db;Pwd=my pass' failed`: up to the last closer
                    match = _LINE_CONNECTION.match(text, match.start(), end) or match
                keys = {
                    normalize_name(pair.group(1))
                    for pair in _LINE_CONNECTION_PAIR.finditer(match.group())
                }
                if keys & _CONNECTION_KEYWORDS and not _ENTITY.search(match.group()):
                    new = self._scrub_connection(match.group(), found, _LINE_CONNECTION_PAIR)
                    if new != match.group():
                        edits.append((match.start(), match.end(), new))
        return splice(text, edits)

    def _scrub_conninfo_escapes(self, text: str, found: list[str], encode: Encoder) -> str:
        """A libpq connection string's unquoted password holding escapes (`password=it\\'s`),
        whole: read as a parameter, its value ended at the escaped quote."""
        edits: list[tuple[int, int, str]] = []
        for match in _CONNINFO_ESCAPED.finditer(text):
            line = _line_before(text, match.start()) + _line_after(text, match.end())
            value = match.group(1)
            if "\\" in value and _CONNINFO_KEYWORD.search(line) and _secret_like(value):
                found.append(_finding("password", value))
                edits.append((match.start(1), match.end(1), encode(SCRUBBED)))
        return splice(text, edits)

    def _scrub_parsed(
        self, value: Any, path: list[Segment], sensitive: bool, name: str, found: list[str]
    ) -> Any:
        """A body vcrpy keeps as Python data (aiohttp's json= and data=), by the JSON rules: a
        copy of the same types (a mapping that is not a dict becomes pairs, as vcrpy stores it)."""
        if isinstance(value, Mapping):
            kept = None if sensitive else _kept_field(value)
            items = [
                (k, self._scrub_parsed(v, [*path, k], False, k, found))
                if k == kept
                else self._parsed_item(k, v, path, sensitive, found)
                for k, v in value.items()
            ]
            return dict(items) if isinstance(value, dict) else items
        if isinstance(value, (list, tuple)):
            if _is_pairs(value):
                new = [self._parsed_item(k, v, path, sensitive, found) for k, v in value]
            else:
                new = [
                    self._scrub_parsed(item, [*path, i], sensitive, name, found)
                    for i, item in enumerate(value)
                ]
            return tuple(new) if isinstance(value, tuple) else new
        if sensitive:
            return _parsed_secret(value, name, found)
        if isinstance(value, str):
            return self._scrub_string(value, found, 0)
        if isinstance(value, bytes):
            scrubbed = self._scrub_free(value, found)
            return value if scrubbed is None else scrubbed
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = str(value)  # a number can equal a secret: it becomes a string
            new_text = self._scrub_text(text, found, plain_text)
            return value if new_text == text else new_text
        return value

    def _parsed_item(
        self, key: Any, value: Any, path: list[Segment], sensitive: bool, found: list[str]
    ) -> tuple[Any, Any]:
        name = str(key)
        child: list[Segment] = [*path, name]
        secret = (
            sensitive
            or self._param_names(name)
            or any(_path_matches(rule, child) for rule in self._json_paths)
        )
        return key, self._scrub_parsed(value, child, secret, name, found)

    def _scrub_free(self, data: bytes | memoryview, found: list[str]) -> bytes | None:
        """Free-text rules over bytes that may be text; None when nothing changed."""
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError:
            return self._scrub_binary(data, found)
        new = self._scrub_text(text, found, plain_text)
        return None if new == text else new.encode("utf-8")

    def _scrub_binary(self, data: bytes | memoryview, found: list[str]) -> bytes | None:
        """Values of secret environment variables in bytes that are not UTF-8, by their UTF-8
        bytes (the only rule that cannot corrupt them); None, and no copy, when there is none."""
        edits = self._binary_edits(data, found)
        if not edits:
            return None
        view = memoryview(data)  # pieces are views: the new body is the only copy
        pieces: list[bytes | memoryview] = []
        position = 0
        for start, end, new in edits:
            pieces += [view[position:start], new]
            position = end
        pieces.append(view[position:])
        return b"".join(pieces)

    def _binary_edits(
        self, data: bytes | memoryview, found: list[str]
    ) -> list[tuple[int, int, bytes]]:
        """Where _scrub_binary replaces something in `data`, and by what, in order."""
        if self._env_bytes_re is None:
            return []
        edits: list[tuple[int, int, bytes]] = []
        for match in self._env_bytes_re.finditer(data):
            start, end = match.span()
            # A match touching a placeholder is one being re-scrubbed: looked for around the
            # match only, not over a large body.
            near = self._protected_bytes.finditer(data, max(0, start - _NEAR), end + _NEAR)
            if any(p.start() < end and start < p.end() for p in near):
                continue
            form = match.group().decode("utf-8")
            edits.append((start, end, self._env_text[form].encode("ascii")))
            found.append("env:" + self._env_placeholder[form])
        return edits

    # --- text ----------------------------------------------------------------------------------

    def _scrub_text(
        self,
        text: str,
        found: list[str],
        encode: Encoder,
        embedded: bool = True,
        yaml: bool = False,
    ) -> str:
        """Sensitive parameters of URLs in the text (unless not `embedded`), then environment
        values, user patterns and detectors over free text."""
        if not text:
            return text
        if embedded:
            text = self._scrub_link_tokens(text, found)
            if ";" in text:
                text = self._scrub_line_connections(text, found)
            if "password" in text and "\\" in text:
                text = self._scrub_conninfo_escapes(text, found, encode)
            text = self._scrub_embedded(text, found, markup=encode is _markup)
            if ":" in text or "=>" in text:
                text = self._scrub_fields(text, found, encode, yaml)
            if ":" in text and encode is not _markup and not yaml:  # YAML's: done already
                text = self._scrub_lines(text, found, yaml=False)
            text = self._scrub_commands(text, found, encode)
        if self._env_re is not None:
            text = self._replace_env(text, found, encode)
        text = self._scrub_patterns(text, found, encode)
        if self._detectors:
            spans = [
                (f.start, f.end, finding_replacement(text, f))
                for f in find_secrets(text, self._excluded_kinds)
            ]
            text = self._replace(text, spans, found, encode, "")
        return text

    def _replace_env(self, text: str, found: list[str], encode: Encoder) -> str:
        """The values of secret environment variables (and learned ones) by their names."""
        assert self._env_re is not None
        spans = [
            (m.start(), m.end(), self._env_text[m.group()]) for m in self._env_re.finditer(text)
        ]
        return self._replace(text, spans, found, encode, "env:")

    def _scrub_embedded(self, text: str, found: list[str], markup: bool) -> str:
        """Sensitive parameters of URLs and query strings inside text, by name, as in a request's
        URL: `href="/cb?access_token=..."`, a JSON pagination link, a `Link` header, a URL
        encoded in a query value; and `name=value` in free text (in markup, outside tags)."""
        text = splice(text, self._text_pair_edits(text, found, markup))
        return splice(text, self._encoded_pair_edits(text, found))

    def _text_pair_edits(
        self, text: str, found: list[str], markup: bool
    ) -> list[tuple[int, int, str]]:
        """`name=value` in text, a URL's parameters in it (see _scrub_embedded)."""
        if "=" not in text:
            return []
        # The names first, in one pass in C: most texts have none that is sensitive.
        names = _reversed_names(_REVERSED_PAIR_NAME, text, 0)
        keys = {k for k in names if self._param_names(unquote_plus(k))}
        if "code" in names and authorization_code(names):
            keys.add("code")  # each one's own URL tells (see code_in_url)
        if not RANDOM_ONLY.isdisjoint(map(str.lower, names)):  # by values (see _pair_edits)
            keys.update(k for k in names if k.lower() in RANDOM_ONLY)
        if not keys:
            return []

        def sensitive(match: re.Match[str]) -> tuple[int, tuple[str, ...]] | None:
            # The longest sensitive name the match ends with: all of it, or a part after a `[`
            # (`user[password]=`), where the part is a name of its own too.
            name = match.group(1)
            cuts = [len(name)] + [i for i in range(len(name) - 1, 0, -1) if name[i] == "["]
            for cut in cuts:
                if name[:cut][::-1] in keys:
                    return match.start(1) + cut, (name[:cut],)
            return None

        kind = "markup" if markup else "text"
        in_url = code_in_url(text)
        candidates: Iterator[_Pair] = (
            (start, groups[0][::-1], end, kind, None)
            for start, end, groups in _reversed_spans(_REVERSED_PAIR_NAME, text, sensitive)
            if groups[0] != "edoc" or self._param_names("code") or in_url(start)
        )
        return self._pair_edits(text, candidates, found)

    def _encoded_pair_edits(self, text: str, found: list[str]) -> list[tuple[int, int, str]]:
        """A URL's parameters percent-encoded in text (a URL in a query value)."""
        if "%3" not in text:
            return []
        encoded = _ENCODED_NAME.findall(text)
        return self._named_edits(text, _ENCODED_PAIR, encoded, "encoded", found)

    def _replace_named(
        self, text: str, pattern: re.Pattern[str], names: Iterable[str], kind: str, found: list[str]
    ) -> str:
        """The pairs `pattern` takes whole (separator, name, value) whose name is sensitive."""
        return splice(text, self._named_edits(text, pattern, names, kind, found))

    def _named_edits(
        self, text: str, pattern: re.Pattern[str], names: Iterable[str], kind: str, found: list[str]
    ) -> list[tuple[int, int, str]]:
        keys = {k for k in set(names) if self._param_names(unquote_plus(k))}
        if not keys:
            return []
        candidates: list[_Pair] = [
            (m.start(), m.group(2), m.start(3), kind, m.group(3))
            for m in pattern.finditer(text)
            if m.group(2) in keys
        ]
        return self._pair_edits(text, candidates, found)

    def _scrub_fields(self, text: str, found: list[str], encode: Encoder, yaml: bool) -> str:
        return splice(text, self._field_edits(text, found, encode, yaml))

    def _field_edits(
        self, text: str, found: list[str], encode: Encoder, yaml: bool
    ) -> list[tuple[int, int, str]]:
        """String fields of objects written in text, by their keys: a JSON or Python dict in an
        error page or a log line (`"password": "..."`, `{'api_key': b'...'}`), a JavaScript
        object in a page's script (`{apiKey: "..."}`), a GraphQL argument. The string keeps its
        quotes. Generic names (`key`, `token`...) only with a value that looks generated:
        `{key: "render"}` is code."""
        names = _reversed_names(_REVERSED_FIELD_NAME, text, 2, 3)
        keys = {k for k in names if self._param_names(k)}
        if not keys:
            return []

        def sensitive(match: re.Match[str]) -> tuple[int, tuple[str, ...]] | None:
            name = match.group(3) or match.group(4)
            return (match.end(), match.groups()) if name[::-1] in keys else None

        edits: list[tuple[int, int, str]] = []
        position = 0
        for start, end, groups in _reversed_spans(_REVERSED_FIELD_NAME, text, sensitive):
            quote = _QUOTES[groups[0]]
            name = (groups[2] or groups[3])[::-1]
            opening = end - len(quote)
            strings = _YAML_SINGLE if yaml and quote == "'" else _FIELD_STRING[quote]
            string = strings.match(text, opening)
            if start < position or string is None:
                continue
            if groups[1] == '"\\' and quote != '\\"':
                # A key in a JSON string (`\"password\":`) has its value's quotes escaped too:
                # an unescaped one ends the string (`{"arguments": "{\"password\":"}`).
                continue
            raw = string.group(1)
            if (
                _is_placeholder(raw)
                or _is_template(raw)
                or any(c.isspace() for c in name)  # a sentence (`"Enter your password": ...`)
                or ("[" in text[start:opening] and any(c.isspace() for c in raw))  # a message
                or _generic_word(name, raw)
            ):
                continue
            new = self._secret_value(name, raw, found, encode)
            if new != raw:
                edits.append((string.start(1), string.end(1), new))
                position = string.end(1)
        return edits

    def _scrub_lines(self, text: str, found: list[str], yaml: bool) -> str:
        return splice(text, self._line_edits(text, found, yaml))

    def _line_edits(self, text: str, found: list[str], yaml: bool) -> list[tuple[int, int, str]]:
        """Lines `name: value` with a sensitive name, in free text: a header echoed in a body
        (`Authorization: Bearer ...`, `X-Api-Key: ...`), YAML (`password: ...`, also in a
        list item). The value is one word (YAML's may have blanks, and a comment after ` #`),
        and not what code or a schema writes there: a literal, a type (`str`, `String!`), a
        variable, a call, a collection, an anchor or tag, a constant's name, a generic name's
        word. A quoted value is a field's (see `_scrub_fields`)."""
        names = {name for name, _ in _LINE_FIELD.findall(text)}
        bare = _bare_keys(text) if yaml or "\n " in text else []
        sensitive = functools.partial(
            in_text_sensitive, headers=self._header_names, params=self._param_names
        )
        if not any(sensitive(n) for n in names) and not any(sensitive(k[0]) for k in bare):
            return []
        edits: list[tuple[int, int, str]] = []
        block_end = 0  # a YAML block scalar's lines are its value's, not fields
        for line in _LINE_FIELD.finditer(text):
            name, value = line.groups()
            if line.start() < block_end or not sensitive(name):
                continue
            header = self._header_names(name)
            normal = _normal(name)
            if " #" in value:
                value = value[: value.index(" #")]  # a comment (YAML's, a shell's)
            value = value.rstrip(" \t")
            offset = 0
            anchor = _YAML_ANCHOR.match(value) or _YAML_STR_TAG.match(value)
            if anchor:  # `password: &pw s3cret`, `password: !!str s3cret`: what follows
                offset, value = anchor.end(), value[anchor.end() :]
            if _YAML_BLOCK.fullmatch(value):  # `password: |` and the lines under it
                block = _block_lines(text, line.start(1) - line.start(), line.end())
                if block is not None:
                    block_end = block[1]
                    content = text[block[0] : block[1]]
                    if not _is_template(content) and not _is_placeholder(content.strip()):
                        found.append(_finding(name, content))
                        edits.append((block[0], block[1], SCRUBBED))
                continue
            if not value or value[0] in "\"'|>{[&*!$@:%`" or _skipped_word(name, value, yaml):
                continue  # quoted: a field's (see _scrub_fields)
            if header and normal.endswith("authorization"):
                if not _SCHEME_AND_CREDENTIALS.fullmatch(value):
                    continue  # `authorization: enabled`, `Authorization: missing or invalid`
            elif header and normal.endswith("cookie"):
                if "=" not in value:
                    continue  # `cookie: The cookie to send.`
            elif (" " in value and not yaml) or value.endswith(","):
                continue  # prose, or a parameter's annotation, an object's entry: code
            new = self._secret_value(name, value, found, plain_text)
            if new != value:
                start = line.start(2) + offset
                edits.append((start, start + len(value), new))
        bare = [key for key in bare if sensitive(key[0])]
        if bare:
            edits = self._scrub_next_line_values(text, found, bare, edits, yaml)
        return edits

    def _scrub_next_line_values(
        self,
        text: str,
        found: list[str],
        keys: list[tuple[str, int, int]],
        edits: list[tuple[int, int, str]],
        yaml: bool,
    ) -> list[tuple[int, int, str]]:
        """YAML's `password:` (sensitive `keys`, see _bare_keys) with its value on the lines
        under it (a plain scalar): the edits with those added, in order."""
        added: list[tuple[int, int, str]] = []
        for name, column, line_end in keys:
            block = _block_lines(text, column, line_end)
            if block is None:
                continue
            content = text[block[0] : block[1]]
            first = content.split("\n", 1)[0]
            if _YAML_NOT_SCALAR.match(first) or _is_template(content) or _is_placeholder(first):
                continue
            if not yaml and _prose(content):
                continue  # outside YAML, a sentence under `Token:` is prose (a page's text)
            found.append(_finding(name, content))
            added.append((block[0], block[1], SCRUBBED))
        if not added:
            return edits
        merged = sorted(edits + added)
        kept: list[tuple[int, int, str]] = []
        for edit in merged:
            if not kept or edit[0] >= kept[-1][1]:
                kept.append(edit)
        return kept

    def _scrub_commands(self, text: str, found: list[str], encode: Encoder) -> str:
        return splice(text, self._command_edits(text, found, encode))

    def _command_edits(
        self, text: str, found: list[str], encode: Encoder
    ) -> list[tuple[int, int, str]]:
        """Credentials in commands and code written in text (a page's example, a log, an
        error): curl's `-H "X-Api-Key: ..."` and `-u user:password`, `--password ...`,
        `docker login -p ...`, a .netrc's `login x password ...`, a Python pair
        `('password', '...')` or `auth=('user', '...')`. A value may be quoted (and hold
        blanks); one that does not look like a secret (a word, an identifier, a constant's
        name, a variable) is an example's or code's, and kept."""
        edits: list[tuple[int, int, str]] = []
        if "-H" in text or "--header" in text:
            for match in _COMMAND_HEADER.finditer(text):
                name, value = match.group(2), match.group(3)
                sensitive = self._header_names(name) or self._param_names(name)
                if sensitive and _secret_like(value.split(" ")[-1]):
                    new = self._secret_value(name, value, found, encode)
                    if new != value:
                        edits.append((match.start(3), match.end(3), new))
        rules: list[tuple[str, re.Pattern[str], str | None]] = [
            ("curl", _CURL_USER, "curl"),
            ("--password", _PASSWORD_OPTION, None),
            ("login", _DOCKER_PASSWORD, "login"),
            ("mysql", _MYSQL_PASSWORD, "mysql"),
            ("password", _NETRC, None),
            ("auth", _AUTH_PAIR, None),
        ]
        for hint, pattern, on_line in rules:
            if hint not in text:
                continue
            for match in pattern.finditer(text):
                start, end, value = _argument(match)
                before = _line_before(text, match.start())
                if on_line is not None and on_line not in before:
                    continue
                if pattern is _NETRC and not _netrc_entry(text, match.start()):
                    continue
                if pattern is _MYSQL_PASSWORD and not _MYSQL_COMMAND.search(before):
                    continue
                if _secret_like(value):
                    found.append(_finding("password", value))
                    edits.append((start, end, encode(SCRUBBED)))
        if "password" in text and "'" in text:
            for match in _CONNINFO_PASSWORD.finditer(text):
                line = _line_before(text, match.start()) + _line_after(text, match.end())
                if _CONNINFO_KEYWORD.search(line) and _secret_like(match.group(1)):
                    found.append(_finding("password", match.group(1)))
                    edits.append((match.start(1), match.end(1), encode(SCRUBBED)))
        if ":" in text and _PGPASS_HINT.search(text):
            for match in _PGPASS.finditer(text):
                if _secret_like(match.group(1)):
                    found.append(_finding("password", match.group(1)))
                    edits.append((match.start(1), match.end(1), encode(SCRUBBED)))
        if "(" in text:
            for match in _PAIR_TUPLE.finditer(text):
                name, value = match.group(2), match.group(4)
                secret = _secret_like(value) and not _skipped_word(name, value)
                if secret and self._param_names(name):
                    found.append(_finding(name, value))
                    edits.append((match.start(4), match.end(4), encode(SCRUBBED)))
        edits.sort()
        kept: list[tuple[int, int, str]] = []
        for edit in edits:  # overlapping rules: the first wins
            if not kept or edit[0] >= kept[-1][1]:
                kept.append(edit)
        return kept

    def _pair_edits(
        self, text: str, candidates: Iterable[_Pair], found: list[str]
    ) -> list[tuple[int, int, str]]:
        """The edits replacing the values of the candidate pairs, in order: each a start, a
        name, where its value starts, a kind (`query`: after `?&#;`, percent-encoded;
        `encoded`: twice; `text` and `markup`: free text's, or a query's when a separator is
        before it) and the value, if known. A value is read only for a pair past the last value
        read (linear: a pair inside a value kept, a mask's or a word's, is not read again from
        each of its own)."""
        edits: list[tuple[int, int, str]] = []
        position = 0
        reached = [0]
        for start, key, value_start, kind, value in candidates:
            if start < position:
                continue
            times, trim = {"query": 1, "encoded": 2}.get(kind, 0), True
            if value is None:
                read = _pair_value(text, start, key, value_start, kind, reached)
                position = max(position, reached[0])
                if read is None:
                    continue
                value_start, value, times, trim = read
            value = _trimmed(value) if trim else value
            if not value:
                continue
            position = max(position, value_start + len(value))
            decoded = value
            for _ in range(times):
                decoded = unquote_plus(decoded)
            if key.lower() in RANDOM_ONLY and not random_only(key, decoded):
                continue
            encode = _markup if kind == "markup" and not times else plain_text
            new = self._secret_value(unquote_plus(key), decoded, found, encode)
            if new == decoded:
                continue
            for _ in range(times):
                new = quote_plus(new, safe=":")
            edits.append((value_start, value_start + len(value), new))
        return edits

    def _scrub_patterns(self, text: str, found: list[str], encode: Encoder) -> str:
        """The user's regexes: the match (or its first group) becomes the placeholder."""
        for pattern in self._patterns:
            group = 1 if pattern.groups else 0
            spans = [
                (m.start(group), m.end(group), SCRUBBED)
                for m in pattern.finditer(text)
                if m.start(group) < m.end(group)
            ]
            text = self._replace(text, spans, found, encode, "pattern")
        return text

    def _replace(
        self,
        text: str,
        spans: list[tuple[int, int, str]],
        found: list[str],
        encode: Encoder,
        label: str,
    ) -> str:
        if not spans:
            return text
        # A match touching an existing placeholder is a placeholder being re-scrubbed: skip it.
        protected = [m.span() for m in self._protected.finditer(text)]  # sorted, disjoint
        starts = [ps for ps, _ in protected]
        ends = [pe for _, pe in protected]
        # Markup's CDATA sections: nothing is escaped there, the placeholder is written raw.
        cdata = _cdata_sections(text) if encode is _markup else []
        cdata_starts = [cs for cs, _ in cdata]
        pieces: list[str] = []
        position = 0
        for start, end, replacement in spans:
            if start < position or overlaps(starts, ends, start, end):
                continue
            pieces.append(text[position:start])
            at = bisect.bisect_right(cdata_starts, start) - 1
            raw = at >= 0 and end <= cdata[at][1]
            if isinstance(replacement, _Verbatim):  # in the form of what it replaces
                pieces.append(replacement)
                found.append(replacement.label)
            else:
                pieces.append(replacement if raw else encode(replacement))
                found.append(finding_label(label, replacement))
            position = end
        pieces.append(text[position:])
        return "".join(pieces)


def _cdata_sections(text: str) -> list[tuple[int, int]]:
    """Where the text of each CDATA section (`<![CDATA[...]]>`) starts and ends, in order; an
    unterminated one is none (the document is not well-formed). Linear: each `find` starts
    where the previous one ended."""
    sections: list[tuple[int, int]] = []
    opened = text.find("<![CDATA[")
    while opened >= 0:
        start = opened + len("<![CDATA[")
        end = text.find("]]>", start)
        if end < 0:
            break
        sections.append((start, end))
        opened = text.find("<![CDATA[", end + len("]]>"))
    return sections


# A pair found in text: where it starts, its name, where its value starts, its kind (see
# Scrubber._pair_edits) and its value when the pattern that found it took it.
_Pair = tuple[int, str, int, str, Optional[str]]
_OPENING_QUOTES = ('"', "'", "&quot;", "&#39;", "&#x27;", "&#34;", "&#x22;")


def _pair_value(
    text: str, start: int, key: str, after: int, kind: str, reached: list[int] | None = None
) -> tuple[int, str, int, bool] | None:
    """Where the value of a pair found in text starts, the value, how many times it is
    percent-encoded, and whether it may have punctuation after it to trim; None when it is no
    pair to scrub. `after` is where the `=` ends.

    After `?&#;` it is a query's (but a template's placeholder, `?token={token}`). In free
    text, code is told apart where it can be: no `==`, `+=` and the like; a quoted string
    without blanks in it (blanks around the `=` allowed: `API_KEY = "..."`; in markup its
    quotes may be escaped), or an unquoted value right after a tight `=` (or to the end of the
    line in an INI file's `password = ...`) that is no literal (`None`, `true`...), no
    attribute path (`self.password`), no variable (`$DB_PASSWORD`, `${...}`, `:name`), no
    call or index (`f(...)`, `x[2]`), not the name passed on (`password=password`); a generic
    name's value only if it looks generated (`key=name`, `key = 'x'` stay); in markup, not
    inside a tag (`accesskey=k`). An `Authorization` takes its scheme and credentials; a
    cookie is left to the other rules (its value has `=` in it). `reached` gets where a value
    read and then found no secret ends: pairs inside it are not read again (linear)."""
    separator = text[start - 1] if start else ""
    equals = text.rfind("=", start, after)
    tight = equals == start + len(key) and after == equals + 1
    if separator in ("?", "&", "#", ";") and tight:  # `;`: also the end of HTML's `&amp;`
        if text.startswith(("{", "${"), after):
            return None  # a template's placeholder (`?token={token}`, an f-string): no secret
        query = _VALUE.match(text, after)
        return after, query.group() if query else "", 1, True
    normal = _normal(key)
    if text.startswith("=", after) or key[-1] in _OPERATOR_ENDS or normal.endswith("cookie"):
        return None
    if kind == "markup" and _inside_tag(text, start):
        return None
    opening = after
    while opening < len(text) and opening - after < 32 and text[opening] in " \t":
        opening += 1
    quote = next((q for q in _OPENING_QUOTES if text.startswith(q, opening)), None)
    if quote is not None:
        string = _FIELD_STRING[quote].match(text, opening)
        if string is None or any(c.isspace() for c in string.group(1)):
            return None
        value, value_start, trim = string.group(1), string.start(1), False
        if (key.isupper() and value.isalpha()) or _is_template(value):
            return None  # `SECRET_KEY = 'AWSSecretKey'` names something; `"${X}"` is none
    elif normal.endswith("authorization"):
        scheme = _AUTH_VALUE.match(text, opening)
        if scheme is None:
            return None
        value, value_start, trim = scheme.group(), opening, True
        if not _is_scheme(value.split(None, 1)[0]):  # a credential, then a word of the text
            value = value.split(None, 1)[0]
    elif tight or _line_start(text, start):  # an INI file's line: at its very start
        match = _FREE_VALUE.match(text, opening)
        value, value_start, trim = (match.group() if match else ""), opening, True
        rest = _LINE_REST.match(text, opening + len(value)) if value else None
        if rest is not None and _line_start(text, start):
            value += rest.group()  # a `.env` line's `Tr0ub4dor&3#x`: all of it, to the line's end
        end = opening + len(value)
        if reached is not None:
            reached[0] = end
        if (
            value in _LITERALS
            or value in (key, _last_part(key))
            or (len(value) > 1 and value.lower() in _normal(_last_part(key)))  # `api_key=key`
            # a variable named after the argument: `UploadId=upload_id`, `ApiKey=api_key`
            or (_IDENTIFIER.fullmatch(value) and _normal(value) == _normal(_last_part(key)))
            or _VARIABLE.match(value)
            or (_ATTRIBUTE_PATH.fullmatch(value) and not looks_random(value))
            or text[end : end + 1] in ("(", "[", "{")
            or (not tight and not _LINE_END.match(text, end))
        ):
            return None
    else:
        return None
    if reached is not None:
        reached[0] = value_start + len(value)
    if (
        _CONSTANT_NAME.fullmatch(value)
        or SCRUBBED_RE.search(value)  # scrubbed already (`key=/cb?token=%3CSCRUBBED%3E`)
        or _generic_word(key, value)
    ):
        return None  # `SECRET_KEY = 'AWS_SECRET_ACCESS_KEY'` names a variable
    return value_start, value, 0, trim


_OPERATOR_ENDS = frozenset("+-*/%|&^!<>:~.")  # `key+=1`, `x!=y`: no pairs
_LITERALS = frozenset({"None", "True", "False", "null", "true", "false", "undefined", "nil"})
# A lower-case first segment: `self.password`, `settings.SECRET`; not `SG.xxxx.yyyy` (SendGrid).
_ATTRIBUTE_PATH = lazy_regex(r"[a-z_][a-z0-9_]*(?:\.[A-Za-z_]\w*)+")
_CONSTANT_NAME = lazy_regex(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_VARIABLE = lazy_regex(r"[$:@]")  # `$DB_PASSWORD`, `${...}`, SQL's `:password`, `@Password`
_AUTH_VALUE = lazy_regex(r"[A-Za-z][A-Za-z0-9._~+/-]*[ \t]+[^\s\"'<>&]+")


# Credentials in commands written in text (see Scrubber._scrub_commands). Each starts with a
# literal, so a search skips ahead to it.
_COMMAND_HEADER = lazy_regex(
    r"""(?:-H|--header)(?:[ \t]{0,8}=[ \t]{0,8}|[ \t]{1,8})(["'])"""
    r"""([A-Za-z0-9_-]{1,64}):[ \t]*([^"'\n]*[^"'\s])[ \t]*\1"""
)
# A command's argument: quoted (blanks and all), or a word. Three groups, one matches.
# A word ends before a backtick, as a URL in text does (`` `mysql -pXs4Tn8` ``, markdown's).
_ARGUMENT = r"""(?:"([^"\n]{1,256})"|'([^'\n]{1,256})'|([^\s"'`]{1,256}))"""
# The user holds no `<`: `-u <SCRUBBED:stripe>:` (a key as the user, as Stripe documents it,
# scrubbed) is no user `<SCRUBBED` with a password `stripe>:`.
_CURL_USER = lazy_regex(
    r"""-(?:u(?<![\w-]-u)|-user(?<![\w-]--user))(?:[ \t]+|(?=[^\s-]))"""
    r"""(?:"[^"\n:<]{1,64}:([^"\n]{1,256})"|'[^'\n:<]{1,64}:([^'\n]{1,256})'"""
    r"""|[^\s:"'<]{1,64}:([^\s"']{1,256}))"""
)
_PASSWORD_OPTION = lazy_regex(r"--password(?:=|[ \t]+)" + _ARGUMENT)
_DOCKER_PASSWORD = lazy_regex(r"-p(?<![\w-]-p)[ \t]+" + _ARGUMENT)
# MySQL's clients take the password joined to `-p` (`-p secret` asks for one: `secret` is the
# database).
_MYSQL_PASSWORD = lazy_regex(r"-p(?<![\w-]-p)(?=[^\s-])" + _ARGUMENT)
# The command it is an argument of, on its line: no `&&`, `;`, `|` between (`pip install
# mysqlclient && pytest -pno:cacheprovider` holds no password).
_MYSQL_COMMAND = lazy_regex(
    r"(?<![\w.-])mysql(?:dump|admin|import|show|check|pump|slap)?[ \t][^;&|]*$"
)
# A .netrc's password, on its entry's line or on a line of its own (told by what is before it).
_NETRC = lazy_regex(r"(?<!\S)password[ \t]+" + _ARGUMENT)
_AUTH_PAIR = lazy_regex(
    r"""auth[ \t]*=[ \t]*[(\[][ \t]*(["'])[^"'\n]{1,64}\1[ \t]*,[ \t]*""" + _ARGUMENT
)
# libpq's connection string: a quoted password (blanks in it, `\'` escaping a quote), on a line
# with another of its keywords; an unquoted one is a pair as any other.
_CONNINFO_PASSWORD = lazy_regex(r"(?<![\w.-])password[ \t]*=[ \t]*'((?:[^'\\\n]|\\.){1,256})'")
# An unquoted one escapes a quote, a backslash or a blank with `\`: such a value (told by an
# escape in it) ends at the first blank not escaped (or a quote around the whole string).
_CONNINFO_ESCAPED = lazy_regex(
    r"""(?<![\w.-])password[ \t]*=[ \t]*((?!['"])(?:[^\s\\"]|\\[^\n]){1,256})"""
)
_CONNINFO_KEYWORD = lazy_regex(
    r"(?<![\w.-])(?:host|hostaddr|dbname|user|port|sslmode|service|options)[ \t]*="
)
# A .pgpass line: host, port, database and user (each `*` or a name: a host has a letter or a
# dot, the others a letter), then the password to the line's end, a colon in it escaped (`\:`):
# a sixth field is none (bytes in hex joined by colons: a key's fingerprint, a MAC address).
_PGPASS_FIELDS = r":(?:\*|\d{1,5})(?::(?:\*|[^:\s\"]*[A-Za-z][^:\s\"]*)){2}:"
_PGPASS_HINT = lazy_regex(_PGPASS_FIELDS)  # from the port on: in a JSON string's raw text too
_PGPASS = lazy_regex(
    rf"^[ \t]*(?:\*|[\w-]*[A-Za-z.][\w.-]*){_PGPASS_FIELDS}((?:[^\s\\:]|\\.){{1,256}})[ \t]*$",
    re.MULTILINE,
)
# A pair, not a call's arguments (`headers.add('Set-Cookie', 'a=b')`).
_PAIR_TUPLE = lazy_regex(
    r"""\((?<![\w.]\()[ \t]*(["'])([A-Za-z0-9_.-]{1,64})\1[ \t]*,"""
    r"""[ \t]*(["'])([^"'\n]{1,256})\3[ \t]*\)"""
)


def _argument(match: re.Match[str]) -> tuple[int, int, str]:
    """The span and text of the argument a command rule's last three groups hold."""
    last = match.re.groups
    for group in (last - 2, last - 1, last):
        value = match.group(group)
        if value is not None:
            return match.start(group), match.end(group), value
    raise AssertionError("no argument")  # pragma: no cover - one of the three matches


def _netrc_entry(text: str, start: int) -> bool:
    """Whether a `password` at `start` is a .netrc entry's: after `machine <host>` or
    `default` (first on its line: `the default password ...` is a sentence) and `login` or
    `account` pairs, on one line or over several."""
    words = text[max(0, start - 512) : start].split()[-7:]
    for at in range(len(words) - 1, -1, -1):
        if words[at] == "default":
            line = text.rfind("\n", 0, text.rfind("default", 0, start)) + 1
            if text[line : line + 512].split(None, 1)[:1] != ["default"]:
                return False
        elif words[at] != "machine" or at + 1 == len(words):
            continue
        pairs = words[at + 1 if words[at] == "default" else at + 2 :]
        return len(pairs) % 2 == 0 and all(w in ("login", "account") for w in pairs[::2])
    return False


_IDENTIFIER = lazy_regex(r"[A-Za-z]+(?:_[A-Za-z]+)*")


def _secret_like(value: str) -> bool:
    """Whether a command's or a pair's value may be a secret: not a word or an identifier
    (`options`, `value`, `refresh_token`), a constant's name (`PASSWORD`), a variable, a
    mask or an option; one with digits, symbols or blanks, or a long mixed-case one."""
    if len(value) < 4 or _skipped_secret(value) or _CONSTANT_NAME.fullmatch(value):
        return False
    if _IDENTIFIER.fullmatch(value):
        return len(value) >= 16 and not value.islower() and "_" not in value
    return True


_YAML_ANCHOR = lazy_regex(r"&[^\s]+[ \t]+(?=\S)")
_YAML_STR_TAG = lazy_regex(r"!!str[ \t]+(?=\S)")
# A block scalar's header (`|`, `>-`, `|2+`), and a line that is a key with no value.
_YAML_BLOCK = lazy_regex(r"[|>](?:[1-9]?[+-]?|[+-][1-9])")
# A key with no value whose next line, more indented, is no mapping's key, list or comment:
# found from its `:` (a search led by a literal), its name then read back on its line.
_BARE_KEY_END = lazy_regex(r":[ \t]*\r?\n(?=[ \t]+(?![-?#]|[^\s:#]+[ \t]*:(?:\s|$))\S)")
_BARE_KEY = lazy_regex(r"[ \t]*(?:-[ \t]+)?([A-Za-z_][\w.-]{0,127})[ \t]*")


def _bare_keys(text: str) -> list[tuple[str, int, int]]:
    """YAML keys with their value on the lines under them: (name, column, end of its line)."""
    keys = []
    for end in _BARE_KEY_END.finditer(text):
        line_start = text.rfind("\n", 0, end.start()) + 1
        key = _BARE_KEY.fullmatch(text, line_start, end.start())
        if key is not None:
            line_end = end.end() - 1 - (text[end.end() - 2] == "\r")
            keys.append((key.group(1), key.start(1) - line_start, line_end))
    return keys


# Plain words ending as a sentence does (`The token used to call the API.`).
_PROSE = lazy_regex(
    r"[A-Za-z]+[,;:.]?(?:[ \t]+(?:[A-Za-z]+(?:['-][A-Za-z]+)*|\d+)[,;:.!?]?){2,}(?<=[.!?])"
)


def _prose(block: str) -> bool:
    """Whether a block of lines under a name reads as a sentence once its comments are gone
    (`Tr0ub4dor&3x # rotated monthly.` does not: a secret, then a comment)."""
    lines = [line.split(" #", 1)[0].strip() for line in block.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith("#"))
    return bool(_PROSE.fullmatch(text))


# What starts a line under a key that makes it no scalar: a mapping's key, a list, a comment.
_YAML_NOT_SCALAR = lazy_regex(r"\s*(?:[-?][ \t]|-$|#|[^\s:#]+[ \t]*:(?:\s|$))")


def _block_lines(text: str, column: int, line_end: int) -> tuple[int, int] | None:
    """The span of the lines after `line_end` indented more than `column` (a YAML block under
    a key at that column): from its first character to the end of its last non-blank line."""
    position = line_end + 1 if text.startswith("\n", line_end) else line_end + 2
    start = end = -1
    while position < len(text):
        newline = text.find("\n", position)
        stop = len(text) if newline == -1 else newline
        row = text[position:stop].rstrip("\r")
        if row.strip():
            indent = len(row) - len(row.lstrip(" \t"))
            if indent <= column:
                break
            if start == -1:
                start = position + indent
            end = position + len(row.rstrip(" \t"))
        if newline == -1:
            break
        position = newline + 1
    return None if start == -1 else (start, end)


def _skipped_secret(value: str) -> bool:
    """A command's value that is no secret: a variable or template, a placeholder, a mask or
    example, an option, digits only (`-u 1000:1000` is a uid and a gid)."""
    return (
        _is_template(value)
        or value.startswith(("%", "<", "-"))  # `--password --inputbox`: another option
        or _masked(value)
        or value.isdigit()
        or bool(SCRUBBED_RE.search(value))
    )


def _line_after(text: str, position: int, limit: int = 512) -> str:
    """The rest of the line from `position` (at most `limit` characters)."""
    end = text.find("\n", position, position + limit)
    return text[position : position + limit if end < 0 else end]


def _line_before(text: str, position: int, limit: int = 512) -> str:
    """The line's text before `position`, at most `limit` characters of it (linear: a long
    line is not read again for each match on it)."""
    start = max(0, position - limit)
    return text[text.rfind("\n", start, position) + 1 or start : position]


def _skipped_word(name: str, value: str, yaml: bool = False) -> bool:
    """What code, configuration or a schema writes after a sensitive name, not a secret: a
    literal, a setting's word (`id-token: write`, `authorization: enabled`), a type (`str`,
    `String!`), a call, a template or variable, a constant's name, a value holding a
    placeholder already, a generic name's word."""
    return (
        value in _LITERALS
        or value.lower() in _CONFIG_WORDS
        or bool(_TYPE_NAME.fullmatch(value))
        or "(" in value
        or _is_template(value)
        or bool(_CONSTANT_NAME.fullmatch(value))
        or bool(SCRUBBED_RE.search(value))
        or (bool(_ATTRIBUTE_PATH.fullmatch(value)) and not looks_random(value))
        or (not yaml and bool(_CAMEL_CASE.fullmatch(value)))  # `token: accessToken` (code)
        or (len(value) > 1 and value.lower() in _normal(_last_part(name)))
        or _generic_word(name, value)
    )


_CAMEL_CASE = lazy_regex(r"[a-z]+(?:[A-Z][a-z0-9]*)+")


@functools.lru_cache(maxsize=4096)
def _normal(name: str) -> str:
    return normalize_name(name)


def _is_template(value: str) -> bool:
    """A template's or a shell's placeholder, not a value: `${X}`, `{{ x }}`, `%(x)s`, `$(x)`."""
    return value.startswith(("$", "{{", "%(", "<%")) or "${" in value or "{{" in value


_CONFIG_WORDS = frozenset(
    {
        "~",
        "null",
        "none",
        "read",
        "write",
        "enabled",
        "disabled",
        "enable",
        "disable",
        "required",
        "optional",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "true",
        "false",
        "allow",
        "deny",
        "public",
        "private",
        "inherit",
        "auto",
        "default",
        "invalid",
        "missing",
        "incorrect",
        "wrong",
        "expired",
        "revoked",
        "redacted",
        "empty",
        "blank",
        "unset",
        "set",
    }
)
_SCHEME_AND_CREDENTIALS = lazy_regex(r"[A-Za-z][A-Za-z0-9._~+/-]*[ \t]+[^\s\"'<>]+")


def _line_start(text: str, at: int) -> bool:
    """Whether `at` starts a line (an INI file's `password = ...`; indented, it is code)."""
    return at == 0 or text[at - 1] == "\n"


# What a value at a line's start goes on with up to the line's end (a `.env` or INI line: a
# generated password's punctuation), when no `=` (a next pair), quote, bracket or blank is in it.
_LINE_REST = lazy_regex(
    r"[&#;,|][^\s\"'<>`()\[\]{}=\\]*(?=(?:[ \t]+[#;][^\n]*|[ \t]*)(?:\r?\n|\Z))"
)
_LINE_END = lazy_regex(r"[ \t]*(?:[#;][^\n]*)?(?:\r?\n|\Z)")  # nothing else on the line


def _inside_tag(text: str, at: int) -> bool:
    """Whether `at` is inside a markup tag (looked for in the 2 KiB before it): after a `<`
    that opens one (`<a `, `</b`; not `a<b)`, a comment or CDATA) and no `>` since."""
    closed = text.rfind(">", max(0, at - 2048), at)
    low = max(0, at - 2048, closed + 1)
    opened = text.rfind("<", low, at)
    for _ in range(16):  # bounded: a run of `<` that opens nothing is text
        if opened < 0:
            return False
        if _TAG_START.match(text, opened):
            return True
        opened = text.rfind("<", low, opened)
    return False


_TAG_START = lazy_regex(r"<(?:[A-Za-z][\w:.-]*(?=[\s/>])|/)")


@functools.lru_cache(maxsize=4096)
def _generic(name: str) -> bool:
    """Whether a name is a generic one (`key`, `token`...), or ends with one (`MyEnum.key`)."""
    return normalize_name(_last_part(name)) in GENERIC_NAMES


def _generic_word(name: str, value: str) -> bool:
    """A generic name's value that is no secret: one that does not look generated (`{key:
    "render"}`)."""
    return _generic(name) and not looks_random(value)


def _last_part(name: str) -> str:
    """`user[password]`, `self.password`: `password`."""
    parts = [part for part in re.split(r"[\[\].]+", name) if part]
    return parts[-1] if parts else name


_Taker = Callable[[re.Match[str]], Optional[tuple[int, tuple[str, ...]]]]


def _taken_matches(
    pattern: re.Pattern[str], text: str, take: _Taker
) -> Iterator[tuple[re.Match[str], int, tuple[str, ...]]]:
    """The matches of `pattern` (of any name) that `take` takes, giving where the match ends
    with the name it takes and its groups: what a pattern naming just the sensitive names
    finds, without one. (A pattern of thousands of names is tried name by name at each place:
    quadratic; the same names nested as a tree made Python 3.11 map and unmap memory for each
    branch it parsed.) A match not taken is looked for again from its next character."""
    position = 0
    while (match := pattern.search(text, position)) is not None:
        taken = take(match)
        if taken is None:
            position = match.start() + 1
            continue
        position, groups = taken
        yield match, position, groups


def _reversed_spans(
    pattern: re.Pattern[str], text: str, take: _Taker
) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """The matches `_taken_matches` finds in the reversed text, as their spans in the text and
    groups, in order. Reversed a megabyte at a time, so a large body is not copied whole (the
    groups are copies: no piece outlives its turn), and told as they are found."""
    for low in range(0, len(text), _CHUNK):
        high = min(len(text), low + _CHUNK)
        piece = text[max(0, low - _LOOKBACK) : high][::-1]
        chunk: list[tuple[int, int, tuple[str, ...]]] = []
        for match, end, groups in _taken_matches(pattern, piece, take):
            if match.start() > high - 1 - low:
                break  # it starts in the previous megabyte: found there
            chunk.append((high - end, high - match.start(), groups))
        yield from reversed(chunk)


def _reversed_names(pattern: re.Pattern[str], text: str, *groups: int) -> set[str]:
    """The names `pattern` finds in the reversed text (the first of `groups` that matched),
    in C, a megabyte at a time (one cut at a piece's end is a name too many: no harm)."""
    names: set[str] = set()
    for low in range(0, len(text), _CHUNK):
        piece = text[max(0, low - _LOOKBACK) : low + _CHUNK][::-1]
        for found in pattern.findall(piece):
            if isinstance(found, str):
                names.add(found[::-1])
            else:
                names.add(next((found[g] for g in groups if found[g]), "")[::-1])
    names.discard("")
    return names


_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "bot", "apikey", "negotiate"})
_MASK_CHARACTERS = frozenset("*xX.#-_\u2022")
_MASK_WORDS = FILLER_WORDS | {"secret"}
_EXAMPLE_VALUE = lazy_regex(r"(?:^|[^a-z])your[-_ ]?[a-z]|[-_ ]here$|\.\.\.|\u2026")


# An object under one of these generic names is a structure, not one secret: Keystone's
# `token` (its user, roles and service catalog, which clients read endpoints from), Vault's
# `auth` (`client_token`, `policies`, `lease_duration`), a payment's `authorization`. Its
# fields go by their own names; its strings directly in it are secrets but for words, URLs,
# dates and times (numbers and booleans are kept), and all are under `pass`, `pwd` or `pin`.
_LOOSE_NAMES = frozenset({"token", "auth", "authorization"})
_LOOSE_KEPT = lazy_regex(
    # words: `service`, `Bearer`, `JWT`, `read write` (a scope), `public_key`
    r"(?:[a-z]{1,20}|[A-Z][a-z]{1,19}|[A-Z]{2,8})(?:[ _.:-](?:[a-z]{1,20}|[A-Z][a-z]{1,19}))*"
    r"|https?://\S*"  # an endpoint (its parameters still go by their names)
    r"|\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+)?(?:Z|[+-]\d{2}:?\d{2})?"  # a date or a time
)
# Keys whose strings are secrets whatever they look like.
_LOOSE_SECRET_KEYS = frozenset(
    {"pass", "pwd", "pin", "passcode", "value", "credential", "credentials", "passphrase"}
)


# Keys that describe the object (`{"auth": {"type": "oauth2"}}`): a short name is kept.
_LOOSE_DESCRIPTORS = frozenset(
    {"type", "scheme", "method", "algorithm", "alg", "kind", "version", "provider", "mechanism"}
)
_DESCRIPTOR = lazy_regex(r"[A-Za-z][A-Za-z0-9._-]{0,31}")


def _loose_secret(key: str, value: Any) -> bool:
    if not isinstance(value, str) or SCRUBBED_RE.search(value):
        return False  # a placeholder's value stays as it is: scrubbing twice changes nothing
    normal = normalize_name(key)
    if normal in _LOOSE_SECRET_KEYS:
        return True
    if normal in _LOOSE_DESCRIPTORS and _DESCRIPTOR.fullmatch(value) and not looks_random(value):
        return False  # `oauth2`, `hmac-sha256`, `AWS4-HMAC-SHA256`
    return _LOOSE_KEPT.fullmatch(value) is None


def _masked(value: str) -> bool:
    """A value that stands for a secret without being one: a mask (`********`, `xxxx`,
    `sk-proj-xxxxxxxx`), a redaction (`[FILTERED]`, `REDACTED`), an example
    (`your-api-key-here`, `sk-...`, `<your-token>`): an LLM's answer or a log shows them."""
    stripped = value.strip()
    if len(stripped) >= 3 and set(stripped) <= _MASK_CHARACTERS:
        return True
    low = stripped.lower()
    if low.strip("[]<>()* ") in _MASK_WORDS or _EXAMPLE_VALUE.search(low):
        return True
    if len(low) > 2 and low[0] == "<" and low[-1] == ">" and "<" not in low[1:-1]:
        return True
    head, _, tail = stripped.rpartition("-")
    return bool(head) and len(tail) >= 4 and set(tail) <= _MASK_CHARACTERS


def _is_placeholder(value: str) -> bool:
    """A placeholder, as written in text or escaped in markup (`&lt;SCRUBBED&gt;`)."""
    return is_placeholder(value) or ("&" in value and is_placeholder(html.unescape(value)))


# While a body is scrubbed: what its request's URL tells of its JSON's shape (see scrub_stores).
_SHAPE: contextvars.ContextVar[RequestShape | None] = contextvars.ContextVar(
    "pytest_cassettes_shape", default=None
)
# File types mimetypes may not know, as this machine's MIME types go.
_FILE_TYPES = {".yml": "application/yaml", ".yaml": "application/yaml", ".json": "application/json"}


def _file_type(name: str) -> str:
    """The Content-Type a file's contents are scrubbed as, by its name: text when unknown (a
    `.env` file of one line is no form)."""
    extension = os.path.splitext(name)[1].lower()
    return _FILE_TYPES.get(extension) or mimetypes.guess_type(name)[0] or "text/plain"


# While a 4xx response is scrubbed: a validation message under a sensitive name (Django REST
# framework's `{"password": ["This field is required."]}`, Rails' `["can't be blank"]`) is
# kept, as a test asserts on it. A request's values never are (a passphrase is words too).
_ERROR_RESPONSE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pytest_cassettes_error_response", default=False
)
# What a validation says (not a word a passphrase may hold: `field`, `common`, `short`).
_MESSAGE_PHRASE = lazy_regex(
    r"\b(?:required|blank|empty|invalid|incorrect|missing|expired|must|cannot|can't|should"
    r"|too\s+(?:short|long|common|similar|weak|simple)|at\s+(?:least|most)|minimum|maximum"
    r"|(?:doesn't|does\s+not|do\s+not|didn't|did\s+not|don't)\s+match|not\s+(?:valid|allowed)"
    r"|not\s+a\s+valid|may\s+not\s+be|no\s+more\s+than|no\s+fewer\s+than|entirely\s+numeric"
    r"|confirmation|ensure)\b",
    re.IGNORECASE,
)
# The shape of a message (a passphrase of plain words has none): a capital, a full stop, a verb.
_MESSAGE_SHAPE = lazy_regex(
    r"\A[A-Z]|[.!]\Z|\b(?:is|are|be|must|may|should|cannot|has|have|does|do|did"
    r"|can't|doesn't|don't|didn't|isn't|aren't|won't|wasn't)(?![\w'])"
)
_MESSAGE_WORD = lazy_regex(r"[A-Za-z]+(?:['-][A-Za-z]+)*|\d+")
# A quotation: what a message echoing the value would hold, unless a number or a field's name
# (ASP.NET's "minimum length of '8'", "'ConfirmPassword' and 'Password' do not match").
_QUOTED = lazy_regex(
    r"(?<![A-Za-z])['\"\u201c\u2018]([^'\"\u201d\u2019]{0,60})['\"\u201d\u2019](?![A-Za-z])"
)
_QUOTED_NAME = lazy_regex(r"[A-Za-z_][\w.-]{0,40}|\d+")


def _validation_message(token: str) -> bool:
    """Whether a JSON string token reads as a validation message: words (and plain numbers,
    `(minimum is 6 characters)`) shaped as a message, a validation's phrase (`required`,
    `can't be blank`, `too short`, `must`, `at least`, ...), nothing quoted but numbers and
    names (a message echoing the value), nothing that looks generated."""
    if len(token) > 400:
        return False
    text = json.loads(token).replace("\u2019", "'")
    words = text.split()
    if not 2 <= len(words) <= 60:
        return False
    if any(not _QUOTED_NAME.fullmatch(q) for q in _QUOTED.findall(text)):
        return False
    bare = [w.strip(".,;:!?()[]'\"") for w in _QUOTED.sub(r"\1", text).split()]
    if not all(_MESSAGE_WORD.fullmatch(w) for w in bare if w):
        return False
    return bool(_MESSAGE_PHRASE.search(text)) and bool(_MESSAGE_SHAPE.search(text))


def _json_secret(token: str, name: str, found: list[str]) -> str:
    if token in ("true", "false", "null"):
        return token
    value = json.loads(token) if token[0] == '"' else token
    if not value or is_placeholder(value) or (isinstance(value, str) and _masked(value)):
        return token
    if isinstance(value, str) and value[0] == "{":
        document = _secret_document(value, name, found)
        if document is not None:
            return token if document == value else json.dumps(document)
    found.append(_finding(name, str(value)))
    jwt = kept_jwt(value) if isinstance(value, str) else None
    return json.dumps(jwt or SCRUBBED)


def _secret_document(value: str, name: str, found: list[str]) -> str | None:
    """A secret that is a JSON object in a string (AWS Secrets Manager's `SecretString`,
    `{"username": ..., "password": ...}`, which every client parses): its keys and shape kept,
    every string in it replaced and every number made 0, so that the client still parses it on
    replay. None: not a JSON object. The value itself when nothing in it was left to replace."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
        return None
    if not isinstance(data, dict):
        return None
    changed = False

    def replaced(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, dict):
            return {key: replaced(item) for key, item in node.items()}
        if isinstance(node, list):
            return [replaced(item) for item in node]
        if isinstance(node, bool) or node is None or node == 0:
            return node
        if isinstance(node, str) and (not node or is_placeholder(node) or _masked(node)):
            return node
        found.append(_finding(name, str(node)))
        changed = True
        return SCRUBBED if isinstance(node, str) else 0

    try:
        document = replaced(data)
    except RecursionError:
        return None
    return json.dumps(document) if changed else value


def _trimmed(value: str) -> str:
    """A value found in text without the sentence punctuation and the closing brackets it did
    not open that follow it there (`see ?token=abc.`, `[link](/cb?token=abc)`)."""
    end = len(value)
    counts: dict[str, int] | None = None
    while end:
        last = value[end - 1]
        if last in _SENTENCE_END:
            end -= 1
            continue
        if last in _CLOSING:
            if counts is None:
                counts = {c: value.count(c) for c in "()[]{}"}
            if counts[last] > counts[_CLOSING[last]]:
                counts[last] -= 1
                end -= 1
                continue
        break
    return value[:end]


_CLOSING = {")": "(", "]": "[", "}": "{"}


@functools.cache
def _csv_field(delimiter: str) -> re.Pattern[str]:
    """A CSV field as RFC 4180 writes it: quoted (`""` a quote in it), or no quote at all."""
    return re.compile(f'"[^"]*(?:""[^"]*)*"|[^{delimiter}"\r\n]*')


@functools.cache
def _csv_grammar(delimiter: str) -> re.Pattern[str]:
    """A CSV text whole (see _csv_field): fields between delimiters and line ends."""
    field = _csv_field(delimiter).pattern
    return re.compile(f"(?:{field})(?:(?:{delimiter}|\r?\n)(?:{field}))*")


# A CSV's booleans, as spreadsheets, pandas and people write them: a `secret` column of these
# says whether there is one (as JSON's true and false, which stay).
_CSV_BOOLEANS = frozenset({"true", "false", "yes", "no"})


def _csv_secret(name: str, value: str) -> bool:
    """Whether a CSV value of a sensitive column is a secret (see Scrubber._scrub_csv)."""
    word = value.strip()
    return bool(word) and not (  # a generic name's short word the cheapest
        word.lower() in _CSV_BOOLEANS
        or _generic_word(name, value)
        or _is_placeholder(value)
        or _masked(value)
    )


def _command_patterns(text: str) -> list[re.Pattern[str]]:
    """The patterns of the commands whose credentials have no `name=` (curl's `-u` and `-H`,
    `docker login -p`, `mysql -p...`, a .netrc's `password`, a .pgpass line) a text may hold,
    by the words _command_edits looks for."""
    patterns = []
    if "curl" in text and ("-u" in text or "--user" in text or "-H" in text):
        patterns += [_CURL_USER, _COMMAND_HEADER]
    if "-p" in text:
        patterns += [_MYSQL_PASSWORD] if "mysql" in text else []
        patterns += [_DOCKER_PASSWORD] if "login" in text else []
    if "password" in text and ("machine" in text or "default" in text):
        patterns.append(_NETRC)  # a .netrc's entry
    if ":" in text and _PGPASS_HINT.search(text):
        patterns.append(_PGPASS_HINT)  # a .pgpass line
    return patterns


def _may_hold_command(text: str) -> bool:
    """Whether a text may hold a command whose credentials have no `name=`: its words (see
    _command_patterns), docker's `-p` with a value, a .pgpass line."""
    return any(p is not _DOCKER_PASSWORD or p.search(text) for p in _command_patterns(text))


def _holds_command(token: str) -> bool:
    """Whether a raw JSON string holds such a command: its patterns on the string's value."""
    patterns = _command_patterns(token)
    if not patterns:
        return False
    value = json.loads(token) if "\\" in token else token[1:-1]
    return any(pattern.search(value) for pattern in patterns)


def _may_embed(token: str) -> bool:
    """Whether a raw JSON string may hold a parameter (`=`, or an escape or encoding of it), a
    JSON document, or a field written in text."""
    return (
        "=" in token
        or "\\u003" in token
        or "%3" in token
        or bool(_QUOTED_JSON.match(token))
        or ((":" in token or "=>" in token) and bool(_FIELD_IN_STRING.search(token)))
        or bool(_HTML_FIELD_HINT.search(token))
        or ("\\n" in token and bool(_LINE_NAME_IN_STRING.search(token)))
    )


def multipart_boundary(content_type: str, body: bytes) -> bytes | None:
    """The boundary of a multipart body: from its Content-Type, or, with none (a stored body
    the scanner sees), from a body that starts with a delimiter line and ends with its close."""
    if content_type:
        match = _BOUNDARY.search(content_type)
        if not content_type.lower().startswith("multipart/") or match is None:
            return None
        boundary = (match.group(1) or match.group(2)).encode("latin-1")
        return boundary if b"--" + boundary in body else None
    sniffed = _SNIFFED_BOUNDARY.match(body)
    if sniffed is None:
        return None
    close = b"\r\n--" + sniffed.group(1) + b"--"
    return sniffed.group(1) if close in body[-len(close) - 4 :] else None  # the end only


def _part_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _parsed_secret(value: Any, name: str, found: list[str]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if not text or is_placeholder(text) or _masked(text):
        return value
    found.append(_finding(name, text))
    return SCRUBBED


def _is_pairs(value: list[Any] | tuple[Any, ...]) -> bool:
    # aiohttp's form data as a list of (name, value) pairs, as vcrpy's stub tells them apart.
    return bool(value) and all(
        isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) for pair in value
    )


# Where a proxy folded several Set-Cookie values into one line: a comma before `name=` (an
# Expires date's comma is followed by a day number and a blank).
_COOKIE_FOLD = lazy_regex(r"(,[ \t]*)(?=[^;,=\s]+=)")


def _scrub_cookie(
    value: str, set_cookie: bool, label: str, found: list[str], encode: Encoder
) -> str:
    """`a=1; b=2` -> `a=<SCRUBBED>; b=<SCRUBBED>`; Set-Cookie keeps its attributes (Path...),
    each cookie of a folded line its own."""
    if set_cookie and "," in value:
        pieces = _COOKIE_FOLD.split(value)
        if len(pieces) > 1:
            return "".join(
                piece if i % 2 else _scrub_cookie(piece, True, label, found, encode)
                for i, piece in enumerate(pieces)
            )
    parts = value.split(";")
    for i, part in enumerate(parts[:1] if set_cookie else parts):
        name, equals, content = part.partition("=")
        if not equals:
            name, content = "", part
        stripped = content.strip()
        if not stripped or is_placeholder(stripped):
            continue
        lead = content[: len(content) - len(content.lstrip())]
        trail = content[len(content.rstrip()) :]
        parts[i] = name + equals + lead + encode(SCRUBBED) + trail
        # Named by its cookie (`sensitive-field:Cookie:sid`): `scan` tells each of one line.
        found.append(_carrying(f"{label}:{name.strip()}" if name.strip() else label, stripped))
    return ";".join(parts)


def _cookie_paths(cookies: Any, at: tuple[Segment, ...]) -> list[tuple[Segment, ...]]:
    """The values of cookies in JSON, as a Cookie header's are: a jar's `{"cookies": {"sid":
    ...}}` (httpbin's `/cookies`, a debug endpoint's echo), its string values (a number, a
    boolean or a null beside them is no cookie's), or a HAR request's `[{"name": "sid",
    "value": ...}]`."""
    if isinstance(cookies, dict):
        return [(*at, name.lower()) for name, value in cookies.items() if isinstance(value, str)]
    if isinstance(cookies, list):
        return [
            (*at, i, "value")
            for i, cookie in enumerate(cookies)
            if isinstance(cookie, dict)
            and isinstance(cookie.get("name"), str)
            and isinstance(cookie.get("value"), str)
        ]
    return []


def _is_json(text: str) -> bool:
    # JSON lines and concatenated documents count too: each is scrubbed in place.
    try:
        for _ in _json_documents(text):
            pass
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
        return False
    return True


def _request_body(request: Request) -> bytes | None:
    body = request.body
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    # File and iterator bodies: vcrpy keeps what it read in _body (a list for iterators).
    raw = request.__dict__.get("_body")
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, list) and all(isinstance(chunk, bytes) for chunk in raw):
        return b"".join(raw)
    return None


def _is_parsed(request: Request) -> bool:
    """Whether vcrpy keeps the body as Python data: aiohttp's json= and data= (not bytes, text,
    a file or an iterator's chunks)."""
    if request.__dict__.get("_was_file") or request.__dict__.get("_was_iter"):
        return False
    return isinstance(request.__dict__.get("_body"), (Mapping, list, tuple))


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid scrub pattern {pattern!r}: {error}") from None


def _check_disable(names: Iterable[str]) -> frozenset[str]:
    """Normalised names to disable; unknown names raise ValueError listing the valid ones."""
    known = {normalize_name(name) for name in DISABLE_NAMES}
    unknown = [
        name
        for name in names
        if normalize_name(name) not in known and not DEFAULT_HEADER_NAMES(name)
    ]
    if unknown:
        raise ValueError(
            f"unknown scrub rule(s) to disable: {', '.join(map(repr, unknown))}. "
            f"Valid names: {', '.join(DISABLE_NAMES)}, "
            "or any header or parameter name a default rule matches (e.g. 'x-csrf-token')."
        )
    return frozenset(normalize_name(name) for name in names)
