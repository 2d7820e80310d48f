"""Detectors for secrets in text, and the names of fields that hold secrets.

Pure functions, no I/O: the scrubber redacts what they find, the scanner reports it.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextvars
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Callable
from urllib.parse import unquote_plus

from pytest_cassettes.scrub_shared import lazy_regex
from pytest_cassettes.values import Value

__all__ = [
    "DEFAULT_HEADER_NAMES",
    "DEFAULT_HEADER_RULES",
    "DEFAULT_NAME_RULES",
    "FILLER_WORDS",
    "JWT_WHOLE",
    "KINDS",
    "Finding",
    "NameMatcher",
    "find_secrets",
    "finding_replacement",
    "in_text_sensitive",
    "is_placeholder",
    "jwt_placeholder",
    "kept_jwt",
    "looks_random",
    "normalize_name",
    "placeholder",
    "redact",
]

# --- placeholders -----------------------------------------------------------------------------

SCRUBBED = "<SCRUBBED>"

# What the scrubber writes, plain, percent-encoded (in URLs and form bodies) or escaped (in XML
# and HTML text).
SCRUBBED_RE = re.compile(r"(?:<|%3[Cc]|&lt;)SCRUBBED(?::[A-Za-z0-9_-]+)?(?:>|%3[Ee]|&gt;)")

# Any placeholder a whole value may be: <SCRUBBED>, <SCRUBBED:kind>, <ENV_NAME>.
_PLACEHOLDER_VALUE_RE = re.compile(r"<[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_-]+)?>")


def placeholder(kind: str) -> str:
    """The placeholder that replaces a secret found by the detector `kind`."""
    return f"<SCRUBBED:{kind}>"


# Words a whole value is written as in place of a secret, in any case and bracketed or not
# (`DUMMY`, `[FILTERED]`, `<REDACTED>`, `**HIDDEN**`): pytest-recording's README filters with
# `filter_headers=[("x-api-key", "DUMMY")]`, Rails logs `[FILTERED]`. A value that merely
# contains one (`dummy-sk-...`, `FILTERED1`) is no filler.
FILLER_WORDS = frozenset(
    {
        "dummy",
        "filtered",
        "redacted",
        "placeholder",
        "masked",
        "hidden",
        "removed",
        "omitted",
        "sanitized",
        "scrubbed",
        "censored",
        "obfuscated",
    }
)
_FILLER_BRACKETS = "[]<>(){}* "


# A JWT keeps its header and claims, which clients decode without checking the signature
# (MSAL builds its accounts from an id_token's claims, google-auth reads a token's `exp`); its
# signature, which makes it a credential, becomes the placeholder's base64url.
JWT_SIGNATURE = "PFNDUlVCQkVEPg"
_JWT = re.compile(
    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
)


# Set while a request is scrubbed (Scrubber.scrub_request): a JWT there is replaced whole, the
# placeholder's too. A client mints some JWTs anew at each run (a token request's
# `client_assertion`, a signed URL's `token`: their `iat` and `jti` change) and sends back
# those it was answered (the real one when recorded, the placeholder on replay): either way the
# request scrubs as it did when recorded, so it matches.
JWT_WHOLE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pytest_cassettes_jwt_whole", default=False
)


def jwt_placeholder(value: str) -> str | None:
    """A signed JWT with its signature replaced by JWT_SIGNATURE; None for anything else (an
    unsigned one, `alg: none`, is a credential whole)."""
    if not value.startswith("eyJ") or _JWT.fullmatch(value) is None or value.endswith("."):
        return None
    return value[: value.rindex(".") + 1] + JWT_SIGNATURE


def kept_jwt(value: str) -> str | None:
    """What a JWT found as a secret becomes, its claims kept (see jwt_placeholder); None: it is
    replaced whole (no JWT, or one a request sends: see JWT_WHOLE)."""
    return None if JWT_WHOLE.get() else jwt_placeholder(value)


def finding_replacement(text: str, finding: Finding) -> str:
    """What replaces a detector's finding in `text`: its kind's placeholder, or a JWT's."""
    jwt = kept_jwt(text[finding.start : finding.end]) if finding.kind == "jwt" else None
    return jwt or placeholder(finding.kind)


def is_placeholder(value: str) -> bool:
    """Whether a value (plain or percent-encoded) is nothing but a placeholder or a filler word."""
    plain = unquote_plus(value).strip() if "%" in value or "<" in value else value.strip()
    if plain.strip(_FILLER_BRACKETS).lower() in FILLER_WORDS:
        return True
    if plain.endswith(JWT_SIGNATURE) and plain.startswith("eyJ"):
        return kept_jwt(plain) == plain
    if "<" not in plain:
        return False
    return _PLACEHOLDER_VALUE_RE.fullmatch(plain) is not None


# --- sensitive names ---------------------------------------------------------------------------

# Header, parameter and JSON key names whose values are secrets. Matching ignores case, '-' and
# '_' ("X-Api-Key", "x_api_key" and "xApiKey" are one name); '*' matches any run of characters.
# Each entry is also a name accepted by ScrubRules.disable.
DEFAULT_NAME_RULES: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "key",
    "auth",
    "sig",
    "*api-key",
    "*token",
    "*secret",
    "*password",
    "*passwd",
    "*passphrase",
    "*private-key",
    "*secret-key",
    "*signing-key",  # a webhook's or a token issuer's key (`X-Signing-Key`, `signing_key`)
    "*access-key",
    "*subscription-key",
    "*signature",
    "*csrf",
    "*password1",
    "*password2",
    "*password-confirmation",
    "*jsessionid",
    "phpsessid",  # PHP's session in a URL (session.use_trans_sid), as Java's jsessionid
    "saml-response",
    "*account-key",
    "*master-key",
    "*license-key",
    "*app-key",
    "*application-key",
    "user-key",
    "*secret-string",
    "secret-binary",
    "secret-value",
    "secret-id",
    "code-verifier",
    "oauth-verifier",
    "device-code",
    # A device flow's code the user types (`verification_uri_complete` carries it too).
    "user-code",
    "saml-assertion",  # AWS STS' AssumeRoleWithSAML
    # Okta's identity engine: a password or one-time code (`credentials.passcode`), and the
    # handle of the login under way, which goes on with it.
    "*passcode",
    "state-handle",
    # Okta's interaction code flow: the handle of the login under way, and the code a token
    # request redeems (`grant_type=interaction_code`).
    "interaction-handle",
    "interaction-code",
    # OpenID CIBA: the id of a backchannel authentication, polled for its tokens.
    "auth-req-id",
    # A TOTP seed: Cognito's AssociateSoftwareToken answers it.
    "secret-code",
    # Cognito's SECRET_HASH (SecretHash): the app client's secret keyed to one user, good for
    # signing that user in as long as the secret lasts; the codes its challenges are answered
    # with (SMS_MFA_CODE, SOFTWARE_TOKEN_MFA_CODE, EMAIL_OTP_CODE).
    "secret-hash",
    "*mfa-code",
    "*otp-code",
    "recovery-codes",
    "*consumer-key",
    # Rails' and Phoenix's key that signs and encrypts their cookies and sessions (Heroku's
    # config vars, an environment's dump).
    "*secret-key-base",
    "private-key-data",
    # A kubeconfig's client key: a PEM private key in base64 (its certificates are public).
    "client-key-data",
    # Google's resumable upload session (a URI anyone may upload to for a week); S3's
    # multipart `uploadId` shares the name: harmless, its requests are signed.
    "upload-id",
)

# Header names only (as JSON keys or parameters these words name ordinary things): the keys
# of Cloudflare, Datadog, New Relic, Parse, Appwrite, Azure Functions, JFrog, Honeycomb, and
# the encryption keys a client supplies to S3, Azure and Google Cloud Storage.
DEFAULT_HEADER_RULES: tuple[str, ...] = (
    "*auth-key",
    "*service-key",
    "*insert-key",
    "*query-key",
    "*client-key",
    "*javascript-key",
    "*mashape-key",
    "*customer-key",
    "*encryption-key",
    "*functions-key",
    "*registry-auth",
    "x-jfrog-art-api",
    "x-honeycomb-team",
    "x-appwrite-key",
    "x-appwrite-session",
    "x-guploader-uploadid",
    "x-identity-header",  # Azure App Service's managed identity endpoint
    # Authorization under another name (an API behind a proxy that drops `Authorization`,
    # ThingsBoard's `X-Authorization`); a `Bearer` token was found in them by its format.
    "x-authorization",
    "authentication",
    "x-authentication",
    "x-auth",
)

# Names the globs above catch that are not secrets: pagination cursors would otherwise all
# collapse to one placeholder, making pages of a listing indistinguishable in the cassette.
_NOT_SECRET = frozenset(
    {
        "pagetoken",
        "nextpagetoken",
        "prevpagetoken",
        "previouspagetoken",
        "nexttoken",
        "continuationtoken",
        "nextcontinuationtoken",
        "paginationtoken",
        "synctoken",
    }
)


@lru_cache(maxsize=4096)
def normalize_name(name: str) -> str:
    """A name lower-cased without '-', '_' or spaces, the form every name rule compares."""
    return re.sub(r"[-_\s]", "", name.lower())


def _name_forms(name: str) -> tuple[str, ...]:
    # "user[password]" and "auth.token" are common form-field spellings: the last part counts;
    # "password[]" and "token[0]" an array's items.
    base = _ARRAY_SUFFIX.sub("", name) if name.endswith(("]", "D", "d")) else name
    parts = [p for p in re.split(r"[\[\].]+", base) if p]
    forms = [normalize_name(name)]
    if base != name:
        forms.append(normalize_name(base))
    if len(parts) > 1:
        forms.append(normalize_name(parts[-1]))
    return tuple(forms)


_ARRAY_SUFFIX = re.compile(r"(?:\[\d*\]|%5B\d*%5D)+\Z", re.IGNORECASE)


def _glob_regex(globs: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = [
        ".*".join(re.escape(part) for part in normalize_name(glob).split("*")) for glob in globs
    ]
    if not alternatives:
        return None
    return re.compile("(?:" + "|".join(sorted(set(alternatives))) + r")\Z")


class NameMatcher:
    """Decides whether a header, parameter or JSON key name holds a secret."""

    def __init__(
        self,
        defaults: Iterable[str] = DEFAULT_NAME_RULES,
        extra: Iterable[str] = (),
        exempt: Iterable[str] = (),
    ) -> None:
        self._defaults = _glob_regex(defaults)
        self._extra = _glob_regex(extra)
        self._exempt = frozenset(normalize_name(name) for name in exempt) | _NOT_SECRET
        self._cache: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache[name] = self._match(name)
        return cached

    def _match(self, name: str) -> bool:
        for form in _name_forms(name):
            if self._extra is not None and self._extra.match(form):
                return True
            if form in self._exempt:
                continue
            if self._defaults is not None and self._defaults.match(form):
                return True
        return False


DEFAULT_HEADER_NAMES = NameMatcher((*DEFAULT_NAME_RULES, *DEFAULT_HEADER_RULES))
_PARAM_NAMES = NameMatcher()


def in_text_sensitive(
    name: str, headers: Callable[[str], bool], params: Callable[[str], bool]
) -> bool:
    """Whether a name written in text (`name: value`) holds a secret: a parameter's name, or
    a header's spelled as a header (`X-Auth-Key`, not YAML's `customer_key` nor JavaScript's
    `queryKey`, which header-only rules would take)."""
    return params(name) or ("-" in name and "_" not in name and headers(name))


# --- detectors -----------------------------------------------------------------------------------


class Finding(Value):
    """One secret found in a text: its kind and where it is (text[start:end]); a
    `high-entropy` value's `name` is the name it is written after (`password: ...`)."""

    __slots__ = ("end", "kind", "name", "start")
    _compared = ("kind", "start", "end")

    def __init__(self, kind: str, start: int, end: int, name: str = "") -> None:
        self.kind = kind
        self.start = start
        self.end = end
        self.name = name


def _entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def looks_random(value: str, min_length: int = 16) -> bool:
    """Whether a value looks like a generated credential: long, letters and digits, high entropy."""
    return (
        len(value) >= min_length
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and _entropy(value) >= 3.0
    )


def _mixed_case_and_digit(value: str) -> bool:
    # Real keys are random; CSS class names such as "sk-fading-circle" are lower-case words.
    return (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _basic_credentials(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        return ":" in decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False


def _encodes_placeholder(value: str) -> bool:
    """A placeholder in base64, as a base64 secret is scrubbed (`QVdTOjxTQ1JVQkJFRD4=`, an ECR
    login's `AWS:<SCRUBBED>`)."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return SCRUBBED_RE.search(decoded.decode("utf-8", "replace")) is not None


def _not_placeholder(value: str) -> bool:
    return not is_placeholder(value)


def _always(value: str) -> bool:
    return True


def _signed(value: str) -> bool:
    return not value.endswith(JWT_SIGNATURE)  # one scrubbed already is no secret


def _generated(value: str) -> bool:
    """A token's random part: two of lower case, upper case and digits in its last 16
    characters (a mask, `glpat-xxxxxxxxxxxxxxxxxxxx`, or an example's words are not)."""
    tail = value[-16:]
    classes = (
        any(c.islower() for c in tail),
        any(c.isupper() for c in tail),
        any(c.isdigit() for c in tail),
    )
    return sum(classes) >= 2 and not _WORDS.fullmatch(value[value.find("_") + 1 :])


# Words run together, an identifier's (`hf_XLMRobertaForSequenceClassification2`): random
# characters seldom put two lower-case letters after every capital.
_WORDS = re.compile(r"(?:[A-Z]{1,5}[a-z]{2,}|[0-9]{1,4})+")


def _prefixed(
    kind: str, regex: str, check: Callable[[str], bool] = _generated
) -> tuple[str, re.Pattern[str], int, Callable[[str], bool], bool]:
    """A token told by its literal prefix, found anywhere (URL paths included) but inside a
    longer word, when its random part looks generated (or passes `check`). Compiled when first
    used: a text holds one of their prefixes seldom (see _ANY_PREFIX), and compiling the 54 of
    them cost every process that opens a cassette ~6 ms."""
    pattern = lazy_regex(regex + r"(?![A-Za-z0-9_-])")
    _PREFIXES[pattern] = _literal_start(regex)
    return (kind, pattern, 0, check, True)


def _not_zeros(value: str) -> bool:
    """An `EAA` token's random part, not base64's of zero bytes (`AAAAA`, or `AAAA` twice:
    one random token in millions holds them, most binary records' base64 that starts `EAA`
    does: 2,358 of 100,000 from /usr/bin were tokens, 27 now, and none of 100,000 random
    tokens is lost)."""
    return value.count("AAAA", 4) < 2 and "AAAAA" not in value[4:] and _generated(value)


def _discord_token(value: str) -> bool:
    """A Discord token's first part is its account's id, a number, in base64 (a dotted name
    that has the shape is not), and its HMAC looks generated (no mask)."""
    first = value.partition(".")[0]
    try:
        account = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    except (binascii.Error, ValueError):
        return False
    return account.isdigit() and 17 <= len(account) <= 20 and _generated(value)


def _literal_start(regex: str) -> str:
    """The literal a regex starts with (`SG\\.` gives `SG.`)."""
    literal, position = "", 0
    while position < len(regex):
        char = regex[position]
        if char == "\\" and position + 1 < len(regex) and not regex[position + 1].isalnum():
            literal, position = literal + regex[position + 1], position + 2
        elif char.isalnum() or char in "_-/":
            literal, position = literal + char, position + 1
        else:
            break
    return literal


# The literal prefixes of the `_prefixed` detectors. In a short text (a URL, a header: asked
# at each request) one search for any of them replaces a search for each.
_PREFIXES: dict[re.Pattern[str], str] = {}


# Each regex starts with a literal where it can, so the regex engine skips ahead to it: a
# leading \b would make it try every position (45 ms per MB and detector instead of 2).
# (kind, regex, group holding the secret, check on that group, must start a word).
# Earlier kinds win overlaps.
_DETECTORS: tuple[tuple[str, re.Pattern[str], int, Callable[[str], bool], bool], ...] = (
    (
        "pem-private-key",
        # The header only: the block's end is found by _pem_end (one search for all headers).
        re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"),
        0,
        _always,
        False,
    ),
    (
        "github",
        re.compile(r"g(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{22,251})\b"),
        0,
        _always,
        True,
    ),
    ("aws-access-key-id", re.compile(r"A[KS]IA[A-Z0-9]{16}\b"), 0, _always, True),
    (
        "aws-secret-key",
        re.compile(
            r"(?i:secret_?(?:access_?)?key)"
            r"[\\\"'>]{0,4}\s{0,8}[:=]?\s{0,8}[\\\"']{0,4}([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        1,
        _always,
        False,
    ),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), 0, _always, True),
    ("anthropic", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}"), 0, _mixed_case_and_digit, True),
    (
        "openai",
        re.compile(r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        0,
        _mixed_case_and_digit,
        True,
    ),
    # DeepSeek's keys are OpenAI's `sk-` and 32 lower-case hex digits (OpenAI's rule wants
    # capitals).
    ("deepseek", re.compile(r"sk-[a-f0-9]{32}(?![A-Za-z0-9_-])"), 0, _has_digit, True),
    # Twilio's API key SID (its secret goes with it, as AWS's key id with its key).
    ("twilio", re.compile(r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9_-])"), 0, _generated, True),
    # Mailchimp's key ends with its data center: 32 hex digits, `-us` and a number. The
    # look-behind fails at once inside a longer run of hex digits (a hash list).
    (
        "mailchimp",
        re.compile(r"[0-9a-f](?<![0-9a-f][0-9a-f])[0-9a-f]{31}-us[0-9]{1,2}(?![A-Za-z0-9_-])"),
        0,
        _generated,
        True,
    ),
    ("slack", re.compile(r"xox[abprse]-[A-Za-z0-9-]{10,}"), 0, _has_digit, True),
    ("stripe", re.compile(r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"), 0, _always, True),
    # `eyJ` starting a token (base64's `{"`): inside a longer run it is no JWT, and trying each
    # one of a base64 blob would read the rest of the blob again (quadratic).
    ("jwt", _JWT, 0, _signed, True),
    (
        "basic-auth",
        re.compile(r"Basic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"),
        1,
        _basic_credentials,
        True,
    ),
    ("bearer", re.compile(r"[Bb]earer\s+([A-Za-z0-9._~+/-]{16,}=*)"), 1, _has_digit, True),
    # A Discord bot's token: its id in base64, a timestamp, an HMAC. The look-behind fails at
    # once inside a longer run (base64), where the caller's word-start test would come late.
    (
        "discord-bot-token",
        re.compile(
            r"[MNO](?<![\w+/-][MNO])[A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}"
            r"(?![A-Za-z0-9_-])"
        ),
        0,
        _discord_token,
        True,
    ),
    # Secrets that are part of a URL's path: a webhook's or a bot's URL is its credential.
    # The ids before them are kept, so two bots or channels stay told apart.
    (
        "telegram-bot-token",
        re.compile(r":(?<=[0-9]{5}:)(A[A-Za-z0-9_-]{32,36})(?![A-Za-z0-9_-])"),
        1,
        _generated,
        False,
    ),
    (
        "slack-webhook",
        re.compile(
            r"/(?:services|workflows|triggers)/T[A-Z0-9]{6,}/(?:[A-Za-z0-9]+/){1,4}"
            r"([A-Za-z0-9]{20,})(?![A-Za-z0-9])"
        ),
        1,
        _generated,
        False,
    ),
    (
        "discord-webhook",
        re.compile(r"/webhooks/[0-9]{15,22}/([A-Za-z0-9_-]{60,100})(?![A-Za-z0-9_-])"),
        1,
        _generated,
        False,
    ),
    (
        "teams-webhook",
        re.compile(r"/IncomingWebhook/([0-9a-f]{32})(?![0-9a-f])"),
        1,
        _always,
        False,
    ),
    # Tokens of services, by their documented prefixes.
    _prefixed("gitlab", r"gl(?:pat|dt|rt|ptt|cbt|ft|oas|soat)-[A-Za-z0-9_.-]{20,}"),
    _prefixed("huggingface", r"hf_[A-Za-z0-9]{30,}"),
    _prefixed("groq", r"gsk_[A-Za-z0-9]{40,}"),
    _prefixed("xai", r"xai-[A-Za-z0-9]{40,}"),
    _prefixed("perplexity", r"pplx-[A-Za-z0-9]{40,}"),
    _prefixed("replicate", r"r8_[A-Za-z0-9]{30,}"),
    _prefixed("npm", r"npm_[A-Za-z0-9]{36}"),
    _prefixed("pypi", r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    _prefixed("sendgrid", r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50}"),
    _prefixed("shopify", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    _prefixed("digitalocean", r"do[opr]_v1_[a-f0-9]{64}"),
    _prefixed("stripe-webhook", r"whsec_[A-Za-z0-9+/=]{24,}"),
    # One regex a prefix: an alternation first would be tried at every position (5 ms a MB).
    _prefixed("google-oauth", r"GOCSPX-[A-Za-z0-9_-]{24,}"),
    _prefixed("google-oauth", r"ya29\.[A-Za-z0-9_-]{20,}"),
    _prefixed("atlassian", r"ATATT3[A-Za-z0-9_=-]{100,}"),
    _prefixed("linear", r"lin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    _prefixed("notion", r"ntn_[A-Za-z0-9]{40,}"),
    _prefixed("notion", r"secret_[A-Za-z0-9]{43}"),
    _prefixed("databricks", r"dapi[a-f0-9]{32}(?:-[0-9])?"),
    _prefixed(
        "doppler", r"dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]{1,40}\.)?[A-Za-z0-9]{40,}"
    ),
    _prefixed("google-oauth", r"1//0[A-Za-z0-9_-]{30,}"),
    # Google's session cookies' values (`SID`, `LSID`, `__Secure-1PSID`; `__Secure-1PSIDTS`),
    # which a page's script or a cookie export holds outside a Cookie header.
    _prefixed("google-session", r"g\.a000[A-Za-z0-9_-]{40,}"),
    _prefixed("google-session", r"sidts-[A-Za-z0-9_-]{40,}"),
    _prefixed("slack", r"xapp-[0-9]-[A-Z0-9]+-[a-z0-9]+-[a-f0-9]{32,}"),
    _prefixed("grafana", r"glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}"),
    _prefixed("grafana", r"glc_[A-Za-z0-9+/]{32,}={0,2}"),
    _prefixed("docker", r"dckr_pat_[A-Za-z0-9_-]{20,}"),
    _prefixed("vault", r"hv[sbr]\.[A-Za-z0-9_-]{24,}"),
    _prefixed("airtable", r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    _prefixed("sentry", r"sntry[su]_[A-Za-z0-9+/=_-]{30,}"),
    _prefixed("brevo", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    _prefixed("planetscale", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{30,}"),
    _prefixed("dropbox", r"sl\.[A-Za-z0-9_-]{130,}"),
    _prefixed("rubygems", r"rubygems_[a-f0-9]{48}"),
    _prefixed("age-secret-key", r"AGE-SECRET-KEY-1[A-Z0-9]{58}"),
    _prefixed("contentful", r"CFPAT-[A-Za-z0-9_-]{43}"),
    _prefixed("postman", r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
    _prefixed("tailscale", r"tskey-(?:api|auth|client|scim|webhook)-[A-Za-z0-9]+-[A-Za-z0-9]{16,}"),
    _prefixed("new-relic", r"NRAK-[A-Za-z0-9]{27}"),
    _prefixed("new-relic", r"NRII-[A-Za-z0-9_-]{32}"),
    _prefixed("figma", r"figd_[A-Za-z0-9_-]{40}"),
    # `EAA` is common inside base64: the look-behind fails there at once, where the caller's
    # word-start test would come after reading the whole run. Base64's `+` and `/` are part
    # of its words (a binary file's base64 held them: `/EAAAAAAB...+`), and so is its `=`
    # padding at the end: a token is not followed by them (a JSON string of base64 that
    # starts with `EAA`, `"EAAH...+Vb6H/...=="`, is no token).
    _prefixed("square", r"EAAA(?<![\w+/]EAAA)[A-Za-z0-9_-]{60}(?![+/=])", _not_zeros),
    _prefixed("square", r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}"),
    _prefixed("facebook", r"EAA(?<![\w+/]EAA)[B-Z][A-Za-z0-9]{100,500}(?![+/=])", _not_zeros),
    _prefixed("mapbox", r"sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),
    # OpenAI's detector sees it first and lets it go: it is all lower case
    _prefixed("openrouter", r"sk-or-v1-[a-f0-9]{64}"),
    _prefixed("heroku", r"HRKU-AA[A-Za-z0-9_-]{58}"),
    _prefixed("flyio", r"fm2_[A-Za-z0-9+/]{100,}={0,3}"),
    _prefixed("flyio", r"fo1_[A-Za-z0-9_-]{43}"),
    _prefixed("supabase", r"sbp_[a-f0-9]{40}"),
    _prefixed("render", r"rnd_[A-Za-z0-9]{24,40}"),
    _prefixed("netlify", r"nfp_[A-Za-z0-9]{36}"),
    _prefixed("resend", r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}"),
    _prefixed("pinecone", r"pcsk_[A-Za-z0-9]{6}_[A-Za-z0-9]{60,}"),
    _prefixed("elevenlabs", r"sk_[a-f0-9]{48}"),
    _prefixed("langsmith", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
    _prefixed("alibaba", r"LTAI[A-Za-z0-9]{12,20}"),
    _prefixed("dynatrace", r"dt0c01\.[A-Z0-9]{24}\.[A-Za-z0-9]{64}"),
    _prefixed("pulumi", r"pul-[a-f0-9]{40}"),
    _prefixed("prefect", r"pnu_[A-Za-z0-9]{36}"),
    _prefixed("tavily", r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}"),
    # `<id>.atlasv1.<secret>`: the secret part (the id before the dot is part of a word).
    (
        "terraform",
        re.compile(r"\.atlasv1\.([A-Za-z0-9_-]{60,})(?![A-Za-z0-9_-])"),
        1,
        _generated,
        False,
    ),
    (
        "url-password",
        # `redis://:password@host` names no user
        re.compile(r"://[^\s/?#@:\"'<>]*:([^\s/?#@\"'<>]+)@"),
        1,
        _not_placeholder,
        False,
    ),
)

# A value after ':' or '=' (JSON, YAML, form, headers, env files; quotes escaped or not). The
# name before it is read backwards, so the regex starts with a cheap character class.
_PLACE_VALUE = re.compile(r"[:=]\s*\\?[\"']?([A-Za-z0-9_~+/.=-]{16,})")
_NAME_BEFORE = re.compile(r"([A-Za-z0-9_.-]+)\\?[\"']?\s*\Z")
_WORD_CHAR = re.compile(r"\w")

_ANY_PREFIX = re.compile("|".join(re.escape(p) for p in sorted(set(_PREFIXES.values()))))
_PREFIXED_AT = frozenset(i for i, (_, regex, *_) in enumerate(_DETECTORS) if regex in _PREFIXES)
KINDS: tuple[str, ...] = (*dict.fromkeys(kind for kind, *_ in _DETECTORS), "high-entropy")


def _sensitive_places(text: str) -> Iterable[Finding]:
    for match in _PLACE_VALUE.finditer(text):
        value = match.group(1)
        if not looks_random(value) or value.endswith(JWT_SIGNATURE):  # a JWT scrubbed already
            continue
        name = _NAME_BEFORE.search(text, max(0, match.start() - 80), match.start())
        if (
            name
            and in_text_sensitive(name.group(1), DEFAULT_HEADER_NAMES, _PARAM_NAMES)
            and not _encodes_placeholder(value)
        ):
            yield Finding("high-entropy", match.start(1), match.end(1), name.group(1))


def find_secrets(text: str, exclude: Iterable[str] = ()) -> list[Finding]:
    """Secrets in text, sorted and non-overlapping; `exclude` names detector kinds to skip. A
    JWT's placeholder too while JWT_WHOLE is set."""
    excluded = frozenset(exclude)
    whole = JWT_WHOLE.get()
    if len(text) <= _MEMO_MAX_LENGTH:
        return list(_find_memo(text, excluded, whole))
    return _find(text, excluded, whole)


# Header values (User-Agent, Accept, ...) come back on every request of every test, and every
# live request is scrubbed before matching: remembering short texts' answers (a pure function)
# takes most of the scrubbing cost off the replay path.
_MEMO_MAX_LENGTH = 512


@functools.lru_cache(maxsize=8192)
def _find_memo(text: str, excluded: frozenset[str], whole: bool) -> tuple[Finding, ...]:
    return tuple(_find(text, excluded, whole))


def _mentions(text: str, word: str, piece: int = 1 << 16) -> bool:
    """Whether `word` (lower case) is in `text` in any case: lowered piece by piece, so that a
    large body is not copied whole."""
    overlap = len(word) - 1
    return any(
        word in text[start : start + piece + overlap].lower()
        for start in range(0, len(text), piece)
    )


def _find(text: str, excluded: frozenset[str], whole: bool = False) -> list[Finding]:
    candidates: list[tuple[int, int, Finding]] = []
    prefixed = len(text) > _MEMO_MAX_LENGTH or _ANY_PREFIX.search(text) is not None
    pem_ends: list[int] | None = None
    for priority, (kind, regex, group, check, word_start) in enumerate(_DETECTORS):
        if kind in excluded or (not prefixed and priority in _PREFIXED_AT):
            continue
        if kind == "aws-secret-key" and not _mentions(text, "secret"):
            continue  # a case-insensitive regex cannot skip ahead; a substring test can
        for match in regex.finditer(text):
            begin = match.start()
            if word_start and begin and _WORD_CHAR.match(text, begin - 1):
                continue  # inside a longer word: "xsk-..." is not a key
            if check(match.group(group)) or (whole and kind == "jwt"):
                start, end = match.span(group)
                if kind == "pem-private-key":
                    if pem_ends is None:  # every END line, found once for all headers
                        pem_ends = [m.end() for m in _PEM_END.finditer(text)]
                    end = _pem_end(text, end, pem_ends)
                candidates.append((start, priority, Finding(kind, start, end)))
    if "high-entropy" not in excluded:
        candidates.extend((f.start, len(_DETECTORS), f) for f in _sensitive_places(text))
    candidates.sort(key=lambda item: (item[0], item[1]))
    findings: list[Finding] = []
    for _, _, finding in candidates:
        if findings and finding.start < findings[-1].end:
            continue
        findings.append(finding)
    return findings


_PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s\\]*")


def _pem_end(text: str, header_end: int, ends: list[int]) -> int:
    """Where the private key whose header ends at `header_end` ends: its END line within 64
    KiB, else the base64 lines after the header (a truncated key). `ends` lists every END
    line's end (searching for it from each header was quadratic)."""
    index = bisect.bisect_left(ends, header_end)
    if index < len(ends) and ends[index] - header_end <= 65536:
        return ends[index]
    body = _PEM_BODY.match(text, header_end)
    return body.end() if body else header_end


def redact(text: str) -> tuple[str, int]:
    """Replace every secret in text by <SCRUBBED:kind>; return the new text and the count."""
    findings = find_secrets(text)
    if not findings:
        return text, 0
    pieces: list[str] = []
    position = 0
    for finding in findings:
        pieces.append(text[position : finding.start])
        pieces.append(placeholder(finding.kind))
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces), len(findings)
