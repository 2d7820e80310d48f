"""The scrubber: every place a secret hides is emptied, and the interaction keeps its shape."""

from __future__ import annotations

import base64
import gzip
import io
import json
from html import escape as html_escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import yaml
from vcr.matchers import body as vcr_body
from vcr.matchers import method, query, requests_match, uri
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from pytest_cassettes.scrub import DISABLE_NAMES, LearnedSecrets, Scrubber, ScrubRules
from pytest_cassettes.scrub_stores import crc32c

SECRET = "s3cr3t-Value-9f8e7d6c"  # no detector recognises it: only rules can remove it
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
OPENAI = "sk-proj-" + "Ab3dEf6hIj9lMn2pQr5tUv8xYz1BcD4fGh7"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def scrubber(**rules: Any) -> Scrubber:
    return Scrubber(ScrubRules(**rules), environ={})


def request(
    uri: str = "https://api.example.com/v1/items",
    body: Any = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Request:
    headers = dict(headers or {})
    if isinstance(body, bytes):
        headers.setdefault("Content-Length", str(len(body)))
    return Request(method, uri, body, headers)


def response(
    body: bytes | str = b"", headers: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    headers = dict(headers or {})
    size = len(body.encode() if isinstance(body, str) else body)
    headers.setdefault("Content-Length", [str(size)])
    return {"status": {"code": 200, "message": "OK"}, "headers": headers, "body": {"string": body}}


def request_text(req: Request) -> str:
    body = req.body or b""
    return f"{req.uri}\n{dict(req.headers)}\n{body.decode('latin-1')}"


def response_text(resp: dict[str, Any]) -> str:
    body = resp["body"]["string"]
    if isinstance(body, bytes):
        body = body.decode("latin-1")
    return f"{resp['headers']}\n{body}"


def scrub_request(req: Request, s: Scrubber | None = None) -> tuple[Request, int]:
    new, count = (s or scrubber()).scrub_request(req)
    assert new is not None
    return new, count


def scrub_response(resp: dict[str, Any], s: Scrubber | None = None) -> tuple[dict[str, Any], int]:
    new, count = (s or scrubber()).scrub_response(resp)
    assert new is not None
    return new, count


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "X-Api-Key",
        "x-api-key",
        "X-API-KEY",
        "Api-Key",
        "X-Goog-Api-Key",
        "X-Amz-Security-Token",
        "X-Auth-Token",
        "X-CSRF-Token",
        "X-Client-Secret",
        "X-RapidAPI-Key",
        "Private-Token",
        "Ocp-Apim-Subscription-Key",
    ],
)
def test_sensitive_request_header_is_replaced_whatever_its_case(name: str):
    new, count = scrub_request(request(headers={name: SECRET, "Accept": "application/json"}))
    assert count == 1
    assert new.headers[name] == "<SCRUBBED>"
    assert list(new.headers) == [name, "Accept"]  # names and order kept
    assert new.headers["Accept"] == "application/json"
    assert SECRET not in request_text(new)


@pytest.mark.parametrize(
    "name",
    [
        "DD-APPLICATION-KEY",
        "X-Auth-Key",
        "X-Auth-User-Service-Key",
        "X-Parse-Master-Key",
        "X-Parse-Javascript-Key",
        "X-Appwrite-Key",
        "X-Insert-Key",
        "x-amz-server-side-encryption-customer-key",
        "x-ms-encryption-key",
        "X-Registry-Auth",
        "x-functions-key",
        "X-JFrog-Art-Api",
        "X-Honeycomb-Team",
        "X-Mashape-Key",
        "App-Key",
        "X-Signing-Key",  # was kept: no rule named a signing key
    ],
)
def test_services_credential_headers_are_replaced(name: str):
    new, count = scrub_request(request(headers={name: SECRET}))
    assert (new.headers[name], count) == ("<SCRUBBED>", 1)


def test_headers_named_like_keys_that_hold_no_secret_are_kept():
    headers = {
        "Idempotency-Key": "b7c5c1a2-7d41-4c43-9a51-0f0e5a8f2b11",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "x-amz-server-side-encryption-customer-key-MD5": "ZjA3MzU1OGE2YjdkNGM0NQ==",
        "Cache-Key": "v1-items-page-2",
    }
    new, count = scrub_request(request(headers=headers))
    assert (dict(new.headers), count) == (headers, 0)


@pytest.mark.parametrize(
    ("encode", "strip"),
    [
        (base64.b64encode, False),
        (base64.urlsafe_b64encode, False),
        (base64.urlsafe_b64encode, True),
    ],
    ids=["standard", "url-safe", "url-safe-unpadded"],
)
def test_a_json_document_in_base64_in_json_is_scrubbed_and_encoded_as_it_was(
    encode: Any, strip: bool
):
    # A Kinesis record's `Data`, a Pub/Sub message's `data`: the secret in them was kept. (`??`
    # encodes to `Pz8` or `Pz_`: the URL-safe alphabet is told; padding: both lengths need it.)
    def b64(document: Any) -> str:
        encoded = encode(json.dumps(document).encode()).decode()
        return encoded.rstrip("=") if strip else encoded

    body = json.dumps({"messages": [{"data": b64({"user": "??ad", "api_key": SECRET})}]})
    new, count = scrub_response(response(body, {"Content-Type": ["application/json"]}))
    data = json.loads(new["body"]["string"])["messages"][0]["data"]
    assert (data, count) == (b64({"user": "??ad", "api_key": "<SCRUBBED>"}), 1)
    # One with no secret (a page's cursor) stays as it was.
    cursor = json.dumps({"next": b64({"page": 2, "after": "item-41"})})
    new, count = scrub_response(response(cursor, {"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (cursor, 0)


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/yaml", "customer_key: cus_NffrFeUfNV2Hib7bQ\n"),
        ("application/javascript", 'useQuery({queryKey: "todosList9f8e7d6c5b4aQ"})'),
    ],
)
def test_header_only_names_are_not_names_in_text(content_type: str, text: str):
    new, count = scrub_response(response(text, {"Content-Type": [content_type]}))
    assert (new["body"]["string"], count) == (text, 0)
    echoed = "X-Auth-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n"  # a header echoed in text
    new, count = scrub_response(response(echoed, {"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == ("X-Auth-Key: <SCRUBBED>\n", 1)


def test_header_only_names_are_not_json_or_query_names():
    # React Query's queryKey, a client key: ordinary words as fields and parameters.
    body = json.dumps({"queryKey": ["todos", 2], "clientKey": "web"}).encode()
    req = request("https://api.example.com/x?query_key=recent", body, method="POST")
    new, count = scrub_request(req)
    assert (new.body, new.uri, count) == (body, req.uri, 0)


@pytest.mark.parametrize(
    "field",
    [
        "license_key",
        "app_key",
        "application_key",
        "user_key",
        "consumer_key",
        "code_verifier",
        "oauth_verifier",
        "device_code",
        "recovery_codes",
        "SecretString",
        "SecretBinary",
        "SecretId",
        "AccountKey",
        "primaryMasterKey",
        "privateKeyData",
    ],
)
def test_more_credential_fields_are_replaced(field: str):
    body = json.dumps({field: SECRET, "name": "ci"}).encode()
    new, count = scrub_request(request(method="POST", body=body))
    assert (json.loads(new.body), count) == ({field: "<SCRUBBED>", "name": "ci"}, 1)
    new, count = scrub_request(request(f"https://api.example.com/x?{field}={SECRET}&page=2"))
    assert (new.uri, count) == (f"https://api.example.com/x?{field}=%3CSCRUBBED%3E&page=2", 1)


@pytest.mark.parametrize("name", ["Authorization", "authorization", "PROXY-AUTHORIZATION"])
def test_authorization_keeps_its_scheme(name: str):
    new, count = scrub_request(request(headers={name: f"Bearer {SECRET}"}))
    assert (new.headers[name], count) == ("Bearer <SCRUBBED>", 1)
    new, _ = scrub_request(request(headers={name: f"token {SECRET}"}))
    assert new.headers[name] == "token <SCRUBBED>"
    new, _ = scrub_request(request(headers={name: SECRET}))
    assert new.headers[name] == "<SCRUBBED>"


def test_aws_signature_authorization_keeps_only_the_algorithm():
    value = f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/s3, Signature={SECRET}"
    new, count = scrub_request(request(headers={"Authorization": value}))
    assert (new.headers["Authorization"], count) == ("AWS4-HMAC-SHA256 <SCRUBBED>", 1)


def test_cookie_keeps_its_names():
    new, count = scrub_request(request(headers={"Cookie": f"session={SECRET}; theme=dark"}))
    assert new.headers["Cookie"] == "session=<SCRUBBED>; theme=<SCRUBBED>"
    assert count == 2


def test_set_cookie_keeps_its_attributes_in_every_value():
    resp = response(
        headers={
            "Set-Cookie": [
                f"session={SECRET}; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly",
                f"csrf={SECRET}x; Secure; SameSite=Lax",
                "old=; Max-Age=0",  # a deletion carries no value: left as is
            ]
        }
    )
    new, count = scrub_response(resp)
    assert new["headers"]["Set-Cookie"] == [
        "session=<SCRUBBED>; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly",
        "csrf=<SCRUBBED>; Secure; SameSite=Lax",
        "old=; Max-Age=0",
    ]
    assert count == 2


def test_set_cookie_values_folded_into_one_line_are_each_scrubbed():
    """A proxy folding several Set-Cookie headers into one line, comma-separated (which HTTP
    forbids, and some do): only the first cookie's value was scrubbed, the others read as
    its attributes. An Expires date's comma is no fold."""
    folded = (
        f"sid={SECRET}; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT, "
        f"lang={SECRET}x; Path=/,tok={SECRET}y"
    )
    new, count = scrub_response(response(headers={"Set-Cookie": [folded]}))
    assert new["headers"]["Set-Cookie"] == [
        "sid=<SCRUBBED>; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT, "
        "lang=<SCRUBBED>; Path=/,tok=<SCRUBBED>"
    ]
    assert count == 3


@pytest.mark.parametrize("name", ["X-Api-Key", "x-auth-token", "X-Amz-Security-Token"])
def test_sensitive_response_header_is_replaced(name: str):
    new, count = scrub_response(response(headers={name: [SECRET], "Server": ["nginx"]}))
    assert new["headers"][name] == ["<SCRUBBED>"]
    assert new["headers"]["Server"] == ["nginx"]
    assert count == 1


def test_location_header_loses_its_token_but_stays_a_url():
    location = f"https://app.example.com/callback?code=abc&access_token={SECRET}&state=xyz"
    new, count = scrub_response(response(headers={"Location": [location]}))
    assert count == 1
    value = new["headers"]["Location"][0]
    assert dict(parse_qsl(urlsplit(value).query)) == {
        "code": "abc",
        "access_token": "<SCRUBBED>",
        "state": "xyz",
    }


def test_header_given_as_bytes_is_scrubbed_and_stays_bytes():
    req = Request("GET", "https://x.example/", None, {"X-Api-Key": SECRET.encode()})
    new, count = scrub_request(req)
    assert (new.headers["X-Api-Key"], count) == (b"<SCRUBBED>", 1)


# --- URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param",
    [
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "secret",
        "private_key",
        "session_token",
        "auth_token",
        "passwd",
        "API-KEY",
        "accessToken",
        "user[password]",
    ],
)
def test_sensitive_query_parameter_is_replaced_and_the_url_stays_valid(param: str):
    uri = f"https://api.example.com/v1/items?page=2&{param}={SECRET}&q=a+b%2Fc"
    new, count = scrub_request(request(uri))
    assert count == 1
    assert SECRET not in new.uri
    parts = urlsplit(new.uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.example.com", "/v1/items")
    assert parse_qs(parts.query) == {"page": ["2"], param: ["<SCRUBBED>"], "q": ["a b/c"]}
    # Untouched parameters keep their exact encoding and order.
    assert new.uri.startswith("https://api.example.com/v1/items?page=2&")
    assert new.uri.endswith("&q=a+b%2Fc")
    assert "<" not in new.uri and " " not in new.uri


def test_pagination_tokens_are_not_secrets():
    uri = "https://api.example.com/v1/items?pageToken=CAUQAA&next_page_token=abc123"
    new, count = scrub_request(request(uri))
    assert (new.uri, count) == (uri, 0)


def test_password_in_url_userinfo_is_replaced():
    new, count = scrub_request(request(f"https://alice:{SECRET}@db.example.com/v1"))
    assert count == 1
    assert SECRET not in new.uri
    assert urlsplit(new.uri).username == "alice"
    assert urlsplit(new.uri).hostname == "db.example.com"


def test_token_in_fragment_is_replaced():
    new, count = scrub_request(request(f"https://app.example.com/cb#access_token={SECRET}&x=1"))
    assert count == 1
    assert urlsplit(new.uri).fragment == "access_token=%3CSCRUBBED%3E&x=1"


# --- URLs and query strings inside text ------------------------------------------------------


def test_urls_in_link_and_refresh_headers_lose_their_tokens():
    resp = response(
        headers={
            "Link": [f'<https://api.example.com/items?page=2&access_token={SECRET}>; rel="next"'],
            "Refresh": [f"0; url=https://app.example.com/cb?token={SECRET}"],
        }
    )
    new, count = scrub_response(resp)
    assert count == 2
    assert new["headers"]["Link"] == [
        '<https://api.example.com/items?page=2&access_token=%3CSCRUBBED%3E>; rel="next"'
    ]
    assert new["headers"]["Refresh"] == ["0; url=https://app.example.com/cb?token=%3CSCRUBBED%3E"]


def test_urls_in_html_and_text_lose_their_tokens_and_keep_the_rest():
    body = (
        f'<a href="/cb?access_token={SECRET}&amp;x=1">next</a>'
        f" see https://x.example.com/?page=2&api_key={SECRET}#id_token={SECRET}."
    ).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/html"]}))
    assert count == 3
    assert new["body"]["string"] == (
        b'<a href="/cb?access_token=%3CSCRUBBED%3E&amp;x=1">next</a>'
        b" see https://x.example.com/?page=2&api_key=%3CSCRUBBED%3E#id_token=%3CSCRUBBED%3E."
    )


def test_a_pagination_url_in_json_loses_its_token():
    url = f"https://graph.example.com/v1/me/feed?limit=25&access_token={SECRET}&after=QVFI"
    body = json.dumps({"data": [], "paging": {"next": url}}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    scrubbed = json.loads(new["body"]["string"])["paging"]["next"]
    assert parse_qs(urlsplit(scrubbed).query) == {
        "limit": ["25"],
        "access_token": ["<SCRUBBED>"],
        "after": ["QVFI"],
    }


def test_json_with_escaped_ampersands_is_scrubbed_too():
    # Go's encoding/json writes & as \u0026.
    body = b'{"next":"https://x.example.com/a?page=2\\u0026access_token=' + SECRET.encode() + b'"}'
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert SECRET.encode() not in new["body"]["string"]
    assert json.loads(new["body"]["string"])["next"].endswith("&access_token=%3CSCRUBBED%3E")


def test_an_echoed_request_body_inside_a_json_string_is_scrubbed_as_one():
    # An echo server (httpbin's "data") returns the request body it got as a string.
    echoes = {
        "form": f"grant_type=refresh_token&refresh_token={SECRET}&client_id=app",
        "json": json.dumps({"user": "ada", "password": SECRET}),
        "json in json": json.dumps({"inner": json.dumps({"client_secret": SECRET})}),
    }
    body = json.dumps(echoes, indent=2).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 3
    assert SECRET.encode() not in new["body"]["string"]
    data = json.loads(new["body"]["string"])
    assert parse_qsl(data["form"]) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", "<SCRUBBED>"),
        ("client_id", "app"),
    ]
    assert json.loads(data["json"]) == {"user": "ada", "password": "<SCRUBBED>"}
    assert json.loads(json.loads(data["json in json"])["inner"]) == {"client_secret": "<SCRUBBED>"}
    again, recount = scrub_response(new)
    assert (again, recount) == (new, 0)


def test_text_without_sensitive_parameters_is_byte_for_byte_unchanged():
    body = b'<a href="/items?page=2&amp;sort=name">next</a> {"q": "a=b&c=d"} ?x=1;y=2'
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/html"]}))
    assert (new["body"]["string"], count) == (body, 0)
    echo = json.dumps({"data": "a=1&b=2", "url": "https://x.example.com/?q=1"}).encode()
    new, count = scrub_response(response(echo, headers={"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (echo, 0)


def test_a_url_with_a_token_in_a_request_body_matches_its_recording():
    sent = request(
        "https://api.example.com/v1/hooks",
        body=json.dumps({"callback": f"https://me.example.com/hook?token={SECRET}"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    recorded, count = scrub_request(sent)
    assert count == 1
    assert SECRET.encode() not in recorded.body
    replayed, _ = scrub_request(sent)
    assert vcr_body(replayed, recorded) is None  # the matcher passes
    again, recount = scrub_request(recorded)
    assert (again.body, recount) == (recorded.body, 0)


def test_matrix_parameters_keep_the_rest_of_the_path():
    users, _ = scrub_request(request(f"https://h.example/a;key={SECRET}/users?page=1"))
    admin, count = scrub_request(request(f"https://h.example/a;key={SECRET}/admin?page=1"))
    assert count == 1
    assert users.uri == "https://h.example/a;key=%3CSCRUBBED%3E/users?page=1"
    assert admin.uri == "https://h.example/a;key=%3CSCRUBBED%3E/admin?page=1"
    assert vcr_matchers_differ(users, admin)


def vcr_matchers_differ(one: Request, other: Request) -> bool:
    return not requests_match(one, other, [method, uri])


def test_quoted_csv_loses_its_secret_columns_values_record_by_record():
    # Quoted fields with line breaks, `""` and the delimiter in them; CRLF; a generic column's
    # word; a row shorter than the header. Only the secrets' fields change.
    body = (
        'id,"password",note,token\r\n'
        f'1,"{SECRET}\nsecond line","a, b",hello\r\n'
        f'2,,"multi\nline",{SECRET}\r\n'
        '3,"say ""hi"""\r\n'
        "4\r\n"
    )
    new, count = scrub_response(response(body.encode(), headers={"Content-Type": ["text/csv"]}))
    assert (new["body"]["string"].decode(), count) == (
        'id,"password",note,token\r\n'
        '1,"<SCRUBBED>","a, b",hello\r\n'
        '2,,"multi\nline",<SCRUBBED>\r\n'
        '3,"<SCRUBBED>"\r\n'
        "4\r\n",
        3,
    )
    tsv = f'user\tpassword\n"bob"\t"{SECRET}"\n'
    headers = {"Content-Type": ["text/tab-separated-values"]}
    new, count = scrub_response(response(tsv.encode(), headers=headers))
    assert (new["body"]["string"], count) == (b'user\tpassword\n"bob"\t"<SCRUBBED>"\n', 1)


def test_quoted_csv_with_a_field_longer_than_csv_reads_loses_its_secrets():
    long = "x" * 200_000  # over csv.field_size_limit()
    body = f'id,password,blob\n1,"{SECRET}","{long}"\n2,"{SECRET}",""\n'
    new, count = scrub_response(response(body.encode(), headers={"Content-Type": ["text/csv"]}))
    assert count == 2
    assert new["body"]["string"].decode() == (
        f'id,password,blob\n1,"<SCRUBBED>","{long}"\n2,"<SCRUBBED>",""\n'
    )


@pytest.mark.parametrize(
    "body",
    [f'id,password\n1,ab"{SECRET}\n', f'id,password\n1,"{SECRET}"x\n', f'id,password\n1,"{SECRET}'],
)
def test_a_csv_not_as_a_library_writes_it_keeps_its_columns(body: str):
    new, count = scrub_response(response(body.encode(), headers={"Content-Type": ["text/csv"]}))
    assert (new["body"]["string"].decode(), count) == (body, 0)


def test_a_link_inside_csv_markdown_or_prose_takes_nothing_after_its_value():
    body = (
        "id,link,created,status\n"
        f"1,https://cdn.example.com/f.pdf?key={SECRET},2026-01-05,active\n"
        f"| `GET /report?key={SECRET}` | see https://x.example/?token={SECRET}. Then |\n"
    ).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/csv"]}))
    assert count == 3
    assert new["body"]["string"] == (
        b"id,link,created,status\n"
        b"1,https://cdn.example.com/f.pdf?key=%3CSCRUBBED%3E,2026-01-05,active\n"
        b"| `GET /report?key=%3CSCRUBBED%3E` | see https://x.example/?token=%3CSCRUBBED%3E. Then |\n"
    )


def test_a_url_encoded_in_a_query_value_loses_its_token():
    # A form echoed in JSON: the redirect URL inside it is encoded once more.
    echo = json.dumps(
        {"data": f"redirect=https%3A%2F%2Fx.example%2F%3Ftoken%3D{SECRET}%26y%3D2&z=1"}
    ).encode()
    new, count = scrub_response(response(echo, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert SECRET.encode() not in new["body"]["string"]
    [(_, redirect), _] = parse_qsl(json.loads(new["body"]["string"])["data"])
    assert parse_qs(urlsplit(redirect).query) == {"token": ["<SCRUBBED>"], "y": ["2"]}
    html = f'<a href="/login?next=%2Fcb%3Faccess_token%3D{SECRET}">in</a>'.encode()
    new, count = scrub_response(response(html, headers={"Content-Type": ["text/html"]}))
    assert count == 1
    assert (
        new["body"]["string"]
        == b'<a href="/login?next=%2Fcb%3Faccess_token%3D%253CSCRUBBED%253E">in</a>'
    )
    assert scrub_response(new) == (new, 0)


def test_a_quoted_json_document_after_white_space_is_scrubbed_as_one():
    body = json.dumps({"d": ' {"password": "pw-1"}', "e": '\n[{"token": "t-2"}]'})
    new, count = scrub_response(
        response(body.encode(), headers={"Content-Type": ["application/json"]})
    )
    assert count == 2
    data = json.loads(new["body"]["string"])
    assert json.loads(data["d"]) == {"password": "<SCRUBBED>"}
    assert json.loads(data["e"]) == [{"token": "<SCRUBBED>"}]


def test_a_mapping_body_s_strings_holding_json_or_a_query_string_are_scrubbed_as_one():
    body = {
        "inner": json.dumps({"password": SECRET}),
        "qs": f"client_secret={SECRET}&x=1",
        "link": f"https://x.example/?access_token={SECRET}",
    }
    new, count = scrub_request(request(method="POST", body=body))
    assert count == 3
    assert json.loads(new.body["inner"]) == {"password": "<SCRUBBED>"}
    assert parse_qsl(new.body["qs"]) == [("client_secret", "<SCRUBBED>"), ("x", "1")]
    assert new.body["link"] == "https://x.example/?access_token=%3CSCRUBBED%3E"


# --- XML and HTML ----------------------------------------------------------------------------

STS = f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>{SECRET}/session</SessionToken>
      <Expiration>2019-11-09T13:34:41Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
</AssumeRoleResponse>"""


def xml_texts(body: bytes) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    return {e.tag.rpartition("}")[2]: e.text or "" for e in ET.fromstring(body).iter()}


def test_xml_credentials_are_replaced_and_the_document_stays_well_formed():
    # AWS STS and IAM answer in XML; a placeholder written raw (<SCRUBBED:...>) made the
    # document unparseable on replay.
    resp = response(STS.encode(), headers={"Content-Type": ["text/xml"]})
    new, count = scrub_response(resp)
    assert count == 3
    texts = xml_texts(new["body"]["string"])
    assert texts["SecretAccessKey"] == texts["SessionToken"] == "<SCRUBBED>"
    assert texts["AccessKeyId"] == "<SCRUBBED:aws-access-key-id>"
    assert texts["Expiration"] == "2019-11-09T13:34:41Z"
    assert scrub_response(new) == (new, 0)


def test_xml_without_a_content_type_is_recognised_for_scan():
    new, count = scrub_response(response(STS.encode()))
    assert count == 3
    assert SECRET.encode() not in new["body"]["string"]


def test_soap_fields_with_prefixes_attributes_and_cdata_are_replaced():
    body = (
        '<s:Envelope xmlns:s="urn:s"><s:Body><Login><user>ada</user>'
        f'<ns1:Password xmlns:ns1="urn:p" type="plain">{SECRET}</ns1:Password>'
        f"<apiKey><![CDATA[{SECRET}]]></apiKey><token/></Login></s:Body></s:Envelope>"
    ).encode()
    new, count = scrub_request(
        request(body=body, headers={"Content-Type": "application/soap+xml"}, method="POST")
    )
    assert count == 2
    assert new.body == body.replace(SECRET.encode(), b"&lt;SCRUBBED&gt;", 1).replace(
        SECRET.encode(), b"<SCRUBBED>"
    )
    texts = xml_texts(new.body)
    assert (texts["Password"], texts["apiKey"], texts["user"]) == ("<SCRUBBED>",) * 2 + ("ada",)


def test_xml_cdata_ends_at_its_own_element():
    # A CDATA section not directly followed by its close tag once ran on to the next match.
    body = (
        b"<Response>\n <AuthToken><![CDATA[tok-111]]>\n </AuthToken>\n <Account>acme</Account>"
        b"\n <RefreshToken><![CDATA[tok-222]]></RefreshToken>\n"
        b" <Password>\n  <![CDATA[pw-333]]>\n </Password>\n</Response>"
    )
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/xml"]}))
    assert count == 3
    assert new["body"]["string"] == (
        body.replace(b"tok-111", b"<SCRUBBED>")
        .replace(b"tok-222", b"<SCRUBBED>")
        .replace(b"pw-333", b"<SCRUBBED>")
    )
    assert xml_texts(new["body"]["string"])["Account"] == "acme"


def test_xml_attributes_may_hold_a_closing_bracket():
    body = b"<r><Password hint=\"a>b\" x='c>d'>hunter2hunter2</Password></r>"
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/xml"]}))
    assert count == 1
    assert xml_texts(new["body"]["string"])["Password"] == "<SCRUBBED>"


@pytest.mark.parametrize("encoding", ["iso-8859-1", "utf-16"])
def test_xml_in_another_encoding_is_scrubbed_and_stays_in_it(encoding: str):
    text = f'<?xml version="1.0" encoding="{encoding}"?><r><Name>Müller</Name><Password>{SECRET}</Password></r>'
    body = text.encode(encoding)
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/xml"]}))
    assert count == 1
    scrubbed = new["body"]["string"]
    assert scrubbed.startswith(body[:2])  # the byte order mark, for UTF-16
    assert scrubbed.decode(encoding) == text.replace(SECRET, "&lt;SCRUBBED&gt;")
    assert scrub_response(new) == (new, 0)


def test_an_embedded_value_is_scrubbed_whole_whatever_its_characters():
    body = (
        '<a href="/login?user=bob&amp;password=pässwort€(1)">in</a> '
        "see [link](https://x.example/?token=abc(1)) and https://x.example/?key=a/b+c=."
    ).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/html"]}))
    assert count == 3
    assert new["body"]["string"].decode() == (
        '<a href="/login?user=bob&amp;password=%3CSCRUBBED%3E">in</a> '
        "see [link](https://x.example/?token=%3CSCRUBBED%3E) and "
        "https://x.example/?key=%3CSCRUBBED%3E."
    )


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/xml", f"<r><Name>Müller</Name><Password>{SECRET}</Password></r>"),
        ("text/html; charset=ISO-8859-1", f'<a href="/cb?access_token={SECRET}">Müller</a>'),
        ("text/plain; charset=latin-1", f"Grüße, token is {GITHUB}"),
    ],
)
def test_text_in_latin_1_is_scrubbed_and_stays_in_it(content_type: str, text: str):
    body = text.encode("latin-1")
    new, count = scrub_response(response(body, headers={"Content-Type": [content_type]}))
    assert count == 1
    scrubbed = new["body"]["string"]
    assert SECRET.encode() not in scrubbed and GITHUB.encode() not in scrubbed
    assert "Müller".encode("latin-1") in scrubbed or "Grüße".encode("latin-1") in scrubbed
    assert scrub_response(new) == (new, 0)
    untouched = "<r><Name>Müller</Name></r>".encode("latin-1")
    same, none = scrub_response(response(untouched, headers={"Content-Type": ["text/xml"]}))
    assert (same["body"]["string"], none) == (untouched, 0)


def test_a_byte_order_mark_does_not_hide_json_or_xml():
    body = ("\ufeff" + json.dumps({"access_token": SECRET})).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert new["body"]["string"] == ("\ufeff" + json.dumps({"access_token": "<SCRUBBED>"})).encode()
    xml = f"\ufeff<r><Password>{SECRET}</Password></r>".encode()
    new, count = scrub_response(response(xml))
    assert (count, new["body"]["string"]) == (
        1,
        "\ufeff<r><Password>&lt;SCRUBBED&gt;</Password></r>".encode(),
    )


def test_a_link_in_json_inside_html_keeps_no_tail_after_an_escaped_slash():
    # PHP's json_encode escapes "/" by default.
    body = f'<script>var d={{"next":"https:\\/\\/x\\/?token=ab\\/cd{SECRET}"}}</script>'.encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["text/html"]}))
    assert count == 1
    assert (
        new["body"]["string"]
        == b'<script>var d={"next":"https:\\/\\/x\\/?token=%3CSCRUBBED%3E"}</script>'
    )


def test_s3_object_keys_are_not_secrets():
    body = (
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Contents><Key>reports/2024 &amp; 2025.csv</Key><Size>12</Size></Contents>"
        b"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        b"</ListBucketResult>"
    )
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/xml"]}))
    assert (new["body"]["string"], count) == (body, 0)


def test_placeholders_in_html_text_are_escaped():
    body = f"<p>your token: {GITHUB}</p>".encode()
    new, count = scrub_response(
        response(body, headers={"Content-Type": ["text/html; charset=utf-8"]})
    )
    assert count == 1
    assert new["body"]["string"] == b"<p>your token: &lt;SCRUBBED:github&gt;</p>"
    assert scrub_response(new) == (new, 0)


def test_an_html_form_s_code_beside_its_state_is_oauth_s_only_as_long_as_a_provider_s():
    # As in a query: `code` beside `state` is an authorization code of 8 characters or more;
    # an address form's country code is kept.
    html = '<form><input name="code" value="{}"><input name="state" value="CA"></form>'
    kept = html.format("US").encode()
    assert scrub_response(response(kept, headers={"Content-Type": ["text/html"]}))[1] == 0
    code = html.format("SplxlOBeZQQYbYS6WxSbIA").encode()
    new, count = scrub_response(response(code, headers={"Content-Type": ["text/html"]}))
    assert (new["body"]["string"], count) == (html.format("&lt;SCRUBBED&gt;").encode(), 1)


def test_hidden_inputs_and_meta_tags_of_an_html_page_lose_their_secrets():
    # OpenID Connect's response_mode=form_post answers with a page that posts the tokens on;
    # login pages carry a CSRF token in a meta tag and a hidden input.
    body = (
        '<html><head><meta name="csrf-token" content="' + SECRET + '"></head><body>'
        '<form method="post" action="https://app.example.com/cb">'
        '<input type="hidden" name="access_token" value="' + SECRET + '"/>'
        "<INPUT TYPE=hidden NAME='id_token' VALUE='" + SECRET + "'>"
        '<input value="' + SECRET + '&amp;x" name="refresh_token">'
        "<input type=hidden name=client_secret value=" + SECRET + ">"
        '<input type="hidden" name="state" value="af0ifjsldkj">'
        '<input type="text" name="password" value="">'
        '<meta name="description" content="a page">'
        "</form></body></html>"
    )
    resp = response(body.encode(), headers={"Content-Type": ["text/html; charset=utf-8"]})
    new, count = scrub_response(resp)
    assert count == 5
    scrubbed = new["body"]["string"].decode()
    assert SECRET not in scrubbed

    class Fields(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.values: dict[str, str | None] = {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if "name" in found:
                self.values[str(found["name"])] = found.get("value", found.get("content"))

    parser = Fields()
    parser.feed(scrubbed)
    assert parser.values == {
        "csrf-token": "<SCRUBBED>",
        "access_token": "<SCRUBBED>",
        "id_token": "<SCRUBBED>",
        "refresh_token": "<SCRUBBED>",
        "client_secret": "<SCRUBBED>",
        "state": "af0ifjsldkj",
        "password": "",
        "description": "a page",
    }
    assert scrub_response(new) == (new, 0)


def test_hidden_inputs_in_xhtml_lose_their_secrets():
    body = (
        '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><form>'
        f'<input type="hidden" name="access_token" value="{SECRET}" /></form></body></html>'
    )
    resp = response(body.encode(), headers={"Content-Type": ["application/xhtml+xml"]})
    new, count = scrub_response(resp)
    assert count == 1
    assert (
        new["body"]["string"]
        .decode()
        .endswith(
            '<input type="hidden" name="access_token" value="&lt;SCRUBBED&gt;" /></form></body></html>'
        )
    )


def test_secrets_in_scripts_of_an_html_page_are_scrubbed_by_their_keys():
    # Server-rendered pages hand the session to their JavaScript: Next.js' __NEXT_DATA__, a
    # window.__STATE__ object literal, a config with bare keys.
    body = (
        '<script id="__NEXT_DATA__" type="application/json">'
        '{"props":{"session":{"refresh_token":"' + SECRET + '","user":"ada"}}}</script>'
        "<script>window.__STATE__ = {'accessToken': '" + SECRET + "', 'theme': 'dark'};"
        'var config = {apiKey: "' + SECRET + '", region: "eu"};</script>'
    )
    resp = response(body.encode(), headers={"Content-Type": ["text/html"]})
    new, count = scrub_response(resp)
    assert count == 3
    assert new["body"]["string"].decode() == (
        '<script id="__NEXT_DATA__" type="application/json">'
        '{"props":{"session":{"refresh_token":"&lt;SCRUBBED&gt;","user":"ada"}}}</script>'
        "<script>window.__STATE__ = {'accessToken': '&lt;SCRUBBED&gt;', 'theme': 'dark'};"
        'var config = {apiKey: "&lt;SCRUBBED&gt;", region: "eu"};</script>'
    )
    assert scrub_response(new) == (new, 0)


@pytest.mark.parametrize(
    "text, scrubbed",
    [
        (
            f"login failed for user ada password={SECRET} (attempt 2)",
            "login failed for user ada password=<SCRUBBED> (attempt 2)",
        ),
        (f"api_key={SECRET}\nregion=eu", "api_key=<SCRUBBED>\nregion=eu"),
        (
            f"Traceback ...\n  request = {{'client_secret': '{SECRET}', 'grant': 'x'}}",
            "Traceback ...\n  request = {'client_secret': '<SCRUBBED>', 'grant': 'x'}",
        ),
        (
            f'error: {{"password": "{SECRET}"}} rejected',
            'error: {"password": "<SCRUBBED>"} rejected',
        ),
        ("sort=name page=2 state=ok", "sort=name page=2 state=ok"),
    ],
)
def test_secrets_in_free_text_are_scrubbed_by_their_names(text: str, scrubbed: str):
    # Error pages and logs returned as text/plain: `name=value` after a space or at the start,
    # a Python dict's or a JSON object's sensitive keys.
    new, _ = scrub_response(response(text.encode(), headers={"Content-Type": ["text/plain"]}))
    assert new["body"]["string"] == scrubbed.encode()
    assert scrub_response(new) == (new, 0)


@pytest.mark.parametrize("cut", [-12, -3, 0, 1, 5, 9, 30])
def test_secrets_in_large_free_text_are_found_wherever_a_megabyte_ends(cut: int):
    # Free text is searched a megabyte at a time: a name, its `=` or `:` and its value may
    # straddle the end of one.
    mib = 1 << 20
    lines = [f" password={SECRET} ", f" 'api_key': '{SECRET}' ", f' {{secret: "{SECRET}"}} ']
    text = ""
    for line in lines:
        filler = "lorem ipsum = dolor: 'sit' " * (mib // 27 + 1)
        text += filler[: len(text) // mib * mib + mib + cut - len(text) - 6] + line
    text += "end"
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": ["text/plain"]}))
    assert count == 3
    scrubbed = new["body"]["string"].decode()
    assert SECRET not in scrubbed
    assert "password=<SCRUBBED> " in scrubbed
    assert "'api_key': '<SCRUBBED>'" in scrubbed
    assert '{secret: "<SCRUBBED>"}' in scrubbed
    assert len(scrubbed) == len(text) - 3 * (len(SECRET) - len("<SCRUBBED>"))


@pytest.mark.parametrize(
    "content_type, text",
    [
        # A word ending a string before `:` is no key: its closing quote opens no value.
        ("text/html", '<input placeholder="Password:" name="pw" type="password">'),
        ("text/html", '<span title="API key:" class="hint">key</span>'),
        ("text/html", '<script>var msg = "Enter password: "; var x = "abc";</script>'),
        ("text/html", '<script>console.log("token: " + t, "done")</script>'),
        ("text/html", '<script type="application/json">{"q":"token:","a":"x"}</script>'),
        ("text/plain", 'labels = ["password:", "other"]'),
        # Code: comparisons, calls, names passed on, generic names with words for values.
        ("text/plain", "if (key==other) { return sig; }"),
        ("text/plain", "rows = sorted(rows, key=lambda t: t[0])"),
        ("text/plain", "rows.sort(key=attrgetter('name'))"),
        ("text/plain", "url = f'{base}?Signature={sig.decode()}'"),
        ("text/plain", "connect(user=user, password=password)"),
        ("text/plain", "client.complete(Key=key, UploadId=upload_id, ApiKey=api_key)"),
        ("text/plain", "db.login(password=get_password())"),
        ("text/html", '<script>_createClass(C, [{key:"render",value:function(){}}])</script>'),
        ("text/plain", 'rules = [{token:"keyword",regex:"if|else"}]'),
        ("text/plain", "the key=value syntax, token=abc and auth=basic"),
        ("text/html", '<a accesskey=k href="/next">next</a>'),
        # Python source, as a raw file served by a code host (found in site-packages).
        ("text/plain", "connect(key_password=None, auth_token=None, include_signature=True)"),
        ("text/plain", "Creds(secret_key=metadata['secret_key'], password=auth_info[2])"),
        ("text/plain", 'socks(proxy_password=self._socks_options["password"])'),
        ("text/plain", 'auth = "Basic " + credentials'),
        ("text/plain", "f.__text_signature__ = '($cls, _typename, _fields=None, /)'"),
        ("text/plain", "has only ``key+=value`` overrides; MyEnum.key = 'modified'"),
        ("text/plain", "SECRET_KEY = 'AWS_SECRET_ACCESS_KEY'"),
    ],
)
def test_code_and_prose_that_only_look_like_secrets_are_left_alone(content_type: str, text: str):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": [content_type]}))
    assert (new["body"]["string"], count) == (text.encode(), 0)


@pytest.mark.parametrize(
    "text, scrubbed",
    [
        (f'PASSWORD="{SECRET}"\nDEBUG=1', 'PASSWORD="<SCRUBBED>"\nDEBUG=1'),
        (f"API_KEY = '{SECRET}'", "API_KEY = '<SCRUBBED>'"),
        (f'settings(password="{SECRET}")', 'settings(password="<SCRUBBED>")'),
        (f"creds = {{'password': b'{SECRET}'}}", "creds = {'password': b'<SCRUBBED>'}"),
        (f'{{"password":\n  "{SECRET}"}}', '{"password":\n  "<SCRUBBED>"}'),
        (f"{{apiKey: `{SECRET}`}}", "{apiKey: `<SCRUBBED>`}"),
        (
            f'log: body={{\\"password\\": \\"{SECRET}\\"}}',
            'log: body={\\"password\\": \\"<SCRUBBED>\\"}',
        ),
        (f"token={SECRET} (generated)", "token=<SCRUBBED> (generated)"),
    ],
)
def test_assignments_and_fields_in_free_text_lose_their_secrets(text: str, scrubbed: str):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == (scrubbed.encode(), 1)
    assert scrub_response(new) == (new, 0)


def test_fields_in_markup_escaped_or_in_scripts_lose_their_secrets():
    body = (
        '<div id="app" data-page="{&quot;props&quot;:{&quot;csrf_token&quot;:&quot;'
        + SECRET
        + '&quot;}}"></div>'
        + '<script>const s = JSON.parse("{\\"accessToken\\":\\"'
        + SECRET
        + '\\"}");</script>'
        + f"<pre>POST /login\nuser=ada password={SECRET}</pre>"
        + f'<input value="{SECRET}"name="token"><input/name="_csrf"/value="{SECRET}">'
    )
    new, count = scrub_response(response(body.encode(), headers={"Content-Type": ["text/html"]}))
    assert count == 5
    text = new["body"]["string"].decode()
    assert SECRET not in text
    assert "&quot;csrf_token&quot;:&quot;&lt;SCRUBBED&gt;&quot;" in text
    assert '\\"accessToken\\":\\"&lt;SCRUBBED&gt;\\"' in text
    assert "password=&lt;SCRUBBED&gt;</pre>" in text
    assert scrub_response(new) == (new, 0)


@pytest.mark.parametrize(
    "content_type, text, scrubbed",
    [
        # An Authorization keeps its scheme, as in a header.
        (
            "text/plain",
            f"authorization=Bearer {SECRET} sent",
            "authorization=Bearer <SCRUBBED> sent",
        ),
        ("text/plain", f"Authorization: Token {SECRET}", "Authorization: Token <SCRUBBED>"),
        ("text/plain", f"X-Api-Key: {SECRET}\nAccept: */*", "X-Api-Key: <SCRUBBED>\nAccept: */*"),
        # YAML, INI, lists and other languages' assignments.
        (
            "application/yaml",
            f"db:\n  password: {SECRET} # prod\n",
            "db:\n  password: <SCRUBBED> # prod\n",
        ),
        ("text/plain", f'users:\n  - password: "{SECRET}"', 'users:\n  - password: "<SCRUBBED>"'),
        ("text/plain", f"[db]\npassword = {SECRET}\n", "[db]\npassword = <SCRUBBED>\n"),
        (
            "text/plain",
            f"spring.datasource.password = {SECRET}",
            "spring.datasource.password = <SCRUBBED>",
        ),
        ("text/plain", f"$password = '{SECRET}';", "$password = '<SCRUBBED>';"),
        (
            "text/plain",
            f'params = {{"password"=>"{SECRET}"}}',
            'params = {"password"=>"<SCRUBBED>"}',
        ),
        (
            "text/plain",
            f"<QueryDict: {{'password': ['{SECRET}']}}>",
            "<QueryDict: {'password': ['<SCRUBBED>']}>",
        ),
        ("text/plain", f"api_key=SG.{SECRET}.{SECRET}", "api_key=<SCRUBBED>"),
        ("text/plain", f"password=abc={SECRET}", "password=<SCRUBBED>"),
        # Quoted values keep their punctuation: it is part of the secret.
        ("text/plain", 'password = "hunter2!"', 'password = "<SCRUBBED>"'),
        # HTML's escaped quotes (Django's and Jinja's debug pages).
        (
            "text/html",
            f"<pre>password = &#x27;{SECRET}&#x27;</pre>",
            "<pre>password = &#x27;&lt;SCRUBBED&gt;&#x27;</pre>",
        ),
        (
            "text/html",
            f"<pre>{{&#39;password&#39;: &#39;{SECRET}&#39;}}</pre>",
            "<pre>{&#39;password&#39;: &#39;&lt;SCRUBBED&gt;&#39;}</pre>",
        ),
        (
            "text/html",
            f"<!-- DEBUG api_key={SECRET} -->",
            "<!-- DEBUG api_key=&lt;SCRUBBED&gt; -->",
        ),
        (
            "text/html",
            f'<script>if (a<b) {{}} var s = "password={SECRET}";</script>',
            '<script>if (a<b) {} var s = "password=&lt;SCRUBBED&gt;";</script>',
        ),
        (
            "text/html",
            '<div data-page="{&quot;password&quot;:&quot;ab\\&quot;cd&quot;,&quot;x&quot;:1}">',
            '<div data-page="{&quot;password&quot;:&quot;&lt;SCRUBBED&gt;&quot;,&quot;x&quot;:1}">',
        ),
    ],
)
def test_secrets_in_more_places_of_text_and_markup(content_type: str, text: str, scrubbed: str):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": [content_type]}))
    assert (new["body"]["string"].decode(), count) == (scrubbed, 1)
    assert scrub_response(new) == (new, 0)


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        # Commands in a page's example, a CI log, an error.
        (
            f'curl -H "Authorization: Token {SECRET}" https://api.example.com',
            'curl -H "Authorization: Token <SCRUBBED>" https://api.example.com',
        ),
        (
            f"curl --header 'X-Api-Key: {SECRET}' -X POST",
            "curl --header 'X-Api-Key: <SCRUBBED>' -X POST",
        ),
        (f"curl -u bob:{SECRET} https://x", "curl -u bob:<SCRUBBED> https://x"),
        (f"mysqldump --password {SECRET} shop", "mysqldump --password <SCRUBBED> shop"),
        (f"machine api.example.com login bob password {SECRET}\n", None),
        (f"default login bob password {SECRET}", "default login bob password <SCRUBBED>"),
        # A .netrc entry over several lines, its pairs in any order.
        (
            f"machine h\n  login bob\n  password {SECRET}\n",
            "machine h\n  login bob\n  password <SCRUBBED>\n",
        ),
        (f"default\npassword {SECRET}\nlogin bob", "default\npassword <SCRUBBED>\nlogin bob"),
        # Quoted values hold blanks; curl's -u may be attached; docker login; requests' auth.
        ('--password "my pass Zq7xW9pL2mKv"', '--password "<SCRUBBED>"'),
        ("curl -u 'admin:my pass Zq7xW9pL2mKv' https://x", "curl -u 'admin:<SCRUBBED>' https://x"),
        (f"curl -uadmin:{SECRET} https://x", "curl -uadmin:<SCRUBBED> https://x"),
        (f"docker login -u bob -p {SECRET} reg.io", "docker login -u bob -p <SCRUBBED> reg.io"),
        # A value ends before a backtick (markdown's code): what follows it stays.
        (f"Run `mysql -uroot -p{SECRET}`; then", "Run `mysql -uroot -p<SCRUBBED>`; then"),
        (f"`docker login -p {SECRET}`;", "`docker login -p <SCRUBBED>`;"),
        (f"sudo /usr/bin/mysqldump -u root -p{SECRET} shop", None),
        (f"requests.get(url, auth=('admin', '{SECRET}'))", None),
        # A Python pair, a YAML anchor's value.
        (f"[('user', 'bob'), ('password', '{SECRET}')]", None),
        (
            f"db:\n  password: &pw {SECRET}\n  copy: *pw\n",
            "db:\n  password: &pw <SCRUBBED>\n  copy: *pw\n",
        ),
        # libpq's connection strings: a quoted value holds blanks and escapes its quote.
        (
            "conninfo: host=db.internal dbname=shop user=app password='my pass Zq7x' port=5432",
            "conninfo: host=db.internal dbname=shop user=app password='<SCRUBBED>' port=5432",
        ),
        (
            "psql \"password = 'it\\'s Zq7xW9pL' dbname=shop\"",
            "psql \"password = '<SCRUBBED>' dbname=shop\"",
        ),
        # Unquoted, `\'`, `\\` and `\ ` escape a quote, a backslash, a blank: all of it goes.
        (
            "conninfo: host=db user=app password=it\\'s\\ Zq7x\\\\W9pL port=5432",
            "conninfo: host=db user=app password=<SCRUBBED> port=5432",
        ),
        # A .pgpass file's line: host, port, database, user, password (`\:` escapes a colon).
        (
            f"db.internal:5432:shop:app:{SECRET}\n*:*:*:admin:Zq7x\\:W9pL2\n",
            "db.internal:5432:shop:app:<SCRUBBED>\n*:*:*:admin:<SCRUBBED>\n",
        ),
    ],
)
def test_credentials_in_commands_pairs_and_anchors(text: str, scrubbed: str | None):
    new, count = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert SECRET not in new["body"]["string"] and count == text.count("\n*:*:") + 1
    if scrubbed is not None:
        assert new["body"]["string"] == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "docker run -u 1000:1000 -p 8080:80 image",
        "curl -u $USER:$PASS https://x",
        "dialog --password --inputbox 'Password' 8 40",
        "for an ftp server use a default login and password to avoid a prompt",
        "headers.add('Set-Cookie', 'foo=bar')",
        "choices = [('password', 'Password'), ('token', 'Token')]",
        'curl -H "Authorization: Bearer $TOKEN" https://x',
        "git push -u origin main",
        # `-p` of another command than mysql's, on its line.
        "pip install mysqlclient && pytest -pno:cacheprovider",
        "pip install mysqlclient pytest; pytest -pXs4Tn8Vb3K -q",
        "mysql -e 'select 1' | grep -pXs4Tn8Vb3K",
        "Run `mysql -uroot -pmydb`; then `exit`",
        # Tuples of identifiers, prose, a constant's name, variables, a word (review).
        "valid_token_types = ('access_token', 'refresh_token')",
        "    ('CreateOAuth2Token', '_'): 'create_oauth2_token',",
        "columns = ('password', 'VARCHAR')",
        "The --username and --password options can be used.",
        "Use --password PASSWORD to set it",
        "curl -H 'X-Auth-Token: ${TOKEN}' -H \"X-Api-Key: $API_KEY\" -H 'X-Key: {{api_key}}'",
        "ls -H 'X-Token: foo'",
        "useradd -u 1000:1000 bob",
        # `default` or `machine` in a sentence: no .netrc entry.
        "the default password Xs4Tn8Vb3K is printed",
        "by default\npassword Xs4Tn8Vb3K",
        "machine h login bob port 21 password Xs4Tn8Vb3K",
        # Neither a libpq connection string nor a .pgpass line.
        "config: password='the one you chose' (see docs)",
        "elapsed 00:01:02:03:04\n12:30:45:00:01\nfe80:0:0:0:0:0:0:1\n",
        "a:1:b:c:d e f\nkey:80:value:words:PASSWORD\nhost:5432:db:user:$PGPASSWORD",
    ],
)
def test_commands_and_code_without_credentials_are_left_alone(text: str):
    new, count = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == (text, 0)


@pytest.mark.parametrize(
    "value",
    [
        "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa",  # an SSH key's MD5 fingerprint
        "a4:83:e7:5c:12:9f",  # a MAC address
        "1f:22:3a:4b:5c:6d:7e:8f:90:a1:b2:c3:d4:e5:f6:07:18:29:3a:4b",  # a certificate's serial
    ],
)
def test_colon_separated_hex_is_no_pgpass_line(value: str):
    # A .pgpass line has five fields, its password's colons escaped (`\:`): bytes in hex
    # joined by colons (an API's key fingerprints, a NIC's address, Vault's serial numbers)
    # lost all but their first four bytes to `<SCRUBBED>` as a password.
    body = json.dumps({"fingerprint": value, "mac": value})
    new, count = scrub_response(response(body, {"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (body, 0)
    text = f"Fingerprint:\n{value}\n"
    new, count = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == (text, 0)


def test_commands_in_json_strings_lose_their_credentials_quoted_or_not():
    # A model's answer: the JSON string escapes the argument's quotes; `-p` of pytest on a
    # line that names mysqlclient is no password.
    strings = [
        f'curl -u "bob:{SECRET}" https://x',
        f"`mysql -uroot -p{SECRET}`; then",
        "pip install mysqlclient && pytest -pno:cacheprovider -pXs4Tn8Vb3K",
        f"machine h\nlogin bob\npassword {SECRET}\n",  # a .netrc a command printed
        "the default machine has no password Xs4Tn8Vb3K",
    ]
    body = json.dumps({"answers": strings}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 3
    assert json.loads(new["body"]["string"])["answers"] == [
        'curl -u "bob:<SCRUBBED>" https://x',
        "`mysql -uroot -p<SCRUBBED>`; then",
        strings[2],
        "machine h\nlogin bob\npassword <SCRUBBED>\n",
        strings[4],
    ]


@pytest.mark.parametrize(
    "content_type, text",
    [
        ("text/plain", "POSTGRES_PASSWORD=${DB_PASSWORD}\nAPI_KEY=${API_KEY:-changeme}"),
        ("text/plain", "UPDATE users SET password=:password WHERE id=$1"),
        ("text/plain", "?token={x" * 20),
        ("text/html", '<script>django.catalog = {"Enter your password": "Mot de passe"};</script>'),
        ("text/plain", "class User:\n    password: str\n    token: Optional[str] = None"),
        ("text/plain", "type Login {\n  password: String!\n  key: ID\n}"),
        ("text/plain", "Password: must be 8 characters or more"),
        ("text/html", '<input type=submit name=auth value="Sign in">'),
        ("text/html", "<input type=checkbox name=remember_token value=1>"),
        ("text/html", '<meta name=signature content="Jane Doe">'),
        ("application/yaml", "password: null\nsecret: ~\ntoken: !vault |\n  abc\n"),
    ],
)
def test_templates_sentences_and_schemas_are_left_alone(content_type: str, text: str):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": [content_type]}))
    assert (new["body"]["string"].decode(), count) == (text, 0)


@pytest.mark.parametrize(
    "content_type, text",
    [
        # Configuration and schemas: settings' words, templates, validation messages.
        ("application/yaml", "security:\n  authorization: enabled\n"),
        ("application/yaml", "permissions:\n  id-token: write\n  contents: read\n"),
        ("application/yaml", 'env:\n  GITHUB_TOKEN: "${{ secrets.GITHUB_TOKEN }}"\n'),
        ("application/yaml", 'db:\n  password: "{{ .Values.password }}"\n'),
        ("text/plain", 'password = "${var.db_password}"'),
        ("text/html", '<input type=hidden name="xsrf_token" value="{{ xsrf_token }}">'),
        ("text/plain", "{'password': ['Missing data for required field.']}"),
        ("text/plain", "Authorization: missing or invalid header"),
        ("text/plain", "    cookie: The cookie to send."),
        ("text/plain", 'AUTHORIZATION: Final[istr] = istr("Authorization")'),
    ],
)
def test_settings_templates_and_messages_are_left_alone(content_type: str, text: str):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": [content_type]}))
    assert (new["body"]["string"].decode(), count) == (text, 0)


@pytest.mark.parametrize(
    "content_type, text, scrubbed",
    [
        (
            "application/yaml",
            'headers:\n  Cookie: "sid=abc; theme=dark"\n',
            'headers:\n  Cookie: "sid=<SCRUBBED>; theme=<SCRUBBED>"\n',
        ),
        (
            "application/yaml",
            f"Authorization: Bearer {SECRET}  # rotated monthly\n",
            "Authorization: Bearer <SCRUBBED>  # rotated monthly\n",
        ),
        ("text/plain", f'- password: "{SECRET}"', '- password: "<SCRUBBED>"'),
        ("text/plain", f'{{:password=>"{SECRET}"}}', '{:password=>"<SCRUBBED>"}'),
    ],
)
def test_quoted_yaml_values_list_items_and_ruby_symbols(
    content_type: str, text: str, scrubbed: str
):
    new, _ = scrub_response(response(text.encode(), headers={"Content-Type": [content_type]}))
    assert new["body"]["string"].decode() == scrubbed
    if content_type == "application/yaml":
        yaml.safe_load(new["body"]["string"])  # still YAML
    assert scrub_response(new) == (new, 0)


@pytest.mark.parametrize(
    "body",
    [
        # Rails and Go escape `<` in JSON.
        '{"html": "\\u003cinput type=\\"hidden\\" name=\\"csrf_token\\" value=\\"'
        + SECRET
        + '\\"\\u003e"}',
        # A Kubernetes ConfigMap holding a YAML file.
        json.dumps({"data": {"app.yml": f"spring:\n  datasource:\n    password: {SECRET}\n"}}),
    ],
)
def test_html_and_yaml_inside_json_strings_lose_their_secrets(body: str):
    new, count = scrub_response(
        response(body.encode(), headers={"Content-Type": ["application/json"]})
    )
    assert count == 1
    assert SECRET not in new["body"]["string"].decode()
    json.loads(new["body"]["string"])
    assert scrub_response(new) == (new, 0)


def test_a_json_schema_under_a_sensitive_name_is_kept():
    # LLM tool definitions, MCP's tools/list, OpenAPI: the schema describes the field.
    schema = {
        "type": "object",
        "properties": {
            "password": {"type": "string", "description": "The password", "minLength": 8},
            "token": {"type": "string", "format": "password", "examples": ["abc"]},
        },
        "required": ["password"],
    }
    body = json.dumps({"tools": [{"name": "login", "input_schema": schema}]}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (body, 0)
    # A secret under it is still one.
    body = json.dumps({"password": {"value": SECRET, "type": "string"}}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert json.loads(new["body"]["string"]) == {
        "password": {"value": "<SCRUBBED>", "type": "string"}
    }


@pytest.mark.parametrize(
    "content_type, text",
    [
        # An LLM's answer or a log shows placeholders, masks and redactions: no secrets.
        ("text/plain", 'client = OpenAI(api_key="your-api-key-here")'),
        ("text/plain", 'export OPENAI_API_KEY="sk-..."'),
        ("text/plain", "api_key: <your-api-key>\npassword=***\nsecret: xxxxxxxx"),
        ("text/plain", 'params = {"password"=>"[FILTERED]"}; token=REDACTED'),
        ("text/plain", 'key = "sk-proj-xxxxxxxx"'),
        ("application/json", '{"password": "********", "api_key": "your-key-here"}'),
        # Credentials that are templates or variables.
        ("text/plain", 'headers = {"Authorization": f"Bearer {token}"}'),
        ("text/plain", "Authorization: Bearer YOUR_TOKEN"),
        ("text/plain", "headers = {'Authorization': 'Bearer ' + token}"),
        # JavaScript objects and error words.
        ("text/plain", "session({\n  secret: process.env.SECRET\n})"),
        ("text/plain", "jwt.sign(payload, {\n  token: accessToken\n})"),
        ("text/plain", "password: invalid\napi_key: revoked"),
        ("text/plain", "client = Client(api_key=key)"),
    ],
)
def test_placeholders_masks_and_code_in_answers_and_logs_are_left_alone(
    content_type: str, text: str
):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": [content_type]}))
    assert (new["body"]["string"].decode(), count) == (text, 0)


@pytest.mark.parametrize(
    "body",
    [
        f"password1={SECRET}&password2={SECRET}",
        f"user[password_confirmation]={SECRET}",
        f"SAMLResponse={SECRET}&RelayState=x",
    ],
)
def test_confirmation_fields_and_saml_responses_are_secrets(body: str):
    req = request(
        method="POST",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    new, count = scrub_request(req)
    assert count == body.count(SECRET)
    assert SECRET not in new.body.decode()


@pytest.mark.parametrize(
    "message",
    [f"$password='{SECRET}'", f"error:password={SECRET}", f"{{'password' => '{SECRET}'}}"],
)
def test_free_text_forms_inside_a_json_string_are_scrubbed_too(message: str):
    body = json.dumps({"m": message}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert SECRET not in json.loads(new["body"]["string"])["m"]


def test_yaml_single_quotes_escape_by_doubling():
    text = f"password: 'it''s-{SECRET}'\nother: 'a\\' # kept'\n"
    new, count = scrub_response(
        response(text.encode(), headers={"Content-Type": ["application/yaml"]})
    )
    assert count == 1
    assert new["body"]["string"].decode() == "password: '<SCRUBBED>'\nother: 'a\\' # kept'\n"
    yaml.safe_load(new["body"]["string"])


def test_a_generic_name_holding_a_url_is_scrubbed_once():
    text = f"key=/cb?token={SECRET}"
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == (b"key=<SCRUBBED>", 1)  # its value looks random
    assert scrub_response(new) == (new, 0)


@pytest.mark.parametrize(
    "text",
    [
        f'<pre>password="{SECRET}"</pre>',
        f'<script>const password = "{SECRET}";</script>',
        f'<script>var h = {{"Authorization": "Token {SECRET}"}};</script>',
        f'<script>var h = {{"Cookie": "session={SECRET}; csrftoken=x"}};</script>',
        f"<pre>{{&quot;cookie&quot;: &quot;session={SECRET}&quot;}}</pre>",
    ],
)
def test_placeholders_escaped_in_markup_are_not_scrubbed_again(text: str):
    new, count = scrub_response(response(text.encode(), headers={"Content-Type": ["text/html"]}))
    assert count >= 1 and SECRET not in new["body"]["string"].decode()
    assert scrub_response(new) == (new, 0)
    assert scrubber().scan_field(None, new["body"]["string"].decode()) == []


def test_a_cookie_field_in_xml_keeps_the_document_well_formed():
    from xml.dom import minidom

    body = b'<note>{"cookie": "sid=abc123; theme=dark"}</note>'
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/xml"]}))
    assert count == 2
    document = minidom.parseString(new["body"]["string"])
    assert document.documentElement.firstChild.data == (
        '{"cookie": "sid=<SCRUBBED>; theme=<SCRUBBED>"}'
    )


@pytest.mark.parametrize(
    "body",
    [
        {"error": f"bad config {{'password': '{SECRET}'}}"},
        {"query": f'mutation {{ login(user: "ada", password: "{SECRET}") {{ token }} }}'},
    ],
)
def test_fields_written_in_a_json_string_are_scrubbed(body: dict[str, str]):
    raw = json.dumps(body).encode()
    new, count = scrub_response(response(raw, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert SECRET not in json.loads(new["body"]["string"])[next(iter(body))]


def test_an_html_fragment_in_a_json_string_loses_its_form_s_secrets():
    # Turbo, htmx and Livewire answer with HTML inside JSON.
    fragment = (
        f'<form><input type="hidden" name="authenticity_token" value="{SECRET}">'
        '<input name="q" value="shoes"></form>'
    )
    body = json.dumps({"html": fragment, "ok": True}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert json.loads(new["body"]["string"])["html"] == fragment.replace(SECRET, "&lt;SCRUBBED&gt;")
    assert scrub_response(new) == (new, 0)


def test_a_scrubbed_page_scanned_without_its_content_type_reports_nothing():
    # The scanner reads a stored body as free text: an escaped placeholder is one too.
    page = 'Hi <script>var c = {password: "&lt;SCRUBBED&gt;"}</script>'
    assert scrubber().scan_field(None, page) == []


def test_a_json_string_with_a_secret_after_a_space_is_scrubbed():
    body = json.dumps({"error": f"invalid request: api_key={SECRET} is revoked"}).encode()
    new, count = scrub_response(response(body, headers={"Content-Type": ["application/json"]}))
    assert count == 1
    assert json.loads(new["body"]["string"]) == {
        "error": "invalid request: api_key=<SCRUBBED> is revoked"
    }


# --- bodies ----------------------------------------------------------------------------------


def test_form_body_fields_are_replaced_and_it_stays_a_form():
    body = f"grant_type=refresh_token&refresh_token={SECRET}&client_id=app&client_secret={SECRET}"
    req = request(
        method="POST",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    new, count = scrub_request(req)
    assert count == 2
    assert parse_qs(new.body.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["<SCRUBBED>"],
        "client_id": ["app"],
        "client_secret": ["<SCRUBBED>"],
    }
    assert new.headers["Content-Length"] == str(len(new.body))
    assert SECRET not in request_text(new)


def test_form_body_without_content_type_is_recognised():
    new, count = scrub_request(request(method="POST", body=f"user=bob&password={SECRET}".encode()))
    assert count == 1
    assert parse_qs(new.body.decode()) == {"user": ["bob"], "password": ["<SCRUBBED>"]}


def test_json_fields_at_any_depth_and_in_lists_are_replaced():
    document = {
        "user": {"name": "bob", "credentials": {"password": SECRET, "apiKey": SECRET}},
        "items": [{"id": 1, "token": SECRET}, {"id": 2, "token": SECRET}, "plain"],
        "client_secret": SECRET,
        "count": 3,
        "active": True,
        "token": None,
    }
    body = json.dumps(document).encode()
    req = request(method="POST", body=body, headers={"Content-Type": "application/json"})
    new, count = scrub_request(req)
    assert count == 5
    assert SECRET not in request_text(new)
    assert json.loads(new.body) == {
        "user": {"name": "bob", "credentials": {"password": "<SCRUBBED>", "apiKey": "<SCRUBBED>"}},
        "items": [{"id": 1, "token": "<SCRUBBED>"}, {"id": 2, "token": "<SCRUBBED>"}, "plain"],
        "client_secret": "<SCRUBBED>",
        "count": 3,
        "active": True,
        "token": None,
    }
    assert new.headers["Content-Length"] == str(len(new.body))


def test_json_under_a_sensitive_key_is_replaced_whole():
    body = json.dumps({"secret": {"a": SECRET, "b": [SECRET, 12345678]}, "n": 1}).encode()
    new, count = scrub_request(request(method="POST", body=body))
    assert count == 3
    assert json.loads(new.body) == {
        "secret": {"a": "<SCRUBBED>", "b": ["<SCRUBBED>", "<SCRUBBED>"]},
        "n": 1,
    }


@pytest.mark.parametrize(
    ("connection", "scrubbed"),
    [
        (
            f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"
            f"SharedAccessKey={SECRET}",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"
            "SharedAccessKey=<SCRUBBED>",
        ),
        (
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={SECRET};"
            "EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<SCRUBBED>;"
            "EndpointSuffix=core.windows.net",
        ),
        (
            f"Driver={{ODBC Driver 18}};Server=tcp:db,1433;Uid=app;Pwd={SECRET};Encrypt=yes",
            "Driver={ODBC Driver 18};Server=tcp:db,1433;Uid=app;Pwd=<SCRUBBED>;Encrypt=yes",
        ),
        (
            f"Server=db;Database=shop;User Id=app;Password={SECRET};",
            "Server=db;Database=shop;User Id=app;Password=<SCRUBBED>;",
        ),
        # A value holding `;` is braced (ODBC) or quoted (ADO.NET); `Pwd` may come first.
        (
            "Driver={ODBC Driver 18};Server=tcp:db,1433;Uid=app;Pwd={Tr0ub;Dor3xyzQ};",
            "Driver={ODBC Driver 18};Server=tcp:db,1433;Uid=app;Pwd=<SCRUBBED>;",
        ),
        (
            'Server=db;User ID=app;Password="Tr0ub;Dor3xyzQ";Encrypt=True',
            "Server=db;User ID=app;Password=<SCRUBBED>;Encrypt=True",
        ),
        ("Pwd=Tr0ub4dor3xyz;Server=db;Uid=app", "Pwd=<SCRUBBED>;Server=db;Uid=app"),
        # Escapes: ODBC doubles a `}` in braces, ADO.NET a quote in quotes.
        ("Server=db;Pwd={hunter2-Qx9}}x};Uid=a", "Server=db;Pwd=<SCRUBBED>;Uid=a"),
        ('Server=db;Password="hunter2-Qx9""x";Uid=a', "Server=db;Password=<SCRUBBED>;Uid=a"),
    ],
    ids=[
        "service-bus",
        "storage",
        "odbc",
        "ado-net",
        "odbc-braced",
        "ado-net-quoted",
        "first",
        "odbc-escape",
        "ado-net-escape",
    ],
)
def test_connection_strings_in_json_lose_their_secrets_and_stay_unencoded(
    connection: str, scrubbed: str
):
    # Was: read as a one-field form, percent-encoded whole, the placeholder encoded twice.
    body = json.dumps({"primaryConnectionString": connection, "keyName": "Root"})
    new, _ = scrub_response(response(body, {"Content-Type": ["application/json"]}))
    assert json.loads(new["body"]["string"])["primaryConnectionString"] == scrubbed
    # In text (a settings page, a log line): the same, not a query's parameters.
    text = f"ConnectionStrings__Db: {connection}\nnext line"
    new, _ = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert new["body"]["string"] == f"ConnectionStrings__Db: {scrubbed}\nnext line"


@pytest.mark.parametrize(
    "connection",
    [
        "Server=db;Database=shop;User Id=app;Password=Tr0ub 4dor x;Encrypt=true",
        "Host=db.internal;Username=app;Password=Tr0ub 4dor x",  # Npgsql's
        "Data Source=db;Initial Catalog=shop;Pwd=Tr0ub 4dor x;",
    ],
)
def test_a_connection_strings_password_with_blanks_is_replaced_whole_in_text(connection: str):
    # It was read as a query's parameter: up to the blank (`Tr0ub` went, ` 4dor x` stayed),
    # the placeholder percent-encoded in plain text.
    text = f"log: connecting with {connection}\n"
    new, count = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert count == 1
    assert "4dor" not in new["body"]["string"] and "%3C" not in new["body"]["string"]


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        # The string quoted, in backticks or brackets in prose: the value ends at its closer.
        (
            "tried 'Server=db;Uid=app;Pwd=my secret pass' and it failed",
            "tried 'Server=db;Uid=app;Pwd=<SCRUBBED>' and it failed",
        ),
        (
            "tried `Server=db;Uid=app;Pwd=my secret pass` and it failed",
            "tried `Server=db;Uid=app;Pwd=<SCRUBBED>` and it failed",
        ),
        (
            "tried (Server=db;User Id=app;Password=my secret pass) and it failed",
            "tried (Server=db;User Id=app;Password=<SCRUBBED>) and it failed",
        ),
        (
            "tried [Server=db;Uid=app;Pwd={my; pass}] and it failed",
            "tried [Server=db;Uid=app;Pwd=<SCRUBBED>] and it failed",
        ),
        # Ended by `;` or by its quotes: what follows stays.
        (
            "log: Server=db;User Id=app;Password=my secret pass; then it failed",
            "log: Server=db;User Id=app;Password=<SCRUBBED>; then it failed",
        ),
        (
            "log: Server=db;Uid=app;Pwd='it''s; mine' then it failed",
            "log: Server=db;Uid=app;Pwd=<SCRUBBED> then it failed",
        ),
        # Where the end is unknown (no `;`, a quote or brace never closed): the line's end.
        (
            "log: Server=db;User Id=app;Password=my secret pass then it failed\nnext",
            "log: Server=db;User Id=app;Password=<SCRUBBED>\nnext",
        ),
        (
            "log: Server=db;Uid=app;Pwd='my secret; pass then it failed\nnext",
            "log: Server=db;Uid=app;Pwd=<SCRUBBED>\nnext",
        ),
        (
            "log: Server=db;Uid=app;Pwd={my}}secret; pass then it failed\nnext",
            "log: Server=db;Uid=app;Pwd=<SCRUBBED>\nnext",
        ),
    ],
    ids=[
        *("quotes", "backticks", "parentheses", "brackets", "semicolon", "quoted", "no-end"),
        *("unclosed-quote", "unclosed-brace"),
    ],
)
def test_a_connection_strings_password_in_prose_ends_where_its_grammar_ends_it(
    text: str, scrubbed: str
):
    # Was: taken to the line's end (the closing quote, bracket and the prose after it), and a
    # quote or brace never closed left the password whole (or its tail after `}}`).
    new, count = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == (scrubbed, 1)


@pytest.mark.parametrize(
    ("document", "secret_paths"),
    [
        # Kubernetes: a container's env, a Secret, a SecretList (its items carry no kind).
        (
            {"env": [{"name": "DB_PASSWORD", "value": SECRET}, {"name": "MODE", "value": "dev"}]},
            [("env", 0, "value")],
        ),
        (
            {"kind": "Secret", "metadata": {"name": "db"}, "data": {"user": SECRET}},
            [("data", "user")],
        ),
        (
            {"kind": "SecretList", "items": [{"metadata": {}, "stringData": {"k": SECRET}}]},
            [("items", 0, "stringData", "k")],
        ),
        # AWS SSM, CloudFormation, Azure listKeys and listCredentials, Key Vault.
        ({"Parameter": {"Name": "/db/pw", "Type": "SecureString", "Value": SECRET}}, None),
        ({"Parameters": [{"ParameterKey": "DbPassword", "ParameterValue": SECRET}]}, None),
        ({"keys": [{"keyName": "key1", "value": SECRET, "permissions": "FULL"}]}, None),
        ({"keyName": "RootManageSharedAccessKey", "primaryKey": SECRET}, None),
        ({"passwords": [{"name": "password", "value": SECRET}], "username": "acr"}, None),
        ({"value": SECRET, "id": "https://kv1.vault.azure.net/secrets/db/0f1e2d"}, None),
        # Vault's KV version 2, Google Secret Manager.
        (
            {
                "data": {
                    "data": {"db_conn": SECRET},
                    "metadata": {"version": 3, "deletion_time": ""},
                }
            },
            None,
        ),
        (
            {
                "name": "projects/p/secrets/s/versions/1",
                "payload": {"data": SECRET, "dataCrc32c": "3519316437"},
            },
            None,
        ),
    ],
)
def test_values_that_are_secrets_by_their_objects_other_fields(
    document: dict[str, Any], secret_paths: Any
):
    new, count = scrub_response(
        response(json.dumps(document), {"Content-Type": ["application/json"]})
    )
    text = new["body"]["string"]
    assert SECRET not in text and count >= 1
    if secret_paths:
        scrubbed = json.loads(text)
        for path in secret_paths:
            node: Any = scrubbed
            for part in path:
                node = node[part]
            assert node == "<SCRUBBED>"


def test_name_value_objects_of_ordinary_names_and_configmaps_are_kept():
    document = {
        "kind": "ConfigMap",
        "metadata": {"name": "web", "resourceVersion": "123"},
        "data": {"LOG_LEVEL": "debug"},
        "env": [{"name": "MODE", "value": "dev-7f3a9b2c1d4e5f60"}],
    }
    body = json.dumps(document)
    new, count = scrub_response(response(body, {"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (body, 0)


def test_an_object_under_a_generic_name_keeps_its_structure():
    # Keystone's token (clients read the service catalog's endpoints from it) and Vault's
    # auth: their fields go by their own names; generated strings directly in them go.
    keystone = {
        "token": {
            "methods": ["password"],
            "expires_at": "2026-11-24T05:00:00.000000Z",
            "user": {"id": "9a8b7c6d5e4f", "name": "admin"},
            "catalog": [
                {
                    "type": "compute",
                    "endpoints": [
                        {"interface": "public", "url": "https://nova.example.com:8774/v2.1"}
                    ],
                }
            ],
        }
    }
    body = json.dumps(keystone)
    new, count = scrub_response(response(body, {"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (body, 0)
    vault = {
        "auth": {
            "client_token": SECRET,
            "accessor": "0e9e354a-520f-df04-6867-ee81cae3d42d",
            "policies": ["default"],
            "lease_duration": 2764800,
            "renewable": True,
        }
    }
    new, count = scrub_response(response(json.dumps(vault), {"Content-Type": ["application/json"]}))
    assert json.loads(new["body"]["string"]) == {
        "auth": {
            "client_token": "<SCRUBBED>",
            "accessor": "<SCRUBBED>",
            "policies": ["default"],
            "lease_duration": 2764800,
            "renewable": True,
        }
    }
    assert count == 2
    # A random value without digits, a passphrase under `credential`, a value: secrets still;
    # scrubbing twice changes nothing (a stored request is scrubbed again when it is loaded).
    tokens = {
        "token": {"value": "XkqPzWmRtYvBnLsAqWeRtYuIoPaSdFgH", "scope": "read write"},
        "auth": {"credential": "correct horse battery staple", "header": "Basic dXNlcjpwYXNz"},
    }
    new, count = scrub_response(
        response(json.dumps(tokens), {"Content-Type": ["application/json"]})
    )
    assert json.loads(new["body"]["string"]) == {
        "token": {"value": "<SCRUBBED>", "scope": "read write"},
        "auth": {"credential": "<SCRUBBED>", "header": "<SCRUBBED>"},
    }
    assert scrub_response(new) == (new, 0)
    login = {"auth": {"user": "bob", "pass": "letmein", "pin": "1234"}}
    new, _ = scrub_request(request(method="POST", body=json.dumps(login).encode()))
    assert json.loads(new.body) == {
        "auth": {"user": "bob", "pass": "<SCRUBBED>", "pin": "<SCRUBBED>"}
    }


@pytest.mark.parametrize("indent", [None, 2, 4])
def test_json_formatting_is_kept_outside_the_replaced_values(indent: int | None):
    document = {"a": "é \u2603 / \n", "nested": {"password": SECRET, "list": [1, 2.5, None]}}
    body = json.dumps(document, indent=indent).encode()
    expected = json.dumps(
        {**document, "nested": {**document["nested"], "password": "<SCRUBBED>"}}, indent=indent
    ).encode()
    new, _ = scrub_request(request(method="POST", body=body))
    assert new.body == expected


def test_json_without_secrets_is_byte_for_byte_unchanged():
    body = b'{ "a":1,\n  "b" : [ "x" ,{"c": "\\u00e9"} ] }'
    new, count = scrub_request(request(method="POST", body=body))
    assert (new.body, count) == (body, 0)


def test_json_lines_body_is_scrubbed_per_document():
    body = b'{"token": "' + SECRET.encode() + b'"}\n{"ok": true}\n'
    new, count = scrub_request(request(method="POST", body=body))
    assert count == 1
    assert [json.loads(line) for line in new.body.splitlines()] == [
        {"token": "<SCRUBBED>"},
        {"ok": True},
    ]


def test_response_json_body_is_scrubbed_and_content_length_follows():
    body = json.dumps({"access_token": SECRET, "token_type": "bearer", "expires_in": 3600})
    resp = response(body.encode(), headers={"Content-Type": ["application/json; charset=utf-8"]})
    new, count = scrub_response(resp)
    assert count == 1
    assert json.loads(new["body"]["string"]) == {
        "access_token": "<SCRUBBED>",
        "token_type": "bearer",
        "expires_in": 3600,
    }
    assert new["headers"]["Content-Length"] == [str(len(new["body"]["string"]))]
    assert SECRET not in response_text(new)


def test_response_form_body_is_scrubbed():
    # GitHub's OAuth token endpoint answers with a form body.
    body = f"access_token={GITHUB}&scope=repo&token_type=bearer".encode()
    resp = response(body, headers={"Content-Type": ["application/x-www-form-urlencoded"]})
    new, count = scrub_response(resp)
    assert count == 1
    assert parse_qs(new["body"]["string"].decode())["access_token"] == ["<SCRUBBED>"]
    assert new["headers"]["Content-Length"] == [str(len(new["body"]["string"]))]


def test_response_body_given_as_str_stays_str():
    new, count = scrub_response(response(json.dumps({"password": SECRET})))
    assert count == 1
    assert new["body"]["string"] == '{"password": "<SCRUBBED>"}'


def test_binary_body_is_left_to_the_environment_values_only():
    compressed = gzip.compress(f'{{"token": "{SECRET}", "gh": "{GITHUB}"}}'.encode())
    resp = response(compressed, headers={"Content-Encoding": ["gzip"]})
    new, count = scrub_response(resp)
    assert (new["body"]["string"], count) == (compressed, 0)
    assert new["headers"]["Content-Length"] == [str(len(compressed))]


def test_base64_image_in_json_is_not_a_secret():
    import base64

    image = base64.b64encode(bytes(range(256)) * 8).decode()
    body = json.dumps({"image": f"data:image/png;base64,{image}", "id": 7}).encode()
    new, count = scrub_response(response(body))
    assert (new["body"]["string"], count) == (body, 0)


def test_file_and_iterator_bodies_are_scrubbed_into_plain_bytes():
    body = f"password={SECRET}".encode()
    for source in (io.BytesIO(body), iter([body[:5], body[5:]])):
        new, count = scrub_request(request(method="POST", body=source))
        assert count == 1
        assert new.body == b"password=%3CSCRUBBED%3E"
    # vcrpy writes a plain body as text; a file body would be a !!python tag.
    text = serialize({"requests": [new], "responses": [response(b"ok")]}, yamlserializer)
    assert "!!python" not in text
    assert yaml.safe_load(text)["interactions"][0]["request"]["body"] == "password=%3CSCRUBBED%3E"


# --- bodies vcrpy keeps parsed: aiohttp's json= and data= (a mapping or a list of pairs) ------


def test_mapping_body_is_scrubbed_at_any_depth_and_keeps_its_types():
    body = {
        "user": {"name": "ada", "password": SECRET, "api_key": 12345678},
        "items": [{"access_token": SECRET, "id": 1}],
        "secret": {"a": SECRET, "b": [SECRET, None]},
        "active": True,
        "note": f"key {OPENAI}",
    }
    s = Scrubber(environ={"OPENAI_API_KEY": OPENAI})
    new, count = scrub_request(request(method="POST", body=body), s)
    assert new.body == {
        "user": {"name": "ada", "password": "<SCRUBBED>", "api_key": "<SCRUBBED>"},
        "items": [{"access_token": "<SCRUBBED>", "id": 1}],
        "secret": {"a": "<SCRUBBED>", "b": ["<SCRUBBED>", None]},
        "active": True,
        "note": "key <OPENAI_API_KEY>",
    }
    assert count == 6
    assert body["user"]["password"] == SECRET  # the live request's body is not touched


def test_list_of_pairs_body_is_scrubbed_as_a_form_and_stays_pairs():
    s = Scrubber(environ={"OPENAI_API_KEY": OPENAI})
    body = [("user", "ada"), ("password", SECRET), ("file", b"text " + OPENAI.encode())]
    new, count = scrub_request(request(method="POST", body=body), s)
    assert new.body == [
        ("user", "ada"),
        ("password", "<SCRUBBED>"),
        ("file", b"text <OPENAI_API_KEY>"),
    ]
    assert count == 2


def test_mapping_body_follows_json_paths_and_user_params():
    body = {"profile": {"email": "a@x.org", "name": "ada"}, "account": "acct-1"}
    s = scrubber(json_paths=("profile.email",), params=("account",))
    new, count = scrub_request(request(method="POST", body=body), s)
    assert new.body == {"profile": {"email": "<SCRUBBED>", "name": "ada"}, "account": "<SCRUBBED>"}
    assert count == 2


@pytest.mark.parametrize(
    "body",
    [{"user": "ada", "password": SECRET}, [("user", "ada"), ("password", SECRET)]],
    ids=["mapping", "pairs"],
)
def test_parsed_bodies_scrub_idempotently_and_match_on_body(body: Any):
    s = scrubber()
    recorded, count = scrub_request(request(method="POST", body=body), s)
    again, recount = scrub_request(recorded, s)
    assert count == 1 and recount == 0 and again.body == recorded.body
    other = (
        [("user", "ada"), ("password", "another-real")]
        if isinstance(body, list)
        else {
            "user": "ada",
            "password": "another-real",
        }
    )
    live, _ = scrub_request(request(method="POST", body=other), s)
    assert requests_match(live, recorded, [method, uri, vcr_body])
    changed = [("user", "bob"), ("password", "x")] if isinstance(body, list) else {"user": "bob"}
    moved, _ = scrub_request(request(method="POST", body=changed), s)
    assert not requests_match(moved, recorded, [method, uri, vcr_body])


# --- multipart/form-data -----------------------------------------------------------------------


def multipart(boundary: bytes, *parts: tuple[bytes, bytes]) -> bytes:
    """A multipart body as clients send it, from (part headers, content) pairs."""
    body = b""
    for headers, content in parts:
        body += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


def form_parts(
    password: bytes, token: bytes, image: bytes, notes: bytes
) -> list[tuple[bytes, bytes]]:
    return [
        (b'Content-Disposition: form-data; name="user"', b"ada"),
        (b'Content-Disposition: form-data; name="password"', password),
        (
            b'Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json',
            b'{"token": "' + token + b'", "n": 1}',
        ),
        (
            b'Content-Disposition: form-data; name="avatar"; filename="a.png"\r\n'
            b"Content-Type: image/png",
            image,
        ),
        # A file's contents get the free-text rules only: this is not a form field named
        # password, but text with a `password=` in it.
        (b'Content-Disposition: form-data; name="notes"; filename="password"', notes),
    ]


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=b0und-ary_1",
        'Multipart/Form-Data; charset=utf-8; boundary="b0und-ary_1"',
        "",  # recognised by its shape, as the scanner sees a stored body
    ],
)
def test_multipart_field_values_are_replaced_and_the_rest_kept_byte_for_byte(content_type: str):
    s = Scrubber(environ={"OPENAI_API_KEY": OPENAI})
    image = b"\x89PNG\r\n\x1a\n\x00\xff" + OPENAI.encode() + b"\xfe"  # not UTF-8
    body = multipart(
        b"b0und-ary_1", *form_parts(SECRET.encode(), SECRET.encode(), image, b"password=x1")
    )
    expected = multipart(
        b"b0und-ary_1",
        *form_parts(
            b"<SCRUBBED>",
            b"<SCRUBBED>",
            image.replace(OPENAI.encode(), b"<OPENAI_API_KEY>"),
            b"password=<SCRUBBED>",
        ),
    )
    headers = {"Content-Type": content_type} if content_type else {}
    new, count = scrub_request(request(method="POST", body=body, headers=headers), s)
    assert (new.body, count) == (expected, 4)
    assert new.headers["Content-Length"] == str(len(expected))
    again, recount = scrub_request(new, s)
    assert (again.body, recount) == (expected, 0)
    resp, count = scrub_response(response(body, {"Content-Type": [content_type]}), s)
    assert (resp["body"]["string"], count) == (expected, 4)


def test_multipart_scrubbed_live_request_matches_the_recording_on_body():
    s = scrubber()
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    parts = [(b'Content-Disposition: form-data; name="password"', SECRET.encode())]
    recorded, _ = scrub_request(
        request(method="POST", body=multipart(b"xyz", *parts), headers=headers), s
    )
    parts = [(b'Content-Disposition: form-data; name="password"', b"another-real-one")]
    live, _ = scrub_request(
        request(method="POST", body=multipart(b"xyz", *parts), headers=headers), s
    )
    assert requests_match(live, recorded, [method, uri, vcr_body])


def test_user_patterns_match_across_a_multipart_part_s_headers_and_value():
    """A regex was the only way to scrub a multipart field before fields were scrubbed by name:
    one spanning the part's headers and value must still match, in a body that is text. A
    binary part is left alone, as a binary body is: the pattern would corrupt it."""
    s = scrubber(patterns=(r'name="ssn"\r\n\r\n([^\r\n]+)', r"\d{3}-\d{2}-\d{4}"))
    parts = [
        (b'Content-Disposition: form-data; name="ssn"', b"078-05-1120"),
        (b'Content-Disposition: form-data; name="f"; filename="a.txt"', b"notes"),
    ]
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    new, count = scrub_request(
        request(method="POST", body=multipart(b"xyz", *parts), headers=headers), s
    )
    expected = multipart(
        b"xyz", (b'Content-Disposition: form-data; name="ssn"', b"<SCRUBBED>"), parts[1]
    )
    assert (new.body, count) == (expected, 1)
    image = b"\x89PNG\r\n\x00\xff 123-45-6789 \xfe"
    binary = multipart(b"xyz", (b"Content-Type: image/png", image))
    mixed = {"Content-Type": ["multipart/mixed; boundary=xyz"]}
    resp, count = scrub_response(response(binary, mixed), s)
    assert (resp["body"]["string"], count) == (binary, 0)


def test_a_multipart_field_named_without_quotes_is_scrubbed_by_its_name():
    parts = [(b"Content-Disposition: form-data; name=password", SECRET.encode())]
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    new, count = scrub_request(
        request(method="POST", body=multipart(b"xyz", *parts), headers=headers), scrubber()
    )
    assert new.body == multipart(b"xyz", (parts[0][0], b"<SCRUBBED>"))
    assert count == 1


def test_a_multipart_content_type_without_its_delimiter_gets_the_text_rules():
    s = Scrubber(environ={"OPENAI_API_KEY": OPENAI})
    headers = {"Content-Type": "multipart/form-data; boundary=zzz"}
    new, count = scrub_request(request(method="POST", body=OPENAI.encode(), headers=headers), s)
    assert (new.body, count) == (b"<OPENAI_API_KEY>", 1)


def test_a_body_that_only_looks_multipart_is_left_to_the_text_rules():
    # Text rules: its `password: ...` line is one (no multipart field named password).
    body = b"--not a boundary line\r\npassword: hunter2hunter2\r\n"
    new, count = scrub_request(
        request(method="POST", body=body, headers={"Content-Type": "text/plain"})
    )
    assert (new.body, count) == (b"--not a boundary line\r\npassword: <SCRUBBED>\r\n", 1)


def test_content_length_is_not_added_when_absent():
    req = Request("POST", "https://x.example/", f"password={SECRET}".encode(), {})
    new, _ = scrub_request(req)
    assert "Content-Length" not in new.headers


# --- environment variables -------------------------------------------------------------------


def test_environment_values_are_replaced_everywhere_by_their_name():
    env = {"OPENAI_API_KEY": OPENAI, "MY_SERVICE_TOKEN": "tok-1234567890", "HOME": "/home/u"}
    s = Scrubber(environ=env)
    req = request(
        uri=f"https://api.example.com/keys/{OPENAI}/usage?x=tok-1234567890",
        method="POST",
        body=f"prefix {OPENAI} suffix".encode(),
        headers={"X-Echo": f"echo {OPENAI}", "Content-Type": "text/plain"},
    )
    new, count = scrub_request(req, s)
    assert count == 4
    assert new.uri == (
        "https://api.example.com/keys/%3COPENAI_API_KEY%3E/usage?x=%3CMY_SERVICE_TOKEN%3E"
    )
    assert new.headers["X-Echo"] == "echo <OPENAI_API_KEY>"
    assert new.body == b"prefix <OPENAI_API_KEY> suffix"
    assert new.headers["Content-Length"] == str(len(new.body))
    resp, count = scrub_response(response(f"echo {OPENAI}".encode()), s)
    assert (resp["body"]["string"], count) == (b"echo <OPENAI_API_KEY>", 1)


@pytest.mark.parametrize("name", ["ACME_API_KEY", "ACME_TOKEN", "ACME_SECRET", "ACME_PASSWORD"])
def test_each_secret_suffix_of_an_environment_variable_names_its_value(name: str):
    s = Scrubber(environ={name: "v4lue-0f-the-variable"})
    req = request(body=b"sent v4lue-0f-the-variable", headers={"X-Note": "v4lue-0f-the-variable"})
    new, count = scrub_request(req, s)
    assert (new.body, new.headers["X-Note"], count) == (
        f"sent <{name}>".encode(),
        f"<{name}>",
        2,
    )


def test_environment_values_in_binary_bodies_are_replaced_by_their_bytes():
    key, password = "sk-abcdef1234567890", "p\u00e4ssw\u00f6rd-1234"  # non-ASCII: its UTF-8
    s = Scrubber(environ={"SERVICE_API_KEY": key, "DB_PASSWORD": password})
    body = b"\xff\x00" + key.encode() + b"\x00" + password.encode() + b"\xfe"
    expected = b"\xff\x00<SERVICE_API_KEY>\x00<DB_PASSWORD>\xfe"
    new, count = scrub_request(request(method="POST", body=body), s)
    assert (new.body, count) == (expected, 2)
    assert new.headers["Content-Length"] == str(len(expected))
    again, recount = scrub_request(new, s)
    assert (again.body, recount) == (expected, 0)
    resp, count = scrub_response(response(body), s)
    assert (resp["body"]["string"], count) == (expected, 2)
    assert resp["headers"]["Content-Length"] == [str(len(expected))]


def test_a_binary_body_with_no_environment_value_is_the_same_object():
    body = bytes(range(256)) * 64
    s = Scrubber(environ={"SERVICE_API_KEY": "sk-abcdef1234567890"})
    new, count = scrub_request(request(method="POST", body=body), s)
    assert new.body is body and count == 0


def test_url_encoded_environment_value_is_replaced():
    value = "p@ss/w0rd+more=="
    s = Scrubber(environ={"DB_PASSWORD": value})
    body = b"x=p%40ss%2Fw0rd%2Bmore%3D%3D&y=1"
    new, count = scrub_request(request(method="POST", body=body), s)
    assert count == 1
    assert parse_qs(new.body.decode()) == {"x": ["<DB_PASSWORD>"], "y": ["1"]}


def test_short_and_unrelated_environment_values_are_ignored():
    s = Scrubber(environ={"SHORT_TOKEN": "abc", "EDITOR": "vim-editor-long", "PATH": "/usr/bin"})
    req = request(uri="https://x.example/abc/vim-editor-long/usr/bin")
    new, count = scrub_request(req, s)
    assert (new.uri, count) == (req.uri, 0)


def test_rules_env_adds_variable_names():
    env = {"DATABASE_URL": "postgres-host-1234", "OTHER": "other-value-1234"}
    s = Scrubber(ScrubRules(env=("DATABASE_URL",)), environ=env)
    new, count = scrub_request(
        request(uri="https://x.example/postgres-host-1234/other-value-1234"), s
    )
    assert new.uri == "https://x.example/%3CDATABASE_URL%3E/other-value-1234"
    assert count == 1


def test_numeric_environment_value_in_json_keeps_json_valid():
    s = Scrubber(environ={"PIN_PASSWORD": "12345678"})
    new, count = scrub_response(response(b'{"n": 12345678, "s": "x12345678"}'), s)
    assert count == 2
    assert json.loads(new["body"]["string"]) == {"n": "<PIN_PASSWORD>", "s": "x<PIN_PASSWORD>"}


def test_variables_sharing_a_value_are_named_deterministically():
    env = {"B_TOKEN": "shared-value-123", "A_TOKEN": "shared-value-123"}
    for environ in (env, dict(reversed(list(env.items())))):
        new, _ = scrub_request(
            request(uri="https://x.example/shared-value-123"), Scrubber(environ=environ)
        )
        assert new.uri == "https://x.example/%3CA_TOKEN%3E"


def test_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTEST_CASSETTES_TEST_TOKEN", "from-os-environ-123")
    new, count = scrub_request(request(uri="https://x.example/from-os-environ-123"), Scrubber())
    assert new.uri == "https://x.example/%3CPYTEST_CASSETTES_TEST_TOKEN%3E"
    assert count == 1


# --- detectors -------------------------------------------------------------------------------


def test_detectors_redact_known_tokens_in_urls_headers_and_bodies():
    req = request(
        uri=f"https://api.example.com/x?ref={GITHUB}",
        method="POST",
        body=f"notes: {JWT} end".encode(),
        headers={"X-Forwarded": f"via {OPENAI}", "Content-Type": "text/plain"},
    )
    new, count = scrub_request(req)
    assert count == 3
    assert new.uri == "https://api.example.com/x?ref=%3CSCRUBBED:github%3E"
    assert new.headers["X-Forwarded"] == "via <SCRUBBED:openai>"
    # A request's JWT goes whole (a client may mint it anew at each run); an answer's keeps its
    # header and claims (clients decode them), its signature replaced.
    assert new.body == b"notes: <SCRUBBED:jwt> end"
    for secret in (GITHUB, JWT, OPENAI):
        assert secret not in request_text(new)
    answer, _ = scrub_response(response(f"notes: {JWT} end".encode()))
    header_and_claims = JWT[: JWT.rindex(".") + 1]
    assert answer["body"]["string"] == f"notes: {header_and_claims}PFNDUlVCQkVEPg end".encode()


def test_detectors_run_inside_json_strings():
    body = json.dumps({"message": f"your key is {GITHUB}", "n": 1}, indent=1).encode()
    new, count = scrub_response(response(body))
    assert count == 1
    assert json.loads(new["body"]["string"]) == {"message": "your key is <SCRUBBED:github>", "n": 1}


def test_docling_cassette_response_comes_out_unchanged():
    path = "/work/shared/data/test_docling_source.yaml"
    with open(path, encoding="utf-8") as f:
        interaction = yaml.safe_load(f)["interactions"][0]
    resp = interaction["response"]
    resp["body"]["string"] = resp["body"]["string"].encode()
    new, count = scrub_response(resp)
    assert count == 0
    assert new == resp


# --- user rules ------------------------------------------------------------------------------


def test_user_rules_extend_the_defaults():
    s = scrubber(headers=("x-*-id",), params=("session",), patterns=(r"acct-\d{6}",))
    req = request(
        uri=f"https://x.example/acct-123456?session={SECRET}&api_key={SECRET}",
        headers={"X-Tenant-Id": SECRET, "Authorization": f"Bearer {SECRET}"},
    )
    new, count = scrub_request(req, s)
    assert count == 5
    assert new.headers["X-Tenant-Id"] == "<SCRUBBED>"
    assert new.headers["Authorization"] == "Bearer <SCRUBBED>"  # default still applies
    assert dict(parse_qsl(urlsplit(new.uri).query)) == {
        "session": "<SCRUBBED>",
        "api_key": "<SCRUBBED>",
    }
    assert urlsplit(new.uri).path == "/%3CSCRUBBED%3E"


def test_user_params_apply_to_json_and_form_but_not_headers():
    s = scrubber(params=("email",))
    body = json.dumps({"user": {"email": "bob@example.com"}}).encode()
    new, count = scrub_request(request(method="POST", body=body, headers={"Email": "x"}), s)
    assert count == 1
    assert json.loads(new.body) == {"user": {"email": "<SCRUBBED>"}}
    assert new.headers["Email"] == "x"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("user.email", {"user": {"email": "<SCRUBBED>", "name": "bob"}, "items": [{"sku": "a"}]}),
        ("$.user.email", {"user": {"email": "<SCRUBBED>", "name": "bob"}, "items": [{"sku": "a"}]}),
        (
            "items[*].sku",
            {"user": {"email": "b@x.org", "name": "bob"}, "items": [{"sku": "<SCRUBBED>"}]},
        ),
        (
            "items[0]",
            {"user": {"email": "b@x.org", "name": "bob"}, "items": [{"sku": "<SCRUBBED>"}]},
        ),
        ("user", {"user": {"email": "<SCRUBBED>", "name": "<SCRUBBED>"}, "items": [{"sku": "a"}]}),
    ],
)
def test_json_paths(path: str, expected: dict[str, Any]):
    document = {"user": {"email": "b@x.org", "name": "bob"}, "items": [{"sku": "a"}]}
    new, _ = scrub_request(
        request(method="POST", body=json.dumps(document).encode()), scrubber(json_paths=(path,))
    )
    assert json.loads(new.body) == expected


def test_json_path_at_the_root_of_an_array():
    body = json.dumps([{"email": "a@x.org"}, {"email": "b@x.org"}]).encode()
    new, count = scrub_response(response(body), scrubber(json_paths=("[*].email",)))
    assert count == 2
    assert json.loads(new["body"]["string"]) == [{"email": "<SCRUBBED>"}, {"email": "<SCRUBBED>"}]


@pytest.mark.parametrize("path", ["", "a..b[", "items[x]", "$"])
def test_invalid_json_path_is_an_error(path: str):
    with pytest.raises(ValueError, match="invalid JSON path"):
        scrubber(json_paths=(path,))


def test_pattern_with_a_group_replaces_only_the_group():
    s = scrubber(patterns=(r"account (\d{8})",))
    new, count = scrub_request(request(method="POST", body=b"account 12345678 ok"), s)
    assert (new.body, count) == (b"account <SCRUBBED> ok", 1)


def test_invalid_pattern_is_an_error():
    with pytest.raises(ValueError, match=r"invalid scrub pattern '\('"):
        scrubber(patterns=("(",))


# --- disable ---------------------------------------------------------------------------------


def test_disable_cookie_keeps_cookies_but_not_other_defaults():
    req = request(headers={"Cookie": "theme=dark", "Authorization": f"Bearer {SECRET}"})
    new, count = scrub_request(req, scrubber(disable=("cookie",)))
    assert new.headers["Cookie"] == "theme=dark"
    assert new.headers["Authorization"] == "Bearer <SCRUBBED>"
    assert count == 1


def test_disable_cookie_keeps_a_json_cookie_jar():
    body = json.dumps({"cookies": {"theme": "dark"}})
    resp = response(body, headers={"Content-Type": ["application/json"]})
    assert scrub_response(resp, scrubber(disable=("cookie",)))[0]["body"]["string"] == body
    new, count = scrub_response(resp)
    assert (json.loads(new["body"]["string"]), count) == ({"cookies": {"theme": "<SCRUBBED>"}}, 1)


def test_disable_set_cookie():
    resp = response(headers={"Set-Cookie": ["lang=en; Path=/"]})
    new, count = scrub_response(resp, scrubber(disable=("Set-Cookie",)))
    assert (new["headers"]["Set-Cookie"], count) == (["lang=en; Path=/"], 0)


def test_disable_key_keeps_the_key_parameter_only():
    s = scrubber(disable=("key",))
    new, count = scrub_request(
        request(f"https://x.example/?key=photos/cat.jpg&api_key={SECRET}"), s
    )
    assert dict(parse_qsl(urlsplit(new.uri).query)) == {
        "key": "photos/cat.jpg",
        "api_key": "<SCRUBBED>",
    }
    assert count == 1


def test_disable_one_header_name_a_glob_covers():
    s = scrubber(disable=("X-CSRF-Token",))
    new, count = scrub_request(request(headers={"X-CSRF-Token": "abc", "X-Auth-Token": "def"}), s)
    assert (new.headers["X-CSRF-Token"], new.headers["X-Auth-Token"], count) == (
        "abc",
        "<SCRUBBED>",
        1,
    )


def test_disable_detectors_and_single_kinds():
    req = request(method="POST", body=f"{JWT} {GITHUB}".encode())
    new, count = scrub_request(req, scrubber(disable=("detectors",)))
    assert (new.body, count) == (req.body, 0)
    new, count = scrub_request(req, scrubber(disable=("jwt",)))
    assert (new.body, count) == (f"{JWT} <SCRUBBED:github>".encode(), 1)


def test_disable_env_keeps_names_listed_in_rules_env():
    env = {"A_TOKEN": "value-aaaa-1111", "B_SETTING": "value-bbbb-2222"}
    s = Scrubber(ScrubRules(env=("B_SETTING",), disable=("env",)), environ=env)
    new, count = scrub_request(request(uri="https://x.example/value-aaaa-1111/value-bbbb-2222"), s)
    assert new.uri == "https://x.example/value-aaaa-1111/%3CB_SETTING%3E"
    assert count == 1


def test_disable_unknown_name_is_an_error_listing_valid_names():
    with pytest.raises(ValueError) as error:
        scrubber(disable=("cookies", "detectors", "content-type"))
    message = str(error.value)
    assert "'cookies'" in message and "'content-type'" in message
    assert "'detectors'" not in message.split("Valid names")[0]
    for name in ("cookie", "set-cookie", "key", "detectors", "env", "jwt"):
        assert name in message.split("Valid names")[1]


def test_disable_names_cover_features_rules_and_kinds():
    assert {"detectors", "env", "cookie", "set-cookie", "key", "authorization"} <= set(
        DISABLE_NAMES
    )
    for name in DISABLE_NAMES:
        scrubber(disable=(name,))  # every advertised name is accepted


# --- hooks -----------------------------------------------------------------------------------


def test_request_hooks_run_after_built_ins_in_order():
    seen: list[str] = []

    def first(req: Request) -> Request:
        seen.append(req.headers["Authorization"])
        req.headers["X-Hooked"] = "1"
        return req

    def second(req: Request) -> Request:
        seen.append(req.headers["X-Hooked"])
        return req

    original = request(headers={"Authorization": f"Bearer {SECRET}"})
    new, count = scrub_request(original, scrubber(request_hooks=(first, second)))
    assert seen == ["Bearer <SCRUBBED>", "1"]
    assert new.headers["X-Hooked"] == "1"
    assert "X-Hooked" not in original.headers  # the hook changed the copy only
    assert count == 1


def test_a_hook_returning_none_drops_the_interaction():
    s = scrubber(request_hooks=(lambda req: None,), response_hooks=(lambda resp: None,))
    assert s.scrub_request(request(headers={"X-Api-Key": SECRET})) == (None, 1)
    assert s.scrub_response(response(b"ok")) == (None, 0)


def test_response_hooks_see_the_scrubbed_response():
    def hook(resp: dict[str, Any]) -> dict[str, Any]:
        assert resp["headers"]["Set-Cookie"] == ["a=<SCRUBBED>"]
        resp["status"]["message"] = "Hooked"
        return resp

    new, _ = scrub_response(
        response(headers={"Set-Cookie": ["a=1"]}), scrubber(response_hooks=(hook,))
    )
    assert new["status"]["message"] == "Hooked"


# --- properties --------------------------------------------------------------------------------


def kitchen_sink() -> tuple[Request, dict[str, Any]]:
    body = json.dumps({"user": {"password": SECRET}, "items": [{"token": GITHUB}], "note": JWT})
    req = request(
        uri=f"https://bob:{SECRET}@api.example.com/v1/{OPENAI}?api_key={SECRET}&q=1",
        method="POST",
        body=body.encode(),
        headers={
            "Authorization": f"Bearer {SECRET}",
            "Cookie": f"a={SECRET}; b=2",
            "Content-Type": "application/json",
        },
    )
    resp = response(
        f"access_token={SECRET}&scope=x&jwt={JWT}".encode(),
        headers={"Set-Cookie": [f"s={SECRET}; Path=/"], "X-Api-Key": [OPENAI]},
    )
    return req, resp


def test_scrubbing_twice_changes_nothing_and_counts_zero():
    req, resp = kitchen_sink()
    s = Scrubber(environ={"OPENAI_API_KEY": OPENAI})
    once, count = scrub_request(req, s)
    twice, again = scrub_request(once, s)
    assert count > 0 and again == 0
    assert (twice.uri, dict(twice.headers), twice.body) == (once.uri, dict(once.headers), once.body)
    resp_once, count = scrub_response(resp, s)
    resp_twice, again = scrub_response(resp_once, s)
    assert count > 0 and again == 0
    assert resp_twice == resp_once


def test_nothing_secret_is_left_anywhere():
    req, resp = kitchen_sink()
    s = Scrubber(environ={"OPENAI_API_KEY": OPENAI})
    new_req, _ = scrub_request(req, s)
    new_resp, _ = scrub_response(resp, s)
    for secret in (SECRET, GITHUB, JWT, OPENAI):
        assert secret not in request_text(new_req)
        assert secret not in response_text(new_resp)
    assert json.loads(new_req.body)["user"] == {"password": "<SCRUBBED>"}


def test_scrubbing_is_deterministic_and_never_mutates_its_input():
    req, resp = kitchen_sink()
    before = (req.uri, dict(req.headers), req.body)
    resp_before = json.dumps(resp, default=repr, sort_keys=True)
    results = [(scrub_request(req)[0], scrub_response(resp)[0]) for _ in range(2)]
    (r1, p1), (r2, p2) = results
    assert (r1.uri, dict(r1.headers), r1.body) == (r2.uri, dict(r2.headers), r2.body)
    assert p1 == p2
    assert (req.uri, dict(req.headers), req.body) == before
    assert json.dumps(resp, default=repr, sort_keys=True) == resp_before


def test_nothing_to_scrub_gives_an_equal_copy():
    req = request(
        uri="https://api.example.com/v1/items/123e4567-e89b-12d3-a456-426614174000?page=2",
        headers={"Accept": "application/json", "User-Agent": "python-requests/2.31"},
    )
    new, count = scrub_request(req)
    assert count == 0
    assert new is not req
    assert (new.uri, dict(new.headers), new.body) == (req.uri, dict(req.headers), req.body)


def test_scrubbed_live_request_matches_the_scrubbed_recording():
    s = scrubber()
    recorded, _ = scrub_request(request(f"https://x.example/v1?api_key={SECRET}&q=1"), s)
    live, _ = scrub_request(request("https://x.example/v1?api_key=another-real-key&q=1"), s)
    other, _ = scrub_request(request("https://x.example/v1?api_key=another-real-key&q=2"), s)
    assert requests_match(live, recorded, [method, uri, query])
    assert not requests_match(other, recorded, [method, uri, query])


def test_json_key_spelled_with_escapes_is_still_recognised():
    body = b'{"pass\\u0077ord": "' + SECRET.encode() + b'", "n": 1}'
    new, count = scrub_request(request(method="POST", body=body))
    assert count == 1
    assert json.loads(new.body) == {"password": "<SCRUBBED>", "n": 1}


def test_the_environment_key_changes_with_any_variable_but_pytests_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_cassettes.session import EnvironmentKey

    watch = EnvironmentKey()
    first = watch.key()
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "test_x.py::test (call)")
    assert watch.key() is first  # not rebuilt
    # Nor for the two the guard carried into child processes sets at every guarded test: a
    # scrubber built for each test cost a replay 0.7 ms a test.
    monkeypatch.setenv("PYTEST_CASSETTES_CHILD_GUARD", '{"guards": []}')
    monkeypatch.setenv("PYTHONPATH", "/somewhere/child_site")
    assert watch.key() is first
    monkeypatch.setenv("LATE_API_KEY", "sk-set-by-a-fixture")
    assert ("LATE_API_KEY", "sk-set-by-a-fixture") in watch.key()
    monkeypatch.setenv("LATE_API_KEY", "sk-changed")
    assert ("LATE_API_KEY", "sk-changed") in watch.key()
    monkeypatch.delenv("LATE_API_KEY")
    assert watch.key() == first


def test_a_binary_body_that_starts_like_utf_16_is_left_alone():
    body = b"\xff\xfe" + bytes(range(256)) * 4 + GITHUB.encode("utf-16-le")
    resp = response(body, headers={"Content-Type": ["application/octet-stream"]})
    new, count = scrub_response(resp)
    assert (new["body"]["string"], count) == (body, 0)


PLAIN_SECRET = "opensesame-opensesame"  # no detector sees it: only the JSON key rule can


@pytest.mark.parametrize(
    ("content_type", "body", "encoding"),
    [
        (
            "application/json; charset=iso-8859-1",
            json.dumps({"access_token": PLAIN_SECRET, "name": "José"}, ensure_ascii=False),
            "latin-1",
        ),
        ("application/json", "\ufeff" + json.dumps({"access_token": PLAIN_SECRET}), "utf-16-le"),
        ("text/plain; charset=utf-16", f"token {GITHUB}", "utf-16-be"),
    ],
)
def test_json_and_text_in_other_encodings_get_their_type_s_rules(
    content_type: str, body: str, encoding: str
):
    raw = body.encode(encoding)
    new, count = scrub_response(response(raw, headers={"Content-Type": [content_type]}))
    assert count == 1
    text = new["body"]["string"].decode(encoding)
    assert PLAIN_SECRET not in text and GITHUB not in text
    assert text.startswith(body[:1])  # a byte order mark kept, none added
    assert scrub_response(new) == (new, 0)


def test_a_form_in_latin_1_is_scrubbed_by_field_and_still_matches():
    body = f"password={SECRET}&name=José".encode("latin-1")
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=iso-8859-1"}
    sent = request(body=body, headers=headers, method="POST")
    recorded, count = scrub_request(sent)
    assert count == 1
    assert recorded.body == "password=%3CSCRUBBED%3E&name=José".encode("latin-1")
    replayed, _ = scrub_request(sent)
    # The same bytes, so any body matcher matches (vcrpy before 9.4's reads forms as ASCII).
    assert replayed.body == recorded.body


# --- values learned from earlier interactions ------------------------------------------------


def test_a_value_scrubbed_by_name_is_learned_and_replaced_where_it_comes_back():
    learned = LearnedSecrets()
    token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    login = response(json.dumps({"token": token, "user": "ada"}))
    s = scrubber()
    _, count = s.scrub_response(login, learned)
    assert count == 1 and learned.key == {token}
    # The next request sends it back in the URL's path, a header of no sensitive name, a body.
    later = Scrubber(ScrubRules(), environ={}, learned=learned.key)
    req = request(
        f"https://api.example.com/sessions/{token}/items",
        json.dumps({"note": f"session {token}"}).encode(),
        {"X-Session": token},
        "POST",
    )
    new_req, count = later.scrub_request(req)
    assert new_req.uri == "https://api.example.com/sessions/%3CSCRUBBED%3E/items"
    assert new_req.headers["X-Session"] == "<SCRUBBED>"
    assert json.loads(new_req.body) == {"note": "session <SCRUBBED>"}
    assert count == 3
    # Scrubbing what was scrubbed changes nothing (replay scrubs the live request too).
    assert later.scrub_request(new_req)[1] == 0


def test_a_scrubber_scrubs_a_header_and_a_url_again_as_where_they_are_asks():
    """A scrubber remembers the headers and URLs it scrubbed (the same ones come in every
    request of a run): a JWT in a response's header keeps its claims, sent in a request it goes
    whole, in either order; each scrub counts and teaches its values again."""
    s = scrubber()
    token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    sent = request(f"https://api.example.com/items?access_token={token}", None, {"X-Id": JWT})
    for _ in range(2):
        answered, count = scrub_response(response(headers={"X-Id": [JWT]}), s)
        assert answered["headers"]["X-Id"] == [f"{JWT.rpartition('.')[0]}.PFNDUlVCQkVEPg"]
        assert count == 1
        learned = LearnedSecrets()
        new, count = s.scrub_request(sent, learned)
        assert new is not None and count == 2 and learned.key == {token}
        assert new.headers["X-Id"] == "<SCRUBBED:jwt>"
        assert new.uri == "https://api.example.com/items?access_token=%3CSCRUBBED%3E"


def test_only_generated_looking_values_are_learned_and_at_most_a_limit():
    learned = LearnedSecrets()
    body = {"password": "hunter2", "key": "PROJ-123", "token": "<SCRUBBED>", "secret": "a b c d e"}
    scrubber().scrub_response(response(json.dumps(body)), learned)
    assert learned.key == frozenset()
    # A listing hands out more keys than the limit: the most recent are kept, the next new one
    # is learned too (it was not, past the limit, and then reached disk in a URL's path).
    listing = [{"key": f"Zq8xW2kP9mR4tY7u{i:04d}"} for i in range(LearnedSecrets.LIMIT + 5)]
    scrubber().scrub_response(response(json.dumps({"keys": listing})), learned)
    assert len(learned.key) == LearnedSecrets.LIMIT
    assert "Zq8xW2kP9mR4tY7u0000" not in learned.key
    scrubber().scrub_response(response(json.dumps({"key": "Yp7wV1jO8lQ3sX6t9999"})), learned)
    assert "Yp7wV1jO8lQ3sX6t9999" in learned.key and len(learned.key) == LearnedSecrets.LIMIT


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_json_nested_deeper_than_python_parses_is_scrubbed_as_text(content_type: str):
    # The perf review: RecursionError escaped from scrub_response on 5,000 nested arrays.
    body = "[" * 5000 + f'"password={SECRET}"' + "]" * 5000
    headers = {"Content-Type": [content_type]} if content_type else {}
    new, count = scrub_response(response(body, headers))
    assert SECRET not in new["body"]["string"] and count == 1


def test_a_model_output_token_is_text_not_a_secret():
    # OpenAI's (and vLLM's, Ollama's) logprobs, Gemini's logprobsResult: `token` beside a
    # log probability is the model's text. A bare `token`, or a known token format, still goes.
    document = {
        "choices": [
            {
                "logprobs": {
                    "content": [
                        {
                            "token": "Hello",
                            "logprob": -0.31,
                            "bytes": [72, 101, 108, 108, 111],
                            "top_logprobs": [{"token": " Hi", "logprob": -1.2, "bytes": None}],
                        }
                    ]
                }
            }
        ],
        "logprobsResult": {"chosenCandidates": [{"token": "Hey", "logProbability": -0.1}]},
        "session": {"token": SECRET, "expires": 3600},
        "odd": {"token": GITHUB, "logprob": -1.0},
    }
    new, count = scrub_response(
        response(json.dumps(document), {"Content-Type": ["application/json"]})
    )
    got = json.loads(new["body"]["string"])
    content = got["choices"][0]["logprobs"]["content"][0]
    assert (content["token"], content["top_logprobs"][0]["token"]) == ("Hello", " Hi")
    assert got["logprobsResult"]["chosenCandidates"][0]["token"] == "Hey"
    assert got["session"]["token"] == "<SCRUBBED>"
    assert got["odd"]["token"] == "<SCRUBBED:github>"
    assert count == 2


def test_the_key_of_a_key_value_pair_is_a_name_not_a_secret():
    # AWS tags, Consul's KV, CouchDB's view rows: `key` beside `value` names the pair. An
    # object with a `key` and no `value` (an API key's record) still loses it.
    document = {
        "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "password", "Value": SECRET}],
        "rows": [{"id": "doc1", "key": "doc1", "value": {"rev": "1-abc"}}, {"key": 42, "value": 1}],
        "consul": [{"Key": "web/config", "Value": "YmFzZTY0", "Flags": 0}],
        "elb": [{"Key": "access_logs.s3.enabled", "Value": "false"}],  # words, not generated
        "api_key_record": {"key": SECRET, "name": "ci"},
        "odd": {"key": GITHUB, "value": "x"},
    }
    new, count = scrub_response(
        response(json.dumps(document), {"Content-Type": ["application/json"]})
    )
    got = json.loads(new["body"]["string"])
    assert got["Tags"] == [
        {"Key": "Name", "Value": "web"},
        {"Key": "password", "Value": "<SCRUBBED>"},
    ]
    assert got["rows"] == document["rows"] and got["consul"] == document["consul"]
    assert got["elb"] == document["elb"]
    assert got["api_key_record"] == {"key": "<SCRUBBED>", "name": "ci"}
    assert got["odd"] == {"key": "<SCRUBBED>", "value": "x"}  # generated-looking: by its name
    assert count == 3
    # The same rule for a body kept as Python data (aiohttp's json=): the same request matches.
    sent = [{"Key": "Name", "Value": "web"}, {"key": SECRET, "name": "ci"}]
    scrubbed, _ = scrubber().scrub_request(request(body=sent, method="POST"))
    assert scrubbed is not None
    assert scrubbed.body == [{"Key": "Name", "Value": "web"}, {"key": "<SCRUBBED>", "name": "ci"}]


# --- found by a property-based audit: idempotence, values that must not shape the output ------


def twice(req: Request, s: Scrubber | None = None) -> tuple[Request, Request]:
    """A request scrubbed once (recorded) and again (a stored request, scrubbed when loaded)."""
    once = scrub_request(req, s)[0]
    return once, scrub_request(once, s)[0]


def test_a_key_as_curl_user_is_scrubbed_once_and_stays_so():
    # Stripe documents `curl ... -u sk_live_...:`; the placeholder's `:` is no user:password.
    stripe = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    for command in (f"curl https://api.stripe.com/v1/charges -u {stripe}:", f"-u '{stripe}:'"):
        once, again = twice(request(body=command.encode(), method="POST"))
        assert stripe.encode() not in once.body and once.body == again.body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6 0", "<SCRUBBED>"),
        ("Pw7000 q2Z", "<SCRUBBED>"),  # a first word with digits is the credential's
        ("Bearer abc.def", "Bearer <SCRUBBED>"),
        ("Klaviyo-API-Key pk_abc123", "Klaviyo-API-Key <SCRUBBED>"),
        ("SharedKeyLite acct:c2lnbmF0dXJl", "SharedKeyLite <SCRUBBED>"),
        ("TC3-HMAC-SHA256 Credential=x", "TC3-HMAC-SHA256 <SCRUBBED>"),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "AWS4-ECDSA-P256-SHA256 <SCRUBBED>"),
        ("ZqXyWvAcqGFzxKLmn rest", "<SCRUBBED>"),  # letters, but no words
        ("AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc", "AWS4-HMAC-SHA256 <SCRUBBED>"),
    ],
)
def test_only_a_scheme_is_kept_of_an_authorization(value: str, expected: str):
    once, again = twice(request(headers={"Authorization": value}))
    assert once.headers["Authorization"] == again.headers["Authorization"] == expected
    # The same in a parameter: two secrets give one stored value (replay matches).
    a = scrub_request(request("https://x/?authorization=Pw7000%20q2Z"))[0].uri
    b = scrub_request(request("https://x/?authorization=Z2q%20q0007wP"))[0].uri
    assert a == b == "https://x/?authorization=%3CSCRUBBED%3E"
    text = b"error: authorization=Zq92yW4Acq9GFz6x7K rejected\n"
    body = scrub_request(request(body=text, headers={"Content-Type": "text/plain"}))[0].body
    assert body == b"error: authorization=<SCRUBBED> rejected\n"


def test_an_env_placeholder_does_not_depend_on_the_value_it_replaced():
    # A key with `=` in it made its JSON string look like a form: percent-encoded placeholder.
    def stored(key: str, text: str) -> bytes:
        s = Scrubber(environ={"OPENAI_API_KEY": key})
        body = json.dumps({"q": text.format(key=key)}).encode()
        req = request(body=body, method="POST", headers={"Content-Type": "application/json"})
        return scrub_request(req, s)[0].body

    for text in ("{key}", "a=1&key={key}", "x={key};y=2"):
        assert stored("c2stcHJvai1hYmM=Zx9", text) == stored("sk-test-dummy-123456", text)


def test_an_env_value_escaped_for_html_xml_or_by_go_is_scrubbed():
    secret = "Pw7000&q2Z-x9"
    s = Scrubber(environ={"DB_PASSWORD": secret})
    for body, ctype in [
        (f"<r><Note>{html_escape(secret)}</Note></r>", "application/xml"),
        (f"<p>{html_escape(secret)}</p>", "text/html"),
        (json.dumps({"note": secret}).replace("&", "\\u0026"), "application/json"),
    ]:
        new, count = scrub_response(response(body, {"Content-Type": [ctype]}), s)
        assert "q2Z" not in new["body"]["string"] and count == 1


def test_array_parameter_names_are_their_names():
    for pair in ("password[]=Zq9kT4mW8pL2vR6x", "access_token[0]=Zq9kT4mW8pL2vR6x"):
        uri = scrub_request(request("https://x/?" + pair))[0].uri
        assert "Zq9kT4mW8pL2vR6x" not in uri


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("db:\n  password: |\n    Zq9k\n    T4mW\n", "db:\n  password: |\n    <SCRUBBED>\n"),
        ("- password: >-\n    abc def\n- name: x\n", "- password: >-\n    <SCRUBBED>\n- name: x\n"),
        ("password: !!str Zq9kT4mW8pL2vR6x\n", "password: !!str <SCRUBBED>\n"),
        ("db:\n  password:\n    correct-horse\n", "db:\n  password:\n    <SCRUBBED>\n"),
        # A mapping, a list, a template under the name: no scalar to scrub.
        ("db:\n  password:\n    min_length: 8\n", None),
        ("auth:\n  token:\n    - a\n", None),
        ("password: |\n  {{ vault_password }}\n", None),
    ],
)
def test_yaml_values_on_the_lines_under_a_sensitive_name(yaml_text: str, expected: str | None):
    new, _ = scrub_response(response(yaml_text, {"Content-Type": ["application/yaml"]}))
    assert new["body"]["string"] == (yaml_text if expected is None else expected)
    # In a JSON string (a ConfigMap's file) too.
    document = json.dumps({"app.yaml": yaml_text})
    new, _ = scrub_response(response(document, {"Content-Type": ["application/json"]}))
    assert json.loads(new["body"]["string"])["app.yaml"] == (expected or yaml_text)


def test_a_validation_message_of_a_client_error_is_kept():
    # Django REST framework's and Rails' errors name the field: a test asserts on the message.
    errors = {
        "password": ["This password is too short. It must contain at least 8 characters."],
        "password_confirmation": ["doesn't match Password", "can't be blank"],
        "token": ["Invalid token."],
    }
    body = json.dumps(errors)
    bad = response(body, {"Content-Type": ["application/json"]})
    bad["status"] = {"code": 400, "message": "Bad Request"}
    new, count = scrub_response(bad)
    assert (new["body"]["string"], count) == (body, 0)
    # Anything else under such a name still goes: words without a validation's (a
    # passphrase), generated values; in a 2xx response; in a request, always.
    bad["body"]["string"] = json.dumps({"password": "correct horse battery staple"})
    assert scrub_response(bad)[1] == 1
    ok = response(body, {"Content-Type": ["application/json"]})
    assert scrub_response(ok)[1] == 4
    req = request(body=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    assert scrub_request(req)[1] == 4


def test_a_descriptor_of_an_object_under_a_generic_name_is_kept():
    document = {"auth": {"type": "oauth2", "alg": "HS256", "method": "hmac-sha256", "id": SECRET}}
    new, count = scrub_response(
        response(json.dumps(document), {"Content-Type": ["application/json"]})
    )
    assert json.loads(new["body"]["string"]) == {
        "auth": {"type": "oauth2", "alg": "HS256", "method": "hmac-sha256", "id": "<SCRUBBED>"}
    }
    assert count == 1


def test_a_key_beside_a_value_and_a_credential_is_one_too():
    # Trello sends its API key as `key`, beside `value` (a custom field's) and `token`.
    key = "a4c3e9f1b27d58e60c9f3a1b2d4e6f78"
    document = {"value": {"text": "Hello"}, "key": key, "token": SECRET}
    body = json.dumps(document).encode()
    req = request(body=body, method="PUT", headers={"Content-Type": "application/json"})
    assert key.encode() not in scrub_request(req)[0].body
    assert scrub_request(request(body=document, method="PUT"))[0].body["key"] == "<SCRUBBED>"
    # A generated-looking key beside a value alone goes too.
    lone = json.dumps({"key": key, "value": 1})
    new, _ = scrub_response(response(lone, {"Content-Type": ["application/json"]}))
    assert key not in new["body"]["string"]


def test_model_tokens_in_json_lines_are_kept():
    # Ollama streams its answers as JSON lines.
    lines = "".join(
        json.dumps({"response": t, "logprobs": [{"token": t, "logprob": -0.5}]}) + "\n"
        for t in ("Hel", "lo")
    )
    new, count = scrub_response(response(lines, {"Content-Type": ["application/x-ndjson"]}))
    assert (new["body"]["string"], count) == (lines, 0)


def test_prose_under_a_bare_name_in_text_is_kept():
    text = "Token:\n    The token used to call the API. Create one in Settings.\n"
    new, count = scrub_response(response(text, {"Content-Type": ["text/plain"]}))
    assert (new["body"]["string"], count) == (text, 0)


# --- third review: JSON lines, echoed passphrases, YAML served as text ----------------------


def scrubbed_text(body: str, content_type: str = "application/json", code: int = 200) -> str:
    bad = response(body, {"Content-Type": [content_type]})
    bad["status"] = {"code": code, "message": "x"}
    new, _ = scrub_response(bad)
    return str(new["body"]["string"])


def test_json_lines_keep_each_line_s_own_context():
    # A key/value pair on one line keeps no `key` of another line; a Kubernetes watch stream
    # (JSON lines) loses its Secrets' data as a single document does.
    alone = json.dumps({"key": SECRET}) + "\n"
    assert SECRET not in scrubbed_text(alone)
    assert SECRET not in scrubbed_text('{"key": "Name", "value": "web"}\n' + alone)
    watch = "".join(
        json.dumps({"type": "ADDED", "object": {"kind": "Secret", "data": {"x": value}}}) + "\n"
        for value in (SECRET, "c2VjcmV0LXZhbHVl")
    )
    out = scrubbed_text(watch, "application/json;stream=watch")
    assert SECRET not in out and "c2VjcmV0LXZhbHVl" not in out


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "application/octet-stream"])
@pytest.mark.parametrize(
    "body",
    [
        f"db:\n  password:\n    correct horse {SECRET}\n",
        f"db:\n  password:\n    {SECRET}\n    continued\n",
    ],
)
def test_a_yaml_file_served_as_text_loses_its_next_line_password(body: str, content_type: str):
    # raw.githubusercontent.com serves YAML as text/plain, S3 as octet-stream.
    for ctype in ("application/x-yaml", content_type):
        out = scrubbed_text(body, ctype)
        assert SECRET not in out and "continued" not in out


@pytest.mark.parametrize(
    "body",
    [
        '{"password": ["Password \'sunflower meadow lantern\' is too common."]}',
        '{"passphrase": "sunflower meadow lantern field"}',
    ],
)
def test_a_passphrase_echoed_in_a_client_error_is_scrubbed(body: str):
    assert "sunflower" not in scrubbed_text(body, code=400)


# --- fourth review: frameworks' messages, comments after a next-line password, passphrases --


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("new_password2", "The two password fields didn\u2019t match."),  # Django >= 3.0
        ("password", "This field may not be null."),  # DRF
        ("password", "Ensure this field has no more than 128 characters."),  # DRF max_length
        ("password", "Not a valid string."),  # DRF CharField.invalid
        ("Password", "The field Password must be a string with a minimum length of '8'."),
        ("ConfirmPassword", "'ConfirmPassword' and 'Password' do not match."),  # ASP.NET
        ("password", "can't be blank"),  # Rails
    ],
)
def test_a_framework_s_default_validation_message_is_kept(field: str, message: str):
    body = json.dumps({field: [message]})
    assert scrubbed_text(body, code=400) == body


@pytest.mark.parametrize("passphrase", ["anvil blank otter sprint", "crane empty velvet harbor"])
def test_a_passphrase_with_a_validation_word_is_no_message(passphrase: str):
    body = json.dumps({"error": "exists", "user": {"password": passphrase}})
    assert passphrase not in scrubbed_text(body, code=409)


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "application/octet-stream"])
@pytest.mark.parametrize(
    "body",
    [
        "db:\n  password:\n    Tr0ub4dor&3x # rotated monthly.\n",
        "db:\n  password:\n    Tr0ub4dor&3x\n    # see the wiki for the rotation.\n",
    ],
)
def test_a_comment_after_a_next_line_password_is_no_prose(body: str, content_type: str):
    assert "Tr0ub4dor" not in scrubbed_text(body, content_type)


def test_a_validation_error_s_echo_of_a_password_is_scrubbed():
    # FastAPI/pydantic's `input`, express-validator's `value`, Spring's `rejectedValue` echo
    # what was sent, named by `loc`, `path`, `field`; and JSON Patch sets a value by `path`.
    errors = {
        "detail": [
            {"type": "string_too_short", "loc": ["body", "password"], "input": SECRET},
            {"type": "missing", "loc": ["body", "email"], "input": "ann"},
        ],
        "errors": [
            {"type": "field", "path": "password", "value": SECRET, "location": "body"},
            {"field": "password", "rejectedValue": SECRET, "defaultMessage": "size"},
            {"type": "field", "path": "username", "value": "bob", "location": "body"},
        ],
    }
    bad = response(json.dumps(errors), {"Content-Type": ["application/json"]})
    bad["status"] = {"code": 422, "message": "Unprocessable"}
    new, count = scrub_response(bad)
    assert SECRET not in new["body"]["string"] and count == 3
    got = json.loads(new["body"]["string"])
    assert got["detail"][1]["input"] == "ann" and got["errors"][2]["value"] == "bob"
    patch = [{"op": "replace", "path": "/password", "value": SECRET}]
    req = request(
        body=json.dumps(patch).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert SECRET.encode() not in scrub_request(req)[0].body


@pytest.mark.parametrize(
    "value", ["DUMMY", "dummy", "FILTERED", "[FILTERED]", "<Redacted>", "**MASKED**", "(omitted)"]
)
def test_a_conventional_filler_word_is_no_secret_anywhere(value: str):
    # pytest-recording's `filter_headers=[("x-api-key", "DUMMY")]`: the cassette it wrote is
    # scrubbed again unchanged, in headers, cookies, the query and a JSON body.
    body = json.dumps({"password": value}).encode()
    req = request(
        uri=f"https://api.example.com/v1/items?api_key={value}",
        body=body,
        headers={"Authorization": value, "X-Api-Key": value, "Cookie": value},
        method="POST",
    )
    new, count = scrub_request(req)
    assert (count, new.headers["Authorization"], new.headers["Cookie"]) == (0, value, value)
    assert json.loads(new.body) == {"password": value}


@pytest.mark.parametrize("value", ["dummy-sk-abc123def456", "FILTERED1", "REDACTED REDACTED"])
def test_a_value_merely_containing_a_filler_word_is_still_a_secret(value: str):
    new, count = scrub_request(request(headers={"X-Api-Key": value, "Cookie": value}))
    assert (count, new.headers["X-Api-Key"], new.headers["Cookie"]) == (
        2,
        "<SCRUBBED>",
        "<SCRUBBED>",
    )


def test_a_language_models_output_keeps_its_generic_fields():
    """An adopter's agent tests with the openai and anthropic SDKs: the model's tool-call
    arguments (`{"key": "Enter", "token": "ETH"}`), a JSON answer's `"key": "B"` and a
    thinking block's `signature` replayed as `<SCRUBBED>`, and the agent's next request then
    differed from the recording: no cassette of the loop could replay. A model's output keeps
    its generic names; specific ones, token formats and the environment's values still go."""
    arguments = {"key": "Enter", "token": "ETH", "api_key": SECRET, "note": GITHUB}
    openai = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": json.dumps({"answer": "yes", "key": "B"}),
                    "tool_calls": [
                        {
                            "type": "function",
                            "function": {"name": "press", "arguments": json.dumps(arguments)},
                        }
                    ],
                }
            }
        ],
    }
    new, _ = scrub_response(response(json.dumps(openai), {"Content-Type": ["application/json"]}))
    message = json.loads(new["body"]["string"])["choices"][0]["message"]
    assert json.loads(message["content"]) == {"answer": "yes", "key": "B"}
    kept = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert kept == {
        "key": "Enter",
        "token": "ETH",
        "api_key": "<SCRUBBED>",
        "note": "<SCRUBBED:github>",
    }
    anthropic = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "...", "signature": "EqQBCkgIARABGAI"},
            {"type": "tool_use", "name": "press", "input": {"key": "Enter", "token": "SOL"}},
        ],
    }
    # The history a request sends back (Gemini's functionCall too) is the model's output too.
    sent = {
        "messages": [anthropic],
        "contents": [{"parts": [{"functionCall": {"name": "f", "args": {"key": "Tab"}}}]}],
        "token": SECRET,
    }
    body = json.dumps(sent).encode()
    new_request, _ = scrub_request(request(body=body, headers={"Content-Type": "application/json"}))
    assert json.loads(new_request.body) == {**sent, "token": "<SCRUBBED>"}
    # Anywhere else, `key` and `token` are secrets as before.
    new, _ = scrub_response(response(json.dumps({"key": "Enter", "data": {"token": "ETH"}})))
    assert json.loads(new["body"]["string"]) == {
        "key": "<SCRUBBED>",
        "data": {"token": "<SCRUBBED>"},
    }


def test_a_secret_string_nested_deeper_than_python_parses_is_replaced_whole() -> None:
    # json.loads raises RecursionError (no ValueError) for it: the response's scrubbing failed.
    deep = '{"password": "' + "p4ss-" * 4 + '", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    body = json.dumps({"Name": "prod/db", "SecretString": deep})
    new, count = scrubber().scrub_response(
        response(body, {"Content-Type": ["application/x-amz-json-1.1"]})
    )
    assert new is not None and count == 1
    assert json.loads(new["body"]["string"])["SecretString"] == "<SCRUBBED>"


def test_an_empty_secret_document_is_kept_as_it_is() -> None:
    # Nothing in it to replace: `<SCRUBBED>` in its place only broke the client's json.loads.
    body = json.dumps({"Name": "prod/db", "SecretString": "{}"}).encode()
    new, count = scrubber().scrub_response(
        response(body, {"Content-Type": ["application/x-amz-json-1.1"]})
    )
    assert new is not None and count == 0
    assert json.loads(new["body"]["string"])["SecretString"] == "{}"


# --- secret stores and base64 file contents ----------------------------------------------------

VAULT_ENVELOPE = {"request_id": "5e7f", "lease_id": "", "renewable": False, "lease_duration": 0}


def json_response(document: Any) -> dict[str, Any]:
    return response(json.dumps(document), {"Content-Type": ["application/json"]})


def scrubbed_json(document: Any, s: Scrubber | None = None) -> tuple[Any, int]:
    new, count = scrub_response(json_response(document), s)
    return json.loads(new["body"]["string"]), count


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # Vault's KV version 2 (its metadata kept), version 1 (a lease duration, no lease),
        # dynamic credentials (a lease: its username goes too), a cubbyhole.
        (
            {
                **VAULT_ENVELOPE,
                "data": {
                    "data": {"db_pass": SECRET, "dsn": SECRET, "port": 5432},
                    "metadata": {"created_time": "2024-01-01T00:00:00Z", "version": 2},
                },
                "mount_type": "kv",
            },
            {
                **VAULT_ENVELOPE,
                "data": {
                    "data": {"db_pass": "<SCRUBBED>", "dsn": "<SCRUBBED>", "port": "<SCRUBBED>"},
                    "metadata": {"created_time": "2024-01-01T00:00:00Z", "version": 2},
                },
                "mount_type": "kv",
            },
        ),
        (
            {**VAULT_ENVELOPE, "lease_duration": 2764800, "data": {"db_conn": SECRET}},
            {**VAULT_ENVELOPE, "lease_duration": 2764800, "data": {"db_conn": "<SCRUBBED>"}},
        ),
        (
            {
                **VAULT_ENVELOPE,
                "lease_id": "database/creds/readonly/2f6a614c",
                "renewable": True,
                "lease_duration": 3600,
                "data": {"username": "v-token-readonly-x8Kq", "password": SECRET},
            },
            {
                **VAULT_ENVELOPE,
                "lease_id": "database/creds/readonly/2f6a614c",
                "renewable": True,
                "lease_duration": 3600,
                "data": {"username": "<SCRUBBED>", "password": "<SCRUBBED>"},
            },
        ),
        (
            {**VAULT_ENVELOPE, "data": {"note": SECRET}, "mount_type": "cubbyhole"},
            {**VAULT_ENVELOPE, "data": {"note": "<SCRUBBED>"}, "mount_type": "cubbyhole"},
        ),
        # Doppler: a config's secrets and one secret; their names and visibility kept.
        (
            {
                "secrets": {
                    "DB_CONN": {"raw": SECRET, "computed": SECRET, "note": ""},
                    "PORT": {"raw": "8080", "computed": "8080", "rawVisibility": "unmasked"},
                },
                "success": True,
            },
            {
                "secrets": {
                    "DB_CONN": {"raw": "<SCRUBBED>", "computed": "<SCRUBBED>", "note": ""},
                    "PORT": {
                        "raw": "<SCRUBBED>",
                        "computed": "<SCRUBBED>",
                        "rawVisibility": "unmasked",
                    },
                },
                "success": True,
            },
        ),
        # Doppler: one secret (`GET .../configs/config/secret?name=`).
        (
            {"name": "DB_CONN", "value": {"raw": SECRET, "computed": SECRET}, "success": True},
            {
                "name": "DB_CONN",
                "value": {"raw": "<SCRUBBED>", "computed": "<SCRUBBED>"},
                "success": True,
            },
        ),
        # 1Password Connect: concealed fields, a password's, a one-time password's.
        (
            {
                "title": "db",
                "fields": [
                    {"id": "username", "type": "STRING", "purpose": "USERNAME", "value": "app"},
                    {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "value": SECRET},
                    {"id": "k2", "type": "CONCEALED", "label": "dsn", "value": SECRET},
                    {"id": "k3", "type": "OTP", "value": SECRET, "totp": "123456"},
                ],
            },
            {
                "title": "db",
                "fields": [
                    {"id": "username", "type": "STRING", "purpose": "USERNAME", "value": "app"},
                    {
                        "id": "password",
                        "type": "CONCEALED",
                        "purpose": "PASSWORD",
                        "value": "<SCRUBBED>",
                    },
                    {"id": "k2", "type": "CONCEALED", "label": "dsn", "value": "<SCRUBBED>"},
                    {"id": "k3", "type": "OTP", "value": "<SCRUBBED>", "totp": "<SCRUBBED>"},
                ],
            },
        ),
        # Infisical (its secretKey is the secret's name), Bitwarden Secrets Manager, GitLab's
        # masked CI/CD variables.
        (
            {"secrets": [{"secretKey": "DB_CONN", "secretValue": SECRET, "version": 3}]},
            {"secrets": [{"secretKey": "DB_CONN", "secretValue": "<SCRUBBED>", "version": 3}]},
        ),
        (
            {"object": "secret", "organizationId": "9f1c", "key": "DB_CONN", "value": SECRET},
            {"object": "secret", "organizationId": "9f1c", "key": "DB_CONN", "value": "<SCRUBBED>"},
        ),
        (
            [
                {"key": "DB_CONN", "value": SECRET, "masked": True, "protected": False},
                {"key": "REGION", "value": "eu-west-1", "masked": False, "protected": False},
            ],
            [
                {"key": "DB_CONN", "value": "<SCRUBBED>", "masked": True, "protected": False},
                {"key": "REGION", "value": "eu-west-1", "masked": False, "protected": False},
            ],
        ),
    ],
    ids=[
        "vault-kv2",
        "vault-kv1",
        "vault-dynamic",
        "vault-cubbyhole",
        "doppler",
        "doppler-one",
        "1password",
        "infisical",
        "bitwarden",
        "gitlab-masked",
    ],
)
def test_a_secret_stores_answer_loses_every_value_of_its_secrets(document: Any, expected: Any):
    # Was: only values under names like `password` went (`db_conn`, `dsn` stayed on disk).
    new, count = scrubbed_json(document)
    assert new == expected
    assert count >= 1


@pytest.mark.parametrize(
    "document",
    [
        # Vault: KV version 2's metadata, a write's answer, a listing; a mount's settings.
        {**VAULT_ENVELOPE, "data": {"current_version": 2, "versions": {"1": {"destroyed": False}}}},
        {**VAULT_ENVELOPE, "data": {"created_time": "2024-01-01T00:00:00Z", "version": 3}},
        {**VAULT_ENVELOPE, "lease_duration": 2764800, "data": {"keys": ["app", "db/"]}},
        {**VAULT_ENVELOPE, "data": {"type": "kv", "options": {"version": "2"}}},
        # Fields that are no secrets, objects that only look alike.
        {"fields": [{"id": "u", "type": "STRING", "purpose": "USERNAME", "value": "app"}]},
        [{"key": "REGION", "value": "eu-west-1", "masked": False}],
        {"raw": "a", "computed": "b", "total": "c"},
        # Doppler's names alone, outside its secrets: a score, a spreadsheet's cell.
        {"score": {"raw": 12, "computed": 13.5, "note": "curved"}},
        {"raw": 0.82, "computed": 0.9},
        {"cells": [{"raw": "=A1+B1", "computed": "42"}]},
        {"object": "list", "data": [{"object": "customer", "value": "vip"}]},
    ],
)
def test_secret_store_shapes_without_a_secret_are_kept(document: Any):
    body = json.dumps(document)
    new, count = scrub_response(response(body, {"Content-Type": ["application/json"]}))
    assert (new["body"]["string"], count) == (body, 0)


def vault_request(uri: str, document: Any, headers: dict[str, str] | None = None) -> Any:
    head = {"Content-Type": "application/json", "X-Vault-Token": "<SCRUBBED>", **(headers or {})}
    new, _ = scrub_request(request(uri, json.dumps(document).encode(), head, "POST"))
    return json.loads(new.body)


def test_vault_write_requests_lose_every_value_of_the_secret_they_send():
    base = "http://127.0.0.1:8200/v1"
    secret = {"db_conn": SECRET, "user": "app"}
    written = {"db_conn": "<SCRUBBED>", "user": "<SCRUBBED>"}
    assert vault_request(f"{base}/secret/data/app", {"data": secret, "options": {"cas": 1}}) == {
        "data": written,
        "options": {"cas": 1},
    }
    assert vault_request(f"{base}/team/kv/data/app", {"data": secret}) == {"data": written}
    assert vault_request(f"{base}/secret/app", secret) == written  # KV version 1
    assert vault_request(f"{base}/team/app", secret) == written  # ... mounted elsewhere
    assert vault_request(f"{base}/cubbyhole/app", secret) == written
    # Settings are no secrets, nor what Vault's own paths and other engines are sent.
    for url, document in [
        (f"{base}/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}}),
        (f"{base}/secret/config", {"max_versions": 5, "cas_required": False}),
        (f"{base}/secret/metadata/app", {"custom_metadata": {"owner": "team-a"}}),
        (f"{base}/auth/approle/role/web", {"token_ttl": "1h", "token_policies": ["web"]}),
        (f"{base}/pki/issue/web", {"common_name": "web.example.com", "ttl": "24h"}),
        (f"{base}/identity/entity", {"name": "ada", "policies": ["web"]}),
    ]:
        assert vault_request(url, document) == document


def test_vault_writes_without_its_headers_go_by_their_path_and_body():
    # A client of Vault Agent or a proxy sends no token (hvac's request_header=False none of
    # Vault's headers): KV version 2's data by its body's keys too, KV version 1 at secret/.
    base = "http://127.0.0.1:8200/v1"
    secret = {"db_conn": SECRET, "user": "app"}
    written = {"db_conn": "<SCRUBBED>", "user": "<SCRUBBED>"}

    def sent(url: str, document: Any) -> Any:
        body = json.dumps(document).encode()
        head = {"Content-Type": "application/json"}
        return json.loads(scrub_request(request(url, body, head, "POST"))[0].body)

    assert sent(f"{base}/secret/data/app", {"options": {}, "data": secret}) == {
        "options": {},
        "data": written,
    }
    assert sent(f"{base}/team/data/app", {"data": secret}) == {"data": written}
    assert sent(f"{base}/secret/app", secret) == written
    assert sent(f"{base}/cubbyhole/app", secret) == written
    # Not Vault's: another API's `data`, Consul's KV (/v1/kv/), KV version 1 elsewhere.
    for url, document in [
        (f"{base}/reports/data/q3", {"data": secret, "format": "csv"}),
        (f"{base}/articles", {"data": {"type": "articles", "attributes": secret}}),
        (f"{base}/kv/app/config", secret),
        (f"{base}/team/app", secret),
    ]:
        assert sent(url, document) == document


def test_vault_transit_plaintext_becomes_its_placeholder_in_base64():
    plaintext = base64.b64encode(SECRET.encode()).decode()
    placeholder = base64.b64encode(b"<SCRUBBED>").decode()
    sent = vault_request(
        "http://127.0.0.1:8200/v1/transit/encrypt/orders",
        {"plaintext": plaintext, "batch_input": [{"plaintext": plaintext}]},
    )
    assert sent == {"plaintext": placeholder, "batch_input": [{"plaintext": placeholder}]}
    answer = {**VAULT_ENVELOPE, "data": {"plaintext": plaintext}, "mount_type": "transit"}
    new, count = scrubbed_json(answer)
    assert base64.b64decode(new["data"]["plaintext"]) == b"<SCRUBBED>"
    assert count == 1
    assert scrubbed_json(new) == (new, 0)  # idempotent
    ciphertext = {**VAULT_ENVELOPE, "data": {"ciphertext": "vault:v1:8SDd3WHDOjf7mq69"}}
    assert scrubbed_json(ciphertext) == (ciphertext, 0)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PLACEHOLDER_B64 = b64("<SCRUBBED>")
K8S_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "default"},
    "type": "Opaque",
    # `user`, `data` and `password` are base64 too (as keys they must stay as they are).
    "data": {"user": b64("app"), "password": b64(SECRET), "empty": ""},
    "stringData": {"dsn": SECRET},
}
# kubectl apply sends the Secret with its last applied configuration: the Secret again, in a
# string.
K8S_APPLY = {
    **K8S_SECRET,
    "metadata": {
        **K8S_SECRET["metadata"],
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(K8S_SECRET) + "\n"
        },
    },
}
GSM_VERSION = {
    "name": "projects/123/secrets/db/versions/1",
    "payload": {"data": b64(SECRET), "dataCrc32c": "3519316437"},
}


def base64_secrets(document: Any) -> list[str]:
    """Every string of the document (a JSON document in a string too) under `data`,
    `SecretBinary` or `privateKeyData`, `stringData`'s but."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("data", "SecretBinary", "privateKeyData") and isinstance(value, str):
                found.append(value)
            elif key == "data" and isinstance(value, dict):
                found += [v for v in value.values() if isinstance(v, str)]
            elif key == "kubectl.kubernetes.io/last-applied-configuration":
                found += base64_secrets(json.loads(value))
            elif key != "stringData":
                found += base64_secrets(value)
    elif isinstance(document, list):
        for item in document:
            found += base64_secrets(item)
    return found


@pytest.mark.parametrize(
    ("direction", "uri", "document"),
    [
        ("response", "", K8S_SECRET),
        ("response", "", {"kind": "SecretList", "items": [K8S_SECRET, K8S_SECRET]}),
        ("request", "https://127.0.0.1:6443/api/v1/namespaces/default/secrets", K8S_APPLY),
        ("response", "", GSM_VERSION),
        ("response", "", {**GSM_VERSION, "payload": {"data": b64(SECRET)}}),
        (
            "request",
            "https://secretmanager.googleapis.com/v1/projects/p/secrets/db:addVersion",
            {"payload": {"data": b64(SECRET), "dataCrc32c": "3519316437"}},
        ),
        ("response", "", {"ARN": "arn:aws:x", "Name": "db", "SecretBinary": b64(SECRET)}),
        ("response", "", {"SecretValues": [{"Name": "db", "SecretBinary": b64(SECRET)}]}),
        (
            "request",
            "https://secretsmanager.us-east-1.amazonaws.com/",
            {"Name": "db", "SecretBinary": b64(SECRET)},
        ),
        (
            "response",
            "",
            {
                "name": "projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k1",
                "privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE",
                "privateKeyData": b64(json.dumps({"private_key": SECRET})),
            },
        ),
    ],
    ids=[
        "k8s-secret",
        "k8s-secret-list",
        "kubectl-apply",
        "gsm-access",
        "gsm-access-no-crc",
        "gsm-add-version",
        "aws-get-secret-value",
        "aws-batch-get",
        "aws-create-secret",
        "gcp-service-account-key",
    ],
)
def test_a_base64_secret_becomes_its_placeholder_in_base64(direction: str, uri: str, document: Any):
    # Was: `<SCRUBBED>`, no base64: a client decoding it on replay read six bytes of garbage
    # (Python) or failed (Go's client-go, protobuf's JSON); a Secret Manager version added
    # reached disk whole.
    def scrubbed(document: Any) -> tuple[Any, int]:
        if direction == "response":
            return scrubbed_json(document)
        body = json.dumps(document).encode()
        new, count = scrub_request(request(uri, body, {"Content-Type": "application/json"}, "POST"))
        return json.loads(new.body), count

    new, count = scrubbed(document)
    values = base64_secrets(new)
    assert values and count >= 1
    assert SECRET not in json.dumps(new) and b64(SECRET) not in json.dumps(new)
    assert all(value in (PLACEHOLDER_B64, "") for value in values), values
    payload = new.get("payload")
    if isinstance(payload, dict) and "dataCrc32c" in payload:  # Secret Manager's checksum
        assert int(payload["dataCrc32c"]) == crc32c(base64.b64decode(payload["data"]))
    if "stringData" in document:
        assert new["stringData"] == {"dsn": "<SCRUBBED>"}
    assert scrubbed(new) == (new, 0)  # idempotent


def test_crc32c_is_castagnolis():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c(b"") == 0


def test_a_base64_secret_that_is_no_base64_is_scrubbed_all_the_same():
    for document in [
        {"kind": "Secret", "data": {"password": SECRET}},
        {"Name": "db", "SecretBinary": SECRET},
        {**GSM_VERSION, "payload": {"data": SECRET}},
    ]:
        new, count = scrubbed_json(document)
        assert SECRET not in json.dumps(new) and count == 1
        assert "<SCRUBBED>" in json.dumps(new)
        assert scrubbed_json(new) == (new, 0)


DOTENV = "DB_HOST=db.internal\nDB_PASSWORD=" + SECRET + "\nSTRIPE=" + GITHUB + "\n"


def github_base64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def github_file(name: str, data: bytes) -> dict[str, Any]:
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": name,
        "path": f"deploy/{name}",
        "content": github_base64(data),
        "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
    }


@pytest.mark.parametrize(
    ("name", "text", "scrubbed"),
    [
        (".env", DOTENV, "DB_HOST=db.internal\nDB_PASSWORD=<SCRUBBED>\nSTRIPE=<SCRUBBED:github>\n"),
        (
            "config.yml",
            f"db:\n  host: db.internal\n  password: {SECRET}\n",
            "db:\n  host: db.internal\n  password: <SCRUBBED>\n",
        ),
        (
            "settings.json",
            json.dumps({"db": {"password": SECRET, "pool": 5}}),
            json.dumps({"db": {"password": "<SCRUBBED>", "pool": 5}}),
        ),
        ("NOTES", f"token {GITHUB} expires\n", "token <SCRUBBED:github> expires\n"),
        ("single.env", f"API_TOKEN={SECRET}", "API_TOKEN=<SCRUBBED>"),  # no form: not encoded
    ],
)
def test_a_files_base64_contents_are_scrubbed_by_its_type_and_encoded_again(
    name: str, text: str, scrubbed: str
):
    # Was: a .env or config file fetched through GitHub's contents API reached disk whole,
    # base64 hiding it from every rule.
    document = github_file(name, text.encode())
    new, count = scrubbed_json(document)
    assert base64.b64decode(new["content"]).decode() == scrubbed
    assert count >= 1
    lines = new["content"].split("\n")  # GitHub's layout: 60 characters a line, each ended
    assert lines[-1] == "" and all(len(line) == 60 for line in lines[:-2])
    assert 0 < len(lines[-2]) <= 60
    # The file's size and sha stay as the server said; the rest of the answer too.
    assert {k: v for k, v in new.items() if k != "content"} == {
        k: v for k, v in document.items() if k != "content"
    }
    assert scrubbed_json(new) == (new, 0)  # idempotent


def test_base64_contents_of_gitlab_consul_and_git_blobs_are_scrubbed():
    gitlab = {
        "file_name": ".env",
        "file_path": "deploy/.env",
        "encoding": "base64",
        "content": base64.b64encode(DOTENV.encode()).decode(),
        "ref": "main",
    }
    new, _ = scrubbed_json(gitlab)
    assert "\n" not in new["content"]  # unwrapped stays unwrapped
    assert "DB_PASSWORD=<SCRUBBED>" in base64.b64decode(new["content"]).decode()
    blob = {"sha": "3d21", "size": 9, "encoding": "base64", "content": github_base64(b"x")}
    blob["content"] = github_base64(DOTENV.encode())
    new, _ = scrubbed_json(blob)
    assert "DB_PASSWORD=<SCRUBBED>" in base64.b64decode(new["content"]).decode()
    consul = [
        {
            "Key": "app/.env",
            "Value": base64.b64encode(DOTENV.encode()).decode(),
            "LockIndex": 0,
            "ModifyIndex": 7,
            "Flags": 0,
        },
        {
            "Key": "app/db_password",
            "Value": base64.b64encode(SECRET.encode()).decode(),
            "LockIndex": 0,
            "ModifyIndex": 8,
            "Flags": 0,
        },
        {
            "Key": "app/region",
            "Value": base64.b64encode(b"eu-west-1").decode(),
            "LockIndex": 0,
            "ModifyIndex": 9,
            "Flags": 0,
        },
    ]
    new, _ = scrubbed_json(consul)
    values = [base64.b64decode(entry["Value"]).decode() for entry in new]
    assert values == [
        DOTENV.replace(SECRET, "<SCRUBBED>").replace(GITHUB, "<SCRUBBED:github>"),
        "<SCRUBBED>",
        "eu-west-1",
    ]
    assert new[2] == consul[2]


def test_base64_contents_without_a_secret_or_not_base64_are_kept_byte_for_byte():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    for document in [
        github_file("README.md", b"# Deploy\n\nRun `make`.\n"),
        github_file("logo.png", png),
        {**github_file(".env", DOTENV.encode()), "content": "not base64 at all!"},
        {"encoding": "utf-8", "content": "plain text", "name": "a.txt"},
    ]:
        body = json.dumps(document)
        new, count = scrub_response(response(body, {"Content-Type": ["application/json"]}))
        assert (new["body"]["string"], count) == (body, 0)


def test_an_env_value_in_base64_contents_becomes_its_placeholder():
    s = Scrubber(ScrubRules(), environ={"ACME_API_KEY": "acme-live-7Q2w9E4r1T6y3U8i"})
    new, count = scrubbed_json(github_file("app.cfg", b"key acme-live-7Q2w9E4r1T6y3U8i\n"), s)
    assert base64.b64decode(new["content"]) == b"key <ACME_API_KEY>\n"
    assert count == 1


def test_a_files_new_contents_sent_to_github_or_gitea_are_scrubbed():
    content = base64.b64encode(DOTENV.encode()).decode()
    for verb, url in [
        ("PUT", "https://api.github.com/repos/acme/app/contents/deploy/.env"),
        ("POST", "http://127.0.0.1:3000/api/v1/repos/acme/app/contents/deploy%2F.env"),
    ]:
        body = json.dumps({"message": "deploy", "content": content, "branch": "main"})
        head = {"Content-Type": "application/json"}
        new, count = scrub_request(request(url, body.encode(), head, verb))
        sent = json.loads(new.body)
        assert (
            base64.b64decode(sent["content"])
            .decode()
            .startswith("DB_HOST=db.internal\nDB_PASSWORD=<SCRUBBED>\n")
        )
        assert (sent["message"], count) == ("deploy", 2)


def test_a_multi_file_commit_to_gitea_and_consul_transactions_are_scrubbed():
    content = base64.b64encode(DOTENV.encode()).decode()
    commit = {
        "message": "deploy",
        "files": [
            {"operation": "create", "path": "deploy/.env", "content": content},
            {"operation": "delete", "path": "old.env", "sha": "e69de29b"},
        ],
    }
    head = {"Content-Type": "application/json"}
    url = "http://127.0.0.1:3000/api/v1/repos/acme/app/contents"
    new, _ = scrub_request(request(url, json.dumps(commit).encode(), head, "POST"))
    sent = json.loads(new.body)
    assert "DB_PASSWORD=<SCRUBBED>" in base64.b64decode(sent["files"][0]["content"]).decode()
    assert sent["files"][1] == commit["files"][1]
    txn = [
        {"KV": {"Verb": "set", "Key": "app/.env", "Value": content, "Flags": 0}},
        {"KV": {"Verb": "cas", "Key": "app/db_password", "Value": b64(SECRET), "Index": 7}},
        {"KV": {"Verb": "set", "Key": "app/region", "Value": b64("eu-west-1")}},
        {"KV": {"Verb": "get", "Key": "app/.env"}},
    ]
    url = "http://127.0.0.1:8500/v1/txn"
    new, _ = scrub_request(request(url, json.dumps(txn).encode(), head, "PUT"))
    values = [op["KV"].get("Value") for op in json.loads(new.body)]
    assert [base64.b64decode(v).decode() for v in values[:3]] == [
        DOTENV.replace(SECRET, "<SCRUBBED>").replace(GITHUB, "<SCRUBBED:github>"),
        "<SCRUBBED>",
        "eu-west-1",
    ]
    assert values[3] is None
    # Other objects with a verb: kept.
    audit = {"Verb": "get", "Key": "pods", "Value": b64(SECRET)}  # no Consul write
    assert scrubbed_json(audit) == (audit, 0)


ECR_PASSWORD = "eyJwYXlsb2FkIjoiSmh4WWx2cnBRa0FBQUFBQUFBPT0iLCJ2ZXJzaW9uIjoiMiJ9"


@pytest.mark.parametrize(
    "document",
    [
        {"authorizationData": [{"authorizationToken": b64("AWS:" + ECR_PASSWORD), "expiresAt": 1}]},
        {"authorizationData": {"authorizationToken": b64("AWS:" + ECR_PASSWORD), "expiresAt": 1}},
    ],
    ids=["ecr", "ecr-public"],
)
def test_an_ecr_token_keeps_its_user_and_loses_its_password(document: Any):
    # Was `<SCRUBBED>`: decoded on replay, no `AWS:` and no `:` to split the login at.
    new, count = scrubbed_json(document)
    data = new["authorizationData"]
    token = (data[0] if isinstance(data, list) else data)["authorizationToken"]
    assert base64.b64decode(token) == b"AWS:<SCRUBBED>"
    assert count == 1
    assert scrubbed_json(new) == (new, 0)  # idempotent


def test_an_ecr_token_that_is_no_login_is_a_secret_whole():
    for token, expected in [(b64(ECR_PASSWORD), PLACEHOLDER_B64), (SECRET, "<SCRUBBED>")]:
        new, count = scrubbed_json({"authorizationToken": token, "expiresAt": 1})
        assert (new["authorizationToken"], count) == (expected, 1)


def doppler_download(body: str, content_type: str, uri: str = "") -> tuple[str, int]:
    uri = uri or "https://api.doppler.com/v3/configs/config/secrets/download?format=env"
    answered = request(uri)
    new, count = scrubber().scrub_response(
        response(body, {"Content-Type": [content_type]}), None, answered
    )
    assert new is not None
    text = new["body"]["string"]
    return text.decode() if isinstance(text, bytes) else text, count


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            json.dumps({"API_URL": "https://api.acme.dev", "ALGOLIA": SECRET}),
            "application/json",
            json.dumps({"API_URL": "<SCRUBBED>", "ALGOLIA": "<SCRUBBED>"}),
        ),
        (
            f'API_URL="https://api.acme.dev"\nALGOLIA="{SECRET}"\nEMPTY=""\n',
            "text/plain",
            'API_URL="<SCRUBBED>"\nALGOLIA="<SCRUBBED>"\nEMPTY=""\n',
        ),
        (
            f"ALGOLIA={SECRET}\r\nPORT=8080\r\n",
            "text/plain",
            "ALGOLIA=<SCRUBBED>\r\nPORT=<SCRUBBED>\r\n",
        ),
        (
            f"ALGOLIA: '{SECRET}'\nMOTD: |-\n    line one\n    {SECRET}\nPORT: \"8080\"\n",
            "application/x-yaml",
            "ALGOLIA: '<SCRUBBED>'\nMOTD: <SCRUBBED>\nPORT: \"<SCRUBBED>\"\n",
        ),
    ],
    ids=["json", "env", "docker", "yaml"],
)
def test_a_doppler_download_loses_every_value(body: str, content_type: str, expected: str):
    text, count = doppler_download(body, content_type)
    assert text == expected
    assert count >= 2
    assert doppler_download(text, content_type) == (text, 0)  # idempotent
    # The same body from another URL goes by its names.
    other = "https://api.acme.dev/v1/settings"
    assert doppler_download(body, content_type, other) == (body, 0)


def test_a_key_vault_pfx_becomes_a_placeholder_pfx():
    from pytest_cassettes.scrub_stores import pkcs12_placeholder

    placeholder = base64.b64encode(pkcs12_placeholder()).decode()
    pfx = base64.b64encode(b"0\x82\x09\xb1" + SECRET.encode() * 4).decode()
    bundle = {
        "value": pfx,
        "contentType": "application/x-pkcs12",
        "id": "https://acme.vault.usgovcloudapi.net/secrets/web/4387e9f3",
    }
    new, count = scrubbed_json(bundle)
    assert (new["value"], count) == (placeholder, 1)
    assert scrubbed_json(new) == (new, 0)  # idempotent
    # Sent: set as a secret, imported as a certificate (with its password); a PEM does not
    # decode and becomes the placeholder.
    head = {"Content-Type": "application/json"}
    base = "https://acme.vault.azure.net"
    for url, verb, document, expected in [
        (
            f"{base}/secrets/web?api-version=7.4",
            "PUT",
            {"value": pfx, "contentType": "application/x-pkcs12"},
            {"value": placeholder, "contentType": "application/x-pkcs12"},
        ),
        (
            f"{base}/secrets/db?api-version=7.4",
            "PUT",
            {"value": SECRET, "contentType": "text/plain"},
            {"value": "<SCRUBBED>", "contentType": "text/plain"},
        ),
        (
            f"{base}/certificates/web/import?api-version=7.4",
            "POST",
            {"value": pfx, "pwd": SECRET},
            {"value": placeholder, "pwd": "<SCRUBBED>"},
        ),
        (
            f"{base}/certificates/web/import?api-version=7.4",
            "POST",
            {"value": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"},
            {"value": "<SCRUBBED>"},
        ),
    ]:
        new_request, _ = scrub_request(request(url, json.dumps(document).encode(), head, verb))
        assert json.loads(new_request.body) == expected
    # Without Azure's api-version, a PUT to /secrets/<name> is another API's.
    other = {"value": "eu-west-1"}
    url = "https://api.acme.dev/secrets/region"
    new_request, _ = scrub_request(request(url, json.dumps(other).encode(), head, "PUT"))
    assert json.loads(new_request.body) == other


def test_a_lazy_regex_is_compiled_at_its_first_use_and_answers_as_the_compiled_one():
    import re

    from pytest_cassettes.scrub_shared import lazy_regex

    source = r"(?P<name>[a-z]+)=(\d+)"
    lazy, compiled = lazy_regex(source, re.IGNORECASE), re.compile(source, re.IGNORECASE)
    assert lazy.pattern == source
    assert "search" not in vars(lazy)  # not compiled by reading its source
    text = "A=1 b=22 C=333"
    assert lazy.sub(r"\1", text) == compiled.sub(r"\1", text)
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in compiled.finditer(text)]
    assert (lazy.groups, lazy.flags, lazy.groupindex) == (2, compiled.flags, {"name": 1})
    assert lazy_regex(rb"\d+").findall(b"a1b22") == [b"1", b"22"]


def test_a_json_cookie_jar_with_a_value_not_a_string_still_loses_its_string_values():
    # httpbin-like echoes and debug endpoints put numbers, booleans and nulls beside the
    # session: the jar was skipped whole, the session recorded in the clear.
    jar = {"sessionid": SECRET, "visits": 3, "consent": True, "tracking": None}
    body = json.dumps({"cookies": jar})
    resp = response(body, headers={"Content-Type": ["application/json"]})
    new, count = scrub_response(resp)
    scrubbed = {**jar, "sessionid": "<SCRUBBED>"}
    assert (json.loads(new["body"]["string"]), count) == ({"cookies": scrubbed}, 1)
