"""Every place a secret hides in HTTP, recorded through each real client against a local
server: the cassette written holds no trace of any (raw, base64, percent-encoded, inside a
compressed body). tests/test_secrets_end_to_end.py covers the places it names with requests;
this covers the rest, and all of them with every client."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import yaml

from pytest_cassettes.storage import CassetteLoader
from tests.conftest import Suite


def _token(place: str, prefix: str = "") -> str:
    """A secret of its own for each place (a leak names its place), random-looking."""
    digest = hashlib.sha256(place.encode()).hexdigest()
    if prefix == "ghp_":  # a GitHub token's format: found where no name tells it
        return "ghp_" + base64.b32encode(digest.encode()).decode()[:36].replace("=", "Q")
    return f"{digest[:8]}Zx{digest[8:20]}Kq{digest[20:28]}"


# Request places: (method, path, headers, body). `{S}` is the place's secret, `{B}` its Basic
# credentials' base64, `{J}` a base64 JSON document holding it.
REQUESTS: dict[str, tuple[str, str, dict[str, str], str | None]] = {
    "url path segment": ("GET", "/users/{S}/items", {}, None),
    "query": ("GET", "/q?page=2&access_token={S}&sort=asc", {}, None),
    "fragment": ("GET", "/cb#access_token={S}&state=xyz", {}, None),
    "authorization basic": ("GET", "/a", {"Authorization": "Basic {B}"}, None),
    "authorization bearer": ("GET", "/a", {"Authorization": "Bearer {S}"}, None),
    "authorization digest": (
        "GET",
        "/a",
        {
            "Authorization": 'Digest username="bob", realm="api", nonce="dcd98b71", '
            'uri="/a", qop=auth, nc=00000001, cnonce="0a4f113b", response="{S}"'
        },
        None,
    ),
    "x-api-key header": ("GET", "/a", {"X-Api-Key": "{S}"}, None),
    "cookie with several cookies": ("GET", "/a", {"Cookie": "theme=dark; sid={S}; lang=en"}, None),
    "*token* header, upper case": ("GET", "/a", {"X-UPLOAD-TOKEN": "{S}"}, None),
    "*secret* header, lower case": ("GET", "/a", {"x-app-secret": "{S}"}, None),
    "*key* header, mixed case": ("GET", "/a", {"X-Signing-Key": "{S}"}, None),
    "json body, nested": (
        "POST",
        "/j",
        {"Content-Type": "application/json"},
        '{"data": {"creds": [{"id": 1, "client_secret": "{S}"}]}}',
    ),
    "form body": (
        "POST",
        "/f",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "user=ada&password={S}&remember=1",
    ),
    "multipart field": (
        "POST",
        "/m",
        {"Content-Type": "multipart/form-data; boundary=b0undary"},
        '--b0undary\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n{S}\r\n'
        "--b0undary--\r\n",
    ),
    "multipart file": (
        "POST",
        "/m",
        {"Content-Type": "multipart/form-data; boundary=b0undary"},
        '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="creds.json"\r\n'
        'Content-Type: application/json\r\n\r\n{"refresh_token": "{S}"}\r\n--b0undary--\r\n',
    ),
    "xml soap body": (
        "POST",
        "/soap",
        {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "Login"},
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
        'envelope/"><soap:Body><Login><User>ada</User><Password>{S}</Password></Login>'
        "</soap:Body></soap:Envelope>",
    ),
    "graphql variables": (
        "POST",
        "/graphql",
        {"Content-Type": "application/json"},
        '{"query": "mutation Login($token: String!) { login(token: $token) { id } }", '
        '"variables": {"token": "{S}"}}',
    ),
    "base64-encoded json": (
        "POST",
        "/events",
        {"Content-Type": "application/json"},
        '{"Records": [{"Data": "{J}", "PartitionKey": "p1"}]}',
    ),
}
# Places no name tells: a token's format tells it.
BY_FORMAT = {"url path segment", "www-authenticate", "text body", "gzip text body"}
PLACES = [*REQUESTS, "userinfo"]
PLACES += ["set-cookie, several", "location query", "www-authenticate", "link", "custom"]
PLACES += ["oauth json", "oauth form", "html hidden input", "text body"]
PLACES += ["redirect intermediate cookie", "redirect intermediate location", "gzip json body"]
PLACES += ["gzip text body"]
SECRETS = {place: _token(place, "ghp_" if place in BY_FORMAT else "") for place in PLACES}
ID_TOKEN_SIGNATURE = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
ID_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    + ID_TOKEN_SIGNATURE
)


def _fill(text: str, secret: str) -> str:
    basic = base64.b64encode(f"bob:{secret}".encode()).decode()
    document = base64.b64encode(json.dumps({"api_key": secret}).encode()).decode()
    return text.replace("{S}", secret).replace("{B}", basic).replace("{J}", document)


def _requests() -> list[tuple[str, str, dict[str, str], str | None]]:
    sent = []
    for place, (method, path, headers, body) in REQUESTS.items():
        secret = SECRETS[place]
        filled = {name: _fill(value, secret) for name, value in headers.items()}
        sent.append((method, _fill(path, secret), filled, body and _fill(body, secret)))
    return sent


def _route_responses(suite: Suite) -> list[str]:
    """The server's answers holding secrets; the paths a test asks for."""
    s = SECRETS
    route = suite.server.route
    route(
        "/r/cookies",
        headers={
            "Set-Cookie": [
                f"sid={s['set-cookie, several']}; Path=/; HttpOnly",
                "theme=dark; Path=/",
                f"remember={s['set-cookie, several']}x; Path=/; Secure",
            ]
        },
        body="ok",
    )
    route("/r/landing", body="landed")
    route(
        "/r/location",
        status=302,
        headers={"Location": f"/r/landing?token={s['location query']}&next=%2Fhome"},
    )
    route(
        "/r/denied",
        status=401,
        headers={
            "WWW-Authenticate": 'Bearer realm="api", error="invalid_token", '
            f'error_description="the token {s["www-authenticate"]} expired"'
        },
        body="denied",
    )
    route(
        "/r/link",
        headers={"Link": f'</r/items?page=2&access_token={s["link"]}>; rel="next"'},
        body="[]",
    )
    route("/r/custom", headers={"X-Refresh-Token": s["custom"], "x-session-secret": s["custom"]})
    oauth = {
        "access_token": s["oauth json"],
        "refresh_token": s["oauth json"] + "r",
        "id_token": ID_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    route("/r/oauth", headers={"Content-Type": "application/json"}, body=json.dumps(oauth))
    route(
        "/r/oauth-form",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=f"access_token={s['oauth form']}&scope=repo&token_type=bearer",
    )
    route(
        "/r/html",
        headers={"Content-Type": "text/html; charset=utf-8"},
        body='<html><body><form method="post" action="/login">'
        f'<input type="hidden" name="csrf_token" value="{s["html hidden input"]}">'
        '<input type="text" name="user"></form></body></html>',
    )
    route(
        "/r/text",
        headers={"Content-Type": "text/plain"},
        body=f"Your new API key is {s['text body']}: keep it safe.\n",
    )
    route("/r/hop1", status=302, headers={"Location": "/r/hop2"})
    route(
        "/r/hop2",
        status=302,
        headers={
            "Set-Cookie": f"session={s['redirect intermediate cookie']}; Path=/",
            "Location": f"/r/landing?code={s['redirect intermediate location']}&state=x",
        },
    )
    route(
        "/r/gzip",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"access_token": s["gzip json body"], "token_type": "bearer"}),
        encoding="gzip",
    )
    route(
        "/r/gzip-text",
        headers={"Content-Type": "text/plain"},
        body=f"token: {s['gzip text body']}\n",
        encoding="gzip",
    )
    paths = ["/r/cookies", "/r/location", "/r/denied", "/r/link", "/r/custom", "/r/oauth"]
    return [*paths, "/r/oauth-form", "/r/html", "/r/text", "/r/hop1", "/r/gzip", "/r/gzip-text"]


# Each client's `send(method, url, headers, body)`, following redirects where it can.
SEND = {
    "requests": """
def send(method, url, headers, body):
    requests.request(method, url, headers=headers, data=body and body.encode())
""",
    "httpx": """
import httpx

def send(method, url, headers, body):
    content = body and body.encode()
    httpx.request(method, url, headers=headers, content=content, follow_redirects=True)
""",
    "aiohttp": """
import asyncio
import aiohttp

async def _send(method, url, headers, body):
    async with aiohttp.ClientSession() as session:
        data = body and body.encode()
        async with session.request(method, url, headers=headers, data=data) as response:
            await response.read()

def send(method, url, headers, body):
    asyncio.run(_send(method, url, headers, body))
""",
    "urllib3": """
import urllib3

def send(method, url, headers, body):
    urllib3.PoolManager().request(method, url, headers=headers, body=body and body.encode())
""",
    "http.client": """
import http.client
from urllib.parse import urlsplit

def send(method, url, headers, body):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    target = parts.path + ("?" + parts.query if parts.query else "")
    target += "#" + parts.fragment if parts.fragment else ""
    connection.request(method, target, body=body and body.encode(), headers=headers)
    connection.getresponse().read()
    connection.close()
""",
}


def traces(secret: str) -> list[bytes]:
    """The forms a secret could take in a file: as is, percent-encoded, in base64 (standard
    and URL-safe, at each of the three alignments it can have inside a longer encoding)."""
    raw = secret.encode()
    found = {raw, quote(secret, safe="").encode(), quote_plus(secret).encode()}
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + raw)
            found.add(encoded[4 if pad else 0 : -4])
    return sorted(found)


def _bytes_in(value: Any) -> list[bytes]:
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, dict):
        return [b for item in value.values() for b in _bytes_in(item)]
    if isinstance(value, list):
        return [b for item in value for b in _bytes_in(item)]
    return []


def haystack(path: Path) -> bytes:
    """A cassette file's bytes, and its binary bodies as they are and decompressed."""
    data = path.read_bytes()
    parts = [data]
    for body in _bytes_in(yaml.load(data, Loader=CassetteLoader)):
        parts.append(body)
        for decompress in (gzip.decompress, zlib.decompress):
            with contextlib.suppress(OSError, zlib.error, EOFError):
                parts.append(decompress(body))
    return b"\n".join(parts)


def leaks(path: Path, places: list[str]) -> list[str]:
    text = haystack(path)
    found = [p for p in places if any(t in text for t in traces(SECRETS[p]))]
    if "oauth json" in places and ID_TOKEN_SIGNATURE.encode() in text:
        found.append("oauth json: id_token's signature")
    return found


@pytest.mark.parametrize("client", sorted(SEND))
def test_no_trace_of_a_secret_in_any_place_reaches_the_cassette(suite: Suite, client: str) -> None:
    paths = _route_responses(suite)
    if client == "http.client":  # it follows no redirect: the intermediate answer is asked
        paths.append("/r/hop2")
    # http.client takes no URL: it has no userinfo to send.
    userinfo = "bob:" + SECRETS["userinfo"] if client != "http.client" else ""
    test = f"""
SENT = {_requests()!r}
PATHS = {paths!r}

@pytest.mark.cassette
def test_places():
    for method, path, headers, body in SENT:
        send(method, URL + path, headers, body)
    if {userinfo!r}:
        send("GET", URL.replace("//", "//" + {userinfo!r} + "@", 1) + "/u", {{}}, None)
    for path in PATHS:
        send("GET", URL + path, {{}}, None)
"""
    suite.write(SEND[client] + test)
    suite.run().assert_outcomes(passed=1)
    received = b"\n".join(
        r.path.encode() + repr(r.headers).encode() + r.body for r in suite.server.requests
    )
    for place in REQUESTS:
        if place != "fragment":  # never sent
            sent = any(t in received for t in traces(SECRETS[place]))
            assert sent, f"{place}: not sent for real"
    recorded = {urlsplit(uri).path for uri in suite.uris("test_places")}
    followed = {"/r/landing"} if client != "http.client" else set()
    assert {*paths, *followed, "/r/hop2", "/cb"} <= recorded
    places = [p for p in PLACES if userinfo or p != "userinfo"]
    assert leaks(suite.cassette_path("test_places"), places) == []

    suite.server.requests.clear()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.requests == []
